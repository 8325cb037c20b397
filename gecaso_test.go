package gecaso_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/faulty"
	"github.com/gecaso/gecaso/storage"
	"github.com/google/go-cmp/cmp"
)

// counter is a memoizable function that counts its runs per argument.
type counter[A comparable, V any] struct {
	mu   sync.Mutex
	runs map[A]int
	fn   func(A) V
}

func newCounter[A comparable, V any](fn func(A) V) *counter[A, V] {
	return &counter[A, V]{runs: make(map[A]int), fn: fn}
}

func (c *counter[A, V]) call(_ context.Context, a A) (V, error) {
	c.mu.Lock()
	c.runs[a]++
	c.mu.Unlock()
	return c.fn(a), nil
}

func (c *counter[A, V]) count(a A) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[a]
}

func (c *counter[A, V]) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.runs {
		n += r
	}
	return n
}

// errs collects the errors a Func reports.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) handle(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, err)
}

func (e *errs) all() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.list...)
}

func square(n int) int { return n * n }

type point struct {
	X, Y int
	Tags map[string]int
}

func TestCall_servedFromStorage(t *testing.T) {
	ctx := context.Background()
	c := newCounter(square)
	f := gecaso.Cached(faulty.New(nil), c.call)
	for range 10 {
		for _, n := range []int{1, 2, 300, -7} {
			got, err := f.Call(ctx, n)
			if err != nil {
				t.Fatalf("Call(%d): %v", n, err)
			}
			if got != n*n {
				t.Fatalf("Call(%d) = %d, want %d", n, got, n*n)
			}
		}
	}
	if diff := cmp.Diff(map[int]int{1: 1, 2: 1, 300: 1, -7: 1}, c.runs); diff != "" {
		t.Errorf("runs per argument (-want +got):\n%s", diff)
	}
}

func TestCall_structArgumentsAndResults(t *testing.T) {
	ctx := context.Background()
	runs := 0
	f := gecaso.Cached(faulty.New(nil), func(_ context.Context, p point) (point, error) {
		runs++
		return point{X: p.Y, Y: p.X, Tags: map[string]int{"sum": p.X + p.Y}}, nil
	})
	give := point{X: 1, Y: 2, Tags: map[string]int{"a": 1, "b": 2, "c": 3}}
	want := point{X: 2, Y: 1, Tags: map[string]int{"sum": 3}}
	for range 3 {
		// A map built in another order is the same argument.
		arg := point{X: 1, Y: 2, Tags: map[string]int{"c": 3, "b": 2, "a": 1}}
		got, err := f.Call(ctx, arg)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Call (-want +got):\n%s", diff)
		}
	}
	if _, err := f.Call(ctx, give); err != nil {
		t.Fatal(err)
	}
	if runs != 1 {
		t.Errorf("fn ran %d times, want 1", runs)
	}
}

// TestSeedLocal is the seed's test_local: ten calls of a slow function with
// a TTL answer from the storage after the first.
func TestSeedLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCounter(func(d time.Duration) time.Duration {
			time.Sleep(d)
			return d
		})
		f := gecaso.Cached(faulty.New(nil), c.call, gecaso.WithTTL(5*time.Second))
		start := time.Now()
		for range 10 {
			got, err := f.Call(ctx, 2*time.Second)
			if err != nil || got != 2*time.Second {
				t.Fatalf("Call = %v, %v; want 2s", got, err)
			}
		}
		if c.total() != 1 {
			t.Errorf("fn ran %d times, want 1", c.total())
		}
		if elapsed := time.Since(start); elapsed != 2*time.Second {
			t.Errorf("ten calls took %v of fake time, want 2s", elapsed)
		}
	})
}

// TestSeedDogpile is the seed's test_dogpile: ten concurrent callers of one
// argument share one run.
func TestSeedDogpile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var runs atomic.Int32
		release := make(chan struct{})
		f := gecaso.Cached(faulty.New(nil), func(_ context.Context, n int) (int, error) {
			runs.Add(1)
			<-release
			return n, nil
		})
		var wg sync.WaitGroup
		results := make([]int, 10)
		for i := range results {
			wg.Go(func() {
				v, err := f.Call(ctx, 2)
				if err != nil {
					t.Error(err)
				}
				results[i] = v
			})
		}
		synctest.Wait() // all ten are waiting on the one run
		close(release)
		wg.Wait()
		if got := runs.Load(); got != 1 {
			t.Errorf("fn ran %d times, want 1", got)
		}
		want := []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}
		if diff := cmp.Diff(want, results); diff != "" {
			t.Errorf("results (-want +got):\n%s", diff)
		}
	})
}

func TestCall_cancelledCallerLeavesRunGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(nil)
		var runs atomic.Int32
		release := make(chan struct{})
		f := gecaso.Cached(s, func(_ context.Context, n int) (int, error) {
			runs.Add(1)
			<-release
			return n * 10, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		leaver := make(chan error, 1)
		go func() {
			_, err := f.Call(ctx, 1)
			leaver <- err
		}()
		stayer := make(chan int, 1)
		go func() {
			v, _ := f.Call(context.Background(), 1)
			stayer <- v
		}()
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case err := <-leaver:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled caller got %v, want context.Canceled", err)
			}
		default:
			t.Fatal("cancelled caller is still waiting")
		}
		close(release)
		if v := <-stayer; v != 10 {
			t.Errorf("other caller got %d, want 10", v)
		}
		synctest.Wait() // the result is stored
		v, err := f.Call(context.Background(), 1)
		if err != nil || v != 10 {
			t.Fatalf("Call after = %v, %v", v, err)
		}
		if got := runs.Load(); got != 1 {
			t.Errorf("fn ran %d times, want 1: the result was not stored", got)
		}
	})
}

func TestCall_alreadyCancelled(t *testing.T) {
	c := newCounter(square)
	f := gecaso.Cached(faulty.New(nil), c.call)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Call(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v, want context.Canceled", err)
	}
	if c.total() != 0 {
		t.Errorf("fn ran %d times with a cancelled context", c.total())
	}
}

func TestCall_panicReachesEveryCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var runs atomic.Int32
		f := gecaso.Cached(faulty.New(nil), func(_ context.Context, n int) (int, error) {
			runs.Add(1)
			<-release
			panic(fmt.Sprintf("boom %d", n))
		})
		got := make(chan any, 3)
		for range 3 {
			go func() {
				defer func() { got <- recover() }()
				_, _ = f.Call(context.Background(), 7)
			}()
		}
		synctest.Wait()
		close(release)
		for range 3 {
			r := <-got
			pe, ok := r.(*gecaso.PanicError)
			if !ok {
				t.Fatalf("caller recovered %T %v, want *gecaso.PanicError", r, r)
			}
			if pe.Value != "boom 7" || !strings.Contains(string(pe.Stack), "gecaso_test") {
				t.Errorf("PanicError = %v, stack %q", pe.Value, pe.Stack)
			}
		}
		if runs.Load() != 1 {
			t.Errorf("fn ran %d times, want 1", runs.Load())
		}
	})
}

func TestCall_goexitIsAnError(t *testing.T) {
	f := gecaso.Cached(faulty.New(nil), func(context.Context, int) (int, error) {
		runtime.Goexit()
		return 0, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := f.Call(ctx, 1); err == nil || !strings.Contains(err.Error(), "Goexit") {
		t.Fatalf("Call = %v, want an error naming Goexit", err)
	}
}

// With a context that cannot end, fn runs in the caller's goroutine: a
// Goexit in fn ends it, as a direct call of fn would.
func TestCall_goexitWithoutCancelEndsTheCaller(t *testing.T) {
	f := gecaso.Cached(faulty.New(nil), func(context.Context, int) (int, error) {
		runtime.Goexit()
		return 0, nil
	})
	returned := make(chan bool, 1)
	go func() {
		ok := false
		defer func() { returned <- ok }()
		f.Call(context.Background(), 1)
		ok = true
	}()
	if <-returned {
		t.Fatal("Call returned to the caller whose fn called Goexit")
	}
}

func TestCall_errorsNotCached(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	fail := true
	runs := 0
	f := gecaso.Cached(faulty.New(nil), func(_ context.Context, n int) (int, error) {
		runs++
		if fail {
			return 0, boom
		}
		return n, nil
	})
	if _, err := f.Call(ctx, 1); err != boom {
		t.Fatalf("Call = %v, want fn's error unwrapped", err)
	}
	fail = false
	if v, err := f.Call(ctx, 1); err != nil || v != 1 {
		t.Fatalf("Call after error = %v, %v; want 1", v, err)
	}
	if runs != 2 {
		t.Errorf("fn ran %d times, want 2: the error was cached", runs)
	}
}

func TestCall_failsOpen(t *testing.T) {
	down := errors.New("storage down")
	tests := []struct {
		name     string
		give     []faulty.Op
		wantRuns int
		wantOps  []string
	}{
		// One read per miss, so one report per failed read.
		{name: "get fails", give: []faulty.Op{faulty.Get}, wantRuns: 3, wantOps: []string{"get", "get", "get"}},
		{name: "set fails", give: []faulty.Op{faulty.Set}, wantRuns: 3, wantOps: []string{"set", "set", "set"}},
		{name: "everything fails", give: []faulty.Op{faulty.Get, faulty.Set, faulty.Remove}, wantRuns: 3,
			wantOps: []string{"get", "set", "get", "set", "get", "set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := faulty.New(nil)
				for _, op := range tt.give {
					s.Fail(op, down)
				}
				var e errs
				c := newCounter(square)
				f := gecaso.Cached(s, c.call, gecaso.WithErrorHandler(e.handle))
				for range 3 {
					v, err := f.Call(context.Background(), 4)
					if err != nil || v != 16 {
						t.Fatalf("Call = %v, %v; want 16, nil", v, err)
					}
					synctest.Wait() // the result has been stored, or the failure reported
				}
				if c.total() != tt.wantRuns {
					t.Errorf("fn ran %d times, want %d", c.total(), tt.wantRuns)
				}
				var ops []string
				for _, err := range e.all() {
					var se *gecaso.StorageError
					if !errors.As(err, &se) || !errors.Is(err, down) {
						t.Fatalf("reported %v, want a *StorageError wrapping the cause", err)
					}
					ops = append(ops, se.Op)
				}
				if diff := cmp.Diff(tt.wantOps, ops); diff != "" {
					t.Errorf("reported ops (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestCall_storagePanicsOnSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(nil)
		s.Panic(faulty.Set, "set exploded")
		var e errs
		f := gecaso.Cached(s, newCounter(square).call, gecaso.WithErrorHandler(e.handle))
		if v, err := f.Call(context.Background(), 3); err != nil || v != 9 {
			t.Fatalf("Call = %v, %v", v, err)
		}
		// The result is stored after it is published: wait for that.
		synctest.Wait()
		if r := e.all(); len(r) != 1 || !strings.Contains(r[0].Error(), "set exploded") {
			t.Errorf("reported %v, want the panic in Set", r)
		}
	})
}

func TestCall_corruptEntryIsMiss(t *testing.T) {
	valid, err := gecaso.Pack("a string, not an int", nil)
	if err != nil {
		t.Fatal(err)
	}
	good, err := gecaso.Pack(25, nil)
	if err != nil {
		t.Fatal(err)
	}
	future := append([]byte(nil), good...)
	future[1]++ // the format version; the checksum no longer matches either
	tests := []struct {
		name string
		give []byte
	}{
		{name: "empty", give: []byte{}},
		{name: "junk", give: []byte("definitely not an envelope")},
		{name: "truncated", give: good[:len(good)-3]},
		{name: "bit flipped", give: flip(good, len(good)/2)},
		{name: "future format", give: future},
		{name: "wrong type", give: valid},
		{name: "msgpack header claiming 4 GiB", give: []byte{0xc6, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				s := faulty.New(nil)
				var e errs
				c := newCounter(square)
				f := gecaso.Cached(s, c.call, gecaso.WithErrorHandler(e.handle))
				key, err := f.Key(5)
				if err != nil {
					t.Fatal(err)
				}
				s.Put(key, tt.give)
				if v, err := f.Call(ctx, 5); err != nil || v != 25 {
					t.Fatalf("Call = %v, %v; want 25", v, err)
				}
				synctest.Wait()
				if v, err := f.Call(ctx, 5); err != nil || v != 25 {
					t.Fatalf("second Call = %v, %v; want 25", v, err)
				}
				if c.total() != 1 {
					t.Errorf("fn ran %d times, want 1: the entry was not overwritten", c.total())
				}
				reported := e.all()
				if len(reported) == 0 || !errors.Is(reported[0], codec.ErrCorrupt) {
					t.Errorf("reported %v, want an error matching codec.ErrCorrupt", reported)
				}
			})
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x10
	return c
}

func TestCall_expiredEntryNeverReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := faulty.New(nil) // keeps entries forever: only the envelope knows the expiry
		c := newCounter(square)
		f := gecaso.Cached(s, c.call, gecaso.WithTTL(time.Minute))
		f.Call(ctx, 2)
		synctest.Wait()
		time.Sleep(time.Minute - time.Nanosecond)
		f.Call(ctx, 2)
		if c.total() != 1 {
			t.Fatalf("fn ran %d times before expiry, want 1", c.total())
		}
		time.Sleep(time.Nanosecond)
		f.Call(ctx, 2)
		if c.total() != 2 {
			t.Errorf("fn ran %d times after expiry, want 2", c.total())
		}
		for _, p := range s.Params() {
			if p.TTL != time.Minute {
				t.Errorf("Set got TTL %v, want 1m", p.TTL)
			}
		}
	})
}

// TestCall_noWindowAfterReturn: a call that starts while the result is being
// written joins the execution, and one that starts after a call returned is
// a hit (the bug of loaders that publish before storing).
func TestCall_noWindowAfterReturn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := faulty.New(nil)
		entered, release := s.Block(faulty.Set)
		c := newCounter(square)
		f := gecaso.Cached(s, c.call)
		results := make(chan int, 2)
		go func() { v, _ := f.Call(ctx, 9); results <- v }()
		<-entered // the result is being stored
		go func() { v, _ := f.Call(ctx, 9); results <- v }()
		synctest.Wait()
		release()
		if a, b := <-results, <-results; a != 81 || b != 81 {
			t.Fatalf("results %d, %d; want 81", a, b)
		}
		gets := s.Count(faulty.Get)
		if v, err := f.Call(ctx, 9); err != nil || v != 81 {
			t.Fatalf("Call after = %v, %v", v, err)
		}
		if c.total() != 1 || s.Count(faulty.Get) != gets+1 {
			t.Errorf("fn ran %d times (want 1), %d gets (want 1)", c.total(), s.Count(faulty.Get)-gets)
		}
	})
}

func TestCall_unencodableArgument(t *testing.T) {
	type node struct {
		Next *node
	}
	cycle := &node{}
	cycle.Next = cycle
	tests := []struct {
		name string
		give any
	}{
		{name: "func", give: func() {}},
		{name: "chan", give: make(chan int)},
		{name: "cycle", give: cycle},
		{name: "func in a map", give: map[string]any{"f": func() {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCounter(func(any) int { return 1 })
			f := gecaso.Cached(faulty.New(nil), func(ctx context.Context, a any) (int, error) {
				return c.call(ctx, 0)
			})
			if _, err := f.Call(context.Background(), tt.give); !errors.Is(err, codec.ErrUnsupported) {
				t.Errorf("Call = %v, want an error matching codec.ErrUnsupported", err)
			}
			if _, err := f.Key(tt.give); !errors.Is(err, codec.ErrUnsupported) {
				t.Errorf("Key = %v, want an error matching codec.ErrUnsupported", err)
			}
			if c.total() != 0 {
				t.Errorf("fn ran with an unencodable argument")
			}
		})
	}
}

func TestCached_panicsOnMistakes(t *testing.T) {
	fn := func(context.Context, int) (int, error) { return 0, nil }
	tests := []struct {
		name string
		give func()
		want string
	}{
		{name: "nil storage", give: func() { gecaso.Cached(nil, fn) }, want: "storage"},
		{name: "nil func", give: func() { gecaso.Cached[int, int](faulty.New(nil), nil) }, want: "function"},
		{name: "negative ttl", give: func() { gecaso.Cached(faulty.New(nil), fn, gecaso.WithTTL(-1)) }, want: "TTL"},
		{name: "empty name", give: func() { gecaso.Cached(faulty.New(nil), fn, gecaso.WithName("")) }, want: "name"},
		{name: "separator in name", give: func() { gecaso.Cached(faulty.New(nil), fn, gecaso.WithName("a:b")) }, want: "name"},
		{name: "separator in version", give: func() { gecaso.Cached(faulty.New(nil), fn, gecaso.WithVersion("1:2")) }, want: "version"},
		{name: "func argument", give: func() {
			gecaso.Cached(faulty.New(nil), func(context.Context, func()) (int, error) { return 0, nil })
		}, want: "argument"},
		{name: "chan result", give: func() {
			gecaso.Cached(faulty.New(nil), func(context.Context, int) (chan int, error) { return nil, nil })
		}, want: "result"},
		{name: "near cache without age", give: func() { gecaso.Cached(faulty.New(nil), fn, gecaso.WithNearCache(10, 0)) }, want: "near"},
		{name: "near cache too large", give: func() { gecaso.Cached(faulty.New(nil), fn, gecaso.WithNearCache(1<<31, time.Second)) }, want: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("panic %v, want a message naming %q", r, tt.want)
				}
			}()
			tt.give()
		})
	}
}

func TestKey(t *testing.T) {
	fn := func(context.Context, map[string]int) (int, error) { return 0, nil }
	f := gecaso.Cached(faulty.New(nil), fn, gecaso.WithName("lookup"), gecaso.WithVersion("v2"))
	a := map[string]int{}
	b := map[string]int{}
	for i := range 100 {
		a[fmt.Sprint(i)] = i
		b[fmt.Sprint(99-i)] = 99 - i
	}
	ka, err := f.Key(a)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := f.Key(b)
	if ka != kb {
		t.Errorf("equal maps give keys %q and %q", ka, kb)
	}
	if !strings.HasPrefix(ka, "lookup@v2:") || len(ka) != len("lookup@v2:")+43 {
		t.Errorf("key %q: want lookup@v2: and a 43-character digest", ka)
	}
	a["0"] = -1
	if kc, _ := f.Key(a); kc == ka {
		t.Errorf("different maps give the same key %q", kc)
	}

	readable := gecaso.Cached(faulty.New(nil), fn, gecaso.WithName("lookup"), gecaso.WithHashKey(false))
	kr, err := readable.Key(map[string]int{"b": 2, "a": 1})
	if err != nil {
		t.Fatal(err)
	}
	if kr != `lookup:{"a":1,"b":2}` {
		t.Errorf("readable key = %q", kr)
	}

	def := gecaso.Cached(faulty.New(nil), square2)
	if k, _ := def.Key(3); !strings.HasPrefix(k, "github.com/gecaso/gecaso_test.square2:") {
		t.Errorf("default namespace: key %q", k)
	}
}

func square2(_ context.Context, n int) (int, error) { return n * n, nil }

func TestForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := faulty.New(nil)
		c := newCounter(square)
		f := gecaso.Cached(s, c.call)
		f.Call(ctx, 3)
		synctest.Wait()
		if err := f.Forget(ctx, 3); err != nil {
			t.Fatal(err)
		}
		f.Call(ctx, 3)
		if c.count(3) != 2 {
			t.Errorf("fn ran %d times, want 2 after Forget", c.count(3))
		}
		s.Fail(faulty.Remove, errors.New("down"))
		if err := f.Forget(ctx, 3); err == nil || !strings.Contains(err.Error(), "down") {
			t.Errorf("Forget on a failing storage = %v", err)
		}
	})
}

func TestPurge_notSupported(t *testing.T) {
	f := gecaso.Cached(faulty.New(nil), square2)
	if err := f.Purge(context.Background()); !errors.Is(err, storage.ErrNotSupported) {
		t.Errorf("Purge = %v, want storage.ErrNotSupported", err)
	}
}

func TestWithParam(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := faulty.New(nil)
		opt := gecaso.WithParam("owner", "billing")
		f := gecaso.Cached(s, square2, opt, gecaso.WithParam("tier", 2))
		// The option keeps its own copy: reusing it elsewhere changes nothing.
		gecaso.Cached(s, square2, opt, gecaso.WithParam("tier", 3))
		f.Call(context.Background(), 2)
		synctest.Wait()
		want := map[string]any{"owner": "billing", "tier": 2}
		if diff := cmp.Diff(want, s.Params()[0].Extra); diff != "" {
			t.Errorf("Params.Extra (-want +got):\n%s", diff)
		}
		key, _ := f.Key(2)
		b, err := s.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		var v int
		params, err := gecaso.Unpack(b, &v)
		if err != nil || v != 4 {
			t.Fatalf("Unpack = %v, %v", v, err)
		}
		if diff := cmp.Diff(map[string]any{"owner": "billing", "tier": int8(2)}, params, numbersEqual); diff != "" {
			t.Errorf("params in the envelope (-want +got):\n%s", diff)
		}
	})
}

// numbersEqual compares integers of any width by value: msgpack does not
// keep the width.
var numbersEqual = cmp.FilterValues(func(a, b any) bool {
	_, ok1 := toInt(a)
	_, ok2 := toInt(b)
	return ok1 && ok2
}, cmp.Comparer(func(a, b any) bool {
	x, _ := toInt(a)
	y, _ := toInt(b)
	return x == y
}))

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return int64(n), true
	}
	return 0, false
}

func TestNearCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := faulty.New(nil)
		c := newCounter(square)
		f := gecaso.Cached(s, c.call, gecaso.WithNearCache(100, time.Second))
		f.Call(ctx, 4)
		synctest.Wait()
		gets := s.Count(faulty.Get)
		for range 5 {
			if v, _ := f.Call(ctx, 4); v != 16 {
				t.Fatalf("Call = %d", v)
			}
		}
		if s.Count(faulty.Get) != gets {
			t.Errorf("near hits read the storage %d times", s.Count(faulty.Get)-gets)
		}
		time.Sleep(time.Second) // past maxAge: back to the storage, still a hit
		f.Call(ctx, 4)
		if s.Count(faulty.Get) != gets+1 || c.total() != 1 {
			t.Errorf("after maxAge: %d gets, %d runs; want 1 get, 1 run", s.Count(faulty.Get)-gets, c.total())
		}
		if err := f.Forget(ctx, 4); err != nil {
			t.Fatal(err)
		}
		f.Call(ctx, 4)
		if c.total() != 2 {
			t.Errorf("after Forget fn ran %d times, want 2", c.total())
		}
	})
}

func TestNearCache_bounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := faulty.New(nil)
		f := gecaso.Cached(s, square2, gecaso.WithNearCache(32, time.Hour))
		for i := range 1000 {
			f.Call(ctx, i)
		}
		synctest.Wait()
		gets := s.Count(faulty.Get)
		for i := range 1000 {
			f.Call(ctx, i)
		}
		// At most 32 entries are kept: nearly all of these go to the
		// storage.
		if n := s.Count(faulty.Get) - gets; n < 1000-32 {
			t.Errorf("%d of 1000 calls read the storage; the near cache holds more than its bound", n)
		}
	})
}

// lockingStorage adds an in-process storage.Locker to a faulty storage, to
// test WithLock without a server.
type lockingStorage struct {
	*faulty.Storage
	mu    sync.Mutex
	locks map[string]bool
	tries atomic.Int32
}

func (l *lockingStorage) TryLock(_ context.Context, key string, _ time.Duration) (func(context.Context) error, bool, error) {
	l.tries.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks[key] {
		return nil, false, nil
	}
	l.locks[key] = true
	return func(context.Context) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.locks, key)
		return nil
	}, true, nil
}

func TestWithLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &lockingStorage{Storage: faulty.New(nil), locks: make(map[string]bool)}
		var runs atomic.Int32
		release := make(chan struct{})
		fn := func(_ context.Context, n int) (int, error) {
			runs.Add(1)
			<-release
			return n + 1, nil
		}
		// Two Funcs share no flight: they stand for two processes.
		p1 := gecaso.Cached(s, fn, gecaso.WithName("inc"), gecaso.WithLock(time.Minute))
		p2 := gecaso.Cached(s, fn, gecaso.WithName("inc"), gecaso.WithLock(time.Minute))
		out := make(chan int, 2)
		go func() { v, _ := p1.Call(context.Background(), 1); out <- v }()
		synctest.Wait()
		go func() { v, _ := p2.Call(context.Background(), 1); out <- v }()
		time.Sleep(time.Second) // p2 polls while p1 holds the lock
		synctest.Wait()
		close(release)
		if a, b := <-out, <-out; a != 2 || b != 2 {
			t.Fatalf("results %d and %d, want 2", a, b)
		}
		if runs.Load() != 1 {
			t.Errorf("fn ran %d times across two lockers, want 1", runs.Load())
		}
		if s.tries.Load() < 3 {
			t.Errorf("%d lock attempts: the second caller did not poll", s.tries.Load())
		}
	})
}

func TestWithLock_holderDies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &lockingStorage{Storage: faulty.New(nil), locks: map[string]bool{}}
		f := gecaso.Cached(s, square2, gecaso.WithLock(time.Second))
		key, _ := f.Key(5)
		s.locks[key] = true // held by a process that died and never unlocks
		start := time.Now()
		if v, err := f.Call(context.Background(), 5); err != nil || v != 25 {
			t.Fatalf("Call = %v, %v", v, err)
		}
		if waited := time.Since(start); waited < time.Second || waited > 3*time.Second {
			t.Errorf("waited %v for a dead holder, want between 1s and 3s", waited)
		}
	})
}

// noLocker is a wrapper that offers TryLock but whose inner storage cannot
// lock, as tiered over a storage without a Locker.
type noLocker struct{ *faulty.Storage }

func (noLocker) TryLock(context.Context, string, time.Duration) (func(context.Context) error, bool, error) {
	return nil, false, fmt.Errorf("inner: %w", storage.ErrNotSupported)
}

func TestWithLock_notSupportedIsSilent(t *testing.T) {
	var e errs
	c := newCounter(square)
	f := gecaso.Cached(noLocker{faulty.New(nil)}, c.call, gecaso.WithLock(time.Second), gecaso.WithErrorHandler(e.handle))
	for range 3 {
		if v, err := f.Call(context.Background(), 3); err != nil || v != 9 {
			t.Fatalf("Call = %v, %v", v, err)
		}
	}
	if c.total() != 1 || len(e.all()) != 0 {
		t.Errorf("fn ran %d times (want 1), reported %v (want nothing)", c.total(), e.all())
	}
}
