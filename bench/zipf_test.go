package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
)

// The Zipf workload: arguments drawn from a keyspace of a million with a
// Zipf distribution of exponent 1.01, close to what web caches see, from a
// fixed seed so that every library replays the same trace.
const (
	zipfKeyspace = 1_000_000
	zipfS        = 1.01
	zipfLen      = 1 << 20 // accesses in the benchmark trace
	zipfWarm     = 1 << 18 // accesses replayed before timing
)

// zipfTrace returns n arguments drawn from the Zipf distribution with the
// given seed.
func zipfTrace(n int, seed uint64) []int {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 0x5eed)), zipfS, 1, zipfKeyspace-1)
	trace := make([]int, n)
	for i := range trace {
		trace[i] = int(z.Uint64())
	}
	return trace
}

var benchTrace = sync.OnceValue(func() []int { return zipfTrace(zipfLen, 1) })

// BenchmarkZipf replays a Zipf trace of hits and misses against bounded
// caches of several capacities and reports the hit ratio beside the cost.
func BenchmarkZipf(b *testing.B) { zipfSuite(b, false) }

// BenchmarkZipfParallel replays the trace from GOMAXPROCS goroutines.
func BenchmarkZipfParallel(b *testing.B) { zipfSuite(b, true) }

func zipfSuite(b *testing.B, parallel bool) {
	for _, c := range []struct {
		name     string
		capacity int
	}{{"cap=1k", 1_000}, {"cap=10k", 10_000}, {"cap=100k", 100_000}} {
		b.Run(c.name, func(b *testing.B) { zipf(b, c.capacity, parallel) })
	}
}

func zipf(b *testing.B, capacity int, parallel bool) {
	trace := benchTrace()
	for _, p := range Peers[int, Small]() {
		if !p.Bounded {
			continue
		}
		b.Run(p.Name, func(b *testing.B) {
			fx := open(b, p, capacity, smallSize, func(fx *fixture[int, Small]) {
				fill(b, fx.m, trace[:zipfWarm])
				fx.cursor.Store(zipfWarm)
			})
			ctx := context.Background()
			if !parallel {
				measure(b, fx, func() {
					i := int(fx.cursor.Load())
					for b.Loop() {
						if _, err := fx.m.Call(ctx, trace[i%zipfLen]); err != nil {
							b.Fatal(err)
						}
						i++
					}
					fx.cursor.Store(int64(i))
				})
				return
			}
			measure(b, fx, func() {
				b.RunParallel(func(pb *testing.PB) {
					// Each goroutine replays the trace from its own
					// place, so that they share no counter.
					x := newXorshift()
					i := int(x.next() % zipfLen)
					for pb.Next() {
						if _, err := fx.m.Call(ctx, trace[i%zipfLen]); err != nil {
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
