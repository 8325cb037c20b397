package gecaso

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/fence"
	"github.com/gecaso/gecaso/storage"
)

// result is what a run hands the callers that shared it.
type result[V any] struct {
	data    []byte // the value's msgpack, which each caller decodes; nil when it could not be encoded
	v       V      // fn's value, for when data is nil or does not decode
	source  Source // SourceRun, or SourceStorage when the run found the entry stored meanwhile
	stale   bool   // data is a stale entry served because fn failed
	masked  error  // fn's error, when stale
	stored  bool
	written time.Time
	expires time.Time
}

// run is the shared execution for a missed key. It looks in the storage
// again only when another run of the key's stripe ended since the caller
// read it, takes the cross-process lock when configured, runs fn and stores
// its result before any caller sees it, so that Forget or Purge after a
// Call never races the write. fallback is the value of an entry within the
// stale-if-error window, served if fn fails.
func (f *Func[A, V]) run(ctx context.Context, arg A, key string, h, ran uint64, fallback []byte, nearKey string) (result[V], error) {
	if f.ranAt(h).Load() != ran {
		if r, ok, err := f.recheck(ctx, key); ok {
			return r, err
		}
	}
	if f.locker != nil {
		r, ok, unlock, err := f.awaitLock(ctx, key)
		if ok {
			return r, err
		}
		if unlock != nil {
			// Released after the result is stored, or when fn fails or
			// panics, so that the other processes can try at once.
			defer f.unlock(ctx, key, unlock)
		}
	}
	tok := f.fence.TokenAt(h)
	r, err := f.compute(ctx, arg, key, h, tok, nearKey)
	if err == nil || isContextError(err) {
		return r, err
	}
	if fallback != nil {
		f.report(opStale, key, err)
		return result[V]{data: fallback, stale: true, masked: err}, nil
	}
	if f.cfg.errTTL > 0 && (f.cfg.cacheErr == nil || f.cfg.cacheErr(err)) {
		data, merr := codec.Marshal(errorRecord{Message: err.Error(), Code: f.cfg.codeOf(err)})
		if merr == nil {
			f.store(ctx, key, h, tok, entry{data: data, ttl: f.cfg.errTTL, isErr: true}, "")
		}
	}
	return r, err
}

// recheck reads key for a run; ok is true when the entry is there, and r
// (or err, for a cached error) is what the callers get.
func (f *Func[A, V]) recheck(ctx context.Context, key string) (r result[V], ok bool, err error) {
	st := f.getState()
	defer f.putState(st)
	st.keep = true
	f.read(ctx, st, key)
	fd := &st.found
	switch fd.class {
	case fresh:
		r = result[V]{data: fd.data, source: SourceStorage, written: fd.written, expires: fd.expires}
		fd.data = nil // now r's
		return r, true, nil
	case negative:
		return result[V]{source: SourceStorage}, true, fd.cerr
	}
	return r, false, nil
}

// compute runs fn and stores its result under key, unless an invalidation
// of key happened since tok was taken (before fn ran).
func (f *Func[A, V]) compute(ctx context.Context, arg A, key string, h uint64, tok fence.Token, nearKey string) (result[V], error) {
	ri := &runInfo{Context: ctx}
	var fctx context.Context = ri
	var endSpan func(error)
	if f.hooks.StartSpan != nil {
		fctx, endSpan = f.hooks.StartSpan(fctx, "gecaso.run", time.Now())
	}
	v, err := f.callFn(fctx, arg, endSpan)
	if err != nil {
		return result[V]{}, err
	}
	data, err := f.encode(v)
	if err != nil {
		f.report(opEncode, key, err)
		return result[V]{v: v}, nil
	}
	r := result[V]{data: data, v: v}
	if ri.noStore.Load() {
		return r, nil
	}
	ttl := f.cfg.ttl
	if d := ri.ttl.Load(); d != 0 {
		ttl = time.Duration(d)
	} else if ttl > 0 && f.cfg.jitter > 0 {
		ttl -= time.Duration(rand.Float64() * f.cfg.jitter * float64(ttl))
	}
	r.written, r.expires, r.stored = f.store(ctx, key, h, tok, entry{data: data, ttl: ttl}, nearKey)
	return r, nil
}

// callFn runs fn, counting the run, its time and its failure (a panic
// included, which it passes on).
func (f *Func[A, V]) callFn(ctx context.Context, arg A, endSpan func(error)) (v V, err error) {
	start := time.Now()
	failed := true
	defer func() {
		f.stats.runs.Add(1)
		f.stats.runTime.Add(uint64(time.Since(start)))
		if failed {
			f.stats.runErrors.Add(1)
		}
		if endSpan != nil {
			if err == nil && failed {
				err = errors.New("gecaso: function panicked")
			}
			endSpan(err)
		}
	}()
	v, err = f.fn(ctx, arg)
	failed = err != nil
	return v, err
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// entry is what store writes.
type entry struct {
	data  []byte        // msgpack of the value, or of an errorRecord
	ttl   time.Duration // 0: never expires
	isErr bool
}

// The latest instant an envelope can hold: a TTL reaching past it means
// "never expires".
var maxExpiry = time.Unix(0, math.MaxInt64)

// expiry returns t + d, and false when that is past what an envelope holds.
func expiry(t time.Time, d time.Duration) (time.Time, bool) {
	if d > maxExpiry.Sub(t) {
		return time.Time{}, false
	}
	return t.Add(d), true
}

// store writes e under key and returns when it was written and when it
// expires. It writes nothing when an invalidation of key started since tok
// was taken. When nearKey is set it also puts the value, decoded once more
// for the near cache, in the near cache. Failures are reported, never
// returned: the caller already has its result.
func (f *Func[A, V]) store(ctx context.Context, key string, h uint64, tok fence.Token, e entry, nearKey string) (written, expires time.Time, stored bool) {
	w, ok := f.fence.BeginAt(h, tok)
	if !ok {
		return written, expires, false
	}
	defer func() {
		if f.fence.End(w) && stored {
			// An invalidation started while the entry was written (one
			// from another process, or one whose wait was cut short):
			// take the entry back out.
			if err := f.s.Remove(ctx, key); err != nil {
				f.report(opRemove, key, err)
			}
			if nearKey != "" {
				f.near.remove([]byte(nearKey))
			}
		}
		f.ranAt(h).Add(1)
	}()
	var endSpan func(error)
	if f.hooks.StartSpan != nil {
		_, endSpan = f.hooks.StartSpan(ctx, "gecaso.set", time.Now())
	}
	written, expires, stored = f.write(ctx, key, e)
	if endSpan != nil {
		var err error
		if !stored {
			err = errors.New("gecaso: not stored")
		}
		endSpan(err)
	}
	if nearKey != "" {
		var nv V
		if err := f.vdec.Decode(e.data, &nv); err == nil {
			f.near.put(nearKey, key, nv, expires)
		}
	}
	return written, expires, stored
}

// write frames e and sets it under key.
func (f *Func[A, V]) write(ctx context.Context, key string, e entry) (written, expires time.Time, stored bool) {
	defer func() {
		if p := recover(); p != nil {
			f.report(opSet, key, fmt.Errorf("storage panicked: %v", p))
			stored = false
		}
	}()
	bufs := bufPool.Get().(*buffers)
	defer bufPool.Put(bufs)

	now := time.Now()
	env := codec.Envelope{WrittenAt: now, Params: f.cfg.params, Data: e.data, Error: e.isErr}
	ttl := e.ttl
	if ttl > 0 {
		exp, ok := expiry(now, ttl)
		if !ok {
			ttl = 0 // past 2262: never expires
		} else {
			env.ExpiresAt = exp
			if window := max(f.cfg.swr, f.cfg.sie); window > 0 && !e.isErr {
				if until, ok := expiry(exp, window); ok {
					env.StaleUntil = until
					ttl += window
				} else {
					ttl = 0
				}
			}
		}
	}
	frame, err := codec.AppendEnvelope(bufs.frame[:0], &env)
	if err != nil {
		f.report(opEncode, key, err)
		return time.Time{}, time.Time{}, false
	}
	if cap(frame) <= maxPooledBuffer {
		bufs.frame = frame
	}
	if err := f.s.Set(ctx, key, frame, storage.Params{TTL: ttl, Extra: f.cfg.params}); err != nil {
		f.report(opSet, key, err)
		return time.Time{}, time.Time{}, false
	}
	f.stats.bytesWritten.Add(uint64(len(frame)))
	return now, env.ExpiresAt, true
}

// encode returns v's msgpack in a slice of its own, of its exact size: the
// encoding is built in a pooled buffer, which saves the three or four
// reallocations of a slice growing from nothing.
func (f *Func[A, V]) encode(v V) ([]byte, error) {
	bufs := bufPool.Get().(*buffers)
	defer bufPool.Put(bufs)
	b, err := f.venc.Append(bufs.value[:0], v)
	if err != nil {
		return nil, err
	}
	data := make([]byte, len(b))
	copy(data, b)
	if cap(b) <= maxPooledBuffer {
		bufs.value = b
	}
	return data, nil
}

// maxPooledBuffer bounds the buffers kept in bufPool, so that one large
// value does not stay pinned.
const maxPooledBuffer = 64 << 10

// buffers are scratch space for a run: the encoding of a value and its
// frame.
type buffers struct{ value, frame []byte }

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

// awaitLock takes the cross-process lock for key. When another process holds
// it, awaitLock polls the storage for that process's result; ok is true when
// the result appeared, and r (or err, a cached error) is what the callers
// get. When the lock is ours, unlock releases it. When the lock cannot be
// had (an error, or no result and no lock after twice the lock TTL), both are
// zero and the caller runs fn unlocked.
func (f *Func[A, V]) awaitLock(ctx context.Context, key string) (r result[V], ok bool, unlock func(context.Context) error, err error) {
	ttl := f.cfg.lockTTL
	deadline := time.Now().Add(2 * ttl)
	delay := min(5*time.Millisecond, ttl)
	waited := false
	for {
		unlock, acquired, lerr := f.locker.TryLock(ctx, key, ttl)
		if lerr != nil {
			// A wrapper whose inner storage cannot lock is not a failure:
			// within one process the flight already shares the run.
			if !errors.Is(lerr, storage.ErrNotSupported) {
				f.report(opLock, key, lerr)
			}
			return r, false, nil, nil
		}
		if !acquired && !waited {
			waited = true
			f.stats.lockWaits.Add(1)
		}
		// Look again: the holder may have stored the result, also between
		// our read and our lock.
		r, ok, err = f.recheck(ctx, key)
		if ok || acquired {
			if ok && acquired {
				f.unlock(ctx, key, unlock)
				unlock = nil
			}
			return r, ok, unlock, err
		}
		if time.Now().After(deadline) {
			return r, false, nil, nil
		}
		t := time.NewTimer(delay)
		<-t.C
		delay = min(2*delay, 100*time.Millisecond, ttl)
	}
}

func (f *Func[A, V]) unlock(ctx context.Context, key string, unlock func(context.Context) error) {
	if err := unlock(ctx); err != nil {
		f.report(opUnlock, key, err)
	}
}
