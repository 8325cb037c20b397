package gecaso

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// contents returns every unexpired key and value the near cache answers for
// keys.
func contents(n *near[int], keys []string) map[string]int {
	got := map[string]int{}
	for _, k := range keys {
		if v, _, ok := n.get([]byte(k)); ok {
			got[k] = v
		}
	}
	return got
}

func nearKeys(count int) []string {
	keys := make([]string, count)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	return keys
}

// TestNear_chains puts, overwrites and removes keys in a table of 16
// buckets, so that chains hold several nodes and every position in a chain
// is replaced and unlinked.
func TestNear_chains(t *testing.T) {
	keys := nearKeys(48)
	n := newNear[int](256, time.Hour, true) // room for all keys in 256 buckets
	n.mask = 15                             // but only 16 used: chains of about 3
	want := map[string]int{}
	for i, k := range keys {
		n.put(k, "s:"+k, i, time.Time{})
		want[k] = i
	}
	if diff := cmp.Diff(want, contents(n, keys)); diff != "" {
		t.Fatalf("after puts (-want +got):\n%s", diff)
	}
	for i, k := range keys {
		if i%3 == 0 {
			n.put(k, "s:"+k, -i, time.Time{})
			want[k] = -i
		}
	}
	if diff := cmp.Diff(want, contents(n, keys)); diff != "" {
		t.Fatalf("after overwrites (-want +got):\n%s", diff)
	}
	for i, k := range keys {
		if i%2 == 0 {
			n.remove([]byte(k))
			delete(want, k)
		}
	}
	if diff := cmp.Diff(want, contents(n, keys)); diff != "" {
		t.Fatalf("after removes (-want +got):\n%s", diff)
	}
	n.clear()
	if got := contents(n, keys); len(got) != 0 {
		t.Fatalf("after clear: %v", got)
	}
}

func TestNear_bound(t *testing.T) {
	for _, size := range []int{1, 2, 100, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			n := newNear[int](size, time.Hour, true)
			keys := nearKeys(10 * size)
			for i, k := range keys {
				n.put(k, "s:"+k, i, time.Time{})
				n.put(k, "s:"+k, i, time.Time{}) // an overwrite takes no second slot
			}
			// Exactly the last size keys are kept: FIFO, to the entry.
			want := map[string]int{}
			for i := len(keys) - size; i < len(keys); i++ {
				want[keys[i]] = i
			}
			if diff := cmp.Diff(want, contents(n, keys)); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNear_forever keeps entries whose maxAge or expiry lies as far ahead
// as a time.Duration goes, without the sum wrapping into the past.
func TestNear_forever(t *testing.T) {
	n := newNear[int](10, math.MaxInt64, true)
	n.put("age", "s:age", 1, time.Time{})
	n.put("ttl", "s:ttl", 2, time.Unix(1<<62, 0))
	if diff := cmp.Diff(map[string]int{"age": 1, "ttl": 2}, contents(n, []string{"age", "ttl"})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNear_expiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNear[int](10, time.Minute, true)
		n.put("age", "s:age", 1, time.Time{})
		n.put("ttl", "s:ttl", 2, time.Now().Add(10*time.Second))
		n.put("gone", "s:gone", 3, time.Now().Add(-time.Second))
		check := func(when string, want map[string]int) {
			t.Helper()
			if diff := cmp.Diff(want, contents(n, []string{"age", "ttl", "gone"})); diff != "" {
				t.Errorf("%s (-want +got):\n%s", when, diff)
			}
		}
		check("at once", map[string]int{"age": 1, "ttl": 2})
		time.Sleep(10 * time.Second)
		check("at the entry's expiry", map[string]int{"age": 1})
		time.Sleep(50 * time.Second)
		check("at maxAge", map[string]int{})
	})
}

// TestNear_concurrent reads while other goroutines put, overwrite, remove
// and clear; under -race it checks that readers need no lock, and every
// value read must be one that was put for its key.
func TestNear_concurrent(t *testing.T) {
	n := newNear[int](64, time.Hour, true)
	keys := nearKeys(256)
	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[(i*7+w)%len(keys)]
				switch i % 50 {
				case 0:
					n.remove([]byte(k))
				case 49:
					if w == 0 {
						n.clear()
					}
				default:
					n.put(k, "s:"+k, len(k)*1000+i%2, time.Time{})
				}
			}
		})
	}
	for range 2 {
		readers.Go(func() {
			for range 200 {
				for _, k := range keys {
					if v, _, ok := n.get([]byte(k)); ok && v/1000 != len(k) {
						t.Errorf("get(%q) = %d, a value never put for it", k, v)
						return
					}
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	writers.Wait()
}
