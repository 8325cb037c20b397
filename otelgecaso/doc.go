// Package otelgecaso reports what gecaso does to OpenTelemetry: metrics
// and spans for memoized functions ([New], an [Observer]), and gauges for
// the storages that know their size ([RegisterStorage]).
//
// It uses the OpenTelemetry API only: the application chooses the SDK and
// the exporter (Prometheus, OTLP...), and sets them as the global providers
// or passes them with [WithMeterProvider] and [WithTracerProvider].
//
//	obs := otelgecaso.New() // the global providers
//	square := gecaso.Cached(store, slowSquare,
//		gecaso.WithName("square"), gecaso.WithObserver(obs))
//	unregister, err := otelgecaso.RegisterStorage(store)
//
// A Func reports its [gecaso.Stats] as cumulative counters (gecaso.calls by
// outcome, gecaso.runs, gecaso.storage.errors...), the latency of its calls
// as a histogram (gecaso.call.duration), and the steps of a miss as spans
// under the caller's span ("gecaso.get", "gecaso.run", "gecaso.set"); a hit
// costs one histogram record and no span. [Observer] lists every
// instrument. gecaso's core does not import this package: a program that
// does not use it does not link OpenTelemetry.
package otelgecaso
