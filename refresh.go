package gecaso

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gecaso/gecaso/storage"
)

// revalidate starts the background refresh of key, whose entry a call just
// served stale, unless one runs in this process or the last one failed
// recently (see backoff).
func (f *Func[A, V]) revalidate(ctx context.Context, arg A, key string, h uint64, nearKey string) {
	if !f.fails.allow(key, time.Now()) {
		return
	}
	f.refreshes.Go(ctx, key, func(ctx context.Context) (struct{}, error) {
		f.refresh(ctx, arg, key, h, nearKey)
		return struct{}{}, nil
	})
}

// refresh runs fn for key detached from the caller that found the entry
// stale, bounded by the refresh timeout, and stores the result. With
// WithLock it first takes the cross-process lock without waiting: a process
// that finds it taken leaves the refresh to the holder and goes on serving
// the stale entry. A refresh that fails keeps the stale entry, is reported
// and backs off.
func (f *Func[A, V]) refresh(ctx context.Context, arg A, key string, h uint64, nearKey string) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.refreshTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			f.fails.failed(key, time.Now())
			f.report(opRefresh, key, &PanicError{Value: p, Stack: debug.Stack()})
		}
	}()
	if f.locker != nil {
		unlock, acquired, err := f.locker.TryLock(ctx, key, f.cfg.lockTTL)
		switch {
		case err != nil:
			if !errors.Is(err, storage.ErrNotSupported) {
				f.report(opLock, key, err)
			}
		case !acquired:
			return // another process refreshes it
		default:
			defer f.unlock(ctx, key, unlock)
			// The holder before us may have refreshed it already.
			st := f.getState()
			f.read(ctx, st, key)
			c := st.found.class
			f.putState(st)
			if c == fresh || c == negative {
				return
			}
		}
	}
	f.stats.refreshes.Add(1)
	if _, err := f.compute(ctx, arg, key, h, f.fence.TokenAt(h), nearKey); err != nil {
		f.fails.failed(key, time.Now())
		f.report(opRefresh, key, err)
		return
	}
	f.fails.ok(key)
}

// The backoff of a key whose refresh failed: the first retry waits
// minBackoff, each further failure doubles the wait, up to maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	// maxFailing bounds the keys the backoff remembers.
	maxFailing = 10_000
)

// backoff remembers the keys whose last refresh failed, so that the calls
// that keep finding them stale do not start a refresh each.
type backoff struct {
	mu sync.Mutex         // guards m
	m  map[string]failure // by key
}

type failure struct {
	n     int       // failures in a row
	until time.Time // no refresh before
}

func (b *backoff) allow(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	fl, ok := b.m[key]
	return !ok || !now.Before(fl.until)
}

func (b *backoff) failed(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[string]failure)
	}
	if len(b.m) >= maxFailing {
		for k, fl := range b.m {
			if !now.Before(fl.until) {
				delete(b.m, k)
			}
		}
		if len(b.m) >= maxFailing {
			clear(b.m) // forget; the cost is one more refresh per key
		}
	}
	fl := b.m[key]
	fl.n++
	wait := maxBackoff
	if fl.n < 7 { // 1 s << 6 passes a minute
		wait = min(minBackoff<<(fl.n-1), maxBackoff)
	}
	fl.until = now.Add(wait)
	b.m[key] = fl
}

func (b *backoff) ok(key string) {
	b.mu.Lock()
	delete(b.m, key)
	b.mu.Unlock()
}
