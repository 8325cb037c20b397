// Package flight runs keyed calls so that concurrent callers of one key share
// one execution (dog-pile protection).
//
// It differs from golang.org/x/sync/singleflight in three ways that gecaso
// needs: every caller waits on its own context and may leave early while the
// execution goes on for the others; a panic is recovered with its stack and
// handed to every waiting caller, which re-panics in its own goroutine; and
// an execution can be detached ([Group.Forget]), so that callers that come
// later start a new one instead of joining a run whose result is known to be
// stale. The key leaves the group before the waiters are woken, so a caller
// that has its result and starts again never joins the finished execution.
package flight

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
)

// ErrGoexit is the error waiters receive when the function called
// runtime.Goexit instead of returning (see [Group.Do] for the caller that
// ran it).
var ErrGoexit = errors.New("gecaso: function called runtime.Goexit")

// Panic is a panic recovered from a shared function: the value it panicked
// with and the stack of the goroutine that panicked.
type Panic struct {
	Value any
	Stack []byte
}

// Group is a set of keyed calls. The zero value is ready to use. A Group is
// safe for concurrent use.
type Group[V any] struct {
	mu    sync.Mutex          // guards calls
	calls map[string]*call[V] // in-flight calls by key
}

type call[V any] struct {
	// done is closed once val, err and pan are set. join makes it only for
	// callers that wait on it: one that joins, one that leaves fn to a
	// goroutine. A caller that runs fn itself, alone, makes none. Guarded
	// by Group.mu until the call ends.
	done  chan struct{}
	val   V
	err   error
	pan   *Panic
	waits int // number of callers that joined; guarded by Group.mu
}

// join returns the call of key, starting one (started true) when there is
// none. A caller that joins waits on the call's done channel; one that
// starts it does when wait is true (it leaves fn to a goroutine).
func (g *Group[V]) join(key string, wait bool) (c *call[V], started bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	if c, ok := g.calls[key]; ok {
		c.waits++
		if c.done == nil {
			c.done = make(chan struct{})
		}
		return c, false
	}
	c = &call[V]{}
	if wait {
		c.done = make(chan struct{})
	}
	g.calls[key] = c
	return c, true
}

// Do returns the result of fn for key, running fn once for all concurrent
// callers of the same key. fn runs in its own goroutine under a context
// detached from ctx's cancellation (context.WithoutCancel), so a caller whose
// ctx ends gets ctx.Err() at once while the execution goes on for the others.
// When ctx can never end (its Done is nil, as for context.Background), the
// caller that starts the execution runs fn in its own goroutine instead,
// which saves a goroutine's start, its stack's growth and two hand-offs;
// should fn then call runtime.Goexit, that caller's goroutine exits, as it
// would calling fn directly, and the callers that joined get ErrGoexit.
// When fn panics, every waiting caller gets the recovered panic in pan (and
// the zero V), to re-panic in its own goroutine. shared reports whether the
// caller joined an execution started by another.
func (g *Group[V]) Do(ctx context.Context, key string, fn func(context.Context) (V, error)) (v V, shared bool, pan *Panic, err error) {
	c, started := g.join(key, ctx.Done() != nil)
	if started {
		if ctx.Done() == nil {
			g.run(ctx, key, c, fn)
			return c.val, false, c.pan, c.err
		}
		go func() {
			GrowStack()
			g.run(context.WithoutCancel(ctx), key, c, fn)
		}()
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return v, !started, nil, ctx.Err()
	}
	return c.val, !started, c.pan, c.err
}

// Go starts fn for key in the background, under a context detached from
// ctx's cancellation, unless an execution of key is running; it reports
// whether it started one. Callers of Do for key join it while it runs. A
// panic in fn is handed to the callers that joined, if any, and otherwise
// dropped: report it from fn if it matters.
func (g *Group[V]) Go(ctx context.Context, key string, fn func(context.Context) (V, error)) bool {
	g.mu.Lock()
	if _, ok := g.calls[key]; ok {
		g.mu.Unlock()
		return false
	}
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	c := &call[V]{}
	g.calls[key] = c
	g.mu.Unlock()
	go func() {
		GrowStack()
		g.run(context.WithoutCancel(ctx), key, c, fn)
	}()
	return true
}

// Forget detaches the execution of key, if one runs: callers that come later
// start a new execution, while the callers already waiting get the detached
// one's result.
func (g *Group[V]) Forget(key string) {
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
}

// ForgetAll detaches every running execution, as [Group.Forget] does one.
func (g *Group[V]) ForgetAll() {
	g.mu.Lock()
	clear(g.calls)
	g.mu.Unlock()
}

// InFlight reports how many keys have an execution running. Tests use it.
func (g *Group[V]) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

func (g *Group[V]) run(ctx context.Context, key string, c *call[V], fn func(context.Context) (V, error)) {
	normal := false
	defer func() {
		if !normal {
			if r := recover(); r != nil {
				c.pan = &Panic{Value: r, Stack: debug.Stack()}
			} else {
				c.err = ErrGoexit
			}
		}
		g.mu.Lock()
		if g.calls[key] == c { // not detached, nor replaced after that
			delete(g.calls, key)
		}
		// Nobody joins from now on: the call has left the map, or was
		// detached from it before.
		done := c.done
		g.mu.Unlock()
		if done != nil {
			close(done)
		}
	}()
	c.val, c.err = fn(ctx)
	normal = true
}

// stackReserve is how much stack GrowStack makes room for.
const stackReserve = 12 << 10

// GrowStack makes a goroutine just started grow its stack to 16 KiB at
// once, while the stack holds a frame or two to copy, rather than by
// doublings as fn and a storage's calls go deeper, each doubling copying
// (and adjusting the pointers of) every frame below: a goroutine that runs
// fn and a Badger write, or a Badger read, grows that far anyway, and the
// doublings cost it more than the rest of its start (BenchmarkGrowStack).
// Call it first in such a goroutine. Its frame is stackReserve bytes, which
// the function's prologue makes room for; the array in it is never zeroed
// nor used.
//
//go:noinline
func GrowStack() {
	if growStackNever {
		var b [stackReserve]byte
		touch(&b)
	}
}

// growStackNever is false; GrowStack's compiler cannot know it.
var growStackNever = false

//go:noinline
func touch(b *[stackReserve]byte) { b[0] = 1 }
