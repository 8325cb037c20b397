package gecaso_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
)

// upstream is a function whose answers and failures the test steers.
type upstream struct {
	mu    sync.Mutex // guards v, err and gate
	v     int
	err   error
	gate  chan struct{} // when set, runs wait for it to close
	runs  atomic.Int32
	fresh atomic.Int32 // runs that returned a value
}

func (u *upstream) set(v int, err error) {
	u.mu.Lock()
	u.v, u.err = v, err
	u.mu.Unlock()
}

func (u *upstream) call(ctx context.Context, _ int) (int, error) {
	u.runs.Add(1)
	u.mu.Lock()
	v, err, gate := u.v, u.err, u.gate
	u.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err == nil {
		u.fresh.Add(1)
	}
	return v, err
}

type callResult struct {
	V      int
	Source gecaso.Source
	Stale  bool
	Err    string
}

func callOnce[A any](t *testing.T, f *gecaso.Func[A, int], arg A) callResult {
	t.Helper()
	v, info, err := f.CallInfo(context.Background(), arg)
	r := callResult{V: v, Source: info.Source, Stale: info.Stale}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func TestStaleWhileRevalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		f := gecaso.Cached(lru.New(nil, 100), u.call,
			gecaso.WithTTL(10*time.Second), gecaso.WithStaleWhileRevalidate(5*time.Second))
		check := func(when string, want callResult) {
			t.Helper()
			if diff := cmp.Diff(want, callOnce(t, f, 1)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", when, diff)
			}
		}
		check("first call", callResult{V: 1, Source: gecaso.SourceRun})
		u.set(2, nil)
		time.Sleep(9 * time.Second)
		check("within the TTL", callResult{V: 1, Source: gecaso.SourceStorage})
		time.Sleep(2 * time.Second)
		check("past the TTL, within the window", callResult{V: 1, Source: gecaso.SourceStorage, Stale: true})
		synctest.Wait() // the refresh ran in the background
		if u.runs.Load() != 2 {
			t.Fatalf("fn ran %d times, want 2: one refresh", u.runs.Load())
		}
		check("after the refresh", callResult{V: 2, Source: gecaso.SourceStorage})
		u.set(3, nil)
		time.Sleep(16 * time.Second)
		check("past the TTL and the window", callResult{V: 3, Source: gecaso.SourceRun})
		if st := f.Stats(); st.StaleHits != 1 || st.Refreshes != 1 || st.Runs != 3 {
			t.Errorf("Stats = %+v, want 1 stale hit, 1 refresh, 3 runs", st)
		}
	})
}

// Stale hits never wait for fn, and start one refresh between them.
func TestStaleWhileRevalidate_oneRefreshPerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		f := gecaso.Cached(lru.New(nil, 100), u.call,
			gecaso.WithTTL(time.Second), gecaso.WithStaleWhileRevalidate(time.Minute))
		callOnce(t, f, 1)
		time.Sleep(2 * time.Second)
		gate := make(chan struct{})
		u.mu.Lock()
		u.gate = gate
		u.mu.Unlock()
		u.set(2, nil)
		for range 20 {
			if r := callOnce(t, f, 1); r.V != 1 || !r.Stale {
				t.Fatalf("a call while refreshing got %+v, want the stale 1", r)
			}
		}
		synctest.Wait()
		if u.runs.Load() != 2 {
			t.Fatalf("fn ran %d times, want 1 + one refresh", u.runs.Load())
		}
		close(gate)
		synctest.Wait()
		if r := callOnce(t, f, 1); r.V != 2 || r.Stale {
			t.Fatalf("after the refresh got %+v, want a fresh 2", r)
		}
	})
}

func TestStaleWhileRevalidate_failedRefreshBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		var e errs
		f := gecaso.Cached(lru.New(nil, 100), u.call, gecaso.WithErrorHandler(e.handle),
			gecaso.WithTTL(time.Second), gecaso.WithStaleWhileRevalidate(time.Hour))
		callOnce(t, f, 1)
		down := errors.New("upstream down")
		u.set(0, down)
		time.Sleep(2 * time.Second)
		var runsAt []int32
		for range 12 { // 12 calls, 500ms apart: 6 seconds
			if r := callOnce(t, f, 1); r.V != 1 || !r.Stale {
				t.Fatalf("got %+v, want the stale 1", r)
			}
			synctest.Wait()
			runsAt = append(runsAt, u.runs.Load())
			time.Sleep(500 * time.Millisecond)
		}
		// A refresh at 0 s fails; the next may start 1 s later (call 2),
		// then 2 s after that (call 6), then 4 s after (call 14, not
		// reached).
		want := []int32{2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4}
		if diff := cmp.Diff(want, runsAt); diff != "" {
			t.Errorf("runs after each call (-want +got):\n%s", diff)
		}
		for _, err := range e.all() {
			var se *gecaso.StaleError
			if !errors.As(err, &se) || !se.Refresh || !errors.Is(err, down) {
				t.Errorf("reported %v, want a refresh StaleError wrapping the failure", err)
			}
		}
		if len(e.all()) != 3 {
			t.Errorf("reported %d failures, want 3", len(e.all()))
		}
		u.set(5, nil)
		time.Sleep(4 * time.Second)
		callOnce(t, f, 1)
		synctest.Wait()
		if r := callOnce(t, f, 1); r.V != 5 || r.Stale {
			t.Errorf("after the upstream recovered got %+v, want a fresh 5", r)
		}
	})
}

// A refresh that began before a Forget must not store its result.
func TestStaleWhileRevalidate_refreshBeforeForgetDoesNotStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		f := gecaso.Cached(lru.New(nil, 100), u.call,
			gecaso.WithTTL(time.Second), gecaso.WithStaleWhileRevalidate(time.Hour))
		ctx := context.Background()
		callOnce(t, f, 1)
		time.Sleep(2 * time.Second)
		gate := make(chan struct{})
		u.mu.Lock()
		u.gate = gate
		u.mu.Unlock()
		callOnce(t, f, 1) // stale; the refresh waits at the gate
		synctest.Wait()
		if err := f.Forget(ctx, 1); err != nil {
			t.Fatal(err)
		}
		u.mu.Lock()
		u.gate = nil
		u.mu.Unlock()
		u.set(3, nil)
		close(gate) // the refresh returns 1... the value it read before Forget
		synctest.Wait()
		if r := callOnce(t, f, 1); r.V != 3 || r.Source != gecaso.SourceRun {
			t.Errorf("after Forget got %+v, want a run's 3", r)
		}
	})
}

func TestStaleWhileRevalidate_refreshTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		var e errs
		f := gecaso.Cached(lru.New(nil, 100), u.call, gecaso.WithErrorHandler(e.handle),
			gecaso.WithTTL(time.Second), gecaso.WithStaleWhileRevalidate(time.Hour),
			gecaso.WithRefreshTimeout(5*time.Second))
		callOnce(t, f, 1)
		time.Sleep(2 * time.Second)
		u.mu.Lock()
		u.gate = make(chan struct{}) // never opens
		u.mu.Unlock()
		callOnce(t, f, 1)
		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		if errs := e.all(); len(errs) != 0 {
			t.Errorf("the refresh ended before its timeout: %v", errs)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if errs := e.all(); len(errs) != 1 || !errors.Is(errs[0], context.DeadlineExceeded) {
			t.Errorf("reported %v, want the refresh's deadline", errs)
		}
	})
}

func TestStaleIfError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		var e errs
		s := faulty.New(lru.New(nil, 100))
		f := gecaso.Cached(s, u.call, gecaso.WithErrorHandler(e.handle),
			gecaso.WithTTL(10*time.Second), gecaso.WithStaleIfError(time.Minute))
		callOnce(t, f, 1)
		if p := s.Params(); p[0].TTL != 70*time.Second {
			t.Errorf("stored with a storage TTL of %v, want the TTL plus the stale window, 70s", p[0].TTL)
		}
		down := errors.New("upstream down")
		u.set(0, down)
		time.Sleep(11 * time.Second)
		v, info, err := f.CallInfo(context.Background(), 1)
		if v != 1 || err != nil || !info.Stale || !errors.Is(info.Err, down) {
			t.Fatalf("within the window: CallInfo = %d, %+v, %v; want the stale 1 with fn's error in Info", v, info, err)
		}
		if errs := e.all(); len(errs) != 1 || !errors.Is(errs[0], down) {
			t.Errorf("reported %v, want fn's failure once", errs)
		}
		time.Sleep(time.Minute)
		if _, err := f.Call(context.Background(), 1); !errors.Is(err, down) {
			t.Fatalf("past the window: Call = %v, want fn's error", err)
		}
		if st := f.Stats(); st.StaleHits != 1 || st.Misses != 3 || st.RunErrors != 2 {
			t.Errorf("Stats = %+v, want 1 stale hit, 3 misses, 2 run errors", st)
		}
	})
}

// Context errors and panics of fn are never answered from a stale entry.
func TestStaleIfError_notForContextErrorsOrPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fail atomic.Pointer[any]
		f := gecaso.Cached(lru.New(nil, 100), func(ctx context.Context, _ int) (int, error) {
			if p := fail.Load(); p != nil {
				if err, ok := (*p).(error); ok {
					return 0, err
				}
				panic(*p)
			}
			return 1, nil
		}, gecaso.WithTTL(time.Second), gecaso.WithStaleIfError(time.Hour))
		f.Call(context.Background(), 1)
		time.Sleep(2 * time.Second)
		var ctxErr any = fmt.Errorf("the run's own deadline: %w", context.DeadlineExceeded)
		fail.Store(&ctxErr)
		if _, err := f.Call(context.Background(), 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Call = %v, want fn's context error", err)
		}
		var boom any = "boom"
		fail.Store(&boom)
		func() {
			defer func() {
				if _, ok := recover().(*gecaso.PanicError); !ok {
					t.Errorf("a panic of fn was answered from the stale entry")
				}
			}()
			f.Call(context.Background(), 1)
		}()
	})
}

var errNotFound = errors.New("user not found")

func TestErrorTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(0, fmt.Errorf("lookup 7: %w", errNotFound))
		f := gecaso.Cached(lru.New(nil, 100), u.call,
			gecaso.WithErrorTTL(time.Minute, func(err error) bool { return errors.Is(err, errNotFound) }),
			gecaso.WithErrorSentinels(errNotFound))
		ctx := context.Background()
		_, err := f.Call(ctx, 7)
		if err == nil || err.Error() != "lookup 7: user not found" {
			t.Fatalf("first call = %v, want fn's error", err)
		}
		var ce *gecaso.CachedError
		if errors.As(err, &ce) {
			t.Errorf("the call that ran fn got a CachedError, want fn's own")
		}
		_, err = f.Call(ctx, 7)
		if !errors.As(err, &ce) || !errors.Is(err, errNotFound) || err.Error() != "lookup 7: user not found" {
			t.Fatalf("second call = %v (%T), want a CachedError with the message, matching the sentinel", err, err)
		}
		if u.runs.Load() != 1 {
			t.Errorf("fn ran %d times, want 1", u.runs.Load())
		}
		time.Sleep(time.Minute)
		f.Call(ctx, 7)
		if u.runs.Load() != 2 {
			t.Errorf("after the error TTL fn ran %d times, want 2", u.runs.Load())
		}
		if err := f.Forget(ctx, 7); err != nil {
			t.Fatal(err)
		}
		f.Call(ctx, 7)
		if u.runs.Load() != 3 {
			t.Errorf("after Forget fn ran %d times, want 3", u.runs.Load())
		}
		// An error the predicate refuses is not stored.
		u.set(0, errors.New("timeout"))
		f.Call(ctx, 8)
		f.Call(ctx, 8)
		if u.runs.Load() != 5 {
			t.Errorf("fn ran %d times, want 5: an error not chosen was stored", u.runs.Load())
		}
	})
}

func TestTTLJitter(t *testing.T) {
	s := faulty.New(nil)
	var n atomic.Int64
	f := gecaso.Cached(s, func(context.Context, int) (int64, error) { return n.Add(1), nil },
		gecaso.WithTTL(100*time.Second), gecaso.WithTTLJitter(0.5))
	const entries, buckets = 10_000, 10
	for i := range entries {
		f.Call(context.Background(), i)
	}
	var counts [buckets]int
	for _, p := range s.Params() {
		if p.TTL < 50*time.Second || p.TTL > 100*time.Second {
			t.Fatalf("TTL %v outside [50s, 100s]", p.TTL)
		}
		counts[min(int((p.TTL-50*time.Second)/(5*time.Second)), buckets-1)]++
	}
	// Chi-square against the uniform distribution, 9 degrees of freedom:
	// 40 is exceeded by chance with a probability under 1e-5.
	chi2 := 0.0
	for _, c := range counts {
		d := float64(c) - entries/buckets
		chi2 += d * d / (entries / buckets)
	}
	if chi2 > 40 || math.IsNaN(chi2) {
		t.Errorf("TTLs are not uniform over the range: buckets %v, chi-square %.1f", counts, chi2)
	}
}

func TestSetTTLAndNoStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(lru.New(nil, 100))
		var runs atomic.Int32
		f := gecaso.Cached(s, func(ctx context.Context, arg string) (int, error) {
			runs.Add(1)
			switch arg {
			case "short":
				gecaso.SetTTL(ctx, 5*time.Second)
			case "volatile":
				gecaso.NoStore(ctx)
			case "zero":
				gecaso.SetTTL(ctx, 0)
			}
			return len(arg), nil
		}, gecaso.WithTTL(time.Hour))
		ctx := context.Background()
		for _, arg := range []string{"short", "volatile", "zero", "default"} {
			f.Call(ctx, arg)
			f.Call(ctx, arg)
		}
		if runs.Load() != 6 {
			t.Errorf("fn ran %d times, want 6: the unstored results run twice", runs.Load())
		}
		var ttls []time.Duration
		for _, p := range s.Params() {
			ttls = append(ttls, p.TTL)
		}
		if diff := cmp.Diff([]time.Duration{5 * time.Second, time.Hour}, ttls); diff != "" {
			t.Errorf("stored TTLs (-want +got):\n%s", diff)
		}
		time.Sleep(6 * time.Second)
		f.Call(ctx, "short")
		if runs.Load() != 7 {
			t.Errorf("the result with a 5s TTL outlived it")
		}
		gecaso.SetTTL(ctx, time.Second) // outside a run: nothing
		gecaso.NoStore(ctx)
	})
}

func TestCallInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		f := gecaso.Cached(lru.New(nil, 100), u.call, gecaso.WithTTL(time.Hour), gecaso.WithNearCache(10, time.Minute))
		ctx := context.Background()
		start := time.Now()
		_, info, _ := f.CallInfo(ctx, 1)
		want := gecaso.Info{Source: gecaso.SourceRun, Stored: true, ExpiresAt: start.Add(time.Hour)}
		if diff := cmp.Diff(want, info); diff != "" {
			t.Errorf("a run (-want +got):\n%s", diff)
		}
		time.Sleep(time.Second)
		_, info, _ = f.CallInfo(ctx, 1)
		want = gecaso.Info{Source: gecaso.SourceNear, ExpiresAt: start.Add(time.Hour)}
		if diff := cmp.Diff(want, info); diff != "" {
			t.Errorf("a near hit (-want +got):\n%s", diff)
		}
		time.Sleep(time.Minute) // the near copy aged out
		_, info, _ = f.CallInfo(ctx, 1)
		want = gecaso.Info{Source: gecaso.SourceStorage, Age: 61 * time.Second, ExpiresAt: start.Add(time.Hour)}
		if diff := cmp.Diff(want, info); diff != "" {
			t.Errorf("a storage hit (-want +got):\n%s", diff)
		}
	})
}

// With both, a failure within the stale-if-error window serves the stale
// entry and keeps it, rather than storing the error over it.
func TestStaleIfErrorWinsOverErrorTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		f := gecaso.Cached(lru.New(nil, 100), u.call, gecaso.WithErrorHandler(func(error) {}),
			gecaso.WithTTL(time.Second), gecaso.WithStaleIfError(time.Hour), gecaso.WithErrorTTL(time.Hour, nil))
		callOnce(t, f, 1)
		time.Sleep(2 * time.Second)
		u.set(0, errors.New("down"))
		for range 2 {
			if r := callOnce(t, f, 1); r.V != 1 || !r.Stale || r.Err != "" {
				t.Fatalf("got %+v, want the stale 1", r)
			}
		}
	})
}

// An entry written by the previous envelope format (version 1) is still a
// hit.
func TestCall_readsEntriesOfFormatVersion1(t *testing.T) {
	s := faulty.New(nil)
	var u upstream
	u.set(2, nil)
	f := gecaso.Cached(s, u.call)
	key, _ := f.Key(1)
	data, _ := codec.Marshal(7)
	frame := []byte{'g', 'c', 1}
	frame = binary.BigEndian.AppendUint64(frame, uint64(time.Now().UnixNano()))
	frame = binary.BigEndian.AppendUint64(frame, 0) // never expires
	frame = append(frame, 0, byte(len(data)))       // no params; the data's length
	frame = append(frame, data...)
	frame = binary.BigEndian.AppendUint32(frame, crc32.Checksum(frame, crc32.MakeTable(crc32.Castagnoli)))
	s.Put(key, frame)
	if r := callOnce(t, f, 1); r.V != 7 || r.Source != gecaso.SourceStorage {
		t.Errorf("got %+v, want 7 from the version 1 entry", r)
	}
}
