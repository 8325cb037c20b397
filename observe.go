package gecaso

import (
	"context"
	"time"
)

// Observer is told what a [Func] does, for metrics and tracing. Integrations
// implement it (package github.com/gecaso/gecaso/otelgecaso does, for
// OpenTelemetry); gecaso itself imports none of them. Pass one with
// [WithObserver].
type Observer interface {
	// Observe is called once, by Cached, with a description of the
	// function. The Hooks it returns are called for the life of the Func.
	Observe(FuncInfo) Hooks
}

// FuncInfo describes a [Func] to an [Observer].
type FuncInfo struct {
	Name    string // WithName, or the function's qualified Go name
	Version string // WithVersion; empty when none
	// Storage names the storage's type: the package name for gecaso's
	// storages ("memory", "lru", "badger", "redis", "tiered"), the Go type
	// otherwise.
	Storage string
	// Stats returns a snapshot of the Func's counters (see [Func.Stats]).
	Stats func() Stats
}

// Hooks are the functions an [Observer] wants called. Nil fields cost
// nothing. They run on the goroutines of the calls and runs they describe,
// so they must be safe for concurrent use and quick.
type Hooks struct {
	// OnCall is called at the end of every call that got past encoding its
	// argument, with how it was answered, its error, and how long it took.
	OnCall func(ctx context.Context, info Info, err error, d time.Duration)

	// StartSpan starts a span named name that began at start, as a child of
	// the span in ctx, and returns the context for the step and a function
	// that ends the span with the step's error. gecaso calls it for the
	// steps of a miss: "gecaso.get" (the storage read that missed),
	// "gecaso.run" (fn, whose ctx carries the span) and "gecaso.set" (the
	// store); and for hits ("gecaso.get", "gecaso.near") only when SpanHits
	// is set.
	StartSpan func(ctx context.Context, name string, start time.Time) (context.Context, func(error))

	// SpanHits asks for spans on hits too.
	SpanHits bool
}
