package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/google/go-cmp/cmp"
)

const (
	// hangTimeout bounds every call made with a cancelled context or during
	// Close: a call that takes longer is reported as hanging.
	hangTimeout = 10 * time.Second
	// expirySlack is how much later than its TTL (plus granularity) an
	// entry may still be present before the suite gives up waiting.
	expirySlack = 5 * time.Second
	// pollInterval is the pause between two reads while waiting for expiry.
	pollInterval = 5 * time.Millisecond
	// shortTTL is the TTL of entries that the suite waits to see expire.
	shortTTL = 200 * time.Millisecond
)

// check is one subtest of the suite.
type check struct {
	name string
	fn   func(t *testing.T, s storage.Storage, c config)
}

// checks lists the suite in the order Run runs it; the names are the
// subtest names, so `go test -run 'TestConformance/ttl'` runs one.
var checks = []check{
	{"get-absent", checkGetAbsent},
	{"set-get", checkSetGet},
	{"overwrite", checkOverwrite},
	{"remove", checkRemove},
	{"remove-absent", checkRemoveAbsent},
	{"remove-many", checkRemoveMany},
	{"ttl", checkTTL},
	{"empty-value", checkEmptyValue},
	{"large-value", checkLargeValue},
	{"keys", checkKeys},
	{"ownership", checkOwnership},
	{"cancelled-context", checkCancelledContext},
	{"params-extra", checkParamsExtra},
	{"concurrent", checkConcurrent},
	{"scanner", checkScanner},
	{"prefix-deleter", checkPrefixDeleter},
	{"viewer", checkViewer},
	{"locker", checkLocker},
	{"invalidator", checkInvalidator},
	{"nonblocking", checkNonblocking},
	{"closer", checkCloser},
	{"close-concurrent", checkCloseConcurrent},
}

// Run runs the conformance suite against the storages newStorage returns.
// See the package documentation for what it checks.
//
// Each check runs as a subtest of t with a fresh storage from newStorage,
// called with the subtest's t so that the factory can register its own
// cleanups (a temporary directory, a FLUSHDB). The storage must start
// empty. When it implements io.Closer, Run closes it with t.Cleanup and
// fails the subtest if that Close returns an error other than
// [storage.ErrClosed].
//
// Run panics on an invalid option.
func Run(t *testing.T, newStorage func(t *testing.T) storage.Storage, opts ...Option) {
	t.Helper()
	c := newConfig(opts)
	if err := c.validate(); err != nil {
		panic(err.Error())
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			s := newStorage(t)
			if s == nil {
				t.Fatal("storagetest: the factory returned a nil storage")
			}
			if cl, ok := s.(io.Closer); ok {
				t.Cleanup(func() {
					if err := cl.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
						t.Errorf("Close: %v", err)
					}
				})
			}
			ck.fn(t, s, c)
		})
	}
}

// --- helpers -----------------------------------------------------------

func mustSet(t *testing.T, s storage.Storage, key string, value []byte, p storage.Params) {
	t.Helper()
	if err := s.Set(t.Context(), key, value, p); err != nil {
		t.Fatalf("Set(%s, %s, TTL %v): %v", showKey(key), showValue(value), p.TTL, err)
	}
}

func mustRemove(t *testing.T, s storage.Storage, keys ...string) {
	t.Helper()
	if err := s.Remove(t.Context(), keys...); err != nil {
		t.Fatalf("Remove(%d keys): %v", len(keys), err)
	}
}

// wantValue fails t unless Get(key) returns want.
func wantValue(t *testing.T, s storage.Storage, key string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Errorf("Get(%s): %v, want %s", showKey(key), err, showValue(want))
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Get(%s) = %s, want %s", showKey(key), showValue(got), showValue(want))
	}
}

// wantMissing fails t unless Get(key) returns an error matching
// storage.ErrNotFound.
func wantMissing(t *testing.T, s storage.Storage, key string) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(%s) = %s, %v; want storage.ErrNotFound", showKey(key), showValue(got), err)
	}
}

// showKey quotes a key for a message, shortened when long.
func showKey(k string) string {
	if len(k) > 64 {
		return fmt.Sprintf("%q... (%d bytes)", k[:48], len(k))
	}
	return fmt.Sprintf("%q", k)
}

// showValue describes a value for a message, shortened when long.
func showValue(v []byte) string {
	if v == nil {
		return "nil"
	}
	if len(v) > 64 {
		return fmt.Sprintf("%d bytes %q...", len(v), v[:32])
	}
	return fmt.Sprintf("%q", v)
}

// randomBytes returns n pseudo-random bytes determined by seed:
// incompressible, so that sizes reported by a backend are meaningful.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		u := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(u >> (8 * j))
		}
	}
	return b
}

// within runs f in its own goroutine and fails t if it has not returned
// after hangTimeout. The goroutine of a hung call is left behind.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(hangTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s did not return within %v", what, hangTimeout)
	}
}

// skipIfNotSupported skips the test when err says the storage (a wrapper
// whose inner storage lacks the ability) does not support an optional
// interface.
func skipIfNotSupported(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(err, storage.ErrNotSupported) {
		t.Skipf("%s: %v", what, err)
	}
}

// scanKeys returns the sorted, deduplicated keys Scan reports for prefix.
// Duplicates are tolerated: Redis SCAN may report a key twice.
func scanKeys(t *testing.T, sc storage.Scanner, prefix string) []string {
	t.Helper()
	var keys []string
	err := sc.Scan(t.Context(), prefix, func(ki storage.KeyInfo) error {
		keys = append(keys, ki.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%s): %v", showKey(prefix), err)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// --- basic operations --------------------------------------------------

func checkGetAbsent(t *testing.T, s storage.Storage, _ config) {
	for _, key := range []string{"absent", "\x00", strings.Repeat("x", 300)} {
		got, err := s.Get(t.Context(), key)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%s) of an absent key = %s, %v; want storage.ErrNotFound", showKey(key), showValue(got), err)
			continue
		}
		if err != storage.ErrNotFound {
			t.Errorf("Get(%s) of an absent key returned %v, which wraps storage.ErrNotFound; return the bare sentinel on the miss path (wrapping allocates)", showKey(key), err)
		}
	}
}

func checkSetGet(t *testing.T, s storage.Storage, _ config) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		give string
		want []byte
	}{
		{give: "a", want: []byte("1")},
		{give: "b", want: []byte("a value of some length")},
		{give: "c", want: all},
	}
	for _, tt := range tests {
		mustSet(t, s, tt.give, tt.want, storage.Params{})
	}
	for _, tt := range tests {
		wantValue(t, s, tt.give, tt.want)
	}
	wantMissing(t, s, "d")
}

func checkOverwrite(t *testing.T, s storage.Storage, _ config) {
	mustSet(t, s, "k", []byte("first, and longer than the second"), storage.Params{})
	mustSet(t, s, "k", []byte("second"), storage.Params{})
	wantValue(t, s, "k", []byte("second"))
	mustSet(t, s, "k", []byte("third, longer again than the second value"), storage.Params{})
	wantValue(t, s, "k", []byte("third, longer again than the second value"))
}

func checkRemove(t *testing.T, s storage.Storage, _ config) {
	mustSet(t, s, "a", []byte("1"), storage.Params{})
	mustSet(t, s, "b", []byte("2"), storage.Params{})
	mustRemove(t, s, "a")
	wantMissing(t, s, "a")
	wantValue(t, s, "b", []byte("2"))
	mustSet(t, s, "a", []byte("3"), storage.Params{})
	wantValue(t, s, "a", []byte("3"))
}

func checkRemoveAbsent(t *testing.T, s storage.Storage, _ config) {
	if err := s.Remove(t.Context(), "absent"); err != nil {
		t.Errorf("Remove of an absent key: %v, want nil", err)
	}
	if err := s.Remove(t.Context()); err != nil {
		t.Errorf("Remove of no keys: %v, want nil", err)
	}
	mustSet(t, s, "a", []byte("1"), storage.Params{})
	mustRemove(t, s, "a")
	if err := s.Remove(t.Context(), "a"); err != nil {
		t.Errorf("Remove of a key removed before: %v, want nil", err)
	}
}

func checkRemoveMany(t *testing.T, s storage.Storage, _ config) {
	const n = 100
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("many/%03d", i)
		mustSet(t, s, keys[i], []byte(keys[i]), storage.Params{})
	}
	// Every other key, some absent ones and a duplicate, in one call.
	var remove []string
	for i := 0; i < n; i += 2 {
		remove = append(remove, keys[i])
	}
	remove = append(remove, "many/absent-1", keys[0], "many/absent-2")
	mustRemove(t, s, remove...)
	for i, k := range keys {
		if i%2 == 0 {
			wantMissing(t, s, k)
		} else {
			wantValue(t, s, k, []byte(k))
		}
	}
}

// --- expiry ------------------------------------------------------------

func checkTTL(t *testing.T, s storage.Storage, c config) {
	if c.noTTL {
		t.Skip("the storage ignores Params.TTL (WithoutTTL)")
	}
	g := c.ttlGranularity
	ttl := max(shortTTL, g)
	v := []byte("value")
	v2 := []byte("second value")

	mustSet(t, s, "ttl/zero", v, storage.Params{})
	mustSet(t, s, "ttl/long", v, storage.Params{TTL: time.Hour})
	// Overwriting must replace the expiry too, in both directions.
	mustSet(t, s, "ttl/cleared", v, storage.Params{TTL: ttl})
	mustSet(t, s, "ttl/cleared", v2, storage.Params{})
	mustSet(t, s, "ttl/extended", v, storage.Params{TTL: ttl})
	mustSet(t, s, "ttl/extended", v2, storage.Params{TTL: time.Hour})
	mustSet(t, s, "ttl/shortened", v, storage.Params{})

	start := time.Now()
	mustSet(t, s, "ttl/short", v, storage.Params{TTL: ttl})
	mustSet(t, s, "ttl/shortened", v2, storage.Params{TTL: ttl})
	deadline := time.Now().Add(ttl + g + expirySlack)

	waitExpired := func(key string, want []byte) {
		t.Helper()
		for {
			before := time.Now()
			got, err := s.Get(t.Context(), key)
			after := time.Now()
			if errors.Is(err, storage.ErrNotFound) {
				if age := after.Sub(start); age < ttl {
					t.Fatalf("Get(%q) = ErrNotFound %v after Set, before its TTL of %v", key, age, ttl)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get(%q) while waiting for expiry: %v", key, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Get(%q) = %s while waiting for expiry, want %s", key, showValue(got), showValue(want))
			}
			if before.After(deadline) {
				t.Fatalf("Get(%q) still returns the entry %v after Set with TTL %v (granularity %v)",
					key, before.Sub(start).Round(time.Millisecond), ttl, g)
			}
			time.Sleep(pollInterval)
		}
	}
	waitExpired("ttl/short", v)
	waitExpired("ttl/shortened", v2)

	wantValue(t, s, "ttl/zero", v)
	wantValue(t, s, "ttl/long", v)
	wantValue(t, s, "ttl/cleared", v2)
	wantValue(t, s, "ttl/extended", v2)

	if sc, ok := s.(storage.Scanner); ok {
		var got []string
		err := sc.Scan(t.Context(), "ttl/", func(ki storage.KeyInfo) error {
			got = append(got, ki.Key)
			return nil
		})
		if !errors.Is(err, storage.ErrNotSupported) {
			if err != nil {
				t.Fatalf("Scan(\"ttl/\"): %v", err)
			}
			slices.Sort(got)
			got = slices.Compact(got)
			want := []string{"ttl/cleared", "ttl/extended", "ttl/long", "ttl/zero"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Scan after expiry reported expired keys or missed live ones (-want +got):\n%s", diff)
			}
		}
	}
}

// --- values and keys ---------------------------------------------------

func checkEmptyValue(t *testing.T, s storage.Storage, _ config) {
	for _, give := range [][]byte{nil, {}} {
		mustSet(t, s, "empty", []byte("not empty"), storage.Params{})
		mustSet(t, s, "empty", give, storage.Params{})
		got, err := s.Get(t.Context(), "empty")
		if err != nil {
			t.Errorf("Get of an empty value set as %#v: %v, want a value of length 0", give, err)
			continue
		}
		if len(got) != 0 {
			t.Errorf("Get of an empty value set as %#v = %s, want length 0", give, showValue(got))
		}
	}
}

func checkLargeValue(t *testing.T, s storage.Storage, c config) {
	sizes := []int{1<<10 - 1, 64<<10 + 1, 1<<20 + 3, c.maxValueSize}
	for i, n := range sizes {
		if n > c.maxValueSize {
			continue
		}
		key := fmt.Sprintf("large/%d", n)
		v := randomBytes(uint64(i), n)
		mustSet(t, s, key, v, storage.Params{})
		got, err := s.Get(t.Context(), key)
		if err != nil {
			t.Fatalf("Get of a %d-byte value: %v", n, err)
		}
		if !bytes.Equal(got, v) {
			t.Fatalf("Get of a %d-byte value returned %d different bytes", n, len(got))
		}
		mustRemove(t, s, key)
	}
}

// oddKeys are keys a storage must keep apart and round-trip: binary bytes,
// NUL, invalid UTF-8, white space, separators and glob or LIKE
// metacharacters that a backend might interpret, and a long key.
func oddKeys() []string {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(255 - i)
	}
	return []string{
		"plain",
		"with space",
		" leading space",
		"trailing space ",
		"colon:separated:key",
		"star*",
		"*",
		"?",
		"glob?[a-z]\\",
		"percent%_under",
		"{hash}tag",
		"\x00",
		"nul\x00inside",
		"nul\x00insidf",
		"\xff\xfe not utf-8",
		"ünïcødé 日本語 🙂",
		"new\nline\r\ttab",
		string(all),
		strings.Repeat("k", 1024),
		strings.Repeat("k", 1023) + "l",
	}
}

func checkKeys(t *testing.T, s storage.Storage, _ config) {
	keys := oddKeys()
	for i, k := range keys {
		mustSet(t, s, k, []byte(fmt.Sprintf("value %d", i)), storage.Params{})
	}
	for i, k := range keys {
		wantValue(t, s, k, []byte(fmt.Sprintf("value %d", i)))
	}
	mustRemove(t, s, keys[:len(keys)/2]...)
	for i, k := range keys {
		if i < len(keys)/2 {
			wantMissing(t, s, k)
		} else {
			wantValue(t, s, k, []byte(fmt.Sprintf("value %d", i)))
		}
	}
}

func checkOwnership(t *testing.T, s storage.Storage, _ config) {
	in := []byte("original")
	mustSet(t, s, "k", in, storage.Params{})
	copy(in, "MUTATED!")
	wantValue(t, s, "k", []byte("original"))

	got, err := s.Get(t.Context(), "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	for i := range got {
		got[i] = 'X'
	}
	spare := got[len(got):cap(got)] // a slice lent with spare capacity is not the caller's either
	for i := range spare {
		spare[i] = 'Y'
	}
	wantValue(t, s, "k", []byte("original"))
}

// --- contexts and params -----------------------------------------------

func checkCancelledContext(t *testing.T, s storage.Storage, c config) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	v1, v2 := []byte("v1"), []byte("v2")
	mustSet(t, s, "k", v1, storage.Params{})

	// acceptable reports whether err is what a call with a cancelled
	// context may return, failing t otherwise.
	acceptable := func(op string, err error) bool {
		t.Helper()
		switch {
		case err == nil && c.ctxErrors:
			t.Errorf("%s with a cancelled context succeeded; WithContextErrors requires context.Canceled", op)
		case err == nil:
		case errors.Is(err, context.Canceled):
		default:
			t.Errorf("%s with a cancelled context: %v; want nil or an error matching context.Canceled", op, err)
		}
		return err == nil
	}

	var got []byte
	var err error
	within(t, "Get with a cancelled context", func() { got, err = s.Get(ctx, "k") })
	if acceptable("Get", err) && !bytes.Equal(got, v1) {
		t.Errorf("Get with a cancelled context = %s, nil; want %s or context.Canceled", showValue(got), showValue(v1))
	}
	within(t, "Get of an absent key with a cancelled context", func() { got, err = s.Get(ctx, "absent") })
	if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, context.Canceled) {
		t.Errorf("Get of an absent key with a cancelled context = %s, %v; want storage.ErrNotFound or context.Canceled", showValue(got), err)
	}

	within(t, "Set with a cancelled context", func() { err = s.Set(ctx, "k", v2, storage.Params{}) })
	setDone := acceptable("Set", err)
	got, err = s.Get(t.Context(), "k")
	switch {
	case err != nil:
		t.Errorf("Get after Set with a cancelled context: %v", err)
	case setDone && !bytes.Equal(got, v2):
		t.Errorf("Set with a cancelled context returned nil but Get = %s, want %s", showValue(got), showValue(v2))
	case !bytes.Equal(got, v1) && !bytes.Equal(got, v2):
		t.Errorf("Get after a cancelled Set = %s, want %s or %s", showValue(got), showValue(v1), showValue(v2))
	}

	within(t, "Remove with a cancelled context", func() { err = s.Remove(ctx, "k") })
	if acceptable("Remove", err) {
		wantMissing(t, s, "k")
	}
}

func checkParamsExtra(t *testing.T, s storage.Storage, _ config) {
	extra := func() map[string]any {
		return map[string]any{
			"int":    1,
			"string": "two",
			"nil":    nil,
			"bytes":  []byte{3},
			"nested": map[string]any{"list": []any{1, "x", nil}},
			"time":   time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		}
	}
	give := extra()
	for _, p := range []storage.Params{{Extra: give}, {Extra: map[string]any{}}, {Extra: give, TTL: time.Hour}} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Set with Params.Extra %v panicked: %v", p.Extra, r)
				}
			}()
			mustSet(t, s, "extra", []byte("v"), p)
			wantValue(t, s, "extra", []byte("v"))
		}()
	}
	if diff := cmp.Diff(extra(), give); diff != "" {
		t.Errorf("Set modified Params.Extra (-want +got):\n%s", diff)
	}
}

// --- concurrency -------------------------------------------------------

// loadValue is the value goroutine g writes to key at its op i: its
// length and bytes depend on all three, so that a read can tell whether
// what it got was written whole, and for that key.
func loadValue(key string, g, i int) []byte {
	head := fmt.Sprintf("%s|%d|%d|", key, g, i)
	n := (g*31 + i*7) % 97
	return append([]byte(head), bytes.Repeat([]byte{byte('a' + (g+i)%26)}, n)...)
}

// validLoadValue reports whether v is loadValue(key, g, i) for some g < gs
// and i < ops.
func validLoadValue(key string, v []byte, gs, ops int) bool {
	var g, i int
	rest, ok := bytes.CutPrefix(v, []byte(key+"|"))
	if !ok {
		return false
	}
	if _, err := fmt.Sscanf(string(rest), "%d|%d|", &g, &i); err != nil {
		return false
	}
	return g >= 0 && g < gs && i >= 0 && i < ops && bytes.Equal(v, loadValue(key, g, i))
}

func checkConcurrent(t *testing.T, s storage.Storage, c config) {
	const nkeys = 16
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("load/%d", i)
	}
	viewer, _ := s.(storage.Viewer)
	scanner, _ := s.(storage.Scanner)
	var failures atomic.Int32
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range c.goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range c.ops {
				if failures.Load() > 10 {
					return
				}
				key := keys[r.IntN(nkeys)]
				if g == 0 && scanner != nil && i%200 == 0 {
					// Scans racing writes report only keys of the load.
					err := scanner.Scan(ctx, "load/", func(ki storage.KeyInfo) error {
						if !slices.Contains(keys, ki.Key) {
							fail("Scan(\"load/\") reported %s, a key never written", showKey(ki.Key))
						}
						return nil
					})
					if err != nil && !errors.Is(err, storage.ErrNotSupported) {
						fail("Scan(\"load/\") during the load: %v", err)
					}
				}
				switch op := r.IntN(10); {
				case op < 4:
					v, err := s.Get(ctx, key)
					switch {
					case errors.Is(err, storage.ErrNotFound):
					case err != nil:
						fail("Get(%q): %v", key, err)
					case !validLoadValue(key, v, c.goroutines, c.ops):
						fail("Get(%q) = %s, a value never written to that key", key, showValue(v))
					}
				case op < 5 && viewer != nil:
					err := viewer.View(ctx, key, func(v []byte) error {
						if !validLoadValue(key, v, c.goroutines, c.ops) {
							fail("View(%q) lent %s, a value never written to that key", key, showValue(v))
						}
						return nil
					})
					if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrNotSupported) {
						fail("View(%q): %v", key, err)
					}
				case op < 9:
					var p storage.Params
					if i%5 == 0 {
						p.TTL = time.Hour
					}
					if err := s.Set(ctx, key, loadValue(key, g, i), p); err != nil {
						fail("Set(%q): %v", key, err)
					}
				default:
					other := keys[r.IntN(nkeys)]
					if err := s.Remove(ctx, key, other); err != nil {
						fail("Remove(%q, %q): %v", key, other, err)
					}
				}
			}
		})
	}
	wg.Wait()
	// Whatever is left must be a value written for its key.
	for _, key := range keys {
		v, err := s.Get(ctx, key)
		if err == nil && !validLoadValue(key, v, c.goroutines, c.ops) {
			t.Errorf("after the load, Get(%q) = %s, a value never written to that key", key, showValue(v))
		} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("after the load, Get(%q): %v", key, err)
		}
	}
}
