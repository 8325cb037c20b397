package lru

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gecaso/gecaso/internal/keyfmt"
	"github.com/gecaso/gecaso/internal/subs"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
)

// Storage bounds an inner storage to the least recently used keys. It is
// safe for concurrent use by many goroutines, as its inner storage must
// be.
//
// Get, Set, Remove and View pass the caller's context to the inner
// storage and return the inner storage's errors wrapped with the
// operation and key, except a miss, which is the bare
// [storage.ErrNotFound]. Evicted keys are removed from the inner storage
// even when the caller's context is cancelled. After [Storage.Close]
// every method returns [storage.ErrClosed].
type Storage struct {
	inner      storage.Storage
	viewer     storage.Viewer  // inner as a Viewer, or nil
	mem        *memory.Storage // inner when it is a memory storage, whose View is called without allocating
	own        bool            // the lru keeps the values itself (see own.go); inner is nil
	base       time.Time       // origin of the expiry times of owned values
	closeInner bool
	maxEntries int
	maxBytes   int64
	prefix     string
	onError    func(error)
	onEvict    func(string)

	mu     sync.Mutex // guards idx, stats and echoes
	idx    index
	stats  Stats
	echoes echoes // the lru's own removals whose invalidations are still to come
	// writes counts the puts into idx, which take mu; it is read without
	// mu before asking the inner storage, so that a key found absent is
	// dropped from idx only if nobody put it since (see index.remove).
	writes atomic.Uint64

	unsubscribe func() // ends New's subscription to inner's invalidations; nil without one

	subs subs.Set // the subscriptions made through Subscribe

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // set inside closeOnce
}

// Stats counts what the lru has done since New. Hits and Misses count the
// Get and View calls on the keys the lru manages: each call counts once,
// as a hit when it found the key and as a miss when it did not (a call
// that failed otherwise counts as neither).
type Stats struct {
	Hits      uint64 // found in the inner storage
	Misses    uint64 // not found
	Evictions uint64 // keys removed from the inner storage to keep the bound
}

var (
	_ storage.Storage       = (*Storage)(nil)
	_ storage.Scanner       = (*Storage)(nil)
	_ storage.PrefixDeleter = (*Storage)(nil)
	_ storage.Viewer        = (*Storage)(nil)
	_ storage.Locker        = (*Storage)(nil)
	_ storage.Invalidator   = (*Storage)(nil)
	_ storage.Nonblocking   = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// New returns a Storage that keeps at most maxEntries keys (and at most
// [WithMaxBytes] bytes, when given) in inner, evicting the least recently
// used ones: a Set, a Get hit or a View hit makes a key the most recently
// used. A maxEntries of 0 means no bound on entries, which needs
// WithMaxBytes.
//
// When inner is nil, the lru keeps the values itself, in memory, which
// makes a hit cost about what a [memory.Storage] hit costs: values are
// copied in by Set and out by Get, View lends them, TTLs run on the
// monotonic clock, Scan reports Seq, and TryLock is not supported. An
// expired value leaves when it is read, scanned past or evicted (there is
// no sweeper): until then it counts against the bounds. With [WithPrefix]
// and a nil inner, New creates a [memory.Storage] for the keys the lru
// does not manage, which [Storage.Close] closes.
//
// When inner is a [storage.Scanner], New indexes the keys it already holds
// (those with the [WithPrefix] prefix), so that the bound holds across
// restarts of a persistent inner storage: it orders them by
// [storage.KeyInfo.Seq], ascending, as the least recently used first; keys
// with equal Seq keep the scan's order, and keys with Seq 0 (the backend
// cannot tell) count as the oldest. It then evicts down to the bounds at
// once, removing the evicted keys from inner. New cannot fail: a scan
// error goes to the [WithErrorHandler] handler and the index starts from
// the keys read until then. The scan runs with context.Background and may
// take long on a large remote storage; WithPrefix narrows it.
//
// Keys that inner holds but the index does not (written by another
// process, or behind the lru's back) are still served by Get and indexed
// then. When inner is a [storage.Invalidator] (a Redis storage shared with
// other processes), New subscribes to it, so that keys another process
// removes leave the index at once rather than holding a place in the bound
// until a miss; [Storage.Close] ends the subscription. New panics with a
// message naming the mistake when maxEntries or an option is invalid.
func New(inner storage.Storage, maxEntries int, opts ...Option) *Storage {
	c := defaultConfig(maxEntries)
	for _, o := range opts {
		o(&c)
	}
	if err := c.validate(); err != nil {
		panic(err.Error())
	}
	own := inner == nil && c.prefix == ""
	if inner == nil && !own {
		inner = memory.New()
		c.closeInner = true
	}
	s := &Storage{
		inner:      inner,
		closeInner: c.closeInner,
		maxEntries: c.maxEntries,
		maxBytes:   c.maxBytes,
		prefix:     c.prefix,
		onError:    c.onError,
		onEvict:    c.onEvict,
	}
	if own {
		s.own, s.base = true, time.Now()
		s.idx.owned = true
		return s
	}
	s.viewer, _ = inner.(storage.Viewer)
	s.mem, _ = inner.(*memory.Storage)
	if inv, ok := inner.(storage.Invalidator); ok {
		cancel, err := inv.Subscribe(s.forget)
		switch {
		case err == nil:
			s.unsubscribe = cancel
		case errors.Is(err, storage.ErrNotSupported):
		default:
			s.onError(fmt.Errorf("gecaso/lru: subscribe to the inner storage's invalidations (keys other processes remove stay indexed until a miss): %w", err))
		}
	}
	s.rebuild()
	return s
}

// Nonblocking reports whether a Get never waits on I/O: true when the lru
// keeps the values itself, or when the inner storage says so.
func (s *Storage) Nonblocking() bool {
	if s.own {
		return true
	}
	nb, ok := s.inner.(storage.Nonblocking)
	return ok && nb.Nonblocking()
}

// rebuild indexes what the inner storage holds and evicts down to the
// bounds.
func (s *Storage) rebuild() {
	sc, ok := s.inner.(storage.Scanner)
	if !ok {
		return
	}
	ctx := context.Background()
	var infos []storage.KeyInfo
	err := sc.Scan(ctx, s.prefix, func(ki storage.KeyInfo) error {
		infos = append(infos, ki)
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotSupported) {
		s.onError(fmt.Errorf("gecaso/lru: index the keys of the inner storage (%d read): %w", len(infos), err))
	}
	slices.SortStableFunc(infos, func(a, b storage.KeyInfo) int { return cmp.Compare(a.Seq, b.Seq) })
	s.mu.Lock()
	for _, ki := range infos {
		if !s.idx.has(ki.Key) { // Redis SCAN may report a key twice
			s.idx.put(ki.Key, cost(ki.Key, ki.Size), 0)
		}
	}
	victims := s.idx.evict(s.maxEntries, s.maxBytes, nil)
	s.mu.Unlock()
	s.removeVictims(ctx, victims)
}

// cost is what a key counts for against the byte bound.
func cost(key string, size int64) int64 { return int64(len(key)) + size }

// managed reports whether the lru indexes key.
func (s *Storage) managed(key string) bool {
	return s.prefix == "" || strings.HasPrefix(key, s.prefix)
}

// Get returns the value stored under key in the inner storage, a slice
// the caller owns when the inner storage's Get gives one, or the bare
// [storage.ErrNotFound]. A hit makes key the most recently used; a miss
// drops key from the index.
func (s *Storage) Get(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	if s.own {
		v, err := s.ownLookup(key)
		if err != nil {
			return nil, err
		}
		return bytes.Clone(v), nil
	}
	if !s.managed(key) {
		v, err := s.inner.Get(ctx, key)
		return v, wrap("get", key, err)
	}
	gen := s.writes.Load()
	var v []byte
	var err error
	if s.mem != nil {
		v, err = s.mem.Get(ctx, key) // a direct call, cheaper than through the interface
	} else {
		v, err = s.inner.Get(ctx, key)
	}
	if err != nil {
		return nil, s.missed(key, gen, wrap("get", key, err))
	}
	s.hit(ctx, key, len(v))
	return v, nil
}

// wrap returns err with the operation and key, and ErrNotFound bare.
func wrap(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return storage.ErrNotFound
	default:
		return fmt.Errorf("gecaso/lru: %s %s: %w", op, keyfmt.Quote(key), err)
	}
}

// hit records a hit on key, whose value has size bytes, and indexes key if
// the index did not know it.
func (s *Storage) hit(ctx context.Context, key string, size int) {
	s.mu.Lock()
	s.stats.Hits++
	if s.idx.touch(key) {
		s.mu.Unlock()
		return
	}
	s.idx.put(key, cost(key, int64(size)), s.writes.Add(1))
	victims := s.idx.evict(s.maxEntries, s.maxBytes, nil)
	s.mu.Unlock()
	s.removeVictims(ctx, victims)
}

// missed records the outcome of asking the inner storage for key, started
// when the write counter was gen, that ended with err: on a miss it counts
// the miss and drops key from the index. It returns err.
func (s *Storage) missed(key string, gen uint64, err error) error {
	if err != storage.ErrNotFound {
		return err
	}
	s.mu.Lock()
	s.stats.Misses++
	s.idx.remove(key, gen)
	s.mu.Unlock()
	return err
}

// Set stores value under key in the inner storage and makes key the most
// recently used, then evicts the least recently used keys beyond the
// bounds, removing them from the inner storage after the lru's lock is
// released. A value whose cost exceeds the [WithMaxBytes] bound is not
// stored: Set removes key and returns an error. The inner storage's
// Set decides what it keeps of value.
func (s *Storage) Set(ctx context.Context, key string, value []byte, p storage.Params) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if !s.managed(key) {
		return wrap("set", key, s.inner.Set(ctx, key, value, p))
	}
	c := cost(key, int64(len(value)))
	if s.maxBytes > 0 && c > s.maxBytes {
		err := fmt.Errorf("gecaso/lru: set %s: %d bytes with the key exceed the bound of %d bytes", keyfmt.Quote(key), c, s.maxBytes)
		if rerr := s.Remove(ctx, key); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if s.own {
		return s.ownSet(key, value, c, p)
	}
	if err := s.inner.Set(ctx, key, value, p); err != nil {
		return wrap("set", key, err)
	}
	var buf [4]victim // a Set usually evicts one key: no allocation for it
	s.mu.Lock()
	s.idx.put(key, c, s.writes.Add(1))
	victims := s.idx.evict(s.maxEntries, s.maxBytes, buf[:0])
	s.mu.Unlock()
	s.removeVictims(ctx, victims)
	return nil
}

// removeVictims removes evicted keys from the inner storage, then tells
// the WithOnEvict callback. When the removal fails, the keys go back to
// the index as the least recently used, so that the next eviction tries
// again, and the error goes to the error handler: the caller's own
// operation succeeded.
func (s *Storage) removeVictims(ctx context.Context, victims []victim) {
	if len(victims) == 0 {
		return
	}
	var buf [4]string
	keys := buf[:0]
	for _, v := range victims {
		keys = append(keys, v.key)
	}
	var err error
	if s.mem != nil {
		// A call on the concrete type lets keys live on the stack.
		err = s.mem.Remove(ctx, keys...)
	} else {
		s.expectEchoes(keys, nil)
		err = s.inner.Remove(context.WithoutCancel(ctx), slices.Clone(keys)...)
	}
	if err != nil {
		s.mu.Lock()
		if s.mem == nil {
			s.echoes.cancelLocked(keys, nil)
		}
		for _, v := range victims {
			s.idx.putBack(v.key, v.size, 0)
		}
		s.mu.Unlock()
		s.onError(fmt.Errorf("gecaso/lru: evict %d keys: %w", len(keys), err))
		return
	}
	s.mu.Lock()
	s.stats.Evictions += uint64(len(keys))
	s.mu.Unlock()
	if s.onEvict != nil {
		for _, k := range keys {
			s.onEvict(k)
		}
	}
}

// Remove deletes the given keys from the inner storage and the index.
// Absent keys are not an error.
func (s *Storage) Remove(ctx context.Context, keys ...string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if s.own {
		return s.ownRemove(keys)
	}
	gen := s.writes.Load()
	s.expectEchoes(keys, nil)
	if err := s.inner.Remove(ctx, keys...); err != nil {
		s.mu.Lock()
		s.echoes.cancelLocked(keys, nil)
		s.mu.Unlock()
		return fmt.Errorf("gecaso/lru: remove %d keys: %w", len(keys), err)
	}
	s.mu.Lock()
	for _, k := range keys {
		s.idx.remove(k, gen)
	}
	s.mu.Unlock()
	return nil
}

// viewCall carries one View through the inner storage's View without a
// closure allocated per call.
type viewCall struct {
	fn    func([]byte) error
	size  int // -1 until the inner storage lends a value
	relay func([]byte) error
}

var viewCalls = sync.Pool{New: func() any {
	c := &viewCall{}
	c.relay = func(v []byte) error {
		c.size = len(v)
		return c.fn(v)
	}
	return c
}}

// View lends the value stored under key, as the inner storage's View
// does, or returns the bare [storage.ErrNotFound] without calling fn; it
// returns fn's error. A hit makes key the most recently used. When the
// inner storage is not a [storage.Viewer], View reads the value with its
// Get and lends that copy.
func (s *Storage) View(ctx context.Context, key string, fn func(value []byte) error) error {
	switch {
	case s.closed.Load():
		return storage.ErrClosed
	case s.own:
		v, err := s.ownLookup(key)
		if err != nil {
			return err
		}
		return fn(v)
	case !s.managed(key):
		if s.viewer == nil {
			v, err := s.inner.Get(ctx, key)
			if err != nil {
				return wrap("view", key, err)
			}
			return fn(v)
		}
		return s.viewer.View(ctx, key, fn)
	case s.viewer == nil:
		// One read, counted once, as Get counts it.
		gen := s.writes.Load()
		v, err := s.inner.Get(ctx, key)
		if err != nil {
			return s.missed(key, gen, wrap("view", key, err))
		}
		s.hit(ctx, key, len(v))
		return fn(v)
	}
	gen := s.writes.Load()
	size := -1
	var err error
	if s.mem != nil {
		// A call on the concrete type lets this closure live on the stack.
		err = s.mem.View(ctx, key, func(v []byte) error {
			size = len(v)
			return fn(v)
		})
	} else {
		c := viewCalls.Get().(*viewCall)
		c.fn, c.size = fn, -1
		err = s.viewer.View(ctx, key, c.relay)
		size = c.size
		c.fn = nil
		viewCalls.Put(c)
	}
	if size < 0 {
		return s.missed(key, gen, wrap("view", key, err))
	}
	s.hit(ctx, key, size)
	return err // fn's
}

// Scan forwards to the inner storage's Scan, or returns an error matching
// [storage.ErrNotSupported] when the inner storage is not a
// [storage.Scanner]. It reports keys the lru does not manage too, and
// changes no recency. An lru with no inner storage reports its own live
// keys as they were when Scan started, with their Seq, and calls fn without
// its lock held.
func (s *Storage) Scan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	sc, ok := s.inner.(storage.Scanner)
	switch {
	case s.closed.Load():
		return storage.ErrClosed
	case s.own:
		return s.ownScan(ctx, prefix, fn)
	case !ok:
		return fmt.Errorf("gecaso/lru: scan %s: %w", keyfmt.Quote(prefix), storage.ErrNotSupported)
	}
	return sc.Scan(ctx, prefix, fn)
}

// DeletePrefix forwards to the inner storage's DeletePrefix, then drops
// the prefix's keys from the index (an lru with no inner storage drops
// them with their values). It returns an error matching
// [storage.ErrNotSupported] when the inner storage is not a
// [storage.PrefixDeleter].
func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	pd, ok := s.inner.(storage.PrefixDeleter)
	switch {
	case s.closed.Load():
		return storage.ErrClosed
	case s.own:
		return s.ownDeletePrefix(prefix)
	case !ok:
		return fmt.Errorf("gecaso/lru: delete prefix %s: %w", keyfmt.Quote(prefix), storage.ErrNotSupported)
	}
	gen := s.writes.Load()
	s.expectEchoes(nil, []string{prefix})
	if err := pd.DeletePrefix(ctx, prefix); err != nil {
		s.mu.Lock()
		s.echoes.cancelLocked(nil, []string{prefix})
		s.mu.Unlock()
		return fmt.Errorf("gecaso/lru: delete prefix %s: %w", keyfmt.Quote(prefix), err)
	}
	if strings.HasPrefix(prefix, s.prefix) || strings.HasPrefix(s.prefix, prefix) {
		s.mu.Lock()
		s.idx.removePrefix(prefix, gen)
		s.mu.Unlock()
	}
	return nil
}

// TryLock forwards to the inner storage's TryLock, or returns an error
// matching [storage.ErrNotSupported] when the inner storage is not a
// [storage.Locker].
func (s *Storage) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, bool, error) {
	lk, ok := s.inner.(storage.Locker)
	switch {
	case s.closed.Load():
		return nil, false, storage.ErrClosed
	case !ok:
		return nil, false, fmt.Errorf("gecaso/lru: lock %s: %w", keyfmt.Quote(key), storage.ErrNotSupported)
	}
	return lk.TryLock(ctx, key, ttl)
}

// Subscribe forwards to the inner storage's Subscribe, or returns an error
// matching [storage.ErrNotSupported] when the inner storage is not a
// [storage.Invalidator] (or the lru keeps the values itself).
// [Storage.Close] ends the subscriptions made through it; after Close
// Subscribe returns [storage.ErrClosed].
func (s *Storage) Subscribe(fn func(storage.Invalidation)) (cancel func(), err error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	inv, ok := s.inner.(storage.Invalidator)
	if !ok {
		return nil, fmt.Errorf("gecaso/lru: subscribe: %w", storage.ErrNotSupported)
	}
	inner, err := inv.Subscribe(fn)
	if err != nil {
		return nil, err
	}
	c, ok := s.subs.Add(inner) // the inner storage's cancel is idempotent
	if !ok {
		return nil, storage.ErrClosed
	}
	return c, nil
}

// Len returns the number of keys the lru indexes: at most maxEntries.
// It may count a key that was removed behind the lru's back until a Get
// misses it or it is evicted.
func (s *Storage) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.len()
}

// Bytes returns the bytes the indexed keys count for (see [WithMaxBytes]).
func (s *Storage) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.bytes
}

// Stats returns the counters since New.
func (s *Storage) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close releases the index, ends the subscriptions to the inner
// storage's invalidations (waiting for a running function), and closes
// the inner storage if New created it, or if [WithCloseInner] was given,
// returning the inner Close's error. Afterwards every method returns [storage.ErrClosed]. Close is
// idempotent: later calls return what the first returned.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.unsubscribe != nil {
			s.unsubscribe()
		}
		s.subs.Close()
		s.mu.Lock()
		s.idx = index{}
		s.mu.Unlock()
		if c, ok := s.inner.(io.Closer); ok && s.closeInner {
			if err := c.Close(); err != nil {
				s.closeErr = fmt.Errorf("gecaso/lru: close the inner storage: %w", err)
			}
		}
	})
	return s.closeErr
}
