package lru

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
	"github.com/gecaso/gecaso/storage/storagetest"
	"github.com/google/go-cmp/cmp"
)

// TestConformance runs the suite over an lru that keeps its values itself
// (a nil inner storage) and over one that keeps them in a memory storage.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage { return New(nil, 1000) })
}

func TestConformanceMemoryInner(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return New(memory.New(), 1000, WithCloseInner())
	})
}

func TestConformanceBytesBound(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return New(nil, 0, WithMaxBytes(64<<20))
	})
}

// TestConformanceBareInner runs the suite over an inner storage with no
// optional interface: the lru answers ErrNotSupported for each but View,
// which it serves with Get, and the suite skips them.
func TestConformanceBareInner(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return New(bare{memory.New()}, 1000, WithCloseInner())
	})
}

// bare hides every optional interface of its storage but Close.
type bare struct{ m *memory.Storage }

func (b bare) Get(ctx context.Context, k string) ([]byte, error) { return b.m.Get(ctx, k) }
func (b bare) Set(ctx context.Context, k string, v []byte, p storage.Params) error {
	return b.m.Set(ctx, k, v, p)
}
func (b bare) Remove(ctx context.Context, keys ...string) error { return b.m.Remove(ctx, keys...) }
func (b bare) Close() error                                     { return b.m.Close() }

func TestOptionalInterfacesNotSupported(t *testing.T) {
	s := New(bare{memory.New()}, 10, WithCloseInner())
	defer s.Close()
	ctx := t.Context()
	_, _, lockErr := s.TryLock(ctx, "k", time.Second)
	_, subErr := s.Subscribe(func(storage.Invalidation) {})
	errs := map[string]error{
		"Scan":         s.Scan(ctx, "", func(storage.KeyInfo) error { return nil }),
		"DeletePrefix": s.DeletePrefix(ctx, ""),
		"TryLock":      lockErr,
		"Subscribe":    subErr,
	}
	for name, err := range errs {
		if !errors.Is(err, storage.ErrNotSupported) {
			t.Errorf("%s over a storage without it: %v, want storage.ErrNotSupported", name, err)
		}
	}
}

// set and get are shorthands that fail the test on an unexpected error.
func set(t *testing.T, s storage.Storage, key string, value string) {
	t.Helper()
	if err := s.Set(t.Context(), key, []byte(value), storage.Params{}); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func has(t *testing.T, s storage.Storage, key string) bool {
	t.Helper()
	_, err := s.Get(t.Context(), key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return err == nil
}

// TestRecentlyUsedSurvives is the seed's test: with room for four, an
// entry used before each of six inserts survives them, and one not used
// is evicted, from the inner storage too.
func TestRecentlyUsedSurvives(t *testing.T) {
	inner := memory.New()
	defer inner.Close()
	s := New(inner, 4)
	for _, k := range []string{"a", "b", "c", "d"} {
		set(t, s, k, k)
	}
	for i := range 6 {
		if !has(t, s, "a") {
			t.Fatalf("a was evicted after %d inserts although used before each", i)
		}
		set(t, s, fmt.Sprintf("new%d", i), "v")
	}
	if !has(t, s, "a") {
		t.Error("a was evicted although used before each insert")
	}
	if has(t, s, "b") || has(t, inner, "b") {
		t.Error("b, never used, is still there after six inserts")
	}
	if got := inner.Len(); got != 4 {
		t.Errorf("inner holds %d entries, want 4", got)
	}
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name string
		give []string // "set k", "get k", "view k", "remove k"
		want []string // the keys left, most recent first
	}{
		{name: "sets", give: []string{"set a", "set b", "set c", "set d"}, want: []string{"d", "c", "b"}},
		{name: "get refreshes", give: []string{"set a", "set b", "set c", "get a", "set d"}, want: []string{"d", "a", "c"}},
		{name: "view refreshes", give: []string{"set a", "set b", "set c", "view a", "set d"}, want: []string{"d", "a", "c"}},
		{name: "set again refreshes", give: []string{"set a", "set b", "set c", "set a", "set d"}, want: []string{"d", "a", "c"}},
		{name: "miss changes nothing", give: []string{"set a", "set b", "set c", "get z", "set d"}, want: []string{"d", "c", "b"}},
		{name: "remove frees room", give: []string{"set a", "set b", "set c", "remove b", "set d"}, want: []string{"d", "c", "a"}},
		{name: "get of the newest", give: []string{"set a", "set b", "get b", "set c", "set d"}, want: []string{"d", "c", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := memory.New()
			defer inner.Close()
			s := New(inner, 3)
			for _, step := range tt.give {
				do(t, s, step)
			}
			if diff := cmp.Diff(tt.want, s.idx.keys()); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if got := inner.Len(); got != len(tt.want) {
				t.Errorf("inner holds %d entries, want %d", got, len(tt.want))
			}
			for _, k := range tt.want {
				if !has(t, inner, k) {
					t.Errorf("inner lacks %q", k)
				}
			}
		})
	}
}

// do applies a step such as "get k" to s.
func do(t *testing.T, s *Storage, step string) {
	t.Helper()
	var verb, key string
	fmt.Sscan(step, &verb, &key)
	ctx := t.Context()
	var err error
	switch verb {
	case "set":
		err = s.Set(ctx, key, []byte(key), storage.Params{})
	case "get":
		_, err = s.Get(ctx, key)
	case "view":
		err = s.View(ctx, key, func([]byte) error { return nil })
	case "remove":
		err = s.Remove(ctx, key)
	default:
		t.Fatalf("bad step %q", step)
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("%s: %v", step, err)
	}
}

func TestOrderAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 20 {
		inner := memory.New()
		max := 1 + r.IntN(8)
		s := New(inner, max)
		var m []string // most recent first
		front := func(k string) {
			m = slices.DeleteFunc(m, func(x string) bool { return x == k })
			m = slices.Insert(m, 0, k)
		}
		for step := range 300 {
			key := fmt.Sprintf("k%d", r.IntN(12))
			verb := []string{"set", "set", "get", "view", "remove"}[r.IntN(5)]
			do(t, s, verb+" "+key)
			switch {
			case verb == "set":
				front(key)
				if len(m) > max {
					m = m[:max]
				}
			case verb == "remove":
				m = slices.DeleteFunc(m, func(x string) bool { return x == key })
			case slices.Contains(m, key):
				front(key)
			}
			want := slices.Clone(m)
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, s.idx.keys()); diff != "" {
				t.Fatalf("round %d step %d (%s %s): order (-want +got):\n%s", round, step, verb, key, diff)
			}
			if got := inner.Len(); got != len(m) {
				t.Fatalf("round %d step %d: inner holds %d entries, want %d", round, step, got, len(m))
			}
		}
		inner.Close()
	}
}

func TestBytesBound(t *testing.T) {
	inner := memory.New()
	defer inner.Close()
	s := New(inner, 100, WithMaxBytes(100))
	ctx := t.Context()
	set(t, s, "a", string(make([]byte, 39))) // 40 with the key
	set(t, s, "b", string(make([]byte, 39)))
	if got := s.Bytes(); got != 80 {
		t.Errorf("Bytes = %d, want 80", got)
	}
	set(t, s, "c", string(make([]byte, 39))) // 120: a goes
	if diff := cmp.Diff([]string{"c", "b"}, s.idx.keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	set(t, s, "b", "") // b shrinks to 1
	set(t, s, "d", string(make([]byte, 50)))
	if diff := cmp.Diff([]string{"d", "b", "c"}, s.idx.keys()); diff != "" {
		t.Errorf("keys after b shrank (-want +got):\n%s", diff)
	}
	if got := s.Bytes(); got != 92 {
		t.Errorf("Bytes = %d, want 92", got)
	}

	// A value over the bound is refused, and the old value goes.
	err := s.Set(ctx, "d", make([]byte, 100), storage.Params{})
	if err == nil {
		t.Fatal("Set of a value over the byte bound succeeded")
	}
	if has(t, s, "d") || has(t, inner, "d") {
		t.Error("the old value of d stayed after a refused Set")
	}
	if got, want := s.Stats().Evictions, uint64(1); got != want {
		t.Errorf("Evictions = %d, want %d", got, want)
	}
}

// fillInner sets n keys k0..k(n-1) in m, in that order, so that their Seq
// increases with i.
func fillInner(t *testing.T, m storage.Storage, n int) {
	t.Helper()
	for i := range n {
		set(t, m, fmt.Sprintf("k%d", i), "v")
	}
}

func TestRebuildEvictsTheOldest(t *testing.T) {
	inner := memory.New()
	defer inner.Close()
	fillInner(t, inner, 10)
	set(t, inner, "k2", "again") // now the newest
	var evicted []string
	s := New(inner, 4, WithOnEvict(func(k string) { evicted = append(evicted, k) }))
	if diff := cmp.Diff([]string{"k2", "k9", "k8", "k7"}, s.idx.keys()); diff != "" {
		t.Errorf("order after New (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"k0", "k1", "k3", "k4", "k5", "k6"}, evicted); diff != "" {
		t.Errorf("evicted (-want +got):\n%s", diff)
	}
	if got := inner.Len(); got != 4 {
		t.Errorf("inner holds %d entries after New, want 4", got)
	}
	if got := s.Stats().Evictions; got != 6 {
		t.Errorf("Evictions = %d, want 6", got)
	}
}

func TestRebuildWithPrefix(t *testing.T) {
	inner := memory.New()
	defer inner.Close()
	fillInner(t, inner, 5)
	set(t, inner, "other/1", "v")
	set(t, inner, "other/2", "v")
	s := New(inner, 2, WithPrefix("k"))
	if diff := cmp.Diff([]string{"k4", "k3"}, s.idx.keys()); diff != "" {
		t.Errorf("order after New (-want +got):\n%s", diff)
	}
	// Keys outside the prefix pass through, uncounted and never evicted.
	for i := range 5 {
		set(t, s, fmt.Sprintf("other/x%d", i), "v")
	}
	if got := inner.Len(); got != 2+2+5 {
		t.Errorf("inner holds %d entries, want 9", got)
	}
	if got := s.Len(); got != 2 {
		t.Errorf("Len = %d, want 2", got)
	}
}

// scanner is an inner storage whose Scan reports fixed KeyInfos, then
// fails with err if it is set.
type scanner struct {
	*memory.Storage
	infos []storage.KeyInfo
	err   error
}

func (s *scanner) Scan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	for _, ki := range s.infos {
		if err := fn(ki); err != nil {
			return err
		}
	}
	return s.err
}

func TestRebuildOrderWithoutSeq(t *testing.T) {
	inner := &scanner{Storage: memory.New(), infos: []storage.KeyInfo{
		{Key: "s5", Seq: 5}, {Key: "z1"}, {Key: "s3", Seq: 3}, {Key: "z2"}, {Key: "t3", Seq: 3}, {Key: "z3"}, {Key: "s5", Seq: 5},
	}}
	defer inner.Close()
	s := New(inner, 100)
	// Seq 0 counts as oldest, in scan order; equal Seq keep scan order;
	// the duplicate s5 is indexed once.
	want := []string{"s5", "t3", "s3", "z3", "z2", "z1"}
	if diff := cmp.Diff(want, s.idx.keys()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestRebuildScanError(t *testing.T) {
	errScan := errors.New("connection reset")
	inner := &scanner{Storage: memory.New(), err: errScan, infos: []storage.KeyInfo{{Key: "a", Seq: 1}, {Key: "b", Seq: 2}}}
	defer inner.Close()
	var got []error
	s := New(inner, 100, WithErrorHandler(func(err error) { got = append(got, err) }))
	if len(got) != 1 || !errors.Is(got[0], errScan) {
		t.Fatalf("errors reported = %v, want one wrapping %v", got, errScan)
	}
	if diff := cmp.Diff([]string{"b", "a"}, s.idx.keys()); diff != "" {
		t.Errorf("the index does not start from the keys read (-want +got):\n%s", diff)
	}
}

// faulty is an inner storage whose methods fail with the error set for
// them.
type faulty struct {
	*memory.Storage
	mu                    sync.Mutex // guards the errors
	getErr, setErr, rmErr error
}

func (f *faulty) fail(get, set, rm error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getErr, f.setErr, f.rmErr = get, set, rm
}

func (f *faulty) Get(ctx context.Context, k string) ([]byte, error) {
	f.mu.Lock()
	err := f.getErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Storage.Get(ctx, k)
}

func (f *faulty) Set(ctx context.Context, k string, v []byte, p storage.Params) error {
	f.mu.Lock()
	err := f.setErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Storage.Set(ctx, k, v, p)
}

func (f *faulty) Remove(ctx context.Context, keys ...string) error {
	f.mu.Lock()
	err := f.rmErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Storage.Remove(ctx, keys...)
}

func TestInnerErrors(t *testing.T) {
	errDown := errors.New("down")
	inner := &faulty{Storage: memory.New()}
	defer inner.Close()
	var reported []error
	s := New(inner, 2, WithErrorHandler(func(err error) { reported = append(reported, err) }))
	ctx := t.Context()
	set(t, s, "a", "1")

	inner.fail(errDown, errDown, errDown)
	_, getErr := s.Get(ctx, "a")
	tests := []struct {
		give error
		want string
	}{
		{give: getErr, want: `gecaso/lru: get "a": down`},
		{give: s.Set(ctx, "b", []byte("2"), storage.Params{}), want: `gecaso/lru: set "b": down`},
		{give: s.Remove(ctx, "a"), want: `gecaso/lru: remove 1 keys: down`},
	}
	for _, tt := range tests {
		if !errors.Is(tt.give, errDown) {
			t.Errorf("error %v does not wrap the inner error", tt.give)
		}
		if tt.give == nil || tt.give.Error() != tt.want {
			t.Errorf("error %v, want %q", tt.give, tt.want)
		}
	}
	if diff := cmp.Diff([]string{"a"}, s.idx.keys()); diff != "" {
		t.Errorf("failed calls changed the index (-want +got):\n%s", diff)
	}

	// A failed eviction is reported, and retried by the next one.
	inner.fail(nil, nil, errDown)
	set(t, s, "b", "2")
	set(t, s, "c", "3") // evicts a, whose removal fails
	if len(reported) != 1 || !errors.Is(reported[0], errDown) {
		t.Fatalf("reported %v, want one error wrapping %v", reported, errDown)
	}
	if diff := cmp.Diff([]string{"c", "b", "a"}, s.idx.keys()); diff != "" {
		t.Errorf("a victim whose removal failed is not back as the oldest (-want +got):\n%s", diff)
	}
	inner.fail(nil, nil, nil)
	set(t, s, "d", "4")
	if diff := cmp.Diff([]string{"d", "c"}, s.idx.keys()); diff != "" {
		t.Errorf("order after the retry (-want +got):\n%s", diff)
	}
	if got := inner.Len(); got != 2 {
		t.Errorf("inner holds %d entries after the retry, want 2", got)
	}
}

func TestKeysWrittenBehindItsBack(t *testing.T) {
	inner := memory.New()
	defer inner.Close()
	s := New(inner, 3)
	set(t, s, "a", "1")
	set(t, inner, "x", "from elsewhere")
	v, err := s.Get(t.Context(), "x")
	if err != nil || string(v) != "from elsewhere" {
		t.Fatalf("Get of a key written to inner = %q, %v", v, err)
	}
	if diff := cmp.Diff([]string{"x", "a"}, s.idx.keys()); diff != "" {
		t.Errorf("a hit on an unknown key did not index it (-want +got):\n%s", diff)
	}
	// Removed behind its back: the miss drops it from the index.
	if err := inner.Remove(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if has(t, s, "a") {
		t.Fatal("Get found a removed key")
	}
	if diff := cmp.Diff([]string{"x"}, s.idx.keys()); diff != "" {
		t.Errorf("a miss did not drop the key (-want +got):\n%s", diff)
	}
}

func TestExpiredKeysLeaveTheIndexOnMiss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(nil, 10)
		defer s.Close()
		ctx := t.Context()
		if err := s.Set(ctx, "k", []byte("v"), storage.Params{TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if _, err := s.Get(ctx, "k"); err != storage.ErrNotFound {
			t.Fatalf("Get after expiry: %v, want the bare storage.ErrNotFound", err)
		}
		if got := s.Len(); got != 0 {
			t.Errorf("Len after an expired miss = %d, want 0", got)
		}
	})
}

func TestStats(t *testing.T) {
	s := New(nil, 2)
	defer s.Close()
	ctx := t.Context()
	set(t, s, "a", "1")
	set(t, s, "b", "2")
	has(t, s, "a")
	has(t, s, "a")
	has(t, s, "z")
	_ = s.View(ctx, "b", func([]byte) error { return nil })
	_ = s.View(ctx, "y", func([]byte) error { return nil })
	set(t, s, "c", "3")
	set(t, s, "d", "4")
	want := Stats{Hits: 3, Misses: 2, Evictions: 2}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestViewReturnsFnError(t *testing.T) {
	s := New(nil, 2)
	defer s.Close()
	set(t, s, "a", "1")
	errFn := errors.New("fn")
	if err := s.View(t.Context(), "a", func([]byte) error { return errFn }); err != errFn {
		t.Errorf("View = %v, want fn's error unwrapped", err)
	}
	if got := s.Stats().Hits; got != 1 {
		t.Errorf("Hits = %d, want 1: fn's error is still a hit", got)
	}
}

func TestOnEvictRunsUnlocked(t *testing.T) {
	var s *Storage
	var lens []int
	s = New(nil, 1, WithOnEvict(func(string) { lens = append(lens, s.Len()) })) // would deadlock under the lock
	defer s.Close()
	set(t, s, "a", "1")
	set(t, s, "b", "2")
	if diff := cmp.Diff([]int{1}, lens); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCloseInner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		// Created by New (for the keys outside the prefix): closed by
		// Close, its sweeper stopped (synctest fails the test if a
		// goroutine is left).
		s := New(nil, 2, WithPrefix("p/"))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := s.inner.Get(ctx, "k"); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("the inner storage New made is open after Close: %v", err)
		}

		// Given: left open, unless WithCloseInner.
		given := memory.New()
		defer given.Close()
		s = New(given, 2)
		_ = s.Close()
		if err := given.Set(ctx, "k", nil, storage.Params{}); err != nil {
			t.Errorf("Close closed a given inner storage: %v", err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("Get after Close: %v, want storage.ErrClosed", err)
		}
		given2 := memory.New()
		_ = New(given2, 2, WithCloseInner()).Close()
		if err := given2.Set(ctx, "k", nil, storage.Params{}); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("WithCloseInner left the inner storage open: %v", err)
		}
	})
}

// TestConcurrentOwned mixes every operation of an lru that keeps its values
// itself from many goroutines, then checks the bound and the index.
func TestConcurrentOwned(t *testing.T) {
	const max = 8
	s := New(nil, max, WithMaxBytes(100))
	defer s.Close()
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 10))
			for range 3000 {
				key := fmt.Sprintf("k%d", r.IntN(32))
				switch r.IntN(8) {
				case 0, 1:
					_ = s.Set(ctx, key, []byte(key), storage.Params{TTL: time.Duration(r.IntN(2)) * time.Millisecond})
				case 2:
					_ = s.Remove(ctx, key)
				case 3:
					_ = s.View(ctx, key, func(v []byte) error {
						if string(v) != key {
							t.Errorf("View(%q) lent %q", key, v)
						}
						return nil
					})
				case 4:
					_ = s.Scan(ctx, "k1", func(ki storage.KeyInfo) error { return nil })
				case 5:
					if r.IntN(20) == 0 {
						_ = s.DeletePrefix(ctx, "k2")
					}
				default:
					if v, err := s.Get(ctx, key); err == nil && string(v) != key {
						t.Errorf("Get(%q) = %q", key, v)
					}
				}
			}
		})
	}
	wg.Wait()
	if got := s.Len(); got > max {
		t.Errorf("Len = %d, want at most %d", got, max)
	}
	if got := s.Bytes(); got > 100 {
		t.Errorf("Bytes = %d, want at most 100", got)
	}
	s.mu.Lock()
	checkInvariants(t, &s.idx)
	s.mu.Unlock()
}

func TestConcurrentBound(t *testing.T) {
	inner := memory.New()
	defer inner.Close()
	const max = 8
	s := New(inner, max)
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 3000 {
				key := fmt.Sprintf("k%d", r.IntN(32))
				switch r.IntN(6) {
				case 0, 1:
					_ = s.Set(ctx, key, []byte(key), storage.Params{})
				case 2:
					_ = s.Remove(ctx, key)
				case 3:
					_ = s.View(ctx, key, func([]byte) error { return nil })
				case 4:
					_ = inner.Set(ctx, key, []byte(key), storage.Params{}) // behind its back
				default:
					if v, err := s.Get(ctx, key); err == nil && string(v) != key {
						t.Errorf("Get(%q) = %q", key, v)
					}
				}
			}
		})
	}
	wg.Wait()
	// Writes behind its back are indexed only when read: read every key
	// once, then the bound must hold in the inner storage too.
	for i := range 32 {
		_, _ = s.Get(ctx, fmt.Sprintf("k%d", i))
	}
	if got := s.Len(); got > max {
		t.Errorf("Len = %d, want at most %d", got, max)
	}
	if got := inner.Len(); got > max {
		t.Errorf("inner holds %d entries, want at most %d", got, max)
	}
	checkInvariants(t, &s.idx)
}

func TestNewPanics(t *testing.T) {
	tests := []struct {
		name string
		give func()
		want string
	}{
		{"negative entries", func() { New(nil, -1) }, "gecaso/lru: negative maxEntries -1"},
		{"no bound", func() { New(nil, 0) }, "gecaso/lru: no bound: give maxEntries > 0 or WithMaxBytes(n > 0)"},
		{"negative bytes", func() { New(nil, 1, WithMaxBytes(-1)) }, "gecaso/lru: negative WithMaxBytes(-1)"},
		{"nil handler", func() { New(nil, 1, WithErrorHandler(nil)) }, "gecaso/lru: WithErrorHandler(nil)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if diff := cmp.Diff(tt.want, recover()); diff != "" {
					t.Errorf("panic (-want +got):\n%s", diff)
				}
			}()
			tt.give()
		})
	}
}

// gate is an inner storage whose Get of a key, after reading it, waits
// until the test lets it return.
type gate struct {
	*memory.Storage
	key      string
	reached  chan struct{} // closed when Get of key has read
	released chan struct{} // closed by the test to let that Get return
}

func (g *gate) Get(ctx context.Context, k string) ([]byte, error) {
	v, err := g.Storage.Get(ctx, k)
	if k == g.key {
		close(g.reached)
		<-g.released
	}
	return v, err
}

// TestMissRacingSet: a Get misses, a Set of the same key completes before
// the miss is recorded; the key must stay indexed, or the inner storage
// would hold a key the bound does not count.
func TestMissRacingSet(t *testing.T) {
	inner := &gate{Storage: memory.New(), key: "k", reached: make(chan struct{}), released: make(chan struct{})}
	defer inner.Close()
	s := New(inner, 10)
	ctx := t.Context()
	missed := make(chan error, 1)
	go func() {
		_, err := s.Get(ctx, "k")
		missed <- err
	}()
	<-inner.reached
	set(t, s, "k", "v")
	close(inner.released)
	if err := <-missed; err != storage.ErrNotFound {
		t.Fatalf("Get = %v, want storage.ErrNotFound", err)
	}
	if diff := cmp.Diff([]string{"k"}, s.idx.keys()); diff != "" {
		t.Errorf("index after a miss raced a Set (-want +got):\n%s", diff)
	}
}
