package lru

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
	"github.com/gecaso/gecaso/storage/memory"
	"github.com/gecaso/gecaso/storage/redis"
	"github.com/gecaso/gecaso/storage/storagetest"
)

// TestStatsCountEachCallOnce runs one sequence of calls over every kind of
// inner storage: each Get and View counts once, as a hit or a miss,
// whatever path it takes through the lru.
func TestStatsCountEachCallOnce(t *testing.T) {
	tests := []struct {
		name  string
		inner func(t *testing.T) storage.Storage // nil: the lru keeps the values
	}{
		{name: "own values"},
		{name: "memory", inner: func(t *testing.T) storage.Storage { return memory.New() }},
		{name: "without View", inner: func(t *testing.T) storage.Storage { return bare{memory.New()} }},
		{name: "badger", inner: func(t *testing.T) storage.Storage {
			b, err := badger.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inner storage.Storage
			if tt.inner != nil {
				inner = tt.inner(t)
			}
			s := New(inner, 100, WithCloseInner())
			defer s.Close()
			ctx := t.Context()
			view := func(key string) {
				_ = s.View(ctx, key, func([]byte) error { return nil })
			}
			set(t, s, "a", "1")
			for _, key := range []string{"a", "z", "a", "y"} { // 2 hits, 2 misses
				has(t, s, key)
			}
			for _, key := range []string{"a", "z", "x"} { // 1 hit, 2 misses
				view(key)
			}
			for i := range 10 { // 10 distinct misses, each read once by Get and once by View
				key := fmt.Sprint("miss", i)
				has(t, s, key)
				view(key)
			}
			want := Stats{Hits: 3, Misses: 24}
			if diff := cmp.Diff(want, s.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestViewWithoutInnerViewer(t *testing.T) {
	s := New(bare{memory.New()}, 10, WithCloseInner())
	defer s.Close()
	set(t, s, "a", "value")
	var got string
	if err := s.View(t.Context(), "a", func(v []byte) error { got = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	if got != "value" {
		t.Errorf("View lent %q, want %q", got, "value")
	}
	called := false
	if err := s.View(t.Context(), "absent", func([]byte) error { called = true; return nil }); err != storage.ErrNotFound || called {
		t.Errorf("View of an absent key: %v, fn called %v; want the bare storage.ErrNotFound, fn not called", err, called)
	}
}

// nonblocking is a memory storage that says whether its reads block.
type nonblocking struct {
	*memory.Storage
	says bool
}

func (n nonblocking) Nonblocking() bool { return n.says }

func TestNonblocking(t *testing.T) {
	tests := []struct {
		name  string
		inner storage.Storage
		want  bool
	}{
		{name: "own values", inner: nil, want: true},
		{name: "a nonblocking inner", inner: nonblocking{memory.New(), true}, want: true},
		{name: "a blocking inner", inner: nonblocking{memory.New(), false}, want: false},
		{name: "an inner that cannot tell", inner: bare{memory.New()}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.inner, 10, WithCloseInner())
			defer s.Close()
			if got := s.Nonblocking(); got != tt.want {
				t.Errorf("Nonblocking = %v, want %v", got, tt.want)
			}
		})
	}
}

// announcer is an inner storage shared with other processes that tells of
// removals, as Redis does: its own Remove and DeletePrefix queue their
// invalidations, delivered when the test says, as are removals the test
// plays for another process.
type announcer struct {
	*memory.Storage
	mu      sync.Mutex // guards fns and queue
	fns     map[int]func(storage.Invalidation)
	next    int
	queue   []storage.Invalidation
	refused error // returned by Subscribe when set
}

func newAnnouncer() *announcer { return &announcer{Storage: memory.New()} }

func (a *announcer) Subscribe(fn func(storage.Invalidation)) (func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refused != nil {
		return nil, a.refused
	}
	if a.fns == nil {
		a.fns = map[int]func(storage.Invalidation){}
	}
	id := a.next
	a.next++
	a.fns[id] = fn
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.fns, id)
	}, nil
}

func (a *announcer) subscribers() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.fns)
}

func (a *announcer) announce(inv storage.Invalidation) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queue = append(a.queue, inv)
}

func (a *announcer) Remove(ctx context.Context, keys ...string) error {
	err := a.Storage.Remove(ctx, keys...)
	a.announce(storage.Invalidation{Keys: slices.Clone(keys)})
	return err
}

func (a *announcer) DeletePrefix(ctx context.Context, prefix string) error {
	err := a.Storage.DeletePrefix(ctx, prefix)
	a.announce(storage.Invalidation{Prefixes: []string{prefix}})
	return err
}

// removeElsewhere removes keys as another process would: behind the lru's
// back, announced.
func (a *announcer) removeElsewhere(t *testing.T, keys ...string) {
	t.Helper()
	if err := a.Remove(t.Context(), keys...); err != nil {
		t.Fatal(err)
	}
}

// deliver hands every queued invalidation to every subscriber.
func (a *announcer) deliver() {
	a.mu.Lock()
	queue, fns := a.queue, make([]func(storage.Invalidation), 0, len(a.fns))
	a.queue = nil
	for _, fn := range a.fns {
		fns = append(fns, fn)
	}
	a.mu.Unlock()
	for _, inv := range queue {
		for _, fn := range fns {
			fn(inv)
		}
	}
}

func TestInvalidationsLeaveTheIndex(t *testing.T) {
	inner := newAnnouncer()
	defer inner.Close()
	s := New(inner, 10)
	defer s.Close()
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c", "p:1", "p:2", "q"} {
		set(t, s, k, k)
	}

	// Removed by other processes: out of the index, room in the bound.
	inner.removeElsewhere(t, "a")
	if err := inner.Storage.DeletePrefix(ctx, "p:"); err != nil {
		t.Fatal(err)
	}
	inner.announce(storage.Invalidation{Prefixes: []string{"p:"}})
	inner.deliver()
	if diff := cmp.Diff([]string{"q", "c", "b"}, s.idx.keys()); diff != "" {
		t.Errorf("index after other processes' removals (-want +got):\n%s", diff)
	}

	// The lru's own removal comes back after the key was set again: the
	// key stays counted.
	if err := s.Remove(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	set(t, s, "b", "again")
	if err := s.DeletePrefix(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	set(t, s, "q", "again")
	inner.deliver()
	if diff := cmp.Diff([]string{"q", "b", "c"}, s.idx.keys()); diff != "" {
		t.Errorf("index after the lru's own removals came back (-want +got):\n%s", diff)
	}

	// Invalidations may have been lost: the index keeps what it knows.
	inner.announce(storage.Invalidation{Prefixes: []string{""}})
	inner.deliver()
	if diff := cmp.Diff([]string{"q", "b", "c"}, s.idx.keys()); diff != "" {
		t.Errorf("index after an invalidation of everything (-want +got):\n%s", diff)
	}
}

// TestEvictionEchoKeepsAReSetKey: a key evicted, set again, then its
// eviction's invalidation arrives: it must stay counted.
func TestEvictionEchoKeepsAReSetKey(t *testing.T) {
	inner := newAnnouncer()
	defer inner.Close()
	s := New(inner, 2)
	defer s.Close()
	set(t, s, "a", "1")
	set(t, s, "b", "2")
	set(t, s, "c", "3") // evicts a
	set(t, s, "a", "1") // evicts b
	inner.deliver()
	if diff := cmp.Diff([]string{"a", "c"}, s.idx.keys()); diff != "" {
		t.Errorf("index after evictions came back (-want +got):\n%s", diff)
	}
	if got := inner.Len(); got != 2 {
		t.Errorf("inner holds %d keys, want 2", got)
	}
}

func TestSubscribeForwards(t *testing.T) {
	inner := newAnnouncer()
	defer inner.Close()
	s := New(inner, 10)
	var heard []storage.Invalidation
	cancel, err := s.Subscribe(func(inv storage.Invalidation) { heard = append(heard, inv) })
	if err != nil {
		t.Fatal(err)
	}
	inner.removeElsewhere(t, "k")
	inner.deliver()
	if diff := cmp.Diff([]storage.Invalidation{{Keys: []string{"k"}}}, heard); diff != "" {
		t.Errorf("heard (-want +got):\n%s", diff)
	}
	cancel()
	cancel()
	if _, err := s.Subscribe(func(storage.Invalidation) {}); err != nil {
		t.Fatal(err)
	}
	if n := inner.subscribers(); n != 2 {
		t.Errorf("%d subscribers, want the lru's own and one forwarded", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := inner.subscribers(); n != 0 {
		t.Errorf("%d subscribers after Close, want 0", n)
	}
	if _, err := s.Subscribe(func(storage.Invalidation) {}); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want storage.ErrClosed", err)
	}

	own := New(nil, 10)
	defer own.Close()
	if _, err := own.Subscribe(func(storage.Invalidation) {}); !errors.Is(err, storage.ErrNotSupported) {
		t.Errorf("Subscribe of an lru keeping its values: %v, want storage.ErrNotSupported", err)
	}
}

func TestSubscribeFailureIsReported(t *testing.T) {
	inner := newAnnouncer()
	defer inner.Close()
	errRefused := errors.New("refused")
	inner.refused = errRefused
	var reported []error
	s := New(inner, 10, WithErrorHandler(func(err error) { reported = append(reported, err) }))
	defer s.Close()
	if len(reported) != 1 || !errors.Is(reported[0], errRefused) {
		t.Errorf("reported %v, want the Subscribe error", reported)
	}
}

// TestRemovalsByOtherProcessesOverRedis plays two processes, each with its
// own lru, over one Redis: a key one removes leaves the other's index.
func TestRemovalsByOtherProcessesOverRedis(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	newLRU := func() *Storage {
		r := redis.New(srv.Client(), redis.WithPrefix("app:"))
		s := New(r, 10, WithCloseInner())
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := newLRU(), newLRU()
	set(t, a, "k", "v")
	if !has(t, b, "k") {
		t.Fatal("b does not see a's key")
	}
	if err := a.Remove(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("b still indexes a key a removed, 10s later")
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

func TestConformanceRedisInner(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex // guards n
	n := 0
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		mu.Lock()
		n++
		prefix := fmt.Sprintf("c%d:", n)
		mu.Unlock()
		return New(redis.New(srv.Client(), redis.WithPrefix(prefix)), 1000, WithCloseInner())
	}, storagetest.WithContextErrors())
}
