// Package mapmemory is a copy of gecaso's storage/memory as it was before
// its arena layout: 64 shards of map[string]entry, a []byte per entry. It
// lives here only so that the benchmarks can measure the two side by side.
package mapmemory

import (
	"bytes"
	"context"
	"hash/maphash"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gecaso/gecaso/storage"
)

// numShards is a power of two, so a hash picks a shard with a mask. 64
// keeps two cores (and 16) from meeting on one lock often, at a cost of a
// few kilobytes.
const numShards = 64

// Storage is an in-RAM storage of byte values. It is safe for concurrent
// use by many goroutines.
//
// Storage never blocks on I/O, so its methods ignore a cancelled context
// and complete, except [Storage.Scan], which stops with ctx.Err(). After
// [Storage.Close] every method returns [storage.ErrClosed].
type Storage struct {
	seed   maphash.Seed
	base   time.Time // expiry times are kept as monotonic offsets from base
	shards [numShards]shard
	seq    atomic.Uint64 // last Seq given to a write; after the shards' padding, away from what reads touch

	stop      chan struct{} // closed by Close to stop the sweeper
	done      chan struct{} // closed by the sweeper when it exits; nil without one
	closeOnce sync.Once
}

// shard is one part of the key space.
type shard struct {
	mu sync.RWMutex     // guards m, ttlSets and ttlSwept
	m  map[string]entry // nil once the storage is closed

	// ttlSets counts the Sets with a TTL; ttlSwept is what it was when the
	// sweeper last found no entry with a TTL. While they are equal the
	// shard holds no entry with a TTL and the sweeper skips it. Unlike a
	// count of such entries, they need no look-up of the old entry in Set
	// or Remove.
	ttlSets, ttlSwept uint64

	// Pads the shard to 128 bytes, so that a lock taken on one core does
	// not evict its neighbour's from another core's cache (CPUs fetch
	// cache lines in pairs).
	_ [128 - unsafe.Sizeof(sync.RWMutex{}) - 24]byte
}

// entry is a stored value. The value slice is never modified after Set
// stored it, so it can be lent or copied outside the lock.
type entry struct {
	value []byte
	exp   int64 // expiry as nanoseconds after Storage.base; 0: never
	seq   uint64
}

var (
	_ storage.Storage       = (*Storage)(nil)
	_ storage.Scanner       = (*Storage)(nil)
	_ storage.PrefixDeleter = (*Storage)(nil)
	_ storage.Viewer        = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// New returns an empty Storage whose sweeper visits every shard once a
// minute.
func New() *Storage {
	s := &Storage{
		seed: maphash.MakeSeed(),
		base: time.Now(),
		stop: make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]entry)
	}
	s.done = make(chan struct{})
	go s.sweepLoop(time.Minute)
	return s
}

func (s *Storage) shard(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)&(numShards-1)]
}

// now returns the current time as an offset from s.base, on the monotonic
// clock, so that a change of the wall clock moves no expiry.
func (s *Storage) now() int64 { return int64(time.Since(s.base)) }

// expired reports whether e has expired at now.
func (e *entry) expired(now int64) bool { return e.exp != 0 && now >= e.exp }

// lookup returns the live value stored under key. The value must not be
// modified. It reports ErrClosed or ErrNotFound, bare.
func (s *Storage) lookup(key string) ([]byte, error) {
	sh := s.shard(key)
	sh.mu.RLock()
	if sh.m == nil {
		sh.mu.RUnlock()
		return nil, storage.ErrClosed
	}
	e, ok := sh.m[key]
	sh.mu.RUnlock()
	if !ok {
		return nil, storage.ErrNotFound
	}
	if e.exp != 0 {
		if now := s.now(); e.expired(now) {
			sh.dropExpired(key, e.seq, now)
			return nil, storage.ErrNotFound
		}
	}
	return e.value, nil
}

// dropExpired deletes key if it still holds the expired write seq, so
// that an entry read after its expiry does not wait for the sweeper.
func (sh *shard) dropExpired(key string, seq uint64, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e.seq == seq && e.expired(now) {
		delete(sh.m, key)
	}
}

// Get returns a copy of the value stored under key, which the caller owns,
// or the bare [storage.ErrNotFound] when the key is absent or expired.
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
// fn's error. fn runs after the storage's lock is released, so it may call
// the storage. The slice stays valid after fn returns, since a stored
// value is never modified, but fn must not modify it.
func (s *Storage) View(_ context.Context, key string, fn func(value []byte) error) error {
	v, err := s.lookup(key)
	if err != nil {
		return err
	}
	return fn(v)
}

// Set stores a copy of value under key, replacing any previous value and
// expiry. A p.TTL of 0 means the entry never expires; p.Extra is ignored.
func (s *Storage) Set(_ context.Context, key string, value []byte, p storage.Params) error {
	e := entry{value: bytes.Clone(value)}
	if e.value == nil {
		e.value = []byte{}
	}
	if p.TTL > 0 {
		e.exp = s.now() + int64(p.TTL)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		return storage.ErrClosed
	}
	// Taken under the lock, so that of two writes to one key the one that
	// stays has the larger Seq.
	e.seq = s.seq.Add(1)
	if e.exp != 0 {
		sh.ttlSets++
	}
	sh.m[key] = e
	return nil
}

// Remove deletes the given keys. Absent keys are not an error.
func (s *Storage) Remove(_ context.Context, keys ...string) error {
	for _, key := range keys {
		if err := s.shard(key).remove(key); err != nil {
			return err
		}
	}
	return nil
}

func (sh *shard) remove(key string) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		return storage.ErrClosed
	}
	delete(sh.m, key)
	return nil
}

// Scan calls fn for every live key that starts with prefix (every key when
// prefix is empty), in no particular order, with the value's exact Size,
// its ExpiresAt (zero when it never expires) and its Seq: a counter shared
// by all keys of the storage, increased by every Set, so a larger Seq was
// written later. fn runs without any lock held and may call the storage;
// keys written or removed meanwhile may or may not be reported. Scan
// stops and returns fn's error when fn returns one, and stops with
// ctx.Err() when ctx is cancelled.
func (s *Storage) Scan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	var infos []storage.KeyInfo // reused shard after shard
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		sh := &s.shards[i]
		now := s.now()
		sh.mu.RLock()
		if sh.m == nil {
			sh.mu.RUnlock()
			return storage.ErrClosed
		}
		infos = infos[:0]
		for k, e := range sh.m {
			if strings.HasPrefix(k, prefix) && !e.expired(now) {
				infos = append(infos, s.keyInfo(k, &e))
			}
		}
		sh.mu.RUnlock()
		for _, ki := range infos {
			if err := fn(ki); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Storage) keyInfo(k string, e *entry) storage.KeyInfo {
	ki := storage.KeyInfo{Key: k, Size: int64(len(e.value)), Seq: e.seq}
	if e.exp != 0 {
		ki.ExpiresAt = s.base.Add(time.Duration(e.exp))
	}
	return ki
}

// DeletePrefix removes every key that starts with prefix; an empty prefix
// removes everything. It ignores a cancelled ctx.
func (s *Storage) DeletePrefix(_ context.Context, prefix string) error {
	for i := range s.shards {
		if err := s.shards[i].deletePrefix(prefix); err != nil {
			return err
		}
	}
	return nil
}

func (sh *shard) deletePrefix(prefix string) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		return storage.ErrClosed
	}
	if prefix == "" {
		sh.m = make(map[string]entry) // a fresh map gives the old one's memory back
		return nil
	}
	for k := range sh.m {
		if strings.HasPrefix(k, prefix) {
			delete(sh.m, k)
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
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Close stops the sweeper, waits for it to exit and releases every entry.
// Afterwards every method returns [storage.ErrClosed]. Close is
// idempotent and always returns nil.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		if s.done != nil {
			<-s.done
		}
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.m = nil
			sh.mu.Unlock()
		}
	})
	return nil
}
