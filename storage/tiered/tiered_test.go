package tiered_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/faulty"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/tiered"
)

var errBoom = errors.New("boom")

// envelope returns a gecaso entry that expires at expires (never when
// zero).
func envelope(t testing.TB, expires time.Time) []byte {
	t.Helper()
	b, err := codec.AppendEnvelope(nil, &codec.Envelope{WrittenAt: time.Now(), ExpiresAt: expires, Data: []byte{0xc0}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGetFillsL1(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		give    func(t *testing.T) []byte // the value in L2
		l1TTL   time.Duration
		wantMin time.Duration // bounds of the TTL L1 is filled with
		wantMax time.Duration
	}{
		{
			name:    "rest of the entry's lifetime",
			give:    func(t *testing.T) []byte { return envelope(t, now.Add(10*time.Second)) },
			l1TTL:   time.Hour,
			wantMin: 9 * time.Second, wantMax: 10 * time.Second,
		},
		{
			name:    "capped by the L1 TTL",
			give:    func(t *testing.T) []byte { return envelope(t, now.Add(2*time.Hour)) },
			wantMin: tiered.DefaultL1TTL, wantMax: tiered.DefaultL1TTL,
		},
		{
			name:    "an entry that never expires",
			give:    func(t *testing.T) []byte { return envelope(t, time.Time{}) },
			l1TTL:   5 * time.Second,
			wantMin: 5 * time.Second, wantMax: 5 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			l1, l2 := faulty.New(nil), faulty.New(nil)
			want := tt.give(t)
			l2.Put("k", want)
			s := tiered.New(l1, l2, tiered.WithL1TTL(tt.l1TTL))
			got, err := s.Get(ctx, "k")
			if err != nil || !bytes.Equal(want, got) {
				t.Fatalf("Get = %q, %v; want L2's value", got, err)
			}
			params := l1.Params()
			if len(params) != 1 {
				t.Fatalf("L1 got %d Sets, want 1 fill", len(params))
			}
			if ttl := params[0].TTL; ttl < tt.wantMin || ttl > tt.wantMax {
				t.Errorf("L1 filled with TTL %v, want within [%v, %v]", ttl, tt.wantMin, tt.wantMax)
			}
			// The second Get is an L1 hit.
			if _, err := s.Get(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if n := l2.Count(faulty.Get); n != 1 {
				t.Errorf("L2 read %d times for two Gets, want 1", n)
			}
		})
	}
}

// TestGetDoesNotFill checks that L1 is not given what it could keep past
// the entry's expiry.
func TestGetDoesNotFill(t *testing.T) {
	tests := []struct {
		name string
		give func(t *testing.T) []byte
	}{
		{"an expired entry", func(t *testing.T) []byte { return envelope(t, time.Now().Add(-time.Second)) }},
		{"bytes that are no envelope", func(t *testing.T) []byte { return []byte("raw") }},
		{"a corrupt envelope", func(t *testing.T) []byte {
			b := envelope(t, time.Now().Add(time.Hour))
			b[len(b)-1] ^= 1
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l1, l2 := faulty.New(nil), faulty.New(nil)
			want := tt.give(t)
			l2.Put("k", want)
			s := tiered.New(l1, l2)
			got, err := s.Get(context.Background(), "k")
			if err != nil || !bytes.Equal(want, got) {
				t.Fatalf("Get = %q, %v; want L2's value", got, err)
			}
			if n := l1.Count(faulty.Set); n != 0 {
				t.Errorf("copied into L1 (%d Sets)", n)
			}
		})
	}
}

func TestGetMiss(t *testing.T) {
	s := tiered.New(faulty.New(nil), faulty.New(nil))
	if _, err := s.Get(context.Background(), "k"); err != storage.ErrNotFound {
		t.Errorf("Get of an absent key: got %v, want the bare storage.ErrNotFound", err)
	}
}

func TestGetL1FailureFallsBackToL2(t *testing.T) {
	l1, l2 := faulty.New(nil), faulty.New(nil)
	l2.Put("k", []byte("v"))
	l1.Fail(faulty.Get, errBoom)
	s := tiered.New(l1, l2)
	got, err := s.Get(context.Background(), "k")
	if err != nil || string(got) != "v" {
		t.Errorf("Get with L1 failing: got %q, %v; want L2's value", got, err)
	}
}

func TestGetL2FailureIsReturned(t *testing.T) {
	l1, l2 := faulty.New(nil), faulty.New(nil)
	l2.Fail(faulty.Get, errBoom)
	s := tiered.New(l1, l2)
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, errBoom) {
		t.Errorf("Get with L2 failing: got %v, want L2's error", err)
	}
}

func TestSetCapsL1TTL(t *testing.T) {
	tests := []struct {
		give     time.Duration
		wantL1   time.Duration
		wantL2   time.Duration
		wantInL1 bool
	}{
		{give: 0, wantL1: tiered.DefaultL1TTL, wantL2: 0, wantInL1: true},
		{give: 10 * time.Second, wantL1: 10 * time.Second, wantL2: 10 * time.Second, wantInL1: true},
		{give: 2 * time.Hour, wantL1: tiered.DefaultL1TTL, wantL2: 2 * time.Hour, wantInL1: true},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			l1, l2 := faulty.New(nil), faulty.New(nil)
			s := tiered.New(l1, l2)
			extra := map[string]any{"a": 1}
			if err := s.Set(context.Background(), "k", []byte("v"), storage.Params{TTL: tt.give, Extra: extra}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]storage.Params{{TTL: tt.wantL2, Extra: extra}}, l2.Params()); diff != "" {
				t.Errorf("L2's Params (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]storage.Params{{TTL: tt.wantL1, Extra: extra}}, l1.Params()); diff != "" {
				t.Errorf("L1's Params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetNegativeTTLLeavesL1Empty(t *testing.T) {
	l1, l2 := faulty.New(nil), faulty.New(nil)
	l1.Put("k", []byte("old"))
	s := tiered.New(l1, l2)
	if err := s.Set(context.Background(), "k", []byte("v"), storage.Params{TTL: -time.Second}); err != nil {
		t.Fatal(err)
	}
	if keys := l1.Keys(); len(keys) != 0 {
		t.Errorf("L1 holds %q after a Set of an already expired entry", keys)
	}
}

// TestSetL2Refused checks that a write L2 refuses is not in L1 either, and
// that the value it replaced is gone from L1 too.
func TestSetL2Refused(t *testing.T) {
	l1, l2 := faulty.New(nil), faulty.New(nil)
	l1.Put("k", []byte("old"))
	l2.Put("k", []byte("old"))
	l2.Fail(faulty.Set, errBoom)
	s := tiered.New(l1, l2)
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("new"), storage.Params{}); !errors.Is(err, errBoom) {
		t.Fatalf("Set with L2 refusing: got %v, want L2's error", err)
	}
	if n := l1.Count(faulty.Set); n != 0 {
		t.Errorf("L1 written %d times although L2 refused the value", n)
	}
	if keys := l1.Keys(); len(keys) != 0 {
		t.Errorf("L1 still holds %q after L2 refused to replace it", keys)
	}
}

func TestSetL1Refused(t *testing.T) {
	l1, l2 := faulty.New(nil), faulty.New(nil)
	l1.Put("k", []byte("old"))
	l1.Fail(faulty.Set, errBoom)
	s := tiered.New(l1, l2)
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("new"), storage.Params{}); !errors.Is(err, errBoom) {
		t.Fatalf("Set with L1 refusing: got %v, want L1's error", err)
	}
	if keys := l1.Keys(); len(keys) != 0 {
		t.Errorf("L1 still serves the replaced value under %q", keys)
	}
	got, err := s.Get(ctx, "k")
	if err != nil || string(got) != "new" {
		t.Errorf("Get after L1 refused a Set: got %q, %v; want the new value from L2", got, err)
	}
}

func TestRemoveReachesBoth(t *testing.T) {
	l1, l2 := faulty.New(nil), faulty.New(nil)
	for _, k := range []string{"a", "b"} {
		l1.Put(k, []byte("v"))
		l2.Put(k, []byte("v"))
	}
	l2.Fail(faulty.Remove, errBoom)
	s := tiered.New(l1, l2)
	if err := s.Remove(context.Background(), "a", "b", "absent"); !errors.Is(err, errBoom) {
		t.Errorf("Remove with L2 failing: got %v, want L2's error", err)
	}
	if keys := l1.Keys(); len(keys) != 0 {
		t.Errorf("L1 holds %q after Remove, even though L2 failed", keys)
	}
	l2.Fail(faulty.Remove, nil)
	if err := s.Remove(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if keys := l2.Keys(); len(keys) != 0 {
		t.Errorf("L2 holds %q after Remove", keys)
	}
}

func TestViewWithoutL1Viewer(t *testing.T) {
	l1, l2 := faulty.New(nil), faulty.New(nil)
	want := envelope(t, time.Time{})
	l2.Put("k", want)
	s := tiered.New(l1, l2)
	ctx := context.Background()
	for range 2 { // from L2, then from L1
		var got []byte
		if err := s.View(ctx, "k", func(v []byte) error { got = bytes.Clone(v); return nil }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("View lent %q, want %q", got, want)
		}
	}
	if n := l2.Count(faulty.Get); n != 1 {
		t.Errorf("L2 read %d times, want 1", n)
	}
	called := false
	err := s.View(ctx, "absent", func([]byte) error { called = true; return nil })
	if err != storage.ErrNotFound || called {
		t.Errorf("View of an absent key: got %v, fn called %v; want storage.ErrNotFound, fn not called", err, called)
	}
	if err := s.View(ctx, "k", func([]byte) error { return errBoom }); err != errBoom {
		t.Errorf("View returned %v, want fn's error", err)
	}
}

// TestOptionalAbilitiesOfPlainTiers checks that an ability the tiers lack
// is reported, not faked.
func TestOptionalAbilitiesOfPlainTiers(t *testing.T) {
	s := tiered.New(faulty.New(nil), faulty.New(nil))
	ctx := context.Background()
	errs := map[string]error{
		"Scan":         s.Scan(ctx, "", func(storage.KeyInfo) error { return nil }),
		"DeletePrefix": s.DeletePrefix(ctx, ""),
	}
	_, _, errs["TryLock"] = s.TryLock(ctx, "k", time.Second)
	for name, err := range errs {
		if !errors.Is(err, storage.ErrNotSupported) {
			t.Errorf("%s over tiers without it: got %v, want storage.ErrNotSupported", name, err)
		}
	}
}

// closer is a storage that counts its Close calls.
type closer struct {
	*faulty.Storage
	closed int
}

func (c *closer) Close() error { c.closed++; return nil }

func TestClose(t *testing.T) {
	ctx := context.Background()
	for _, withClose := range []bool{false, true} {
		l1, l2 := &closer{Storage: faulty.New(nil)}, &closer{Storage: faulty.New(nil)}
		var opts []tiered.Option
		want := 0
		if withClose {
			opts, want = append(opts, tiered.WithClose()), 1
		}
		s := tiered.New(l1, l2, opts...)
		for range 2 {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if l1.closed != want || l2.closed != want {
			t.Errorf("WithClose %v: L1 closed %d times, L2 %d; want %d", withClose, l1.closed, l2.closed, want)
		}
		errs := map[string]error{
			"Set":          s.Set(ctx, "k", nil, storage.Params{}),
			"Remove":       s.Remove(ctx, "k"),
			"Scan":         s.Scan(ctx, "", func(storage.KeyInfo) error { return nil }),
			"DeletePrefix": s.DeletePrefix(ctx, ""),
			"View":         s.View(ctx, "k", func([]byte) error { return nil }),
		}
		_, errs["Get"] = s.Get(ctx, "k")
		_, _, errs["TryLock"] = s.TryLock(ctx, "k", time.Second)
		for name, err := range errs {
			if !errors.Is(err, storage.ErrClosed) {
				t.Errorf("%s after Close: got %v, want storage.ErrClosed", name, err)
			}
		}
	}
}

func TestNewPanicsOnMistakes(t *testing.T) {
	tests := []struct {
		name string
		give func()
	}{
		{"nil L1", func() { tiered.New(nil, faulty.New(nil)) }},
		{"nil L2", func() { tiered.New(faulty.New(nil), nil) }},
		{"negative L1 TTL", func() { tiered.New(faulty.New(nil), faulty.New(nil), tiered.WithL1TTL(-1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("New did not panic")
				}
			}()
			tt.give()
		})
	}
}
