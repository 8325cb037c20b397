package otelgecaso_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/otelgecaso"
	"github.com/gecaso/gecaso/storage/lru"
)

// BenchmarkCall measures what the observer adds to a call. observer=none
// has none; observer=otel has otelgecaso.New() over the global providers
// with no SDK installed, which is the cost of the hooks themselves (two
// clock reads, the outcome, a histogram record that goes nowhere, spans on
// misses that go nowhere). What an SDK adds on top is measured in
// examples/metrics, which has one.
func BenchmarkCall(b *testing.B) {
	observers := []struct {
		name string
		opts []gecaso.Option
	}{
		{"none", nil},
		{"otel", []gecaso.Option{gecaso.WithObserver(otelgecaso.New())}},
	}
	for _, o := range observers {
		b.Run("observer="+o.name, func(b *testing.B) { benchCall(b, o.opts) })
	}
}

func square(_ context.Context, n int) (int, error) { return n * n, nil }

func benchCall(b *testing.B, opts []gecaso.Option) {
	ctx := context.Background()
	b.Run("hit", func(b *testing.B) {
		f := gecaso.Cached(lru.New(nil, 1<<16), square, opts...)
		f.Call(ctx, 1)
		b.ReportAllocs()
		for b.Loop() {
			f.Call(ctx, 1)
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		f := gecaso.Cached(lru.New(nil, 1<<16), square, opts...)
		f.Call(ctx, 1)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				f.Call(ctx, 1)
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		f := gecaso.Cached(lru.New(nil, 1<<16), square, opts...)
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			f.Call(ctx, n)
		}
	})
	b.Run("miss-parallel", func(b *testing.B) {
		f := gecaso.Cached(lru.New(nil, 1<<16), square, opts...)
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				f.Call(ctx, int(n.Add(1)))
			}
		})
	})
}
