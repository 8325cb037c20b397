package redis_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
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
		f := cachedUser(b, srv)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.Call(ctx, 1); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("redis/goredis-msgpack", func(b *testing.B) {
		c := srv.Client()
		key := storeHandUser(b, c)
		b.ReportAllocs()
		for b.Loop() {
			if err := handHit(ctx, c, key); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Both, alternating call by call, so that the machine's load falls on
	// both alike; ratio is gecaso's time over the hand-written cache's.
	// The parallel variant does the same from GOMAXPROCS goroutines at once.
	for _, parallel := range []bool{false, true} {
		name := map[bool]string{false: "redis/interleaved", true: "redis/interleaved-parallel"}[parallel]
		b.Run(name, func(b *testing.B) { interleaved(b, srv, parallel) })
	}

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

// cachedUser returns fetchUser memoized on srv, its result for 1 stored.
func cachedUser(b *testing.B, srv *redistest.Server) *gecaso.Func[int, user] {
	f := gecaso.Cached(newStorage(b, srv.Client()), fetchUser, gecaso.WithName("fetchUser"))
	if _, err := f.Call(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	return f
}

// storeHandUser stores fetchUser's result for 1 as a hand-written cache
// would, msgpack under a plain key, and returns the key.
func storeHandUser(b *testing.B, c goredis.UniversalClient) string {
	u, _ := fetchUser(context.Background(), 1)
	v, err := msgpack.Marshal(u)
	if err != nil {
		b.Fatal(err)
	}
	key := uniquePrefix(b) + "fetchUser:1"
	if err := c.Set(context.Background(), key, v, 0).Err(); err != nil {
		b.Fatal(err)
	}
	return key
}

// handHit is the hand-written cache's hit: a GET and a msgpack decode.
func handHit(ctx context.Context, c goredis.UniversalClient, key string) error {
	p, err := c.Get(ctx, key).Bytes()
	if err != nil {
		return err
	}
	var got user
	return msgpack.Unmarshal(p, &got)
}

// interleaved measures gecaso's hits and hand-written go-redis hits on the
// same server, alternating call by call.
func interleaved(b *testing.B, srv *redistest.Server, parallel bool) {
	ctx := context.Background()
	f := cachedUser(b, srv)
	c := srv.Client()
	key := storeHandUser(b, c)
	var tGecaso, tHand, pairs atomic.Int64
	gecasoHit := func() error {
		start := time.Now()
		_, err := f.Call(ctx, 1)
		tGecaso.Add(int64(time.Since(start)))
		return err
	}
	hand := func() error {
		start := time.Now()
		err := handHit(ctx, c, key)
		tHand.Add(int64(time.Since(start)))
		return err
	}
	pair := func(i int) error {
		pairs.Add(1)
		if i%2 == 0 {
			return errors.Join(gecasoHit(), hand())
		}
		return errors.Join(hand(), gecasoHit())
	}
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if err := pair(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for i := 0; b.Loop(); i++ {
			if err := pair(i); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := float64(max(1, pairs.Load()))
	b.ReportMetric(float64(tGecaso.Load())/n, "gecaso-ns/hit")
	b.ReportMetric(float64(tHand.Load())/n, "goredis-ns/hit")
	b.ReportMetric(float64(tGecaso.Load())/float64(max(1, tHand.Load())), "ratio")
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
