// Package tiered puts a fast storage (L1, typically an lru over memory) in
// front of a slower or shared one (L2, typically Redis or Badger). Reads
// try L1 first and fill it from L2 on a miss; writes and removals reach
// both.
//
//	near := lru.New(memory.New(), 10_000)
//	s := tiered.New(near, redis.New(client))
//	defer s.Close()
//	f := gecaso.Cached(s, fetchUser, gecaso.WithName("fetchUser"), gecaso.WithTTL(time.Hour))
//
// L2 is the authority. L1 is a copy local to the process that keeps each
// entry for at most the L1 TTL ([WithL1TTL], one minute by default), never
// past the entry's own expiry.
//
// A removal never leaves a copy behind: after Remove or DeletePrefix
// returns, no Get or View that starts afterwards returns a removed value,
// even when a Get that read L2 before the removal fills L1 after it (fills
// and removals are ordered by a generation table, internal/fence). When L2
// tells of removals ([storage.Invalidator]: storage/redis publishes them),
// the Storage subscribes, so that another process's Func.Forget or Purge
// drops this process's L1 copies within milliseconds; with an L2 that does
// not, they reach L1 within the L1 TTL. Another process's overwrite (a Set)
// is not published: it reaches L1 within the L1 TTL either way. An
// invalidation of a prefix (a Purge, or of everything after L2's
// connection dropped and messages may have been lost) needs an L1 that can
// delete or scan by prefix (memory and lru can); with any other L1 it is
// reported once and those copies last up to the L1 TTL.
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
	"github.com/gecaso/gecaso/internal/fence"
	"github.com/gecaso/gecaso/internal/keyfmt"
	"github.com/gecaso/gecaso/internal/subs"
	"github.com/gecaso/gecaso/storage"
)

// Storage is an L1 storage in front of an L2 storage. It is safe for
// concurrent use by many goroutines when L1 and L2 are, as every storage
// must be.
//
// It implements every optional interface and forwards each to the tier
// that can answer it, or returns [storage.ErrNotSupported] when that tier
// lacks it: [storage.Scanner], [storage.Locker] and [storage.Invalidator]
// from L2, [storage.PrefixDeleter] from both, [storage.Viewer] from L1
// (falling back to Get on an L1 miss), [storage.Nonblocking] from L1.
// After [Storage.Close] every method returns [storage.ErrClosed].
type Storage struct {
	l1, l2  storage.Storage
	l1TTL   time.Duration
	close   bool
	onError func(error)
	viewer  storage.Viewer // l1 as a Viewer, or nil
	fence   *fence.Table   // orders L1 fills against removals
	// l2Nonblocking: L2 never blocks, so it is read on the caller's
	// goroutine whatever its context.
	l2Nonblocking bool

	subs        subs.Set // the subscriptions made through Subscribe
	unsubscribe func()   // ends New's subscription to L2's invalidations; nil without one

	prefixFailed atomic.Bool // a prefix invalidation could not reach L1 (reported once)

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
	_ storage.Invalidator   = (*Storage)(nil)
	_ storage.Nonblocking   = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// New returns a Storage that reads l1, then l2, and writes both. New
// panics if l1 or l2 is nil or an option is invalid.
//
// When l2 is a [storage.Invalidator], New subscribes to it (with Redis, one
// round trip, or up to the client's dial timeout when the server cannot be
// reached) and drops from L1 every key and prefix L2 says was removed.
// When L2 cannot subscribe, the error goes to the [WithErrorHandler]
// handler and L1 copies last up to the L1 TTL. [Storage.Close] ends the
// subscription.
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
	s := &Storage{l1: l1, l2: l2, l1TTL: c.l1TTL, close: c.close, onError: c.onError, fence: fence.New()}
	s.viewer, _ = l1.(storage.Viewer)
	s.l2Nonblocking = nonblocking(l2)
	if inv, ok := l2.(storage.Invalidator); ok {
		cancel, err := inv.Subscribe(s.dropL1)
		switch {
		case err == nil:
			s.unsubscribe = cancel
		case errors.Is(err, storage.ErrNotSupported): // a wrapper over a storage that cannot
		default:
			s.onError(fmt.Errorf("gecaso/tiered: subscribe to L2's invalidations (L1 copies of other processes' removals last up to the L1 TTL): %w", err))
		}
	}
	return s
}

// Nonblocking reports whether L1 is [storage.Nonblocking]. Reads then never
// keep a caller whose context has ended: an L1 hit answers from memory, and
// a read of an L2 that may block runs on a goroutine of its own that the
// caller leaves when its context ends (see [Storage.Get]).
func (s *Storage) Nonblocking() bool { return nonblocking(s.l1) }

// L1 returns the storage in front, given to [New].
func (s *Storage) L1() storage.Storage { return s.l1 }

// L2 returns the storage behind, given to [New].
func (s *Storage) L2() storage.Storage { return s.l2 }

func nonblocking(st storage.Storage) bool {
	nb, ok := st.(storage.Nonblocking)
	return ok && nb.Nonblocking()
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
//
// When L2 may block (it is not [storage.Nonblocking]) and ctx can end, L2 is
// read on a goroutine of its own: a caller whose ctx ends gets ctx.Err() at
// once, whatever L2 is doing, and the read (with its copy into L1) finishes
// in the background.
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
	// Taken before reading L2: a removal that starts after this makes the
	// fill below give up, or waits for it and removes what it wrote.
	tok := s.fence.Token(key)
	v, err := s.readL2(ctx, key)
	if err != nil {
		if err == storage.ErrNotFound || errors.Is(err, storage.ErrNotFound) {
			return nil, storage.ErrNotFound
		}
		return nil, fmt.Errorf("gecaso/tiered: get %s: %w", keyfmt.Quote(key), err)
	}
	if errors.Is(err1, storage.ErrNotFound) {
		if ttl, ok := s.fillTTL(v, time.Now()); ok {
			s.fill(ctx, key, tok, v, ttl)
		}
	}
	return v, nil
}

// readL2 gets key from L2: on the calling goroutine when L2 cannot block or
// ctx cannot end, otherwise on a goroutine of its own that the caller leaves
// when ctx ends.
func (s *Storage) readL2(ctx context.Context, key string) ([]byte, error) {
	if s.l2Nonblocking || ctx.Done() == nil {
		return s.l2.Get(ctx, key)
	}
	type reply struct {
		v   []byte
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		v, err := s.l2.Get(ctx, key)
		ch <- reply{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fill copies v, read from L2 under tok, into L1, unless a removal of key
// started since tok was taken. A failed fill costs a later L1 hit, nothing
// else.
func (s *Storage) fill(ctx context.Context, key string, tok fence.Token, v []byte, ttl time.Duration) {
	w, ok := s.fence.Begin(key, tok)
	if !ok {
		return
	}
	err := s.l1.Set(ctx, key, v, storage.Params{TTL: ttl})
	if s.fence.End(w) && err == nil {
		// A removal started while the copy was written. It waited for the
		// write and removes the copy, unless its context cut the wait
		// short: remove it here too.
		_ = s.l1.Remove(context.WithoutCancel(ctx), key)
	}
}

// fillTTL returns how long L1 may keep v, read from L2 at now: the rest of
// the entry's lifetime, read from its gecaso envelope, capped by the L1
// TTL. ok is false when v is no envelope or the entry has expired.
func (s *Storage) fillTTL(v []byte, now time.Time) (ttl time.Duration, ok bool) {
	var env codec.Envelope
	if codec.DecodeEnvelope(v, &env) != nil {
		return 0, false
	}
	until := env.ServableUntil() // the end of a stale window, which gecaso may still serve
	if until.IsZero() {
		return s.l1TTL, true
	}
	left := until.Sub(now)
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
// A Get that read the value Set replaces from L2 does not copy it into L1
// after Set: Set orders itself against fills as a removal does.
func (s *Storage) Set(ctx context.Context, key string, value []byte, p storage.Params) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	var err error
	ferr := s.fence.Invalidate(ctx, key, func() { err = s.set(ctx, key, value, p) })
	if err == nil && ferr != nil {
		// Both tiers were written, but ctx cut short the wait for a fill
		// of the value replaced, which removes its copy itself, a moment
		// later.
		return fmt.Errorf("gecaso/tiered: set %s: %w", keyfmt.Quote(key), ferr)
	}
	return err
}

func (s *Storage) set(ctx context.Context, key string, value []byte, p storage.Params) error {
	if err := s.l2.Set(ctx, key, value, p); err != nil {
		_ = s.l1.Remove(ctx, key)
		return fmt.Errorf("gecaso/tiered: set %s in L2: %w", keyfmt.Quote(key), err)
	}
	if p.TTL < 0 {
		if err := s.l1.Remove(ctx, key); err != nil {
			return fmt.Errorf("gecaso/tiered: set %s in L1: %w", keyfmt.Quote(key), err)
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
		return fmt.Errorf("gecaso/tiered: set %s in L1: %w", keyfmt.Quote(key), err)
	}
	return nil
}

// Remove deletes keys from L2, then from L1, and returns the errors of
// both (L1 is cleared even when L2 fails). Absent keys are not an error.
// Once it returns, no Get or View that starts afterwards returns a value
// it removed, even from a fill that read L2 before it.
func (s *Storage) Remove(ctx context.Context, keys ...string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	var err1, err2 error
	ferr := s.invalidate(ctx, keys, func() {
		err2 = s.l2.Remove(ctx, keys...)
		err1 = s.l1.Remove(ctx, keys...)
	})
	if err2 == nil && err1 == nil && ferr == nil {
		return nil
	}
	return fmt.Errorf("gecaso/tiered: remove %s (%d keys): %w", keyfmt.Quote(keys[0]), len(keys), errors.Join(err2, err1, ferr))
}

// maxFencedKeys is how many keys a removal invalidates one by one; more
// invalidate every key at once, which costs concurrent fills of other keys
// their copy, never correctness.
const maxFencedKeys = 64

// invalidate runs remove as an invalidation of keys (see internal/fence):
// fills of keys begun before it have ended, and none can begin while
// remove runs; fills that read their source before it never land after
// it. It returns ctx.Err() when ctx cut the wait for those fills short
// (remove ran anyway, and the fills remove their own copies).
func (s *Storage) invalidate(ctx context.Context, keys []string, remove func()) error {
	if len(keys) > maxFencedKeys {
		return s.fence.InvalidateAll(ctx, remove)
	}
	return s.invalidateEach(ctx, keys, remove)
}

// invalidateEach nests one invalidation per key, remove innermost.
func (s *Storage) invalidateEach(ctx context.Context, keys []string, remove func()) error {
	if len(keys) == 0 {
		remove()
		return nil
	}
	var inner error
	err := s.fence.Invalidate(ctx, keys[0], func() { inner = s.invalidateEach(ctx, keys[1:], remove) })
	return cmpOr(err, inner)
}

// cmpOr returns the first non-nil error.
func cmpOr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// dropL1 drops from L1, through the fence, what L2 says was removed. An
// empty prefix drops all of L1.
func (s *Storage) dropL1(inv storage.Invalidation) {
	if s.closed.Load() {
		return
	}
	ctx := context.Background()
	if len(inv.Keys) > 0 {
		var err error
		_ = s.invalidate(ctx, inv.Keys, func() { err = s.l1.Remove(ctx, inv.Keys...) })
		if err != nil {
			s.onError(fmt.Errorf("gecaso/tiered: drop %d keys removed from L2 from L1: %w", len(inv.Keys), err))
		}
	}
	if len(inv.Prefixes) > 0 {
		var err error
		_ = s.fence.InvalidateAll(ctx, func() { err = s.removeL1Prefixes(ctx, inv.Prefixes) })
		if err != nil {
			s.onError(fmt.Errorf("gecaso/tiered: drop prefixes removed from L2 from L1: %w", err))
		}
	}
}

// removeL1Prefixes removes every L1 key with one of prefixes: with
// DeletePrefix, or by scanning L1 when it lacks that, or not at all.
func (s *Storage) removeL1Prefixes(ctx context.Context, prefixes []string) error {
	if pd, ok := s.l1.(storage.PrefixDeleter); ok {
		var errs []error
		for _, p := range prefixes {
			errs = append(errs, pd.DeletePrefix(ctx, p))
		}
		err := errors.Join(errs...)
		if !errors.Is(err, storage.ErrNotSupported) {
			return err
		}
	}
	if sc, ok := s.l1.(storage.Scanner); ok {
		var keys []string
		var errs []error
		for _, p := range prefixes {
			errs = append(errs, sc.Scan(ctx, p, func(ki storage.KeyInfo) error {
				keys = append(keys, ki.Key)
				return nil
			}))
		}
		err := errors.Join(errs...)
		if !errors.Is(err, storage.ErrNotSupported) {
			if len(keys) > 0 {
				err = errors.Join(err, s.l1.Remove(ctx, keys...))
			}
			return err
		}
	}
	if s.prefixFailed.CompareAndSwap(false, true) {
		return fmt.Errorf("L1 %T can neither delete nor scan by prefix: its copies of removed entries last up to the L1 TTL (reported once)", s.l1)
	}
	return nil
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
// to Scan (of L2) and Remove (from both). Once it returns, no Get or View
// that starts afterwards returns a value it removed; while it runs, fills
// of L1 are skipped.
func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	pd2, ok2 := s.l2.(storage.PrefixDeleter)
	pd1, ok1 := s.l1.(storage.PrefixDeleter)
	if !ok1 || !ok2 {
		return fmt.Errorf("gecaso/tiered: delete prefix: L1 %T and L2 %T: %w", s.l1, s.l2, storage.ErrNotSupported)
	}
	var err1, err2 error
	ferr := s.fence.InvalidateAll(ctx, func() {
		err2 = pd2.DeletePrefix(ctx, prefix)
		err1 = pd1.DeletePrefix(ctx, prefix)
	})
	if err2 == nil && err1 == nil && ferr == nil {
		return nil
	}
	return fmt.Errorf("gecaso/tiered: delete prefix %s: %w", keyfmt.Quote(prefix), errors.Join(err2, err1, ferr))
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

// Subscribe forwards to L2's Subscribe, or returns an error matching
// [storage.ErrNotSupported] when L2 is not a [storage.Invalidator]. fn is
// called with each invalidation after the L1 copies it names are dropped,
// so that a subscriber that rereads through the Storage (gecaso's Func
// refilling its near cache) never finds them in L1. [Storage.Close] ends
// the subscriptions made through it. After Close Subscribe returns
// [storage.ErrClosed].
func (s *Storage) Subscribe(fn func(storage.Invalidation)) (cancel func(), err error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	inv, ok := s.l2.(storage.Invalidator)
	if !ok {
		return nil, fmt.Errorf("gecaso/tiered: subscribe: L2 %T: %w", s.l2, storage.ErrNotSupported)
	}
	inner, err := inv.Subscribe(func(i storage.Invalidation) {
		s.dropL1(i)
		fn(i)
	})
	if err != nil {
		return nil, err
	}
	c, ok := s.subs.Add(inner) // L2's cancel is idempotent
	if !ok {
		return nil, storage.ErrClosed
	}
	return c, nil
}

// Close marks the Storage closed: afterwards every method returns
// [storage.ErrClosed]. It ends the subscription to L2's invalidations and
// those made through [Storage.Subscribe] (waiting for a running
// function). With [WithClose] it also closes L1 and then L2, each that
// implements io.Closer, and returns their errors. Close is idempotent, and
// must not be called from a subscriber's function.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.unsubscribe != nil {
			s.unsubscribe()
		}
		s.subs.Close()
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
