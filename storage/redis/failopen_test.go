package redis_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/redistest"
)

// errorLog collects the errors a Func reports.
type errorLog struct {
	mu   sync.Mutex // guards errs
	errs []error
}

func (l *errorLog) handle(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errorLog) snapshot() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// TestFailOpenServerKilled kills redis-server while goroutines call a
// cached function, then restarts it on the same port: every call returns
// fn's result, the failures are reported, and the cache works again after
// the restart without anything being recreated.
func TestFailOpenServerKilled(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	var log errorLog
	f := gecaso.Cached(s, func(ctx context.Context, n int) (int, error) { return 2 * n, nil },
		gecaso.WithName("double"), gecaso.WithErrorHandler(log.handle))
	ctx := context.Background()

	var (
		calls atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := i % 64
				v, err := f.Call(ctx, n)
				if err != nil || v != 2*n {
					t.Errorf("Call(%d) = %d, %v; want %d, nil", n, v, err, 2*n)
					return
				}
				calls.Add(1)
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	progress := func(what string, n int64) {
		t.Helper()
		target := calls.Load() + n
		waitFor(t, what, func() bool { return calls.Load() >= target })
	}

	progress("calls with the server up", 200)
	if errs := log.snapshot(); len(errs) != 0 {
		t.Fatalf("errors reported with the server up: %v", errs)
	}

	srv.Kill()
	progress("calls with the server dead", 200)
	errs := log.snapshot()
	if len(errs) == 0 {
		t.Fatal("no storage error reported while the server was dead")
	}
	for _, err := range errs {
		var se *gecaso.StorageError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "gecaso/redis: ") {
			t.Fatalf("reported error %v: want a *gecaso.StorageError wrapping a gecaso/redis error", err)
		}
	}

	srv.Restart()
	var probeRuns atomic.Int64
	probe := gecaso.Cached(s, func(ctx context.Context, n int) (int, error) {
		probeRuns.Add(1)
		return n, nil
	}, gecaso.WithName("probe"), gecaso.WithErrorHandler(func(error) {}))
	waitFor(t, "the cache to work again after the restart", func() bool {
		n := int(probeRuns.Load())
		if _, err := probe.Call(ctx, n); err != nil {
			t.Fatal(err)
		}
		before := probeRuns.Load()
		if _, err := probe.Call(ctx, n); err != nil {
			t.Fatal(err)
		}
		return probeRuns.Load() == before // the second call was a hit
	})
	progress("calls after the restart", 200)
}

// TestFailOpenServerFull fills a server under noeviction: Call still
// returns fn's result and the OOM refusal is reported.
func TestFailOpenServerFull(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client()
	ctx := context.Background()
	used, err := usedMemory(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]any{
		{"CONFIG", "SET", "maxmemory-policy", "noeviction"},
		{"CONFIG", "SET", "maxmemory", used + 256<<10},
	} {
		if err := raw.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var log errorLog
	big := strings.Repeat("x", 512<<10)
	f := gecaso.Cached(newStorage(t, srv.Client()), func(ctx context.Context, n int) (string, error) {
		return big, nil
	}, gecaso.WithName("big"), gecaso.WithErrorHandler(log.handle))
	for n := range 3 {
		v, err := f.Call(ctx, n)
		if err != nil || v != big {
			t.Fatalf("Call(%d) on a full server: got %d bytes, %v; want fn's result", n, len(v), err)
		}
	}
	var oom bool
	for _, err := range log.snapshot() {
		oom = oom || goredis.IsOOMError(err)
	}
	if !oom {
		t.Errorf("reported errors %v: want an OOM refusal among them", log.snapshot())
	}
}
