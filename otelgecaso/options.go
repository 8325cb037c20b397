package otelgecaso

import (
	"slices"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures [New] and [RegisterStorage].
type Option func(*config)

type config struct {
	mp       metric.MeterProvider
	tp       trace.TracerProvider
	spanHits bool
	noCalls  bool // no gecaso.call.duration
	attrs    []attribute.KeyValue
}

// newConfig applies opts over the defaults.
func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	return c
}

// WithMeterProvider sets where the metrics go. The default, nil, is the
// global provider ([otel.GetMeterProvider]) as it is when New or
// RegisterStorage is called; the global provider forwards to one set
// later. A [go.opentelemetry.io/otel/metric/noop.MeterProvider] turns the
// metrics off at no cost to calls.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithTracerProvider sets where the spans go. The default, nil, is the
// global provider ([otel.GetTracerProvider]), which forwards to one set
// later. A [go.opentelemetry.io/otel/trace/noop.TracerProvider] turns the
// spans off at no cost to calls. RegisterStorage makes no spans and
// ignores it.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithSpanHits asks for a span on hits too: "gecaso.near" for a hit in the
// near cache, "gecaso.get" for a hit in the storage. The default, false,
// makes spans only for the steps of a miss, so that a trace shows the work
// a call did and hits cost no span. RegisterStorage ignores it.
func WithSpanHits(on bool) Option {
	return func(c *config) { c.spanHits = on }
}

// WithCallDuration turns the gecaso.call.duration histogram on or off. The
// default, true, records every call's latency, which costs each call two
// clock reads and a histogram record (a lock per series in the SDK, which
// many cores hitting one function contend for). Off, with tracing off too
// (a noop TracerProvider), a call costs what it costs without an observer;
// the counters, read from [gecaso.Func.Stats] at collection, remain.
// RegisterStorage ignores it.
func WithCallDuration(on bool) Option {
	return func(c *config) { c.noCalls = !on }
}

// WithAttributes adds attrs to every measurement and span (an instance or
// a tenant, say). The default is none. Keys that otelgecaso sets itself
// (see [KeyFunctionName] and the others) are overridden by otelgecaso's
// values. Later calls add to earlier ones. The slice is copied.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(slices.Clip(c.attrs), attrs...) }
}
