package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
	"github.com/gecaso/gecaso/storage/storagetest"
	"github.com/google/go-cmp/cmp"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage { return memory.New() })
}

func TestConformanceWithoutSweeper(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return memory.New(memory.WithSweepInterval(-1))
	})
}

func TestExpiryIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memory.New()
		defer s.Close()
		ctx := t.Context()
		if err := s.Set(ctx, "k", []byte("v"), storage.Params{TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second - time.Nanosecond)
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatalf("Get 1ns before expiry: %v", err)
		}
		time.Sleep(time.Nanosecond)
		if _, err := s.Get(ctx, "k"); err != storage.ErrNotFound {
			t.Fatalf("Get at expiry: %v, want the bare storage.ErrNotFound", err)
		}
		if err := s.View(ctx, "k", func([]byte) error { return errors.New("fn called") }); err != storage.ErrNotFound {
			t.Fatalf("View at expiry: %v, want the bare storage.ErrNotFound", err)
		}
		if got := s.Len(); got != 0 {
			t.Errorf("Len after reading an expired entry = %d, want 0: the read reclaims it", got)
		}
	})
}

// fill sets n keys with TTL ttl under prefix.
func fill(t *testing.T, s *memory.Storage, prefix string, n int, ttl time.Duration) {
	t.Helper()
	for i := range n {
		if err := s.Set(t.Context(), fmt.Sprintf("%s%d", prefix, i), []byte("v"), storage.Params{TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSweeperReclaimsUnreadEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memory.New(memory.WithSweepInterval(time.Minute))
		defer s.Close()
		fill(t, s, "short/", 500, time.Second)
		fill(t, s, "long/", 100, time.Hour)
		fill(t, s, "never/", 100, 0)
		if got := s.Len(); got != 700 {
			t.Fatalf("Len = %d, want 700", got)
		}
		// Every shard is visited once per interval; the entries expired
		// after 1 s, so one interval later they are all gone.
		time.Sleep(time.Second + time.Minute)
		synctest.Wait()
		if got := s.Len(); got != 200 {
			t.Errorf("Len one sweep interval after expiry = %d, want 200", got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := s.Len(); got != 100 {
			t.Errorf("Len after the long TTL and a sweep = %d, want 100", got)
		}
	})
}

func TestSweeperSweepsAgainAfterAnEmptyPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memory.New(memory.WithSweepInterval(time.Minute))
		defer s.Close()
		for wave := range 3 {
			fill(t, s, fmt.Sprintf("wave%d/", wave), 200, time.Second)
			fill(t, s, "never/", 10, 0)
			// Two intervals: the pass that empties a shard of entries with
			// a TTL marks it to be skipped; the next Sets must unmark it.
			time.Sleep(2 * time.Minute)
			synctest.Wait()
			if got := s.Len(); got != 10 {
				t.Fatalf("wave %d: Len = %d, want 10", wave, got)
			}
		}
	})
}

func TestSweeperSkipsRewrittenEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memory.New(memory.WithSweepInterval(time.Minute))
		defer s.Close()
		ctx := t.Context()
		fill(t, s, "k/", 100, time.Second)
		fill(t, s, "k/", 100, 0) // the same keys, now without expiry
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if got := s.Len(); got != 100 {
			t.Errorf("Len = %d, want 100: rewritten entries must stay", got)
		}
		if _, err := s.Get(ctx, "k/7"); err != nil {
			t.Errorf("Get of a rewritten entry: %v", err)
		}
	})
}

func TestNoSweeper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memory.New(memory.WithSweepInterval(-1))
		defer s.Close()
		fill(t, s, "k/", 10, time.Second)
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := s.Len(); got != 10 {
			t.Errorf("Len without a sweeper = %d, want 10: only reads reclaim", got)
		}
		if _, err := s.Get(t.Context(), "k/3"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get of an expired entry: %v, want storage.ErrNotFound", err)
		}
		if got := s.Len(); got != 9 {
			t.Errorf("Len after reading one expired entry = %d, want 9", got)
		}
	})
}

func TestCloseStopsSweeper(t *testing.T) {
	// synctest fails the test if the sweeper outlives the bubble.
	synctest.Test(t, func(t *testing.T) {
		s := memory.New(memory.WithSweepInterval(time.Millisecond))
		fill(t, s, "k/", 10, time.Millisecond)
		time.Sleep(time.Second)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if got := s.Len(); got != 0 {
			t.Errorf("Len after Close = %d, want 0", got)
		}
		ctx := t.Context()
		_, err := s.Get(ctx, "k/1")
		errs := []error{
			err,
			s.Set(ctx, "k", nil, storage.Params{}),
			s.Remove(ctx, "k"),
			s.DeletePrefix(ctx, ""),
			s.Scan(ctx, "", func(storage.KeyInfo) error { return nil }),
			s.View(ctx, "k", func([]byte) error { return nil }),
		}
		for i, err := range errs {
			if !errors.Is(err, storage.ErrClosed) {
				t.Errorf("call %d after Close: %v, want storage.ErrClosed", i, err)
			}
		}
	})
}

func TestScanKeyInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memory.New()
		defer s.Close()
		ctx := t.Context()
		start := time.Now()
		sets := []struct {
			key   string
			value string
			ttl   time.Duration
		}{
			{"a", "1", 0},
			{"b", "22", time.Hour},
			{"c", "333", time.Minute},
			{"a", "4444", 0},
			{"d", "", time.Second},
		}
		for _, st := range sets {
			if err := s.Set(ctx, st.key, []byte(st.value), storage.Params{TTL: st.ttl}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second) // d expires
		got := map[string]storage.KeyInfo{}
		if err := s.Scan(ctx, "", func(ki storage.KeyInfo) error {
			got[ki.Key] = ki
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := map[string]storage.KeyInfo{
			"a": {Key: "a", Size: 4, Seq: 4},
			"b": {Key: "b", Size: 2, Seq: 2, ExpiresAt: start.Add(time.Hour)},
			"c": {Key: "c", Size: 3, Seq: 3, ExpiresAt: start.Add(time.Minute)},
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
			t.Errorf("Scan (-want +got):\n%s", diff)
		}
	})
}

func TestViewLendsStoredSlice(t *testing.T) {
	s := memory.New()
	defer s.Close()
	ctx := t.Context()
	in := []byte("value")
	if err := s.Set(ctx, "k", in, storage.Params{}); err != nil {
		t.Fatal(err)
	}
	var first, second []byte
	_ = s.View(ctx, "k", func(v []byte) error { first = v; return nil })
	_ = s.View(ctx, "k", func(v []byte) error { second = v; return nil })
	if &first[0] != &second[0] {
		t.Error("two Views lent different copies, want the stored slice itself")
	}
	if &first[0] == &in[0] {
		t.Error("View lent the caller's slice given to Set, want a copy made by Set")
	}
	got, _ := s.Get(ctx, "k")
	if &got[0] == &first[0] {
		t.Error("Get returned the stored slice, want a copy")
	}
}

func TestViewMayCallStorage(t *testing.T) {
	s := memory.New()
	defer s.Close()
	ctx := t.Context()
	_ = s.Set(ctx, "k", []byte("v"), storage.Params{})
	// fn runs without a lock held: a Set of the same key must not deadlock.
	err := s.View(ctx, "k", func(v []byte) error {
		return s.Set(ctx, "k", append(v, '2'), storage.Params{})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "k")
	if diff := cmp.Diff("v2", string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestScanCancelled(t *testing.T) {
	s := memory.New()
	defer s.Close()
	fill(t, s, "k/", 100, 0)
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	err := s.Scan(ctx, "", func(storage.KeyInfo) error {
		n++
		if n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n == 100 {
		t.Errorf("Scan cancelled after 10 keys: %v after %d keys, want context.Canceled before all 100", err, n)
	}
}

func TestLen(t *testing.T) {
	s := memory.New()
	defer s.Close()
	ctx := t.Context()
	tests := []struct {
		give func()
		want int
	}{
		{give: func() {}, want: 0},
		{give: func() { fill(t, s, "a/", 10, 0) }, want: 10},
		{give: func() { fill(t, s, "a/", 10, 0) }, want: 10},
		{give: func() { fill(t, s, "b/", 5, 0) }, want: 15},
		{give: func() { _ = s.Remove(ctx, "a/1", "a/2", "absent") }, want: 13},
		{give: func() { _ = s.DeletePrefix(ctx, "b/") }, want: 8},
		{give: func() { _ = s.DeletePrefix(ctx, "") }, want: 0},
	}
	for i, tt := range tests {
		tt.give()
		if got := s.Len(); got != tt.want {
			t.Errorf("step %d: Len = %d, want %d", i, got, tt.want)
		}
	}
}

func TestNewPanicsOnBadOption(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("New(WithSweepInterval(1ns)) did not panic")
		}
		if diff := cmp.Diff("gecaso/memory: sweep interval 1ns is below 1ms; use a negative interval to turn the sweeper off", r); diff != "" {
			t.Errorf("panic (-want +got):\n%s", diff)
		}
	}()
	memory.New(memory.WithSweepInterval(time.Nanosecond))
}

func TestBytes(t *testing.T) {
	s := memory.New()
	defer s.Close()
	ctx := t.Context()
	set := func(k, v string) func() {
		return func() { _ = s.Set(ctx, k, []byte(v), storage.Params{}) }
	}
	tests := []struct {
		name string
		give func()
		want int64
	}{
		{name: "empty", give: func() {}, want: 0},
		{name: "set", give: set("ab", "cde"), want: 5},
		{name: "set another", give: set("x", ""), want: 6},
		{name: "overwrite longer", give: set("ab", "cdefgh"), want: 9},
		{name: "overwrite shorter", give: set("ab", "c"), want: 4},
		{name: "remove", give: func() { _ = s.Remove(ctx, "ab", "absent") }, want: 1},
		{name: "delete all", give: func() { _ = s.DeletePrefix(ctx, "") }, want: 0},
	}
	for _, tt := range tests {
		tt.give()
		if got := s.Bytes(); got != tt.want {
			t.Errorf("%s: Bytes = %d, want %d", tt.name, got, tt.want)
		}
		if got := s.Stats().Bytes; got != tt.want {
			t.Errorf("%s: Stats().Bytes = %d, want %d", tt.name, got, tt.want)
		}
	}
	s.Close()
	if got := s.Bytes(); got != 0 {
		t.Errorf("Bytes after Close = %d, want 0", got)
	}
}

func TestStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memory.New(memory.WithSweepInterval(-1))
		defer s.Close()
		ctx := t.Context()
		fill(t, s, "k/", 100, time.Second)
		fill(t, s, "n/", 50, 0)
		st := s.Stats()
		// Keys of 3 or 4 bytes ("k/7", "n/42") and the value "v": with 24
		// bytes of header and padding, 32 bytes each in a segment.
		var kv int64
		for i := range 150 {
			kv += int64(len(fmt.Sprint("k/", i%100))) + 1
		}
		if st.Entries != 150 || st.Bytes != kv || st.ArenaBytes < 150*32 || st.GarbageBytes != 0 || st.IndexBytes < 150*8 || st.Segments == 0 {
			t.Errorf("after 150 Sets: %+v", st)
		}
		time.Sleep(time.Second)
		for i := range 10 {
			if _, err := s.Get(ctx, fmt.Sprintf("k/%d", i)); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Get of an expired entry: %v", err)
			}
		}
		st = s.Stats()
		if st.Expired != 10 || st.Entries != 140 {
			t.Errorf("after reading 10 expired entries: %+v; want 10 expired, 140 left", st)
		}
		s.Close()
		if st := s.Stats(); st.Entries != 0 || st.Bytes != 0 || st.ArenaBytes != 0 || st.IndexBytes != 0 {
			t.Errorf("after Close: %+v; want nothing held", st)
		}
	})
}

func TestNonblocking(t *testing.T) {
	var s storage.Storage = memory.New()
	defer s.(*memory.Storage).Close()
	nb, ok := s.(storage.Nonblocking)
	if !ok || !nb.Nonblocking() {
		t.Errorf("memory.Storage is a storage.Nonblocking: %v, Nonblocking() = %v; want true, true", ok, ok && nb.Nonblocking())
	}
}

func TestViewSliceHasNoSpareCapacity(t *testing.T) {
	s := memory.New()
	defer s.Close()
	ctx := t.Context()
	_ = s.Set(ctx, "a", []byte("first"), storage.Params{})
	_ = s.Set(ctx, "b", []byte("second"), storage.Params{})
	// An append to the lent slice must copy it, not write over what
	// follows it in the segment.
	_ = s.View(ctx, "a", func(v []byte) error {
		if cap(v) != len(v) {
			t.Errorf("View lent a slice of length %d and capacity %d", len(v), cap(v))
		}
		_ = append(v, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
		return nil
	})
	for k, want := range map[string]string{"a": "first", "b": "second"} {
		if got, err := s.Get(ctx, k); err != nil || string(got) != want {
			t.Errorf("Get(%q) = %q, %v; want %q", k, got, err, want)
		}
	}
}
