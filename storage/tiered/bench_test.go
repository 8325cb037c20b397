package tiered_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
	"github.com/gecaso/gecaso/storage/redis"
	"github.com/gecaso/gecaso/storage/tiered"
)

type user struct {
	ID    int
	Name  string
	Email string
	Tags  []string
}

func fetchUser(ctx context.Context, id int) (user, error) {
	return user{ID: id, Name: "Ada Lovelace", Email: "ada@example.com", Tags: []string{"math", "engines"}}, nil
}

// BenchmarkHit compares a hit that tiered serves from L1 with the same hit
// on L1 alone: the difference is tiered's own cost. Redis as L2 shows what
// an L1 hit saves.
func BenchmarkHit(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	r := redis.New(srv.Client(), redis.WithPrefix("bench:"))
	stores := []struct {
		name string
		s    storage.Storage
	}{
		{"l1-alone", lru.New(nil, 10_000)},
		{"tiered-l1-hit", tiered.New(lru.New(nil, 10_000), memory.New())},
		{"tiered-redis-l1-hit", tiered.New(lru.New(nil, 10_000), r)},
		{"redis-alone", r},
	}
	value := make([]byte, 100)
	for _, st := range stores {
		b.Run("storage/"+st.name, func(b *testing.B) {
			if err := st.s.Set(ctx, "k", value, storage.Params{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.s.Get(ctx, "k"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, st := range stores {
		b.Run("gecaso/"+st.name, func(b *testing.B) {
			f := gecaso.Cached(st.s, fetchUser, gecaso.WithName("fetchUser"))
			if _, err := f.Call(ctx, 1); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Call(ctx, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	// L1 alone and tiered alternating batch by batch, so that the
	// machine's load falls on both alike; ratio is tiered's time over L1's.
	// With TTL 0 the entry alone never expires, while tiered's L1 copy
	// has the L1 TTL and every hit reads the clock; with a TTL both do.
	for _, ttl := range []time.Duration{0, time.Hour} {
		b.Run(fmt.Sprintf("storage/interleaved/ttl=%v", ttl), func(b *testing.B) {
			alone, tier := lru.New(nil, 10_000), tiered.New(lru.New(nil, 10_000), memory.New())
			for _, s := range []storage.Storage{alone, tier} {
				if err := s.Set(ctx, "k", value, storage.Params{TTL: ttl}); err != nil {
					b.Fatal(err)
				}
			}
			interleave(b, func() error {
				_, err := alone.Get(ctx, "k")
				return err
			}, func() error {
				_, err := tier.Get(ctx, "k")
				return err
			})
		})
	}
	b.Run("gecaso/interleaved", func(b *testing.B) {
		alone := gecaso.Cached(lru.New(nil, 10_000), fetchUser, gecaso.WithName("fetchUser"))
		tier := gecaso.Cached(tiered.New(lru.New(nil, 10_000), memory.New()), fetchUser, gecaso.WithName("fetchUser"))
		interleave(b, func() error {
			_, err := alone.Call(ctx, 1)
			return err
		}, func() error {
			_, err := tier.Call(ctx, 1)
			return err
		})
	})
}

// interleave runs alone and tier in alternating batches and reports the
// time of each per call and their ratio, tier over alone.
func interleave(b *testing.B, alone, tier func() error) {
	const batch = 64
	var tAlone, tTier time.Duration
	run := func(f func() error, d *time.Duration) {
		start := time.Now()
		for range batch {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
		*d += time.Since(start)
	}
	run(alone, new(time.Duration)) // warm up: the first call of a Func misses
	run(tier, new(time.Duration))
	b.ReportAllocs()
	var i int
	for b.Loop() {
		if i++; i%2 == 0 {
			run(alone, &tAlone)
			run(tier, &tTier)
		} else {
			run(tier, &tTier)
			run(alone, &tAlone)
		}
	}
	n := float64(i * batch)
	b.ReportMetric(float64(tTier.Nanoseconds())/n, "tiered-ns/hit")
	b.ReportMetric(float64(tAlone.Nanoseconds())/n, "l1-ns/hit")
	b.ReportMetric(float64(tTier)/float64(tAlone), "ratio")
}
