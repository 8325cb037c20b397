package gecaso_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
)

// user is a small struct result, like a row from a query.
type user struct {
	Name  string
	Roles []int
}

func newUser(_ context.Context, k userKey) (user, error) {
	return user{Name: "user-" + strconv.Itoa(k.ID) + "-" + k.Lang, Roles: []int{1, 2, 3}}, nil
}

var benchStorages = []struct {
	name string
	new  func() storage.Storage
}{
	{"memory", func() storage.Storage { return memory.New() }},
	{"lru", func() storage.Storage { return lru.New(nil, 1<<20) }},
}

func closeStorage(b *testing.B, s storage.Storage) {
	b.Cleanup(func() {
		if c, ok := s.(interface{ Close() error }); ok {
			c.Close()
		}
	})
}

func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	for _, bs := range benchStorages {
		name, newStorage := bs.name, bs.new
		b.Run(name+"/hit-int", func(b *testing.B) {
			s := newStorage()
			closeStorage(b, s)
			f := gecaso.Cached(s, square2)
			f.Call(ctx, 12345)
			b.ReportAllocs()
			for b.Loop() {
				f.Call(ctx, 12345)
			}
		})
		b.Run(name+"/hit-struct", func(b *testing.B) {
			s := newStorage()
			closeStorage(b, s)
			f := gecaso.Cached(s, newUser)
			k := userKey{ID: 42, Lang: "en"}
			f.Call(ctx, k)
			b.ReportAllocs()
			for b.Loop() {
				f.Call(ctx, k)
			}
		})
		b.Run(name+"/hit-int-parallel", func(b *testing.B) {
			s := newStorage()
			closeStorage(b, s)
			parallelHits(b, gecaso.Cached(s, square2))
		})
		b.Run(name+"/miss-int", func(b *testing.B) {
			s := newStorage()
			closeStorage(b, s)
			f := gecaso.Cached(s, square2, gecaso.WithTTL(time.Hour))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f.Call(ctx, i)
				i++
			}
		})
		b.Run(name+"/miss-int-parallel", func(b *testing.B) {
			s := newStorage()
			closeStorage(b, s)
			f := gecaso.Cached(s, square2, gecaso.WithTTL(time.Hour))
			var next atomicCounter
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					f.Call(ctx, next.add())
				}
			})
		})
	}
	b.Run("near/hit-int", func(b *testing.B) {
		f := gecaso.Cached(memory.New(), square2, gecaso.WithNearCache(1024, time.Minute))
		f.Call(ctx, 12345)
		b.ReportAllocs()
		for b.Loop() {
			f.Call(ctx, 12345)
		}
	})
	b.Run("near/hit-struct", func(b *testing.B) {
		f := gecaso.Cached(memory.New(), newUser, gecaso.WithNearCache(1024, time.Minute))
		k := userKey{ID: 42, Lang: "en"}
		f.Call(ctx, k)
		b.ReportAllocs()
		for b.Loop() {
			f.Call(ctx, k)
		}
	})
	b.Run("near/hit-int-parallel", func(b *testing.B) {
		parallelHits(b, gecaso.Cached(memory.New(), square2, gecaso.WithNearCache(1024, time.Minute)))
	})
	b.Run("key/int", func(b *testing.B) {
		f := gecaso.Cached(memory.New(), square2)
		b.ReportAllocs()
		for b.Loop() {
			f.Key(12345)
		}
	})
}

// parallelHits fills f with 1024 arguments, then calls it on them in turn
// from GOMAXPROCS goroutines.
func parallelHits(b *testing.B, f *gecaso.Func[int, int]) {
	ctx := context.Background()
	for i := range 1024 {
		f.Call(ctx, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			f.Call(ctx, i&1023)
			i++
		}
	})
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) add() int { return int(c.n.Add(1)) }

// BenchmarkExpiryCliff calls 1000 hot keys whose entries expire every
// 20 ms, from every core, with a function that takes 1 ms; with
// stale-while-revalidate, once the keys are warm no caller should wait for
// the function. It reports the call latency's p50, p99 and max, the share
// of calls that waited for fn, and fn's runs per call.
func BenchmarkExpiryCliff(b *testing.B) {
	for _, swr := range []time.Duration{0, time.Minute} {
		name := "plain"
		if swr > 0 {
			name = "stale-while-revalidate"
		}
		b.Run(name, func(b *testing.B) {
			const keys = 1000
			var runs atomic.Int64
			f := gecaso.Cached(lru.New(nil, 2*keys), func(_ context.Context, k int) (int, error) {
				runs.Add(1)
				time.Sleep(time.Millisecond)
				return k, nil
			}, gecaso.WithTTL(20*time.Millisecond), gecaso.WithStaleWhileRevalidate(swr))
			ctx := context.Background()
			for k := range keys {
				f.Call(ctx, k)
			}
			runs.Store(0)
			var mu sync.Mutex
			var all []time.Duration
			var waited atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var lat []time.Duration
				r := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					start := time.Now()
					_, info, _ := f.CallInfo(ctx, r.IntN(keys))
					lat = append(lat, time.Since(start))
					if info.Source == gecaso.SourceRun || info.Source == gecaso.SourceShared {
						waited.Add(1)
					}
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			b.StopTimer()
			slices.Sort(all)
			q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) }
			b.ReportMetric(q(0.5), "p50-ns")
			b.ReportMetric(q(0.99), "p99-ns")
			b.ReportMetric(float64(all[len(all)-1]), "max-ns")
			b.ReportMetric(float64(waited.Load())/float64(len(all)), "waited/op")
			b.ReportMetric(float64(runs.Load())/float64(len(all)), "runs/op")
		})
	}
}
