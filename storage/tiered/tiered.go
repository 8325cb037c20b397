// Package tiered puts a fast storage (L1, typically an lru over memory) in
// front of a slower or shared one (L2, typically Redis or Badger). Reads
// try L1 first and fill it from L2 on a miss; writes and removals reach
// both.
//
//	near := lru.New(memory.New(), 10_000)
//	s := tiered.New(near, redis.New(client))
//	f := gecaso.Cached(s, fetchUser, gecaso.WithName("fetchUser"), gecaso.WithTTL(time.Hour))
//
// L2 is the authority. L1 is a copy local to the process that keeps each
// entry for at most the L1 TTL ([WithL1TTL], one minute by default), never
// past the entry's own expiry. Another process's changes to L2 (a Set, a
// Func.Forget, a Purge) therefore reach this process within the L1 TTL.
//
// L1 must honour [storage.Params.TTL] (memory, lru and badger do): that is
// how entries leave it. Values that are not gecaso entries (raw bytes
// written through Set by other code) are copied into L1 only by Set, which
// knows their TTL, never when read from L2.
package tiered

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/storage"
)

// Storage is an L1 storage in front of an L2 storage. It is safe for
// concurrent use by many goroutines when L1 and L2 are, as every storage
// must be.
//
// It implements every optional interface and forwards each to the tier
// that can answer it, or returns [storage.ErrNotSupported] when that tier
// lacks it: [storage.Scanner] and [storage.Locker] from L2,
// [storage.PrefixDeleter] from both, [storage.Viewer] from L1 (falling back
// to Get on an L1 miss). After [Storage.Close] every method returns
// [storage.ErrClosed].
type Storage struct {
	l1, l2 storage.Storage
	l1TTL  time.Duration
	close  bool
	viewer storage.Viewer // l1 as a Viewer, or nil

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // set once, inside closeOnce
}

var (
	_ storage.Storage       = (*Storage)(nil)
	_ storage.Scanner       = (*Storage)(nil)
	_ storage.PrefixDeleter = (*Storage)(nil)
	_ storage.Viewer        = (*Storage)(nil)
	_ storage.Locker        = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// New returns a Storage that reads l1, then l2, and writes both. New
// panics if l1 or l2 is nil or an option is invalid.
func New(l1, l2 storage.Storage, opts ...Option) *Storage {
	if l1 == nil || l2 == nil {
		panic("gecaso/tiered: New needs two storages, got a nil one")
	}
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if c.l1TTL == 0 {
		c.l1TTL = DefaultL1TTL
	}
	if err := c.validate(); err != nil {
		panic(err.Error())
	}
	s := &Storage{l1: l1, l2: l2, l1TTL: c.l1TTL, close: c.close}
	s.viewer, _ = l1.(storage.Viewer)
	return s
}

// Get returns the value from L1 when it holds key, otherwise from L2, and
// then copies it into L1 for the rest of its lifetime, capped by the L1
// TTL. The lifetime is read from the gecaso envelope in the value. A value
// that is not an envelope (written by other code) is not copied: its
// remaining lifetime is unknown, and L1 must not keep it past its expiry in
// L2. A miss in both is [storage.ErrNotFound], unwrapped.
//
// An L1 failure other than a miss is passed over: L2 answers. A failure of
// L2 is returned; the slice returned belongs to the caller.
func (s *Storage) Get(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	v, err1 := s.l1.Get(ctx, key)
	if err1 == nil {
		return v, nil
	}
	return s.getL2(ctx, key, err1)
}

// getL2 answers from L2 after L1 failed with err1, and fills L1 when L1
// merely missed.
func (s *Storage) getL2(ctx context.Context, key string, err1 error) ([]byte, error) {
	v, err := s.l2.Get(ctx, key)
	if err != nil {
		if err == storage.ErrNotFound || errors.Is(err, storage.ErrNotFound) {
			return nil, storage.ErrNotFound
		}
		return nil, fmt.Errorf("gecaso/tiered: get %q: %w", key, err)
	}
	if errors.Is(err1, storage.ErrNotFound) {
		if ttl, ok := s.fillTTL(v, time.Now()); ok {
			// A failed fill costs a later L1 hit, nothing else.
			_ = s.l1.Set(ctx, key, v, storage.Params{TTL: ttl})
		}
	}
	return v, nil
}

// fillTTL returns how long L1 may keep v, read from L2 at now: the rest of
// the entry's lifetime, read from its gecaso envelope, capped by the L1
// TTL. ok is false when v is no envelope or the entry has expired.
func (s *Storage) fillTTL(v []byte, now time.Time) (ttl time.Duration, ok bool) {
	var env codec.Envelope
	if codec.DecodeEnvelope(v, &env) != nil {
		return 0, false
	}
	if env.ExpiresAt.IsZero() {
		return s.l1TTL, true
	}
	left := env.ExpiresAt.Sub(now)
	if left <= 0 {
		return 0, false
	}
	return min(left, s.l1TTL), true
}

// Set writes value to L2, then to L1 with p.TTL capped by the L1 TTL.
//
// When L2 refuses the write, Set removes key from L1 and returns L2's
// error: L1 never holds a value L2 does not, and the process does not keep
// reading an older value from L1 that it just tried to replace. When L1
// refuses the write, Set removes key from L1 (so that it cannot serve the
// value the write replaced) and returns L1's error. A negative p.TTL (an
// entry already dead) is passed to L2 and removed from L1.
//
// A Get running concurrently with Set in the same process may fill L1 with
// the value Set replaces; L1 then serves it until the L1 TTL passes.
func (s *Storage) Set(ctx context.Context, key string, value []byte, p storage.Params) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if err := s.l2.Set(ctx, key, value, p); err != nil {
		_ = s.l1.Remove(ctx, key)
		return fmt.Errorf("gecaso/tiered: set %q in L2: %w", key, err)
	}
	if p.TTL < 0 {
		if err := s.l1.Remove(ctx, key); err != nil {
			return fmt.Errorf("gecaso/tiered: set %q in L1: %w", key, err)
		}
		return nil
	}
	p1 := p
	p1.TTL = s.l1TTL
	if p.TTL > 0 {
		p1.TTL = min(p.TTL, s.l1TTL)
	}
	if err := s.l1.Set(ctx, key, value, p1); err != nil {
		_ = s.l1.Remove(ctx, key)
		return fmt.Errorf("gecaso/tiered: set %q in L1: %w", key, err)
	}
	return nil
}

// Remove deletes keys from L2, then from L1, and returns the errors of
// both (L1 is cleared even when L2 fails). Absent keys are not an error.
func (s *Storage) Remove(ctx context.Context, keys ...string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	err2 := s.l2.Remove(ctx, keys...)
	err1 := s.l1.Remove(ctx, keys...)
	if err2 == nil && err1 == nil {
		return nil
	}
	return fmt.Errorf("gecaso/tiered: remove %q (%d keys): %w", keys[0], len(keys), errors.Join(err2, err1))
}

// View lends the value under key to fn: from L1 without a copy when L1 is a
// [storage.Viewer], otherwise (and on an L1 miss) through [Storage.Get],
// which fills L1. It returns [storage.ErrNotFound] without calling fn when
// neither tier holds key, and fn's error otherwise. The slice is valid only
// until fn returns and must not be modified.
func (s *Storage) View(ctx context.Context, key string, fn func(value []byte) error) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	var err1 error
	if s.viewer != nil {
		vc := viewCalls.Get().(*viewCall)
		vc.fn, vc.called = fn, false
		err1 = s.viewer.View(ctx, key, vc.call)
		called := vc.called
		vc.fn = nil
		viewCalls.Put(vc)
		if called || err1 == nil {
			return err1
		}
	} else {
		var v []byte
		if v, err1 = s.l1.Get(ctx, key); err1 == nil {
			return fn(v)
		}
	}
	v, err := s.getL2(ctx, key, err1)
	if err != nil {
		return err
	}
	return fn(v)
}

// viewCall passes a View to the caller's fn and records that it did, so
// that an L1 miss can be told from fn's own error. It is pooled, with its
// call bound once, so that a View through L1 allocates nothing.
type viewCall struct {
	fn     func([]byte) error
	called bool
	call   func([]byte) error // calls fn, sets called
}

var viewCalls = sync.Pool{New: func() any {
	vc := new(viewCall)
	vc.call = func(v []byte) error {
		vc.called = true
		return vc.fn(v)
	}
	return vc
}}

// Scan lists the keys of L2, the authority; it returns
// [storage.ErrNotSupported] when L2 is not a [storage.Scanner]. Keys only
// L1 holds (none, unless L2 lost them) are not reported.
func (s *Storage) Scan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	sc, ok := s.l2.(storage.Scanner)
	if !ok {
		return fmt.Errorf("gecaso/tiered: scan: L2 %T: %w", s.l2, storage.ErrNotSupported)
	}
	return sc.Scan(ctx, prefix, fn)
}

// DeletePrefix removes every key with prefix from L2 and then from L1. It
// returns [storage.ErrNotSupported], before removing anything, unless both
// tiers are [storage.PrefixDeleter]s; gecaso's Func.Purge then falls back
// to Scan (of L2) and Remove (from both).
func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	pd2, ok2 := s.l2.(storage.PrefixDeleter)
	pd1, ok1 := s.l1.(storage.PrefixDeleter)
	if !ok1 || !ok2 {
		return fmt.Errorf("gecaso/tiered: delete prefix: L1 %T and L2 %T: %w", s.l1, s.l2, storage.ErrNotSupported)
	}
	err2 := pd2.DeletePrefix(ctx, prefix)
	err1 := pd1.DeletePrefix(ctx, prefix)
	if err2 == nil && err1 == nil {
		return nil
	}
	return fmt.Errorf("gecaso/tiered: delete prefix %q: %w", prefix, errors.Join(err2, err1))
}

// TryLock takes the lock in L2, the storage the processes share; it
// returns [storage.ErrNotSupported] when L2 is not a [storage.Locker].
func (s *Storage) TryLock(ctx context.Context, key string, ttl time.Duration) (unlock func(context.Context) error, acquired bool, err error) {
	if s.closed.Load() {
		return nil, false, storage.ErrClosed
	}
	l, ok := s.l2.(storage.Locker)
	if !ok {
		return nil, false, fmt.Errorf("gecaso/tiered: lock: L2 %T: %w", s.l2, storage.ErrNotSupported)
	}
	return l.TryLock(ctx, key, ttl)
}

// Close marks the Storage closed: afterwards every method returns
// [storage.ErrClosed]. With [WithClose] it also closes L1 and then L2,
// each that implements io.Closer, and returns their errors. Close is
// idempotent.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if !s.close {
			return
		}
		var errs []error
		for _, st := range []storage.Storage{s.l1, s.l2} {
			if c, ok := st.(io.Closer); ok {
				errs = append(errs, c.Close())
			}
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("gecaso/tiered: close: %w", err)
		}
	})
	return s.closeErr
}
