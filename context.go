package gecaso

import (
	"context"
	"sync/atomic"
	"time"
)

// runKey is the context key of the runInfo of a run of fn.
type runKey struct{}

// runInfo is the context of a run of fn: the run's context, and what fn
// says about its own result through SetTTL and NoStore, which it may call
// from several goroutines. One allocation serves as both.
type runInfo struct {
	context.Context
	ttl     atomic.Int64 // nanoseconds; 0: the Func's TTL
	noStore atomic.Bool
}

// Value returns ri itself for runKey, and the parent's values otherwise.
func (ri *runInfo) Value(key any) any {
	if key == (runKey{}) {
		return ri
	}
	return ri.Context.Value(key)
}

// SetTTL, called inside fn (with the ctx gecaso passed it), sets how long the
// result fn is returning stays valid, in place of [WithTTL] and without
// [WithTTLJitter]; the way an upstream's Cache-Control max-age would. The
// stale windows of [WithStaleWhileRevalidate] and [WithStaleIfError] still
// follow it. A d <= 0 means the result is stale at once: it is returned but
// not stored, as with [NoStore]. SetTTL does not apply to an error fn
// returns. Outside a run of fn, SetTTL does nothing.
func SetTTL(ctx context.Context, d time.Duration) {
	ri, ok := ctx.Value(runKey{}).(*runInfo)
	if !ok {
		return
	}
	if d <= 0 {
		ri.noStore.Store(true)
		return
	}
	ri.ttl.Store(int64(d))
}

// NoStore, called inside fn (with the ctx gecaso passed it), makes the result
// fn is returning reach every caller waiting for it without being stored:
// the next call runs fn again (Cache-Control no-store). Outside a run of fn,
// NoStore does nothing.
func NoStore(ctx context.Context) {
	if ri, ok := ctx.Value(runKey{}).(*runInfo); ok {
		ri.noStore.Store(true)
	}
}
