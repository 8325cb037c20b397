package tiered_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage/redis"
	"github.com/gecaso/gecaso/storage/tiered"
)

// TestTwoProcessesShareL2 plays two processes, each with its own L1, over
// one Redis: one computes, the other reads L2 and fills its L1, keeps
// answering from L1 while Redis is down, and sees a removal made by the
// first within the L1 TTL.
func TestTwoProcessesShareL2(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	const l1TTL = time.Second
	var runs atomic.Int64
	square := func(ctx context.Context, n int) (int, error) {
		runs.Add(1)
		return n * n, nil
	}
	var errs atomic.Int64
	process := func() *gecaso.Func[int, int] {
		s := tiered.New(newL1(t), redis.New(srv.Client()), tiered.WithL1TTL(l1TTL), tiered.WithClose())
		t.Cleanup(func() { _ = s.Close() })
		return gecaso.Cached(s, square, gecaso.WithName("square"),
			gecaso.WithErrorHandler(func(error) { errs.Add(1) }))
	}
	a, b := process(), process()

	call := func(f *gecaso.Func[int, int]) {
		t.Helper()
		if v, err := f.Call(ctx, 7); err != nil || v != 49 {
			t.Fatalf("Call(7) = %d, %v; want 49", v, err)
		}
	}
	call(a)
	call(b)
	if n := runs.Load(); n != 1 {
		t.Fatalf("square ran %d times for two processes, want 1", n)
	}

	srv.Kill()
	call(b) // from b's L1: Redis is not needed
	if n, e := runs.Load(), errs.Load(); n != 1 || e != 0 {
		t.Fatalf("with Redis down, an L1 hit ran square (%d runs) or touched Redis (%d errors)", n, e)
	}
	srv.Restart() // empty: as if a removal reached L2

	// b's L1 keeps the entry for at most the L1 TTL, then b reads L2
	// again, misses and computes.
	deadline := time.Now().Add(l1TTL + 10*time.Second)
	for runs.Load() == 1 {
		if time.Now().After(deadline) {
			t.Fatalf("b still answers from L1 %v after the entry left L2; the L1 TTL is %v", time.Since(deadline.Add(-l1TTL-10*time.Second)), l1TTL)
		}
		call(b)
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
