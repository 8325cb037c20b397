package gecaso_test

//lint:file-ignore U1000 unexported and _msgpack fields are here for the encoder to skip, not to be read

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/faulty"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
)

// source is a function whose result changes when the test says so, like
// the data behind a cached query.
type source struct {
	n    atomic.Int64
	runs atomic.Int64
}

func (s *source) call(context.Context, int) (int64, error) {
	s.runs.Add(1)
	return s.n.Load(), nil
}

// A reader that read the entry from the storage before Forget must not put
// it into the near cache after Forget returned.
func TestForget_nearCacheNotRefilledByAnEarlierRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(nil)
		var src source
		src.n.Store(1)
		// Another Func of the same name stores the entry, so that f's near
		// cache is empty and f's next call reads the storage.
		writer := gecaso.Cached(s, src.call, gecaso.WithName("q"))
		if _, err := writer.Call(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		f := gecaso.Cached(s, src.call, gecaso.WithName("q"), gecaso.WithNearCache(10, time.Hour))

		parked, release := s.Park(faulty.Get)
		read := make(chan int64, 1)
		go func() {
			v, _ := f.Call(context.Background(), 1)
			read <- v
		}()
		<-parked // the reader has read the old entry
		src.n.Store(2)
		if err := f.Forget(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		release()
		if v := <-read; v != 1 {
			t.Fatalf("the reader that started before Forget got %d, want 1", v)
		}
		if v, err := f.Call(context.Background(), 1); v != 2 || err != nil {
			t.Fatalf("Call after Forget = %d, %v; want 2, the value computed after it", v, err)
		}
	})
}

// The scenario as a user met it: readers keep the near cache busy while a
// writer changes the source, forgets, and reads.
func TestForget_stressNearCache(t *testing.T) {
	var src source
	f := gecaso.Cached(memory.New(), src.call, gecaso.WithNearCache(1, time.Hour))
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				f.Call(ctx, 1)
				f.Call(ctx, 2+r)
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for range 3000 {
		want := src.n.Add(1)
		if err := f.Forget(ctx, 1); err != nil {
			t.Fatal(err)
		}
		v, err := f.Call(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if v < want {
			t.Fatalf("Call after Forget = %d, older than the source's %d", v, want)
		}
	}
}

// A run that was under way when Forget began answers its own callers, but
// does not store its result, and a call after Forget does not join it.
func TestForget_runningFlightIsDetached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(nil)
		var n atomic.Int64
		n.Store(1)
		unblock := make(chan struct{})
		var runs atomic.Int32
		f := gecaso.Cached(s, func(ctx context.Context, _ int) (int64, error) {
			v := n.Load()
			if runs.Add(1) == 1 {
				<-unblock
			}
			return v, nil
		}, gecaso.WithNearCache(10, time.Hour))
		ctx := context.Background()
		old := make(chan int64, 1)
		go func() {
			v, _ := f.Call(ctx, 1)
			old <- v
		}()
		synctest.Wait() // the first run has read the source and waits
		n.Store(2)
		if err := f.Forget(ctx, 1); err != nil {
			t.Fatal(err)
		}
		v, info, err := f.CallInfo(ctx, 1)
		if v != 2 || err != nil || info.Source != gecaso.SourceRun {
			t.Fatalf("Call after Forget = %d, %v, %v; want 2 from a run of its own", v, info.Source, err)
		}
		close(unblock)
		if v := <-old; v != 1 {
			t.Errorf("the caller of the detached run got %d, want 1", v)
		}
		synctest.Wait()
		for range 2 {
			if v, _ := f.Call(ctx, 1); v != 2 {
				t.Fatalf("a later call got %d: the detached run's result was kept", v)
			}
		}
		if runs.Load() != 2 {
			t.Errorf("fn ran %d times, want 2", runs.Load())
		}
	})
}

// Forget waits for a store under way, so that it cannot land after the
// removal.
func TestForget_waitsForStoreUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(nil)
		var src source
		src.n.Store(1)
		f := gecaso.Cached(s, src.call)
		ctx := context.Background()
		parked, release := s.Park(faulty.Set)
		go f.Call(ctx, 1)
		<-parked // the entry is written; its Set has not returned
		forgot := make(chan error, 1)
		go func() { forgot <- f.Forget(ctx, 1) }()
		synctest.Wait()
		select {
		case err := <-forgot:
			t.Fatalf("Forget returned (%v) while a store of the key was under way", err)
		default:
		}
		release()
		if err := <-forgot; err != nil {
			t.Fatal(err)
		}
		src.n.Store(2)
		if v, _ := f.Call(ctx, 1); v != 2 {
			t.Fatalf("Call after Forget = %d: the store under way outlived it", v)
		}
	})
}

func TestForget_ctxBoundsTheWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(nil)
		var src source
		f := gecaso.Cached(s, src.call)
		parked, release := s.Park(faulty.Set)
		defer release()
		go f.Call(context.Background(), 1)
		<-parked
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := f.Forget(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Forget = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestPurge_runningFlightIsDetached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		n.Store(1)
		unblock := make(chan struct{})
		var runs atomic.Int32
		f := gecaso.Cached(lru.New(nil, 100), func(ctx context.Context, _ int) (int64, error) {
			v := n.Load()
			if runs.Add(1) == 1 {
				<-unblock
			}
			return v, nil
		}, gecaso.WithNearCache(10, time.Hour))
		ctx := context.Background()
		go f.Call(ctx, 1)
		synctest.Wait()
		n.Store(2)
		if err := f.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		close(unblock)
		synctest.Wait()
		if v, _ := f.Call(ctx, 1); v != 2 {
			t.Fatalf("Call after Purge = %d, want 2", v)
		}
	})
}

type row struct {
	ID   int
	When time.Time
	Tags []string
	note string // not encoded
}

// A miss returns exactly what the hits after it return: the value decoded
// from the bytes stored.
func TestCall_missReturnsWhatHitsReturn(t *testing.T) {
	zone := time.FixedZone("UTC+3", 3*3600)
	when := time.Date(2026, 12, 1, 12, 0, 0, 0, zone)
	tests := []struct {
		name string
		give any
	}{
		{"struct in an any", row{ID: 1, When: when, Tags: []string{"a"}, note: "kept in Go only"}},
		{"int in an any", 7},
		{"time with a zone", when},
		{"map with int keys", map[int]string{1: "one"}},
		{"slice of structs", []row{{ID: 2, note: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gecaso.Cached(memory.New(), func(context.Context, int) (any, error) { return tt.give, nil })
			miss, err := f.Call(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			hit, err := f.Call(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(hit, miss); diff != "" {
				t.Errorf("miss and hit differ (-hit +miss):\n%s", diff)
			}
		})
	}
}

func TestCall_missWithTypedResultDropsWhatStorageDrops(t *testing.T) {
	zone := time.FixedZone("UTC+3", 3*3600)
	give := row{ID: 1, When: time.Date(2026, 12, 1, 12, 0, 0, 0, zone), note: "not stored"}
	f := gecaso.Cached(memory.New(), func(context.Context, int) (row, error) { return give, nil })
	miss, _ := f.Call(context.Background(), 1)
	hit, _ := f.Call(context.Background(), 1)
	if diff := cmp.Diff(hit, miss, cmp.AllowUnexported(row{})); diff != "" {
		t.Errorf("miss and hit differ (-hit +miss):\n%s", diff)
	}
	if miss.note != "" {
		t.Errorf("the miss kept the unexported field %q, which no hit can", miss.note)
	}
}

// The callers of one run each get a value of their own.
func TestCall_sharedRunGivesEachCallerItsOwnValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := gecaso.Cached(faulty.New(nil), func(context.Context, int) ([]int, error) {
			<-release
			return []int{1, 2, 3}, nil
		})
		got := make(chan []int, 2)
		for range 2 {
			go func() {
				v, _ := f.Call(context.Background(), 1)
				got <- v
			}()
		}
		synctest.Wait()
		close(release)
		a, b := <-got, <-got
		a[0] = 100
		if b[0] != 1 {
			t.Fatalf("changing one caller's slice changed the other's: %v", b)
		}
	})
}

// A caller whose context ends is released at once, even while the storage
// does not honour cancellation.
func TestCall_cancelWhileStorageStalls(t *testing.T) {
	for _, name := range []string{"cancel", "deadline"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := faulty.New(nil)
				var src source
				f := gecaso.Cached(s, src.call)
				stalled, release := s.Stall(faulty.Get)
				defer release()
				ctx, cancel := context.WithCancel(context.Background())
				if name == "deadline" {
					ctx, cancel = context.WithTimeout(context.Background(), time.Second)
				}
				defer cancel()
				done := make(chan error, 1)
				start := time.Now()
				go func() {
					_, err := f.Call(ctx, 1)
					done <- err
				}()
				<-stalled
				if name == "cancel" {
					cancel()
				}
				err := <-done
				if !errors.Is(err, ctx.Err()) || err == nil {
					t.Fatalf("Call = %v, want %v", err, ctx.Err())
				}
				if name == "deadline" && time.Since(start) != time.Second {
					t.Errorf("Call returned after %v, want the deadline's 1s", time.Since(start))
				}
				if src.runs.Load() != 0 {
					t.Errorf("fn ran for a caller that left")
				}
			})
		})
	}
}

// A TTL beyond what an entry can record means "never expires", and is stored.
func TestCall_longTTLStores(t *testing.T) {
	for _, ttl := range []time.Duration{math.MaxInt64, 250 * 365 * 24 * time.Hour} {
		s := faulty.New(nil)
		var src source
		f := gecaso.Cached(s, src.call, gecaso.WithTTL(ttl))
		for range 3 {
			if _, err := f.Call(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
		}
		if src.runs.Load() != 1 {
			t.Errorf("WithTTL(%v): fn ran %d times, want 1", ttl, src.runs.Load())
		}
		if p := s.Params(); len(p) != 1 || p[0].TTL != 0 {
			t.Errorf("WithTTL(%v): stored with %+v, want one Set without expiry", ttl, p)
		}
	}
}

// A miss reads the storage once, writes once, and reports a corrupt entry
// once.
func TestCall_missReadsStorageOnce(t *testing.T) {
	s := faulty.New(nil)
	var e errs
	var src source
	f := gecaso.Cached(s, src.call, gecaso.WithErrorHandler(e.handle))
	key, _ := f.Key(1)
	s.Put(key, []byte("not an envelope"))
	if _, err := f.Call(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if g, st := s.Count(faulty.Get), s.Count(faulty.Set); g != 1 || st != 1 {
		t.Errorf("a miss made %d Gets and %d Sets, want 1 and 1", g, st)
	}
	if got := e.all(); len(got) != 1 || !errors.Is(got[0], codec.ErrCorrupt) {
		t.Errorf("reported %v, want the corrupt entry once", got)
	}
	if st := f.Stats(); st.DecodeErrors != 1 {
		t.Errorf("Stats().DecodeErrors = %d, want 1", st.DecodeErrors)
	}
}

// A huge key is cut short in error messages.
func TestStorageError_longKeyIsShortened(t *testing.T) {
	s := faulty.New(nil)
	s.Fail(faulty.Set, errors.New("full"))
	var e errs
	f := gecaso.Cached(s, func(_ context.Context, a string) (int, error) { return len(a), nil },
		gecaso.WithHashKey(false), gecaso.WithErrorHandler(e.handle))
	big := string(make([]byte, 10<<20))
	if _, err := f.Call(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	got := e.all()
	if len(got) != 1 {
		t.Fatalf("reported %d errors, want 1", len(got))
	}
	if n := len(got[0].Error()); n > 512 {
		t.Errorf("the error text is %d bytes long", n)
	}
	var se *gecaso.StorageError
	if !errors.As(got[0], &se) || len(se.Key) < 10<<20 {
		t.Errorf("the StorageError does not carry the whole key")
	}
}

// A caller with a cancellable context reads a storage that may block on a
// goroutine of its own; its hit still fills the near cache.
func TestNearCache_filledByAReadOnItsOwnGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(nil)
		var src source
		writer := gecaso.Cached(s, src.call, gecaso.WithName("q"))
		writer.Call(context.Background(), 1)
		f := gecaso.Cached(s, src.call, gecaso.WithName("q"), gecaso.WithNearCache(10, time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, info, _ := f.CallInfo(ctx, 1); info.Source != gecaso.SourceStorage {
			t.Fatalf("first call from %v, want the storage", info.Source)
		}
		if _, info, _ := f.CallInfo(ctx, 1); info.Source != gecaso.SourceNear {
			t.Fatalf("second call from %v, want the near cache", info.Source)
		}
	})
}

type scratchRow struct {
	ID      int
	scratch [4096]byte // not encoded
}

type skippedRow struct {
	ID  int
	Buf [512]byte `msgpack:"-"`
}

// Values gecaso stored read back, however large their unencoded parts are
// in memory: every call after the first is a hit.
func TestCall_valuesWithUnencodedPartsReadBack(t *testing.T) {
	rows := func(_ context.Context, n int) ([]scratchRow, error) {
		out := make([]scratchRow, n)
		for i := range out {
			out[i].ID = i
		}
		return out, nil
	}
	byID := func(_ context.Context, n int) (map[int]skippedRow, error) {
		out := make(map[int]skippedRow, n)
		for i := range n {
			out[i] = skippedRow{ID: i}
		}
		return out, nil
	}
	for _, n := range []int{1, 300, 10_000} {
		f := gecaso.Cached(memory.New(), rows)
		g := gecaso.Cached(memory.New(), byID)
		for range 2 {
			if _, err := f.Call(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			if _, err := g.Call(context.Background(), n); err != nil {
				t.Fatal(err)
			}
		}
		if st := f.Stats(); st.Hits != 1 || st.DecodeErrors != 0 {
			t.Errorf("[]scratchRow of %d: %+v, want the second call a hit", n, st)
		}
		if st := g.Stats(); st.Hits != 1 || st.DecodeErrors != 0 {
			t.Errorf("map[int]skippedRow of %d: %+v, want the second call a hit", n, st)
		}
	}
}
