package gecaso

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/gecaso/gecaso/codec"
	"github.com/google/go-cmp/cmp"
)

// contents returns every unexpired key and value the near cache answers for
// keys.
func contents(n *near[int], keys []string) map[string]int {
	got := map[string]int{}
	for _, k := range keys {
		if e := n.get([]byte(k)); e != nil {
			got[k] = e.v
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
					if e := n.get([]byte(k)); e != nil && e.v/1000 != len(k) {
						t.Errorf("get(%q) = %d, a value never put for it", k, e.v)
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

// TestNear_keyLengths stores keys of every length around the ones kept in
// the node (nearShortKey) and hashed by hashShort, differing in one byte
// at the start, the middle or the end, and finds each with its own value.
func TestNear_keyLengths(t *testing.T) {
	var keys []string
	for n := range 40 {
		base := make([]byte, n)
		for i := range base {
			base[i] = byte('a' + i)
		}
		keys = append(keys, string(base))
		for _, at := range []int{0, n / 2, n - 1} {
			if n == 0 {
				break
			}
			b := []byte(string(base))
			b[at] ^= 0x80
			keys = append(keys, string(b))
		}
	}
	seen := map[string]bool{}
	var distinct []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			distinct = append(distinct, k)
		}
	}
	n := newNear[int](len(distinct), time.Hour, true)
	want := map[string]int{}
	for i, k := range distinct {
		n.put(k, "s:"+k, i, time.Time{})
		want[k] = i
	}
	if diff := cmp.Diff(want, contents(n, distinct)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestHashShort_spread hashes the keys of 100,000 integer arguments: no two
// may share a hash, and no bucket of 1024 may get more than twice its
// share, which a hash that ignored a byte or the seed would break.
func TestHashShort_spread(t *testing.T) {
	enc, err := codec.NewEncoder[int]()
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range [][2]uint64{{0, 0}, {1, 2}, {0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9}} {
		const keys, buckets = 100_000, 1024
		hashes := map[uint64]int{}
		var load [buckets]int
		for i := range keys {
			k, err := enc.Append(nil, i-keys/2)
			if err != nil {
				t.Fatal(err)
			}
			h := hashShort(seed, string(k))
			if j, dup := hashes[h]; dup {
				t.Fatalf("seed %x: arguments %d and %d hash alike", seed, j, i-keys/2)
			}
			hashes[h] = i - keys/2
			load[h%buckets]++
		}
		if m := slices.Max(load[:]); m > 2*keys/buckets {
			t.Errorf("seed %x: a bucket holds %d keys, over twice the mean %d", seed, m, keys/buckets)
		}
	}
}

// TestNear_cloneKeepsShortKeyInside checks that a node copied when its
// chain changes keeps a short key in itself, not in the node it was
// copied from, and still finds it.
func TestNear_cloneKeepsShortKeyInside(t *testing.T) {
	n := newNear[int](4, time.Hour, false)
	n.mask = 0 // one bucket: every put and remove copies the chain
	for i, k := range []string{"a", "b", "c"} {
		n.put(k, "s:"+k, i, time.Time{})
	}
	n.remove([]byte("a")) // the oldest, at the end: "c" and "b" are copied
	for e := n.buckets[0].Load(); e != nil; e = e.next {
		if unsafe.StringData(e.key) != &e.short[0] {
			t.Errorf("key %q is not kept in its own node", e.key)
		}
	}
	if diff := cmp.Diff(map[string]int{"b": 1, "c": 2}, contents(n, []string{"a", "b", "c"})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
