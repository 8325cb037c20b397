package bench

import (
	"context"
	"testing"
	"time"
)

// hitKeys is the number of distinct arguments a hit benchmark cycles over:
// enough to leave the CPU's L1, few enough that every cache holds them all.
const hitKeys = 1024

// roomy is the capacity bounded caches get when the workload should not
// evict anything.
const roomy = 1 << 16

// smallSize is about how many bytes a Small value takes once encoded.
const smallSize = 64

// BenchmarkHit measures a memoized call whose result is already cached,
// from one goroutine.
func BenchmarkHit(b *testing.B) { hitSuite(b, false) }

// BenchmarkHitParallel measures cached calls from GOMAXPROCS goroutines.
func BenchmarkHitParallel(b *testing.B) { hitSuite(b, true) }

func hitSuite(b *testing.B, parallel bool) {
	b.Run("int/small", func(b *testing.B) { hit[int, Small](b, smallSize, parallel) })
	b.Run("int/record", func(b *testing.B) { hit[int, Record](b, RecordSize, parallel) })
	b.Run("int/1k", func(b *testing.B) { hit[int, []byte](b, 1<<10, parallel) })
	b.Run("int/16k", func(b *testing.B) { hit[int, []byte](b, 16<<10, parallel) })
	b.Run("struct/small", func(b *testing.B) { hit[Pair, Small](b, smallSize, parallel) })
	b.Run("struct/1k", func(b *testing.B) { hit[Pair, []byte](b, 1<<10, parallel) })
	b.Run("struct/16k", func(b *testing.B) { hit[Pair, []byte](b, 16<<10, parallel) })
}

func hit[A comparable, V any](b *testing.B, valueSize int, parallel bool) {
	mk := Arg[A]()
	args := make([]A, hitKeys)
	for i := range args {
		args[i] = mk(i)
	}
	peers := append(Peers[A, V](), Peer[A, V]{Name: "otter-noexpiry", Bounded: true, Open: openOtterNoExpiry[A, V]})
	for _, p := range peers {
		b.Run(p.Name, func(b *testing.B) {
			ctx := context.Background()
			fx := open(b, p, roomy, valueSize, func(fx *fixture[A, V]) {
				fill(b, fx.m, args)
				warm(func() { fill(b, fx.m, args) })
			})
			if !parallel {
				measure(b, fx, func() {
					i := 0
					for b.Loop() {
						if _, err := fx.m.Call(ctx, args[i%hitKeys]); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
				return
			}
			measure(b, fx, func() {
				b.RunParallel(func(pb *testing.PB) {
					x := newXorshift()
					i := int(x.next() % hitKeys)
					for pb.Next() {
						if _, err := fx.m.Call(ctx, args[i%hitKeys]); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		})
	}
}

// clockSink keeps BenchmarkClock's reads from being optimised away.
var clockSink time.Duration

// BenchmarkClock measures one read of the monotonic clock (time.Since), the
// read every hit of a cache that expires entries pays to check the expiry:
// otter with an expiry, and gecaso's near cache. On virtual machines it
// costs several times what it costs on bare metal.
func BenchmarkClock(b *testing.B) {
	start := time.Now()
	for b.Loop() {
		clockSink += time.Since(start)
	}
}
