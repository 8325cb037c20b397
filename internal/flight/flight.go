// Package flight runs keyed calls so that concurrent callers of one key share
// one execution (dog-pile protection).
//
// It differs from golang.org/x/sync/singleflight in two ways that gecaso
// needs: every caller waits on its own context and may leave early while the
// execution goes on for the others; and a panic is recovered with its stack
// and re-raised in every waiting caller's goroutine. The key leaves the group
// before the waiters are woken, so a caller that has its result and starts
// again never joins the finished execution.
package flight

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// ErrGoexit is the error waiters receive when the function called
// runtime.Goexit instead of returning.
var ErrGoexit = errors.New("gecaso: function called runtime.Goexit")

// PanicError is what a waiter re-panics with when the shared function
// panicked. It carries the original value and the stack of the goroutine
// that panicked.
type PanicError struct {
	Value any
	Stack []byte
}

// Error returns the panic value and the stack where it happened.
func (p *PanicError) Error() string {
	return fmt.Sprintf("gecaso: function panicked: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// Group is a set of keyed calls. The zero value is ready to use. A Group is
// safe for concurrent use.
type Group[V any] struct {
	mu    sync.Mutex          // guards calls
	calls map[string]*call[V] // in-flight calls by key
}

type call[V any] struct {
	done  chan struct{} // closed once val, err and pe are set
	val   V
	err   error
	pe    *PanicError
	waits int // number of callers that joined; guarded by Group.mu
}

// Do returns the result of fn for key, running fn once for all concurrent
// callers of the same key. fn runs in its own goroutine under a context
// detached from ctx's cancellation (context.WithoutCancel), so a caller whose
// ctx ends gets ctx.Err() at once while the execution goes on for the others.
// If fn panics, Do panics with a *PanicError in every waiting caller.
// shared reports whether the caller joined an execution started by another.
func (g *Group[V]) Do(ctx context.Context, key string, fn func(context.Context) (V, error)) (v V, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	c, ok := g.calls[key]
	if ok {
		c.waits++
	} else {
		c = &call[V]{done: make(chan struct{})}
		g.calls[key] = c
	}
	g.mu.Unlock()

	if !ok {
		go g.run(context.WithoutCancel(ctx), key, c, fn)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		var zero V
		return zero, ok, ctx.Err()
	}
	if c.pe != nil {
		panic(c.pe)
	}
	return c.val, ok, c.err
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
				c.pe = &PanicError{Value: r, Stack: debug.Stack()}
			} else {
				c.err = ErrGoexit
			}
		}
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn(ctx)
	normal = true
}
