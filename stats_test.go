package gecaso_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/faulty"
	"github.com/gecaso/gecaso/storage/lru"
)

// Known sequences of calls give exact counts.
func TestStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u upstream
		u.set(1, nil)
		s := faulty.New(nil)
		f := gecaso.Cached(s, u.call, gecaso.WithNearCache(10, time.Minute), gecaso.WithErrorHandler(func(error) {}))
		ctx := context.Background()

		f.Call(ctx, 1) // miss
		f.Call(ctx, 1) // near hit
		f.Call(ctx, 2) // miss
		time.Sleep(2 * time.Minute)
		f.Call(ctx, 2) // storage hit (near copy aged out)

		// Three callers share one run.
		gate := make(chan struct{})
		u.mu.Lock()
		u.gate = gate
		u.mu.Unlock()
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { f.Call(ctx, 3) })
			synctest.Wait()
		}
		close(gate)
		wg.Wait()
		u.mu.Lock()
		u.gate = nil
		u.mu.Unlock()

		// A failing run, then a storage that fails.
		u.set(0, errors.New("no"))
		f.Call(ctx, 4)
		u.set(1, nil)
		s.Fail(faulty.Get, errors.New("down"))
		s.Fail(faulty.Set, errors.New("down"))
		f.Call(ctx, 5)
		s.Fail(faulty.Get, nil)
		s.Fail(faulty.Set, nil)
		key, _ := f.Key(6)
		s.Put(key, []byte("garbage"))
		f.Call(ctx, 6)

		got := f.Stats()
		want := gecaso.Stats{
			Hits: 2, NearHits: 1, Misses: 6, Shared: 2,
			Runs: 6, RunErrors: 1,
			StorageErrors: gecaso.StorageErrorCounts{Get: 1, Set: 1},
			DecodeErrors:  1,
		}
		ignore := cmpopts.IgnoreFields(gecaso.Stats{}, "RunTime", "BytesRead", "BytesWritten")
		if diff := cmp.Diff(want, got, ignore); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
		if got.BytesWritten == 0 || got.BytesRead == 0 || got.BytesRead > got.BytesWritten {
			t.Errorf("BytesRead %d, BytesWritten %d: want one entry read of those written", got.BytesRead, got.BytesWritten)
		}
	})
}

func TestStats_runTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := gecaso.Cached(lru.New(nil, 10), func(_ context.Context, n int) (int, error) {
			time.Sleep(time.Duration(n) * time.Second)
			return n, nil
		})
		f.Call(context.Background(), 2)
		f.Call(context.Background(), 3)
		f.Call(context.Background(), 3)
		if got := f.Stats().RunTime; got != 5*time.Second {
			t.Errorf("RunTime = %v, want 5s", got)
		}
	})
}

// Counts stay exact while many goroutines call at once, and after the
// garbage collector dropped the call states that held counter shards.
func TestStats_concurrent(t *testing.T) {
	f := gecaso.Cached(lru.New(nil, 100), func(_ context.Context, n int) (int, error) { return n, nil },
		gecaso.WithNearCache(100, time.Hour))
	ctx := context.Background()
	for i := range 10 {
		f.Call(ctx, i)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 1000 {
				f.Call(ctx, i%10)
			}
		})
	}
	wg.Wait()
	runtimeGC()
	if got := f.Stats(); got.Hits != 8000 || got.NearHits != 8000 || got.Misses != 10 {
		t.Errorf("Stats = %+v, want 8000 near hits and 10 misses", got)
	}
}

// Storage failures that calls survive are logged at once the first time,
// then once per interval with a count, and each is counted.
func TestLogsAreRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf lockedBuffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
		s := faulty.New(nil)
		s.Fail(faulty.Get, errors.New("down"))
		f := gecaso.Cached(s, func(_ context.Context, n int) (int, error) { return n, nil },
			gecaso.WithLogger(logger), gecaso.WithLogInterval(10*time.Second))
		ctx := context.Background()
		for i := range 100 {
			f.Call(ctx, i) // a failed Get each; the Sets work
		}
		lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }
		if got := lines(); len(got) != 1 || !strings.Contains(got[0], "op=get") {
			t.Fatalf("after 100 failures logged %q, want one line", got)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got := lines()
		if len(got) != 2 || !strings.Contains(got[1], "count=99") {
			t.Fatalf("after the interval logged %q, want a summary of the 99 others", got)
		}
		time.Sleep(time.Minute) // nothing more failed: no more lines
		synctest.Wait()
		if got := lines(); len(got) != 2 {
			t.Errorf("logged %d lines while nothing failed", len(got)-2)
		}
		f.Call(ctx, 1000)
		if got := lines(); len(got) != 3 || strings.Contains(got[2], "count=") {
			t.Errorf("a failure after a quiet interval was not logged at once: %q", got)
		}
		if got := f.Stats().StorageErrors.Get; got != 101 {
			t.Errorf("Stats().StorageErrors.Get = %d, want 101", got)
		}
	})
}

// runtimeGC runs the collector twice: sync.Pool drops its objects over two
// collections.
func runtimeGC() {
	runtime.GC()
	runtime.GC()
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
