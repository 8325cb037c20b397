package gecaso_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage/lru"
)

// recorder is an Observer that writes down what it is told.
type recorder struct {
	spanHits bool

	mu    sync.Mutex // guards the fields below
	info  gecaso.FuncInfo
	calls []string // source of each call, and "stale" when stale
	spans []string // name of each span ended, with its parent
}

type spanKey struct{}

func (r *recorder) Observe(fi gecaso.FuncInfo) gecaso.Hooks {
	r.info = fi
	return gecaso.Hooks{
		SpanHits: r.spanHits,
		OnCall: func(_ context.Context, info gecaso.Info, err error, d time.Duration) {
			r.mu.Lock()
			defer r.mu.Unlock()
			s := info.Source.String()
			if info.Stale {
				s += "/stale"
			}
			r.calls = append(r.calls, s)
		},
		StartSpan: func(ctx context.Context, name string, start time.Time) (context.Context, func(error)) {
			parent, _ := ctx.Value(spanKey{}).(string)
			return context.WithValue(ctx, spanKey{}, name), func(error) {
				r.mu.Lock()
				defer r.mu.Unlock()
				r.spans = append(r.spans, parent+">"+name)
			}
		},
	}
}

func TestObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := new(recorder)
		var u upstream
		u.set(1, nil)
		f := gecaso.Cached(lru.New(nil, 10), u.call, gecaso.WithName("users"), gecaso.WithVersion("v2"),
			gecaso.WithTTL(time.Minute), gecaso.WithStaleWhileRevalidate(time.Hour), gecaso.WithObserver(r))
		if r.info.Name != "users" || r.info.Version != "v2" || r.info.Storage != "lru" || r.info.Stats == nil {
			t.Errorf("FuncInfo = %+v", r.info)
		}
		ctx := context.WithValue(context.Background(), spanKey{}, "caller")
		f.Call(ctx, 1) // miss
		f.Call(ctx, 1) // hit
		time.Sleep(2 * time.Minute)
		f.Call(ctx, 1) // stale; refresh in the background
		synctest.Wait()
		if diff := cmp.Diff([]string{"run", "storage", "storage/stale"}, r.calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		// The miss's steps are children of the caller's span; the hit and the
		// stale hit make none; the refresh runs under the stale caller's.
		want := []string{"caller>gecaso.get", "caller>gecaso.run", "caller>gecaso.set", "caller>gecaso.run", "caller>gecaso.set"}
		if diff := cmp.Diff(want, r.spans); diff != "" {
			t.Errorf("spans (-want +got):\n%s", diff)
		}
		if got := r.info.Stats().Runs; got != 2 {
			t.Errorf("FuncInfo.Stats().Runs = %d, want 2", got)
		}
	})
}

func TestObserver_spanHits(t *testing.T) {
	r := &recorder{spanHits: true}
	f := gecaso.Cached(lru.New(nil, 10), func(context.Context, int) (int, error) { return 1, nil },
		gecaso.WithObserver(r), gecaso.WithNearCache(10, time.Minute))
	ctx := context.WithValue(context.Background(), spanKey{}, "caller")
	f.Call(ctx, 1)
	f.Call(ctx, 1)
	want := []string{"caller>gecaso.get", "caller>gecaso.run", "caller>gecaso.set", "caller>gecaso.near"}
	if diff := cmp.Diff(want, r.spans); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

// TestNearHitValueWithHooks checks that a near hit returns the value kept,
// by Call and CallInfo, whichever way the hit goes: straight out (no hook
// to call), or through the call path that feeds OnCall and hit spans.
func TestNearHitValueWithHooks(t *testing.T) {
	tests := []struct {
		name string
		obs  *recorder // nil: no observer
	}{
		{"no hooks", nil},
		{"OnCall", &recorder{}},
		{"OnCall and hit spans", &recorder{spanHits: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []gecaso.Option{gecaso.WithNearCache(10, time.Minute)}
			if tt.obs != nil {
				opts = append(opts, gecaso.WithObserver(tt.obs))
			}
			f := gecaso.Cached(lru.New(nil, 10), func(_ context.Context, n int) (int, error) { return n * n, nil }, opts...)
			ctx := t.Context()
			if v, err := f.Call(ctx, 12); v != 144 || err != nil {
				t.Fatalf("miss: Call(12) = %d, %v", v, err)
			}
			if v, err := f.Call(ctx, 12); v != 144 || err != nil {
				t.Errorf("near hit: Call(12) = %d, %v; want 144", v, err)
			}
			v, info, err := f.CallInfo(ctx, 12)
			if v != 144 || err != nil || info.Source != gecaso.SourceNear {
				t.Errorf("near hit: CallInfo(12) = %d, %v, source %v; want 144 from the near cache", v, err, info.Source)
			}
			if got := f.Stats().NearHits; got != 2 {
				t.Errorf("NearHits = %d, want 2", got)
			}
		})
	}
}
