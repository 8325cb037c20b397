// Command redis memoizes a slow function on a Redis server, so that every
// process using the server shares the results. Start a throwaway server,
// then run the program twice, or from two terminals at once:
//
//	redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no
//	go run ./examples/redis
//	go run ./examples/redis
//
// The first run computes each result (half a second each); the second finds
// them in Redis. Flags:
//
//	-addr host:port  the server (default 127.0.0.1:6379); several, separated
//	                 by commas, for a Cluster
//	-tiered          keep a copy of hot results in the process (an LRU over
//	                 memory in front of Redis): repeated hits skip the network
//	-lock            processes that miss the same key at once run the
//	                 function once between them (start two with -lock
//	                 together and count the "computed here" lines)
//	-purge           remove this program's results from Redis first
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/redis"
	"github.com/gecaso/gecaso/storage/tiered"
)

// Report is what the slow function returns. Only exported fields are
// stored.
type Report struct {
	N          int
	Square     int
	ComputedBy string // host and process that ran the function
	ComputedAt time.Time
}

// computed counts the runs of square in this process.
var computed atomic.Int64

// square takes its time: the sleep stands for an expensive computation or a
// slow remote call.
func square(ctx context.Context, n int) (Report, error) {
	select {
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
		return Report{}, ctx.Err()
	}
	computed.Add(1)
	host, _ := os.Hostname()
	return Report{N: n, Square: n * n, ComputedBy: fmt.Sprintf("%s pid %d", host, os.Getpid()), ComputedAt: time.Now()}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis server address; several, comma-separated, for a Cluster")
	useTiered := flag.Bool("tiered", false, "keep hot results in the process, in front of Redis")
	useLock := flag.Bool("lock", false, "let one process compute a result that several miss at once")
	purge := flag.Bool("purge", false, "remove this program's results before starting")
	count := flag.Int("n", 5, "how many different arguments to compute")
	flag.Parse()

	// DefaultOptions suits a cache: deadlines cut slow reads, no retries,
	// short timeouts. A failing Redis makes calls compute, never fail.
	client := goredis.NewUniversalClient(redis.DefaultOptions(strings.Split(*addr, ",")...))
	defer client.Close()
	ctx := context.Background()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	err := client.Ping(pctx).Err()
	cancel()
	if err != nil {
		log.Fatalf("no Redis at %s (%v); start one with:\n\tredis-server --port 6379 --bind 127.0.0.1 --save \"\" --appendonly no", *addr, err)
	}

	// The prefix keeps this program's keys apart from anything else on the
	// server; the name keeps them stable across builds and machines.
	var s storage.Storage = redis.New(client, redis.WithPrefix("gecaso-example:"))
	if *useTiered {
		// L1 keeps a copy for at most 30 s: a Purge or Forget by another
		// process is seen here within that time.
		t := tiered.New(lru.New(nil, 1000), s, tiered.WithL1TTL(30*time.Second), tiered.WithClose())
		defer t.Close()
		s = t
	}
	opts := []gecaso.Option{
		gecaso.WithName("examples/redis.square"),
		gecaso.WithTTL(10 * time.Minute),
	}
	if *useLock {
		opts = append(opts, gecaso.WithLock(5*time.Second))
	}
	sq := gecaso.Cached(s, square, opts...)
	if *purge {
		if err := sq.Purge(ctx); err != nil {
			log.Fatal(err)
		}
		fmt.Println("purged earlier results")
	}

	fmt.Printf("process %d, Redis at %s, tiered=%v, lock=%v\n\n", os.Getpid(), *addr, *useTiered, *useLock)
	total := time.Now()
	for pass := 1; pass <= 2; pass++ {
		fmt.Printf("pass %d\n", pass)
		for n := 1; n <= *count; n++ {
			before := computed.Load()
			start := time.Now()
			r, err := sq.Call(ctx, n)
			took := time.Since(start)
			if err != nil {
				log.Fatal(err)
			}
			where := "from the cache"
			if computed.Load() != before {
				where = "computed here"
			}
			fmt.Printf("  square(%d) = %-3d %-15s in %-12v (computed by %s at %s)\n",
				n, r.Square, where, took.Round(time.Microsecond), r.ComputedBy, r.ComputedAt.Format(time.TimeOnly))
		}
	}
	fmt.Printf("\n%d computed in this process, %v in all; run me again: the results are in Redis for 10 minutes\n",
		computed.Load(), time.Since(total).Round(time.Millisecond))
}
