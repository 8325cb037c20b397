package otelgecaso_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	mnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tnoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/internal/faulty"
	"github.com/gecaso/gecaso/otelgecaso"
	"github.com/gecaso/gecaso/storage/lru"
)

var errNegative = errors.New("negative")

var (
	discard       = slog.New(slog.DiscardHandler)
	mnoopProvider = mnoop.NewMeterProvider()
	tnoopProvider = tnoop.NewTracerProvider()
)

// slowSquare takes n milliseconds to square n, and fails on a negative n.
func slowSquare(_ context.Context, n int) (int, error) {
	if n < 0 {
		time.Sleep(5 * time.Millisecond)
		return 0, errNegative
	}
	time.Sleep(time.Duration(n) * time.Millisecond)
	return n * n, nil
}

// funcKeys are the attributes every measurement of a Func carries.
var funcKeys = []string{"gecaso.function.name", "gecaso.function.version", "gecaso.storage.type", "deployment"}

func TestObserver_metrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mp := newMeterProvider()
		o := otelgecaso.New(otelgecaso.WithMeterProvider(mp), otelgecaso.WithAttributes(attribute.String("deployment", "test")))
		f := gecaso.Cached(lru.New(nil, 100), slowSquare, gecaso.WithName("square"), gecaso.WithVersion("v2"),
			gecaso.WithObserver(o))
		ctx := context.Background()

		f.Call(ctx, 10) // miss, 10ms
		f.Call(ctx, 10) // hit
		f.Call(ctx, 20) // miss, 20ms
		f.Call(ctx, -1) // miss, fails after 5ms
		// Two calls of 30 at once: one leads the run, the other shares it.
		done := make(chan struct{})
		go func() { f.Call(ctx, 30); done <- struct{}{} }()
		synctest.Wait() // the leader is in fn
		go func() { f.Call(ctx, 30); done <- struct{}{} }()
		<-done
		<-done

		st := f.Stats()
		want := map[string]float64{
			"gecaso.calls{gecaso.outcome=hit}":                          1,
			"gecaso.calls{gecaso.outcome=near_hit}":                     0,
			"gecaso.calls{gecaso.outcome=miss}":                         4,
			"gecaso.calls{gecaso.outcome=shared}":                       1,
			"gecaso.runs{}":                                             4,
			"gecaso.run.errors{}":                                       1,
			"gecaso.run.time{}":                                         0.065,
			"gecaso.stale_hits{}":                                       0,
			"gecaso.refreshes{}":                                        0,
			"gecaso.decode.errors{}":                                    0,
			"gecaso.lock.waits{}":                                       0,
			"gecaso.storage.io{gecaso.io.direction=read}":               float64(st.BytesRead),
			"gecaso.storage.io{gecaso.io.direction=write}":              float64(st.BytesWritten),
			"gecaso.storage.errors{gecaso.storage.operation=get}":       0,
			"gecaso.storage.errors{gecaso.storage.operation=set}":       0,
			"gecaso.storage.errors{gecaso.storage.operation=remove}":    0,
			"gecaso.storage.errors{gecaso.storage.operation=lock}":      0,
			"gecaso.storage.errors{gecaso.storage.operation=unlock}":    0,
			"gecaso.storage.errors{gecaso.storage.operation=subscribe}": 0,
			"gecaso.storage.errors{gecaso.storage.operation=encode}":    0,
		}
		if st.BytesRead == 0 || st.BytesWritten <= st.BytesRead {
			t.Errorf("Stats: BytesRead = %d, BytesWritten = %d; want the one entry read and three written", st.BytesRead, st.BytesWritten)
		}
		points := mp.m.collect()
		if diff := cmp.Diff(want, summary(points, funcKeys...)); diff != "" {
			t.Errorf("observed (-want +got):\n%s", diff)
		}
		wantAttrs := map[string]string{"gecaso.function.name": "square", "gecaso.function.version": "v2",
			"gecaso.storage.type": "lru", "deployment": "test"}
		for _, p := range points {
			for k, v := range wantAttrs {
				if p.Attrs[k] != v {
					t.Errorf("%s: attribute %s = %q, want %q", seriesName(p, nil), k, p.Attrs[k], v)
				}
			}
		}

		recs := mp.m.histogramRecords()
		wantCounts := map[string]int{
			"gecaso.call.duration{gecaso.outcome=hit}":                                 1,
			"gecaso.call.duration{gecaso.outcome=miss}":                                3, // 10, 20 and the leader of 30
			"gecaso.call.duration{error.type=*errors.errorString,gecaso.outcome=miss}": 1,
			"gecaso.call.duration{gecaso.outcome=shared}":                              1,
		}
		if diff := cmp.Diff(wantCounts, counts(recs, funcKeys...)); diff != "" {
			t.Errorf("histogram records (-want +got):\n%s", diff)
		}
		// The fake clock makes each duration exact.
		wantSums := map[string]float64{
			"gecaso.call.duration{gecaso.outcome=hit}":                                 0,
			"gecaso.call.duration{gecaso.outcome=miss}":                                0.060,
			"gecaso.call.duration{error.type=*errors.errorString,gecaso.outcome=miss}": 0.005,
			"gecaso.call.duration{gecaso.outcome=shared}":                              0.030,
		}
		if diff := cmp.Diff(wantSums, summary(recs, funcKeys...), cmpFloat); diff != "" {
			t.Errorf("histogram sums (-want +got):\n%s", diff)
		}
	})
}

// cmpFloat compares sums of seconds to the nanosecond.
var cmpFloat = cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })

func TestObserver_instruments(t *testing.T) {
	mp := newMeterProvider()
	otelgecaso.New(otelgecaso.WithMeterProvider(mp))
	want := map[string]desc{
		"gecaso.calls":          {"Int64ObservableCounter", "{call}", ""},
		"gecaso.runs":           {"Int64ObservableCounter", "{run}", ""},
		"gecaso.run.errors":     {"Int64ObservableCounter", "{run}", ""},
		"gecaso.run.time":       {"Float64ObservableCounter", "s", ""},
		"gecaso.stale_hits":     {"Int64ObservableCounter", "{call}", ""},
		"gecaso.refreshes":      {"Int64ObservableCounter", "{refresh}", ""},
		"gecaso.storage.errors": {"Int64ObservableCounter", "{error}", ""},
		"gecaso.decode.errors":  {"Int64ObservableCounter", "{entry}", ""},
		"gecaso.lock.waits":     {"Int64ObservableCounter", "{run}", ""},
		"gecaso.storage.io":     {"Int64ObservableCounter", "By", ""},
		"gecaso.call.duration":  {"Float64Histogram", "s", ""},
	}
	got := mp.m.instruments
	for name, d := range got {
		if d.Description == "" {
			t.Errorf("%s has no description", name)
		}
		d.Description = ""
		got[name] = d
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instruments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{otelgecaso.ScopeName}, mp.m.scopes); diff != "" {
		t.Errorf("meter scopes (-want +got):\n%s", diff)
	}
}

func TestObserver_nearAndStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mp := newMeterProvider()
		var runs int
		f := gecaso.Cached(lru.New(nil, 100), func(_ context.Context, n int) (int, error) {
			runs++
			return n + runs, nil
		}, gecaso.WithTTL(time.Minute), gecaso.WithStaleWhileRevalidate(time.Hour),
			gecaso.WithNearCache(10, time.Second), gecaso.WithObserver(otelgecaso.New(otelgecaso.WithMeterProvider(mp))))
		ctx := context.Background()
		f.Call(ctx, 1) // miss
		f.Call(ctx, 1) // near hit
		time.Sleep(2 * time.Second)
		f.Call(ctx, 1) // hit: the near cache keeps values a second
		time.Sleep(2 * time.Minute)
		f.Call(ctx, 1) // stale hit, refreshed in the background
		synctest.Wait()

		want := map[string]float64{
			"gecaso.calls{gecaso.outcome=hit}":      2,
			"gecaso.calls{gecaso.outcome=near_hit}": 1,
			"gecaso.calls{gecaso.outcome=miss}":     1,
			"gecaso.calls{gecaso.outcome=shared}":   0,
			"gecaso.runs{}":                         2,
			"gecaso.stale_hits{}":                   1,
			"gecaso.refreshes{}":                    1,
		}
		got := summary(mp.m.collect(), funcKeys...)
		for k := range got {
			if _, ok := want[k]; !ok {
				delete(got, k)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("observed (-want +got):\n%s", diff)
		}
		wantCounts := map[string]int{
			"gecaso.call.duration{gecaso.outcome=miss}":     1,
			"gecaso.call.duration{gecaso.outcome=near_hit}": 1,
			"gecaso.call.duration{gecaso.outcome=hit}":      1,
			"gecaso.call.duration{gecaso.outcome=stale}":    1,
		}
		if diff := cmp.Diff(wantCounts, counts(mp.m.histogramRecords(), funcKeys...)); diff != "" {
			t.Errorf("histogram records (-want +got):\n%s", diff)
		}
	})
}

func TestObserver_failures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mp := newMeterProvider()
		s := faulty.New(nil)
		f := gecaso.Cached(s, slowSquare, gecaso.WithName("square"), gecaso.WithLogger(discard),
			gecaso.WithObserver(otelgecaso.New(otelgecaso.WithMeterProvider(mp))))
		ctx := context.Background()

		s.Fail(faulty.Set, errors.New("disk full"))
		f.Call(ctx, 1) // miss; the store fails
		s.Fail(faulty.Set, nil)
		key, _ := f.Key(2)
		s.Put(key, []byte("not an envelope"))
		f.Call(ctx, 2) // the entry does not decode: a miss

		// A caller that leaves while it waits for another's run.
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 2)
		go func() { _, err := f.Call(ctx, 3); done <- err }()
		synctest.Wait() // the leader is in fn
		go func() { _, err := f.Call(lctx, 3); done <- err }()
		synctest.Wait() // the second waits for the run
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("the caller that left got %v, want context.Canceled", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("the leader got %v", err)
		}

		want := map[string]float64{
			"gecaso.calls{gecaso.outcome=miss}":                   3,
			"gecaso.calls{gecaso.outcome=shared}":                 1,
			"gecaso.decode.errors{}":                              1,
			"gecaso.storage.errors{gecaso.storage.operation=set}": 1,
			"gecaso.storage.errors{gecaso.storage.operation=get}": 0,
		}
		got := summary(mp.m.collect(), funcKeys...)
		for k := range got {
			if _, ok := want[k]; !ok {
				delete(got, k)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("observed (-want +got):\n%s", diff)
		}
		wantCounts := map[string]int{
			"gecaso.call.duration{gecaso.outcome=miss}":                                 3,
			"gecaso.call.duration{error.type=context.Canceled,gecaso.outcome=canceled}": 1,
		}
		if diff := cmp.Diff(wantCounts, counts(mp.m.histogramRecords(), funcKeys...)); diff != "" {
			t.Errorf("histogram records (-want +got):\n%s", diff)
		}
	})
}

func TestObserver_spans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tp := new(tracerProvider)
		var inRun trace.Span
		f := gecaso.Cached(lru.New(nil, 100), func(ctx context.Context, n int) (int, error) {
			if n == 10 {
				inRun = trace.SpanFromContext(ctx)
			}
			return slowSquare(ctx, n)
		}, gecaso.WithName("square"), gecaso.WithObserver(otelgecaso.New(otelgecaso.WithTracerProvider(tp))))
		ctx, _ := tp.Tracer("test").Start(context.Background(), "caller")
		start := time.Now()
		f.Call(ctx, 10)                  // miss
		f.Call(ctx, 10)                  // hit: no span
		f.Call(ctx, -1)                  // fn fails
		f.Call(context.Background(), 20) // a miss outside any trace: no span
		want := []string{
			"caller>gecaso.get", "caller>gecaso.run", "caller>gecaso.set",
			"caller>gecaso.get", "caller>gecaso.run error: negative",
		}
		if diff := cmp.Diff(want, tp.ended()); diff != "" {
			t.Fatalf("spans (-want +got):\n%s", diff)
		}
		spans := tp.snapshot()
		if run := spans[1]; inRun != trace.Span(run) {
			t.Errorf("fn's context carries span %v, want the gecaso.run span", inRun)
		}
		if got := spans[1].start; !got.Equal(start) {
			t.Errorf("gecaso.run started at %v, want %v", got, start)
		}
		if got := spans[2].start; !got.Equal(start.Add(10 * time.Millisecond)) {
			t.Errorf("gecaso.set started at %v, want after the 10ms run", got)
		}
		wantAttrs := map[string]string{"gecaso.function.name": "square", "gecaso.storage.type": "lru"}
		for _, s := range spans {
			if diff := cmp.Diff(wantAttrs, attrMap(&s.attrs)); diff != "" {
				t.Errorf("span %s attributes (-want +got):\n%s", s.name, diff)
			}
		}
		if errs := spans[4].errs; len(errs) != 1 || !errors.Is(errs[0], errNegative) {
			t.Errorf("failed run recorded errors %v, want [%v]", errs, errNegative)
		}
	})
}

func TestObserver_spanHits(t *testing.T) {
	tp := new(tracerProvider)
	f := gecaso.Cached(lru.New(nil, 100), slowSquare, gecaso.WithNearCache(10, time.Minute),
		gecaso.WithObserver(otelgecaso.New(otelgecaso.WithTracerProvider(tp), otelgecaso.WithSpanHits(true))))
	g := gecaso.Cached(lru.New(nil, 100), slowSquare,
		gecaso.WithObserver(otelgecaso.New(otelgecaso.WithTracerProvider(tp), otelgecaso.WithSpanHits(true))))
	ctx, _ := tp.Tracer("test").Start(context.Background(), "caller")
	f.Call(ctx, 0)
	f.Call(ctx, 0) // near hit
	g.Call(ctx, 0)
	g.Call(ctx, 0) // storage hit
	want := []string{
		"caller>gecaso.get", "caller>gecaso.run", "caller>gecaso.set", "caller>gecaso.near",
		"caller>gecaso.get", "caller>gecaso.run", "caller>gecaso.set", "caller>gecaso.get",
	}
	if diff := cmp.Diff(want, tp.ended()); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

// With noop providers, the Func gets no hooks: calls cost what they cost
// without an observer.
func TestObserver_noop(t *testing.T) {
	o := otelgecaso.New(otelgecaso.WithMeterProvider(mnoopProvider), otelgecaso.WithTracerProvider(tnoopProvider))
	h := o.Observe(gecaso.FuncInfo{Name: "f", Stats: func() gecaso.Stats { return gecaso.Stats{} }})
	if h.OnCall != nil || h.StartSpan != nil {
		t.Errorf("hooks with noop providers: OnCall set %t, StartSpan set %t; want neither", h.OnCall != nil, h.StartSpan != nil)
	}
}

// A Func that is garbage collected takes its metrics callback with it.
func TestObserver_unregistersCollectedFunc(t *testing.T) {
	mp := newMeterProvider()
	o := otelgecaso.New(otelgecaso.WithMeterProvider(mp))
	kept := gecaso.Cached(lru.New(nil, 10), slowSquare, gecaso.WithName("kept"), gecaso.WithObserver(o))
	func() {
		f := gecaso.Cached(lru.New(nil, 10), slowSquare, gecaso.WithName("dropped"), gecaso.WithObserver(o))
		f.Call(context.Background(), 0)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		mp.m.mu.Lock()
		n := mp.m.unregistered
		mp.m.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collected Func's callback is still registered after 10s of garbage collections")
		}
		runtime.Gosched()
	}
	for _, p := range mp.m.collect() {
		if name := p.Attrs["gecaso.function.name"]; name != "kept" {
			t.Fatalf("observed %s for function %q, want only kept", p.Name, name)
		}
	}
	runtime.KeepAlive(kept)
}

// Without the histogram and spans, the Func gets no hooks, and its counters
// are still reported.
func TestObserver_withoutCallDuration(t *testing.T) {
	mp := newMeterProvider()
	o := otelgecaso.New(otelgecaso.WithMeterProvider(mp), otelgecaso.WithTracerProvider(tnoopProvider),
		otelgecaso.WithCallDuration(false))
	f := gecaso.Cached(lru.New(nil, 10), slowSquare, gecaso.WithName("square"), gecaso.WithObserver(o))
	if h := o.Observe(gecaso.FuncInfo{Name: "other", Stats: f.Stats}); h.OnCall != nil || h.StartSpan != nil {
		t.Errorf("hooks: OnCall set %t, StartSpan set %t; want neither", h.OnCall != nil, h.StartSpan != nil)
	}
	f.Call(context.Background(), 0)
	f.Call(context.Background(), 0)
	runtime.GC() // the callback must not depend on hooks the Func does not hold
	runtime.GC()
	got := summary(mp.m.collect(), "gecaso.storage.type")
	for _, k := range []string{"gecaso.calls{gecaso.function.name=square,gecaso.outcome=hit}", "gecaso.calls{gecaso.function.name=square,gecaso.outcome=miss}"} {
		if got[k] != 1 {
			t.Errorf("%s = %v, want 1", k, got[k])
		}
	}
	if recs := mp.m.histogramRecords(); len(recs) != 0 {
		t.Errorf("histogram records %v, want none", recs)
	}
}
