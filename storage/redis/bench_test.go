package redis_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
)

// user is a typical cached result.
type user struct {
	ID    int
	Name  string
	Email string
	Tags  []string
}

func fetchUser(ctx context.Context, id int) (user, error) {
	return user{ID: id, Name: "Ada Lovelace", Email: "ada@example.com", Tags: []string{"math", "engines"}}, nil
}

// BenchmarkHit compares a hit through gecaso on Redis with the least a
// hand-written cache does on the same server: a go-redis GET and a msgpack
// decode. The difference is gecaso's overhead (key digest, envelope, copy).
func BenchmarkHit(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()

	b.Run("redis/gecaso", func(b *testing.B) {
		s := newStorage(b, srv.Client())
		f := gecaso.Cached(s, fetchUser, gecaso.WithName("fetchUser"))
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

	b.Run("redis/goredis-msgpack", func(b *testing.B) {
		c := srv.Client()
		u, _ := fetchUser(ctx, 1)
		v, err := msgpack.Marshal(u)
		if err != nil {
			b.Fatal(err)
		}
		key := uniquePrefix(b) + "fetchUser:1"
		if err := c.Set(ctx, key, v, 0).Err(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			p, err := c.Get(ctx, key).Bytes()
			if err != nil {
				b.Fatal(err)
			}
			var got user
			if err := msgpack.Unmarshal(p, &got); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Both, alternating call by call, so that the machine's load falls on
	// both alike; ratio is gecaso's time over the hand-written cache's.
	b.Run("redis/interleaved", func(b *testing.B) {
		f := gecaso.Cached(newStorage(b, srv.Client()), fetchUser, gecaso.WithName("fetchUser"))
		if _, err := f.Call(ctx, 1); err != nil {
			b.Fatal(err)
		}
		c := srv.Client()
		u, _ := fetchUser(ctx, 1)
		v, err := msgpack.Marshal(u)
		if err != nil {
			b.Fatal(err)
		}
		key := uniquePrefix(b) + "fetchUser:1"
		if err := c.Set(ctx, key, v, 0).Err(); err != nil {
			b.Fatal(err)
		}
		var tGecaso, tHand time.Duration
		gecasoHit := func() {
			start := time.Now()
			if _, err := f.Call(ctx, 1); err != nil {
				b.Fatal(err)
			}
			tGecaso += time.Since(start)
		}
		handHit := func() {
			start := time.Now()
			p, err := c.Get(ctx, key).Bytes()
			if err != nil {
				b.Fatal(err)
			}
			var got user
			if err := msgpack.Unmarshal(p, &got); err != nil {
				b.Fatal(err)
			}
			tHand += time.Since(start)
		}
		var i int
		for b.Loop() {
			if i++; i%2 == 0 {
				gecasoHit()
				handHit()
			} else {
				handHit()
				gecasoHit()
			}
		}
		b.ReportMetric(float64(tGecaso.Nanoseconds())/float64(i), "gecaso-ns/hit")
		b.ReportMetric(float64(tHand.Nanoseconds())/float64(i), "goredis-ns/hit")
		b.ReportMetric(float64(tGecaso)/float64(tHand), "ratio")
	})

	b.Run("redis/storage-get", func(b *testing.B) {
		s := newStorage(b, srv.Client())
		if err := s.Set(ctx, "k", make([]byte, 100), storage.Params{}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParallelHit measures hit throughput through gecaso with more
// and more concurrent callers (parallelism x GOMAXPROCS goroutines) sharing
// one client, and with 32 callers and connection pools of different sizes:
// throughput grows while the pool and the server keep up.
func BenchmarkParallelHit(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	run := func(b *testing.B, parallelism, poolSize int) {
		opts := srv.Options()
		opts.PoolSize = poolSize
		c := goredis.NewClient(opts)
		b.Cleanup(func() { _ = c.Close() })
		f := gecaso.Cached(newStorage(b, c), fetchUser, gecaso.WithName("fetchUser"))
		for id := range 64 {
			if _, err := f.Call(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			id := 0
			for pb.Next() {
				if _, err := f.Call(ctx, id%64); err != nil {
					b.Error(err)
					return
				}
				id++
			}
		})
	}
	for _, p := range []int{1, 2, 4, 8, 16} {
		b.Run(fmt.Sprintf("redis/parallelism=%d", p), func(b *testing.B) { run(b, p, 64) })
	}
	procs := runtime.GOMAXPROCS(0)
	for _, pool := range []int{1, 2, 4, 8, 32} {
		b.Run(fmt.Sprintf("redis/callers=32/pool=%d", pool), func(b *testing.B) { run(b, max(1, 32/procs), pool) })
	}
}
