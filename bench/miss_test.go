package bench

import (
	"context"
	"slices"
	"testing"
)

// BenchmarkMiss measures a call with an argument never seen before: the
// lookup misses, fn runs, and its result is stored.
func BenchmarkMiss(b *testing.B) { missSuite(b, false) }

// BenchmarkMissParallel measures misses from GOMAXPROCS goroutines.
func BenchmarkMissParallel(b *testing.B) { missSuite(b, true) }

func missSuite(b *testing.B, parallel bool) {
	b.Run("int/small", func(b *testing.B) { miss[int, Small](b, smallSize, parallel, 0) })
	b.Run("int/record", func(b *testing.B) { miss[int, Record](b, RecordSize, parallel, 0) })
	b.Run("int/1k", func(b *testing.B) { miss[int, []byte](b, 1<<10, parallel, 0) })
	b.Run("struct/small", func(b *testing.B) { miss[Pair, Small](b, smallSize, parallel, 0) })
}

// steadyMisses is how many misses BenchmarkMissSteady's stores take before
// the measured ones: with 64-byte values, past the Storage's first 8 MiB
// memtable flushes and the process's first growth. The Storage's key
// filter, sized for 65,536 keys at first, is rebuilt within the measured
// stretch that follows (docs/BENCH-badger.md gives the figures past
// 100,000 too).
const steadyMisses = 50_000

// BenchmarkMissSteady measures BenchmarkMiss's int/small misses on the
// stores that keep their entries on disk (gecaso over Badger and the
// hand-written Badger memo) once each has taken steadyMisses misses, where
// BenchmarkMiss measures stores that start empty: Badger's first memtable
// and the heap's growth into memory never touched weigh on the first tens
// of thousands of misses, and unevenly on the two.
func BenchmarkMissSteady(b *testing.B) { steadySuite(b, false) }

// BenchmarkMissSteadyParallel is BenchmarkMissSteady from GOMAXPROCS
// goroutines.
func BenchmarkMissSteadyParallel(b *testing.B) { steadySuite(b, true) }

func steadySuite(b *testing.B, parallel bool) {
	b.Run("int/small", func(b *testing.B) {
		miss[int, Small](b, smallSize, parallel, steadyMisses, "gecaso-badger", "badger-memo")
	})
}

// miss measures calls with arguments never used before on every peer, or
// on the peers named in only, each after it has taken after misses.
func miss[A comparable, V any](b *testing.B, valueSize int, parallel bool, after int, only ...string) {
	mk := Arg[A]()
	for _, p := range Peers[A, V]() {
		if len(only) > 0 && !slices.Contains(only, p.Name) {
			continue
		}
		b.Run(p.Name, func(b *testing.B) {
			ctx := context.Background()
			// Bounded caches evict once full, as they would in service.
			fx := open(b, p, roomy, valueSize, func(fx *fixture[A, V]) {
				for i := range after {
					if _, err := fx.m.Call(ctx, mk(i)); err != nil {
						b.Fatal(err)
					}
				}
				fx.cursor.Store(int64(after))
			})
			next := &fx.cursor // the next argument never used
			if !parallel {
				measure(b, fx, func() {
					i := int(next.Load())
					for b.Loop() {
						if _, err := fx.m.Call(ctx, mk(i)); err != nil {
							b.Fatal(err)
						}
						i++
					}
					next.Store(int64(i))
				})
			} else {
				measure(b, fx, func() {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := fx.m.Call(ctx, mk(int(next.Add(1)))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}
