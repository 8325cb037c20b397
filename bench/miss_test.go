package bench

import (
	"context"
	"testing"
)

// BenchmarkMiss measures a call with an argument never seen before: the
// lookup misses, fn runs, and its result is stored.
func BenchmarkMiss(b *testing.B) { missSuite(b, false) }

// BenchmarkMissParallel measures misses from GOMAXPROCS goroutines.
func BenchmarkMissParallel(b *testing.B) { missSuite(b, true) }

func missSuite(b *testing.B, parallel bool) {
	b.Run("int/small", func(b *testing.B) { miss[int, Small](b, smallSize, parallel) })
	b.Run("int/record", func(b *testing.B) { miss[int, Record](b, RecordSize, parallel) })
	b.Run("int/1k", func(b *testing.B) { miss[int, []byte](b, 1<<10, parallel) })
	b.Run("struct/small", func(b *testing.B) { miss[Pair, Small](b, smallSize, parallel) })
}

func miss[A comparable, V any](b *testing.B, valueSize int, parallel bool) {
	mk := Arg[A]()
	for _, p := range Peers[A, V]() {
		b.Run(p.Name, func(b *testing.B) {
			// Bounded caches evict once full, as they would in service.
			fx := open(b, p, roomy, valueSize, nil)
			next := &fx.cursor // the next argument never used
			ctx := context.Background()
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
