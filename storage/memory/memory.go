package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gecaso/gecaso/storage"
)

// numShards is a power of two, so that a hash picks a shard with a mask.
// Reads take no lock, so shards are for writers: 256 keep two writers (or
// sixteen) from meeting often, and keep each shard's index small enough to
// grow in a fraction of a millisecond at ten million entries.
const numShards = 256

// Storage is an in-RAM storage of byte values. It is safe for concurrent
// use by many goroutines.
//
// Storage never blocks on I/O, so its methods ignore a cancelled context
// and complete, except [Storage.Scan], which stops with ctx.Err(). After
// [Storage.Close] every method returns [storage.ErrClosed].
type Storage struct {
	seed   maphash.Seed
	base   time.Time // expiry times are kept as monotonic offsets from base
	cfg    config
	closed atomic.Bool // set once by Close; read by every call
	shards [numShards]shard
	seq    atomic.Uint64 // last Seq given to a write; after the shards, away from what reads touch

	stop      chan struct{} // closed by Close to stop the sweeper
	done      chan struct{} // closed by the sweeper when it exits; nil without one
	closeOnce sync.Once
}

// Stats describes what a [Storage] holds and has done. Every field is
// exact when [Storage.Stats] read its shard; shards are read one after the
// other, so the sums may mix moments under concurrent writes.
type Stats struct {
	// Entries is the number of entries held, counting expired entries not
	// reclaimed yet, as [Storage.Len] does.
	Entries int

	// Bytes is the bytes of those entries' keys and values, as
	// [Storage.Bytes] returns.
	Bytes int64

	// ArenaBytes is the bytes of the segments the storage holds: the
	// entries with their 24-byte headers and padding to 8 bytes, the
	// garbage compaction has not reclaimed yet, and the free room at the
	// end of the segments being filled.
	ArenaBytes int64

	// GarbageBytes is the part of ArenaBytes that holds no live entry:
	// entries overwritten, removed or expired, and the unused ends of
	// full segments. Compaction keeps it under about a quarter of the
	// bytes written in each shard.
	GarbageBytes int64

	// IndexBytes is the bytes of the hash indexes: 8 per slot, with one
	// to three slots per entry.
	IndexBytes int64

	// Segments is the number of segments held.
	Segments int

	// Compactions counts the segments compaction has emptied, by copying
	// their live entries elsewhere, and dropped since New.
	Compactions uint64

	// Expired counts the entries reclaimed because they had expired, by a
	// read or by the sweeper, since New.
	Expired uint64
}

var (
	_ storage.Storage       = (*Storage)(nil)
	_ storage.Scanner       = (*Storage)(nil)
	_ storage.PrefixDeleter = (*Storage)(nil)
	_ storage.Viewer        = (*Storage)(nil)
	_ storage.Nonblocking   = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// New returns an empty Storage and starts its sweeper goroutine (see
// [WithSweepInterval]). Call [Storage.Close] to stop the sweeper when done
// with the storage. New panics with a message naming the mistake when an
// option is invalid.
func New(opts ...Option) *Storage {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if err := c.validate(); err != nil {
		panic(err.Error())
	}
	s := &Storage{
		seed: maphash.MakeSeed(),
		base: time.Now(),
		cfg:  c,
		stop: make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].init(s)
	}
	if c.sweepInterval > 0 {
		s.done = make(chan struct{})
		go s.sweepLoop(c.sweepInterval)
	}
	return s
}

// shardOf returns key's shard and the tag its index slots carry.
func (s *Storage) shardOf(key string) (*shard, uint32) {
	h := maphash.String(s.seed, key)
	return &s.shards[h&(numShards-1)], uint32(h >> 32)
}

// now returns the current time as an offset from s.base, on the monotonic
// clock, so that a change of the wall clock moves no expiry.
func (s *Storage) now() int64 { return int64(time.Since(s.base)) }

// expiry returns when an entry written now with ttl expires.
func (s *Storage) expiry(ttl time.Duration) int64 {
	now := s.now()
	if int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

// lookup returns the live value stored under key, in its segment: it must
// not be modified. It reports ErrClosed or ErrNotFound, bare.
func (s *Storage) lookup(key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	sh, tag := s.shardOf(key)
	h, v, found := sh.lookup(key, tag)
	if !found {
		return nil, storage.ErrNotFound
	}
	if h.exp != 0 {
		if now := s.now(); now >= h.exp {
			sh.dropExpired(key, tag, h.seq, now)
			return nil, storage.ErrNotFound
		}
	}
	return v, nil
}

// dropExpired removes key if it still holds the expired write seq, so that
// an entry read after its expiry does not wait for the sweeper.
func (sh *shard) dropExpired(key string, tag uint32, seq uint64, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.tab.Load()
	if sh.closed || t == nil {
		return
	}
	at, _ := sh.findLocked(t, key, tag)
	if at < 0 {
		return
	}
	if h, _, _ := sh.headerAtLocked(slotLoc(t.slots[at].Load())); h.seq != seq || !h.expired(now) {
		return
	}
	sh.expired++
	sh.payLocked(sh.removeSlotLocked(t, at))
}

// Get returns a copy of the value stored under key, which the caller owns,
// or the bare [storage.ErrNotFound] when the key is absent or expired. It
// takes no lock.
func (s *Storage) Get(_ context.Context, key string) ([]byte, error) {
	v, err := s.lookup(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, nil
}

// View calls fn with the value stored under key without copying it, or
// returns the bare [storage.ErrNotFound] without calling fn. It returns
// fn's error. View takes no lock, and fn runs with none held, so fn may
// call the storage, even write the same key.
//
// The slice is valid until fn returns and must not be modified; its
// capacity ends with it. The bytes it shows never change while fn runs,
// whatever writes, removals or compaction happen meanwhile: stored bytes
// are never written over (see the package documentation).
func (s *Storage) View(_ context.Context, key string, fn func(value []byte) error) error {
	v, err := s.lookup(key)
	if err != nil {
		return err
	}
	return fn(v)
}

// Set stores a copy of value under key, replacing any previous value and
// expiry. A p.TTL of 0 means the entry never expires; p.Extra is ignored.
// A key and value of more than about 2 GiB together are an error.
func (s *Storage) Set(_ context.Context, key string, value []byte, p storage.Params) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	size := entrySize(len(key), len(value))
	if size < 0 {
		return fmt.Errorf("gecaso/memory: set %q: %d bytes of key and value exceed the limit of %d", key, len(key)+len(value), maxEntry-hdrSize)
	}
	var exp int64
	if p.TTL > 0 {
		exp = s.expiry(p.TTL)
	}
	var jumbo []byte
	if size > s.cfg.jumbo {
		// Too large to share a segment: it gets its own, written before
		// the lock is taken.
		jumbo = make([]byte, size)
		putEntry(jumbo, 0, exp, key, value)
	}
	sh, tag := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return storage.ErrClosed
	}
	// Taken under the lock, so that of two writes to one key the one that
	// stays has the larger Seq.
	seq := s.seq.Add(1)
	if err := sh.setLocked(key, value, tag, seq, exp, size, jumbo); err != nil {
		return fmt.Errorf("gecaso/memory: set %q: %w", key, err)
	}
	return nil
}

// Remove deletes the given keys. Absent keys are not an error.
func (s *Storage) Remove(_ context.Context, keys ...string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	for _, key := range keys {
		sh, tag := s.shardOf(key)
		if err := sh.remove(key, tag); err != nil {
			return err
		}
	}
	return nil
}

func (sh *shard) remove(key string, tag uint32) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return storage.ErrClosed
	}
	t := sh.tab.Load()
	if t == nil {
		return nil
	}
	if at, _ := sh.findLocked(t, key, tag); at >= 0 {
		sh.payLocked(sh.removeSlotLocked(t, at))
	}
	return nil
}

// Scan calls fn for every live key that starts with prefix (every key when
// prefix is empty), in no particular order, with the value's exact Size,
// its ExpiresAt (zero when it never expires) and its Seq: a counter shared
// by all keys of the storage, increased by every Set, so a larger Seq was
// written later (compaction keeps it). fn runs without any lock held and
// may call the storage; keys written or removed meanwhile may or may not
// be reported, and no key is reported twice. Scan stops and returns fn's
// error when fn returns one, and stops with ctx.Err() when ctx is
// cancelled.
func (s *Storage) Scan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	var infos []storage.KeyInfo // reused shard after shard
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		var ok bool
		if infos, ok = s.shards[i].collect(infos[:0], prefix); !ok {
			return storage.ErrClosed
		}
		for _, ki := range infos {
			if err := fn(ki); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Storage) keyInfo(k string, h *header) storage.KeyInfo {
	ki := storage.KeyInfo{Key: k, Size: int64(h.vlen), Seq: h.seq}
	if h.exp != 0 {
		ki.ExpiresAt = s.base.Add(time.Duration(h.exp))
	}
	return ki
}

// DeletePrefix removes every key that starts with prefix; an empty prefix
// removes everything. It ignores a cancelled ctx. Keys written while it
// runs may or may not be removed.
func (s *Storage) DeletePrefix(_ context.Context, prefix string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	for i := range s.shards {
		if !s.shards[i].deletePrefix(prefix) {
			return storage.ErrClosed
		}
	}
	return nil
}

// Len returns the number of entries held, counting expired entries whose
// memory the sweeper has not reclaimed yet. It returns 0 after Close.
func (s *Storage) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.entries
		sh.mu.Unlock()
	}
	return n
}

// Bytes returns the bytes of the keys and values of the entries [Storage.Len]
// counts: exactly what Set was given for them, without the storage's own
// overhead (see [Stats]). It returns 0 after Close.
func (s *Storage) Bytes() int64 {
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.kvBytes
		sh.mu.Unlock()
	}
	return n
}

// Stats returns the storage's gauges and counters. It takes each shard's
// lock in turn, briefly; reads go on meanwhile.
func (s *Storage) Stats() Stats {
	var st Stats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		garbage, _ := sh.garbageLocked()
		st.Entries += sh.entries
		st.Bytes += sh.kvBytes
		st.ArenaBytes += sh.arena
		st.GarbageBytes += garbage
		if t := sh.tab.Load(); t != nil {
			st.IndexBytes += 8 * int64(len(t.slots))
		}
		for _, g := range sh.segs {
			if g != nil {
				st.Segments++
			}
		}
		st.Compactions += sh.compactions
		st.Expired += sh.expired
		sh.mu.Unlock()
	}
	return st
}

// Nonblocking reports true: reads answer from memory, without a lock but
// for rare moments (an expired entry's reclaim, a read racing compaction),
// and never wait on I/O. See [storage.Nonblocking].
func (s *Storage) Nonblocking() bool { return true }

// Close stops the sweeper, waits for it to exit and releases every entry.
// Afterwards every method returns [storage.ErrClosed]. Close is
// idempotent and always returns nil.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		if s.done != nil {
			<-s.done
		}
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.closed = true
			sh.resetLocked()
			sh.mu.Unlock()
		}
	})
	return nil
}
