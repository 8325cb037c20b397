package gecaso_test

import (
	"context"
	"testing"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/google/go-cmp/cmp"
)

// TestSeedLRU is the seed's test_lru: over an LRU of four entries, a result
// used recently survives the inserts that evict older ones, and an evicted
// result is computed again.
func TestSeedLRU(t *testing.T) {
	ctx := context.Background()
	c := newCounter(func(ms int) int { return ms })
	s := lru.New(nil, 4)
	defer s.Close()
	echo := gecaso.Cached(s, c.call)
	call := func(ms int) {
		t.Helper()
		if got, err := echo.Call(ctx, ms); err != nil || got != ms {
			t.Fatalf("Call(%d) = %d, %v", ms, got, err)
		}
	}
	for _, ms := range []int{500, 400, 300, 200, 100, 0} { // 500 and 400 are evicted
		call(ms)
	}
	for range 10 {
		call(300) // hits: 300 becomes the most recent
	}
	call(500) // evicted earlier: runs again, evicts 200
	call(10)  // evicts 100
	call(20)  // evicts 0
	call(300) // still there
	want := map[int]int{500: 2, 400: 1, 300: 1, 200: 1, 100: 1, 0: 1, 10: 1, 20: 1}
	if diff := cmp.Diff(want, c.runs); diff != "" {
		t.Errorf("runs per argument (-want +got):\n%s", diff)
	}
	call(200) // evicted by 500
	if c.count(200) != 2 {
		t.Errorf("200 ran %d times, want 2: it should have been evicted", c.count(200))
	}
}
