package tiered_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
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

// process is one process's tiered storage over a shared Redis, with its L1
// at hand.
type process struct {
	l1 *memory.Storage
	s  *tiered.Storage
}

// newProcess returns a tiered storage over srv under prefix, on a client
// of its own, as another process would have.
func newProcess(t testing.TB, srv *redistest.Server, prefix string) process {
	l1 := memory.New()
	s := tiered.New(l1, redis.New(srv.Client(), redis.WithPrefix(prefix)), tiered.WithClose())
	t.Cleanup(func() { _ = s.Close() })
	return process{l1: l1, s: s}
}

// inL1 reports whether p's L1 holds key.
func (p process) inL1(t testing.TB, key string) bool {
	_, err := p.l1.Get(context.Background(), key)
	if err != nil && err != storage.ErrNotFound {
		t.Fatal(err)
	}
	return err == nil
}

// TestRemovalReachesOtherProcessesL1 plays two processes, each with its
// own L1, over one Redis: a Remove or DeletePrefix through one drops the
// other's L1 copy, long before the L1 TTL.
func TestRemovalReachesOtherProcessesL1(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		remove func(s *tiered.Storage) error
	}{
		{"Remove", func(s *tiered.Storage) error { return s.Remove(ctx, "fn:1") }},
		{"DeletePrefix", func(s *tiered.Storage) error { return s.DeletePrefix(ctx, "fn:") }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := fmt.Sprintf("p%d:", i)
			a, b := newProcess(t, srv, prefix), newProcess(t, srv, prefix)
			if err := a.s.Set(ctx, "fn:1", envelope(t, time.Time{}), storage.Params{}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.s.Get(ctx, "fn:1"); err != nil {
				t.Fatal(err)
			}
			if !b.inL1(t, "fn:1") {
				t.Fatal("b's Get did not fill its L1")
			}
			if err := tt.remove(a.s); err != nil {
				t.Fatal(err)
			}
			// Delivery takes milliseconds; the deadline only bounds a
			// failing test.
			deadline := time.Now().Add(10 * time.Second)
			for b.inL1(t, "fn:1") {
				if time.Now().After(deadline) {
					t.Fatalf("b's L1 still holds the entry 10s after a's %s (L1 TTL %v)", tt.name, tiered.DefaultL1TTL)
				}
				time.Sleep(time.Millisecond) // poll interval
			}
			if _, err := b.s.Get(ctx, "fn:1"); err != storage.ErrNotFound {
				t.Errorf("b's Get after a's %s: %v, want storage.ErrNotFound", tt.name, err)
			}
		})
	}
}

// BenchmarkRemovalReachesOtherProcessesL1 measures how long after one
// process's Remove another process's L1 has dropped its copy, on loopback:
// the time from Remove to a subscriber of the other tiered storage, which
// hears only once its L1 copy is gone.
func BenchmarkRemovalReachesOtherProcessesL1(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	pa, pb := newProcess(b, srv, "bench:"), newProcess(b, srv, "bench:")
	heard := make(chan time.Time, 1)
	cancel, err := pb.s.Subscribe(func(storage.Invalidation) { heard <- time.Now() })
	if err != nil {
		b.Fatal(err)
	}
	defer cancel()
	value := envelope(b, time.Time{})
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		if err := pa.s.Set(ctx, "k", value, storage.Params{}); err != nil {
			b.Fatal(err)
		}
		if _, err := pb.s.Get(ctx, "k"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := pa.s.Remove(ctx, "k"); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-heard).Sub(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
