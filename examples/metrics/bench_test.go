package main

import (
	"context"
	"sync/atomic"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/otelgecaso"
	"github.com/gecaso/gecaso/storage/lru"
)

// BenchmarkCall measures what otelgecaso costs a call with the
// OpenTelemetry SDK behind it: observer=none has no observer;
// observer=sdk reports to a MeterProvider read by a ManualReader and a
// TracerProvider that samples every span (and exports none). Every call
// runs under a sampled caller span, so that misses make their three spans.
func BenchmarkCall(b *testing.B) {
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tracers := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() {
		meters.Shutdown(context.Background())
		tracers.Shutdown(context.Background())
	})
	ctx, span := tracers.Tracer("bench").Start(context.Background(), "caller")
	defer span.End()

	observers := []struct {
		name string
		opts []gecaso.Option
	}{
		{"none", nil},
		{"sdk", []gecaso.Option{gecaso.WithObserver(otelgecaso.New(
			otelgecaso.WithMeterProvider(meters), otelgecaso.WithTracerProvider(tracers)))}},
	}
	square := func(_ context.Context, n int) (int, error) { return n * n, nil }
	for _, o := range observers {
		b.Run("observer="+o.name, func(b *testing.B) {
			b.Run("hit", func(b *testing.B) {
				f := gecaso.Cached(lru.New(nil, 1<<16), square, o.opts...)
				f.Call(ctx, 1)
				b.ReportAllocs()
				for b.Loop() {
					f.Call(ctx, 1)
				}
			})
			b.Run("hit-parallel", func(b *testing.B) {
				f := gecaso.Cached(lru.New(nil, 1<<16), square, o.opts...)
				f.Call(ctx, 1)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						f.Call(ctx, 1)
					}
				})
			})
			b.Run("miss", func(b *testing.B) {
				f := gecaso.Cached(lru.New(nil, 1<<16), square, o.opts...)
				n := 0
				b.ReportAllocs()
				for b.Loop() {
					n++
					f.Call(ctx, n)
				}
			})
			b.Run("miss-parallel", func(b *testing.B) {
				f := gecaso.Cached(lru.New(nil, 1<<16), square, o.opts...)
				var n atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						f.Call(ctx, int(n.Add(1)))
					}
				})
			})
		})
	}
}

// BenchmarkOnCall measures the observer's own work at the end of a hit,
// apart from the call: a histogram record into the SDK. (The call adds two
// clock reads for it.)
func BenchmarkOnCall(b *testing.B) {
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { meters.Shutdown(context.Background()) })
	h := otelgecaso.New(otelgecaso.WithMeterProvider(meters)).Observe(gecaso.FuncInfo{
		Name: "square", Storage: "lru", Stats: func() gecaso.Stats { return gecaso.Stats{} },
	})
	ctx := context.Background()
	info := gecaso.Info{Source: gecaso.SourceStorage}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.OnCall(ctx, info, nil, 150)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.OnCall(ctx, info, nil, 150)
			}
		})
	})
}
