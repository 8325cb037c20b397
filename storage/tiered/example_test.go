package tiered_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
	"github.com/gecaso/gecaso/storage/tiered"
)

// An L1 in the process in front of a shared L2. Here L2 is a memory
// storage standing in for Redis (redis.New(client)), whose removals
// tiered would also hear from other processes.
func Example() {
	ctx := context.Background()
	l1 := lru.New(nil, 10_000) // this process's copies
	l2 := memory.New()         // shared by every process
	s := tiered.New(l1, l2, tiered.WithL1TTL(time.Minute), tiered.WithClose())
	defer s.Close()

	runs := 0
	square := gecaso.Cached(s, func(ctx context.Context, n int) (int, error) {
		runs++
		return n * n, nil
	}, gecaso.WithName("square"))

	v, _ := square.Call(ctx, 7) // runs, stores in L2 and L1
	v, _ = square.Call(ctx, 7)  // from L1
	fmt.Println(v, "after", runs, "run")

	// Forget removes from both tiers: no copy outlives it.
	_ = square.Forget(ctx, 7)
	v, _ = square.Call(ctx, 7)
	fmt.Println(v, "after", runs, "runs")
	// Output:
	// 49 after 1 run
	// 49 after 2 runs
}
