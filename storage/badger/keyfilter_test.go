package badger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gecaso/gecaso/storage"
)

func TestKeyFilter(t *testing.T) {
	tests := []struct {
		capacity int64
		maxFP    float64 // false positives among absent hashes at capacity
	}{
		{1, 1},
		{1000, 0.03},
		{100_000, 0.03},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.capacity), func(t *testing.T) {
			f := newKeyFilter(tt.capacity)
			rng := rand.New(rand.NewPCG(1, uint64(tt.capacity)))
			added := make([]uint64, tt.capacity)
			for i := range added {
				added[i] = rng.Uint64()
				f.add(added[i])
			}
			for _, h := range added {
				if !f.mayContain(h) {
					t.Fatalf("mayContain(%#x) = false for a hash added", h)
				}
			}
			if f.full() {
				t.Errorf("full() with %d keys added to a filter for %d", len(added), tt.capacity)
			}
			f.add(rng.Uint64())
			if !f.full() {
				t.Errorf("not full() with %d keys added to a filter for %d", len(added)+1, tt.capacity)
			}
			const probes = 100_000
			fp := 0
			for range probes {
				if f.mayContain(rng.Uint64()) {
					fp++
				}
			}
			if rate := float64(fp) / probes; rate > tt.maxFP {
				t.Errorf("false positive rate %.4f at capacity, want at most %.4f", rate, tt.maxFP)
			}
		})
	}
}

// buildNow builds s's key filter, after any build running, and waits for
// the build.
func buildNow(t *testing.T, s *Storage) {
	t.Helper()
	s.filters.buildMu.Lock()
	defer s.filters.buildMu.Unlock()
	if err := s.buildFilterLocked(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// checkKeys checks that s holds want under each of keys, through Get and
// View, and that absent keys are not found.
func checkKeys(t *testing.T, s *Storage, keys []string, absent []string) {
	t.Helper()
	ctx := context.Background()
	for _, k := range keys {
		if v, err := s.Get(ctx, k); err != nil || string(v) != "v:"+k {
			t.Fatalf("Get(%q) = %q, %v; want %q", k, v, err, "v:"+k)
		}
		if err := s.View(ctx, k, func([]byte) error { return nil }); err != nil {
			t.Fatalf("View(%q) = %v", k, err)
		}
	}
	for _, k := range absent {
		if _, err := s.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get(%q) of an absent key = %v, want ErrNotFound", k, err)
		}
	}
}

func setKeys(t *testing.T, s *Storage, keys []string) {
	t.Helper()
	for _, k := range keys {
		mustSet(t, s, k, []byte("v:"+k), 0)
	}
}

func keyRange(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return keys
}

// TestKeyFilter_reopen checks that the filter built after Open holds the
// keys of the directory, and that it answers reads of absent keys.
func TestKeyFilter_reopen(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []Option
	}{
		{"writable", nil},
		{"read-only", []Option{WithReadOnly()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			keys, absent := keyRange("in:", 2000), keyRange("out:", 2000)
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			setKeys(t, s, keys)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(dir, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			buildNow(t, s)
			checkKeys(t, s, keys, absent)
			st := s.Stats()
			if st.FilterBuilds < 1 || st.FilterBytes == 0 {
				t.Errorf("Stats: FilterBuilds %d, FilterBytes %d after a build", st.FilterBuilds, st.FilterBytes)
			}
			// At most a few percent of absent keys pass the filter.
			if st.FilteredReads < int64(len(absent))*9/10 {
				t.Errorf("FilteredReads = %d after %d reads of absent keys, want most of them", st.FilteredReads, len(absent))
			}
		})
	}
}

// TestKeyFilter_buildsDuringWrites writes from several goroutines, each
// reading back every key it wrote at once, while a filter sized for a few
// keys is rebuilt again and again: a key that a build misses would read as
// absent.
func TestKeyFilter_buildsDuringWrites(t *testing.T) {
	for _, mode := range []struct {
		name string
		open func(testing.TB, ...Option) *Storage
	}{{"disk", openT}, {"memory", openMemT}} {
		t.Run(mode.name, func(t *testing.T) {
			s := mode.open(t, withFilterSizes(64, 16))
			ctx := context.Background()
			const writers, perWriter = 4, 1500
			var wg sync.WaitGroup
			errc := make(chan error, writers)
			for w := range writers {
				wg.Go(func() {
					for i := range perWriter {
						k := fmt.Sprintf("w%d:%d", w, i)
						if err := s.Set(ctx, k, []byte("v:"+k), storage.Params{}); err != nil {
							errc <- err
							return
						}
						if _, err := s.Get(ctx, k); err != nil {
							errc <- fmt.Errorf("Get(%q) right after its Set: %w", k, err)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			var all []string
			for w := range writers {
				all = append(all, keyRange(fmt.Sprintf("w%d:", w), perWriter)...)
			}
			checkKeys(t, s, all, keyRange("out:", 500))
			buildNow(t, s)
			checkKeys(t, s, all, nil)
			if n := s.Stats().FilterBuilds; n < 4 {
				t.Errorf("FilterBuilds = %d, want several with a filter sized for 64 keys", n)
			}
		})
	}
}
