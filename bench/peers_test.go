package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPeers checks that every adapter memoizes: the first call of an argument
// runs fn, a second call returns the same value without running it, and
// another argument gets its own value.
func TestPeers(t *testing.T) {
	t.Run("int/small", func(t *testing.T) { testPeers[int, Small](t, smallSize) })
	t.Run("int/record", func(t *testing.T) { testPeers[int, Record](t, RecordSize) })
	t.Run("struct/1k", func(t *testing.T) { testPeers[Pair, []byte](t, 1<<10) })
}

func testPeers[A comparable, V any](t *testing.T, valueSize int) {
	mk, seed, gen := Arg[A](), Seed[A](), Value[V](valueSize)
	for _, p := range Peers[A, V]() {
		t.Run(p.Name, func(t *testing.T) {
			fx, release, err := newFixture(t, p, 100, valueSize)
			if errors.Is(err, ErrUnavailable) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(release)
			ctx := context.Background()
			tests := []struct {
				give     A
				wantRuns int64
			}{
				{give: mk(1), wantRuns: 1},
				{give: mk(1), wantRuns: 1},
				{give: mk(2), wantRuns: 2},
				{give: mk(2), wantRuns: 2},
				{give: mk(1), wantRuns: 2},
			}
			for i, tt := range tests {
				got, err := fx.m.Call(ctx, tt.give)
				if err != nil {
					t.Fatalf("call %d (%v): %v", i, tt.give, err)
				}
				if diff := cmp.Diff(gen(seed(tt.give)), got); diff != "" {
					t.Errorf("call %d (%v): value (-want +got):\n%s", i, tt.give, diff)
				}
				if got := fx.runs.Load(); got != tt.wantRuns {
					t.Errorf("call %d (%v): fn ran %d times, want %d", i, tt.give, got, tt.wantRuns)
				}
				settle(fx.m)
			}
		})
	}
}

// TestHitRatio replays one fixed Zipf trace through every bounded cache.
// gecaso's LRU layer must hit exactly as often as an exact LRU (golang-lru)
// of the same capacity; the others are logged beside it. Set
// GECASO_BENCH_LARGE=1 to add a capacity of 100k.
func TestHitRatio(t *testing.T) {
	trace := zipfTrace(200_000, 7)
	capacities := []int{1_000, 10_000}
	if os.Getenv("GECASO_BENCH_LARGE") == "1" {
		trace = zipfTrace(2_000_000, 7)
		capacities = append(capacities, 100_000)
	}
	for _, capacity := range capacities {
		t.Run(fmt.Sprintf("cap=%d", capacity), func(t *testing.T) {
			ratios := map[string]float64{}
			var report []string
			for _, p := range Peers[int, Small]() {
				if !p.Bounded {
					continue
				}
				r, err := hitRatio(t, p, capacity, trace)
				if errors.Is(err, ErrUnavailable) {
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
				ratios[p.Name] = r
				report = append(report, fmt.Sprintf("%s %.4f", p.Name, r))
			}
			t.Logf("hit ratio over %d accesses: %s", len(trace), strings.Join(report, ", "))
			want, got, ok := ratios["golang-lru"], ratios["gecaso-lru"], false
			_, ok = ratios["gecaso-lru"]
			if !ok {
				t.Skip("gecaso-lru is not available")
			}
			if math.Abs(got-want) > 0.001 {
				t.Errorf("gecaso-lru hit ratio %.4f, exact LRU %.4f: differ by more than 0.1 points", got, want)
			}
		})
	}
}

// hitRatio replays trace through p at the given capacity and returns the
// fraction of calls answered without running fn.
func hitRatio(t *testing.T, p Peer[int, Small], capacity int, trace []int) (float64, error) {
	fx, release, err := newFixture(t, p, capacity, smallSize)
	if err != nil {
		return 0, err
	}
	defer release()
	ctx := context.Background()
	for _, a := range trace {
		if _, err := fx.m.Call(ctx, a); err != nil {
			return 0, err
		}
	}
	return 1 - float64(fx.runs.Load())/float64(len(trace)), nil
}
