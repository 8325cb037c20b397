package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/google/go-cmp/cmp"
)

// errStop is what the suite's callbacks return to check that a storage
// hands the callback's error back.
var errStop = errors.New("storagetest: stop")

func checkScanner(t *testing.T, s storage.Storage, c config) {
	sc, ok := s.(storage.Scanner)
	if !ok {
		t.Skip("not a storage.Scanner")
	}
	err := sc.Scan(t.Context(), "", func(storage.KeyInfo) error { return nil })
	skipIfNotSupported(t, "Scan", err)
	if err != nil {
		t.Fatalf("Scan of an empty storage: %v", err)
	}

	live := []string{"scan/a/1", "scan/a/2", "scan/a*", "scan/a?", "scan/ab", "scan/b/1", "scan[", "other"}
	for _, k := range live {
		mustSet(t, s, k, []byte(k), storage.Params{})
	}
	mustSet(t, s, "scan/a/removed", []byte("x"), storage.Params{})
	mustRemove(t, s, "scan/a/removed")

	tests := []struct {
		give string
		want []string
	}{
		{give: "", want: live},
		{give: "scan/a", want: []string{"scan/a/1", "scan/a/2", "scan/a*", "scan/a?", "scan/ab"}},
		{give: "scan/a/", want: []string{"scan/a/1", "scan/a/2"}},
		{give: "scan/a*", want: []string{"scan/a*"}},
		{give: "scan/a?", want: []string{"scan/a?"}},
		{give: "scan[", want: []string{"scan["}},
		{give: "scan/b/1", want: []string{"scan/b/1"}},
		{give: "scan/b/1/", want: nil},
		{give: "nothing", want: nil},
	}
	for _, tt := range tests {
		want := slices.Clone(tt.want)
		slices.Sort(want)
		got := scanKeys(t, sc, tt.give)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Scan(%q) (-want +got):\n%s", tt.give, diff)
		}
	}

	// fn's error stops the scan and comes back.
	calls := 0
	err = sc.Scan(t.Context(), "", func(storage.KeyInfo) error {
		calls++
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Errorf("Scan whose fn returns an error = %v, want that error", err)
	}
	if calls != 1 {
		t.Errorf("Scan called fn %d times after it returned an error, want 1 call", calls)
	}

	// A cancelled context stops the scan with ctx.Err().
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	within(t, "Scan with a cancelled context", func() {
		err = sc.Scan(ctx, "", func(storage.KeyInfo) error { return nil })
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan with a cancelled context = %v, want an error matching context.Canceled", err)
	}

	checkKeyInfo(t, s, sc, c)
}

// checkKeyInfo checks the optional fields of KeyInfo, when the storage
// fills them: Size near the value's length, ExpiresAt zero for an entry
// without TTL and near the expiry otherwise, Seq in write order.
func checkKeyInfo(t *testing.T, s storage.Storage, sc storage.Scanner, c config) {
	values := map[string][]byte{}
	set := func(key string, n int, ttl time.Duration) (time.Time, time.Time) {
		values[key] = randomBytes(uint64(n), n)
		before := time.Now()
		mustSet(t, s, key, values[key], storage.Params{TTL: ttl})
		return before, time.Now()
	}
	set("info/1", 100, 0)
	ttlFrom, ttlTo := set("info/2", 1000, time.Hour)
	set("info/3", 10, 0)
	set("info/1", 5000, 0) // overwritten: now the most recent write
	wantOrder := []string{"info/2", "info/3", "info/1"}

	infos := map[string]storage.KeyInfo{}
	err := sc.Scan(t.Context(), "info/", func(ki storage.KeyInfo) error {
		infos[ki.Key] = ki
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(\"info/\"): %v", err)
	}
	if len(infos) != len(wantOrder) {
		t.Fatalf("Scan(\"info/\") reported %d keys, want %d", len(infos), len(wantOrder))
	}
	allSeq := true
	for _, key := range wantOrder {
		ki := infos[key]
		n := int64(len(values[key]))
		if ki.Size < 0 || ki.Size != 0 && (ki.Size < n/2 || ki.Size > 2*n+int64(len(key))+4096) {
			t.Errorf("Scan reported Size %d for %q, a %d-byte value", ki.Size, key, n)
		}
		if key == "info/2" {
			g := c.ttlGranularity + time.Second
			if !ki.ExpiresAt.IsZero() && (ki.ExpiresAt.Before(ttlFrom.Add(time.Hour-g)) || ki.ExpiresAt.After(ttlTo.Add(time.Hour+g))) {
				t.Errorf("Scan reported ExpiresAt %v for an entry set with TTL 1h between %v and %v",
					ki.ExpiresAt, ttlFrom, ttlTo)
			}
		} else if !ki.ExpiresAt.IsZero() {
			t.Errorf("Scan reported ExpiresAt %v for %q, set with TTL 0; want the zero time", ki.ExpiresAt, key)
		}
		allSeq = allSeq && ki.Seq != 0
	}
	if allSeq {
		for i := 1; i < len(wantOrder); i++ {
			a, b := infos[wantOrder[i-1]], infos[wantOrder[i]]
			if a.Seq >= b.Seq {
				t.Errorf("Scan reported Seq %d for %q and %d for %q, written later; want increasing Seq",
					a.Seq, a.Key, b.Seq, b.Key)
			}
		}
	}
}

func checkPrefixDeleter(t *testing.T, s storage.Storage, _ config) {
	pd, ok := s.(storage.PrefixDeleter)
	if !ok {
		t.Skip("not a storage.PrefixDeleter")
	}
	keys := []string{"pd/a/1", "pd/a/2", "pd/ab", "pd/b", "pd", "pd*x", "pd?", "other"}
	for _, k := range keys {
		mustSet(t, s, k, []byte(k), storage.Params{})
	}
	err := pd.DeletePrefix(t.Context(), "nothing")
	skipIfNotSupported(t, "DeletePrefix", err)
	if err != nil {
		t.Fatalf("DeletePrefix(\"nothing\"): %v", err)
	}

	// steps delete prefixes one after the other; want is what remains.
	steps := []struct {
		give string
		want []string
	}{
		{give: "pd/a", want: []string{"pd/b", "pd", "pd*x", "pd?", "other"}},
		{give: "pd*", want: []string{"pd/b", "pd", "pd?", "other"}},
		{give: "pd?", want: []string{"pd/b", "pd", "other"}},
		{give: "pd/b/", want: []string{"pd/b", "pd", "other"}},
		{give: "pd", want: []string{"other"}},
		{give: "", want: nil},
	}
	for _, tt := range steps {
		if err := pd.DeletePrefix(t.Context(), tt.give); err != nil {
			t.Fatalf("DeletePrefix(%q): %v", tt.give, err)
		}
		for _, k := range keys {
			if slices.Contains(tt.want, k) {
				wantValue(t, s, k, []byte(k))
			} else {
				wantMissing(t, s, k)
			}
		}
		if t.Failed() {
			t.Fatalf("after DeletePrefix(%q)", tt.give)
		}
	}

	// A cancelled context: the call returns, with context.Canceled or done.
	mustSet(t, s, "pd/c", []byte("v"), storage.Params{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	within(t, "DeletePrefix with a cancelled context", func() { err = pd.DeletePrefix(ctx, "pd/") })
	switch {
	case err == nil:
		wantMissing(t, s, "pd/c")
	case !errors.Is(err, context.Canceled):
		t.Errorf("DeletePrefix with a cancelled context: %v; want nil or an error matching context.Canceled", err)
	}
}

func checkViewer(t *testing.T, s storage.Storage, _ config) {
	vw, ok := s.(storage.Viewer)
	if !ok {
		t.Skip("not a storage.Viewer")
	}
	// view returns a copy of what View lent, and how many times fn ran.
	view := func(ctx context.Context, key string) ([]byte, int, error) {
		var got []byte
		calls := 0
		err := vw.View(ctx, key, func(v []byte) error {
			calls++
			got = bytes.Clone(v)
			return nil
		})
		return got, calls, err
	}

	_, calls, err := view(t.Context(), "absent")
	skipIfNotSupported(t, "View", err)
	if !errors.Is(err, storage.ErrNotFound) || calls != 0 {
		t.Errorf("View of an absent key: %v after %d calls of fn; want storage.ErrNotFound without calling fn", err, calls)
	}

	want := randomBytes(7, 3000)
	mustSet(t, s, "k", want, storage.Params{})
	got, calls, err := view(t.Context(), "k")
	if err != nil || calls != 1 {
		t.Fatalf("View: %v after %d calls of fn; want nil after 1", err, calls)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("View lent %s, want %s", showValue(got), showValue(want))
	}

	mustSet(t, s, "empty", nil, storage.Params{})
	got, calls, err = view(t.Context(), "empty")
	if err != nil || calls != 1 || len(got) != 0 {
		t.Errorf("View of an empty value lent %s: %v after %d calls; want length 0, nil, 1 call", showValue(got), err, calls)
	}

	err = vw.View(t.Context(), "k", func([]byte) error { return errStop })
	if !errors.Is(err, errStop) {
		t.Errorf("View whose fn returns an error = %v, want that error", err)
	}

	mustRemove(t, s, "k")
	if _, calls, err = view(t.Context(), "k"); !errors.Is(err, storage.ErrNotFound) || calls != 0 {
		t.Errorf("View after Remove: %v after %d calls of fn; want storage.ErrNotFound without calling fn", err, calls)
	}

	mustSet(t, s, "k", want, storage.Params{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	within(t, "View with a cancelled context", func() { got, calls, err = view(ctx, "k") })
	switch {
	case err == nil && (calls != 1 || !bytes.Equal(got, want)):
		t.Errorf("View with a cancelled context lent %s after %d calls, want %s once", showValue(got), calls, showValue(want))
	case err != nil && !errors.Is(err, context.Canceled):
		t.Errorf("View with a cancelled context: %v; want nil or an error matching context.Canceled", err)
	}
}

func checkLocker(t *testing.T, s storage.Storage, c config) {
	lk, ok := s.(storage.Locker)
	if !ok {
		t.Skip("not a storage.Locker")
	}
	ctx := t.Context()
	unlock, acquired, err := lk.TryLock(ctx, "lock/a", time.Minute)
	skipIfNotSupported(t, "TryLock", err)
	if err != nil || !acquired || unlock == nil {
		t.Fatalf("TryLock of a free lock = (unlock %v, %v, %v), want (unlock, true, nil)", unlock != nil, acquired, err)
	}
	if _, acquired, err := lk.TryLock(ctx, "lock/a", time.Minute); err != nil || acquired {
		t.Errorf("TryLock of a held lock = (%v, %v), want (false, nil)", acquired, err)
	}
	unlockB, acquired, err := lk.TryLock(ctx, "lock/b", time.Minute)
	if err != nil || !acquired {
		t.Errorf("TryLock of another free lock = (%v, %v), want (true, nil)", acquired, err)
	} else if err := unlockB(ctx); err != nil {
		t.Errorf("unlock of lock/b: %v", err)
	}
	checkLockIsNoEntry(t, s, lk, "lock/a")
	if err := unlock(ctx); err != nil {
		t.Errorf("unlock: %v", err)
	}
	unlock, acquired, err = lk.TryLock(ctx, "lock/a", time.Minute)
	if err != nil || !acquired {
		t.Fatalf("TryLock after unlock = (%v, %v), want (true, nil)", acquired, err)
	}
	if err := unlock(ctx); err != nil {
		t.Errorf("unlock: %v", err)
	}

	if c.noTTL {
		return
	}
	// A lock expires after its ttl, and a stale holder's unlock does not
	// release the next holder's lock.
	ttl := max(shortTTL, c.ttlGranularity)
	stale, acquired, err := lk.TryLock(ctx, "lock/ttl", ttl)
	if err != nil || !acquired {
		t.Fatalf("TryLock(ttl %v) = (%v, %v), want (true, nil)", ttl, acquired, err)
	}
	deadline := time.Now().Add(ttl + c.ttlGranularity + expirySlack)
	var next func(context.Context) error
	for {
		next, acquired, err = lk.TryLock(ctx, "lock/ttl", time.Minute)
		if err != nil {
			t.Fatalf("TryLock while waiting for a lock to expire: %v", err)
		}
		if acquired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a lock taken for %v is still held after %v", ttl, ttl+c.ttlGranularity+expirySlack)
		}
		time.Sleep(pollInterval)
	}
	_ = stale(ctx) // may report that the lock was lost; must not release next's
	if _, acquired, err := lk.TryLock(ctx, "lock/ttl", time.Minute); err != nil || acquired {
		t.Errorf("TryLock after a stale holder's unlock = (%v, %v), want (false, nil): the stale unlock released the new holder's lock", acquired, err)
	}
	if err := next(ctx); err != nil {
		t.Errorf("unlock: %v", err)
	}
}

// checkLockIsNoEntry checks that the lock key, held, is bookkeeping and no
// entry: a Scan of every key does not report it, and a DeletePrefix of
// every key does not free it.
func checkLockIsNoEntry(t *testing.T, s storage.Storage, lk storage.Locker, key string) {
	t.Helper()
	ctx := t.Context()
	if sc, ok := s.(storage.Scanner); ok {
		var keys []string
		err := sc.Scan(ctx, "", func(ki storage.KeyInfo) error {
			keys = append(keys, ki.Key)
			return nil
		})
		switch {
		case errors.Is(err, storage.ErrNotSupported):
		case err != nil:
			t.Errorf("Scan(\"\") with a lock held: %v", err)
		case len(keys) > 0:
			t.Errorf("Scan(\"\") of a storage holding only a lock reported %q: a lock is not an entry", keys)
		}
	}
	if pd, ok := s.(storage.PrefixDeleter); ok {
		err := pd.DeletePrefix(ctx, "")
		switch {
		case errors.Is(err, storage.ErrNotSupported):
		case err != nil:
			t.Errorf("DeletePrefix(\"\") with a lock held: %v", err)
		default:
			if _, acquired, err := lk.TryLock(ctx, key, time.Minute); err != nil || acquired {
				t.Errorf("TryLock of a held lock after DeletePrefix(\"\") = (%v, %v), want (false, nil): DeletePrefix freed a lock", acquired, err)
			}
		}
	}
}

// listener records what a subscription hears.
type listener struct {
	mu  sync.Mutex // guards got
	got []storage.Invalidation
}

func (l *listener) add(inv storage.Invalidation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, storage.Invalidation{Keys: slices.Clone(inv.Keys), Prefixes: slices.Clone(inv.Prefixes)})
}

func (l *listener) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

// heardKey reports whether an invalidation heard covers key: names it, or
// a prefix of it (the empty prefix, after lost messages, covers every key).
func (l *listener) heardKey(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, inv := range l.got {
		if slices.Contains(inv.Keys, key) || slices.ContainsFunc(inv.Prefixes, func(p string) bool { return strings.HasPrefix(key, p) }) {
			return true
		}
	}
	return false
}

// heardPrefix reports whether an invalidation heard covers prefix.
func (l *listener) heardPrefix(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, inv := range l.got {
		if slices.ContainsFunc(inv.Prefixes, func(p string) bool { return strings.HasPrefix(prefix, p) }) {
			return true
		}
	}
	return false
}

// waitUntil polls cond until it holds, failing t after hangTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, hangTimeout)
		}
		time.Sleep(pollInterval)
	}
}

func checkInvalidator(t *testing.T, s storage.Storage, _ config) {
	inv, ok := s.(storage.Invalidator)
	if !ok {
		t.Skip("not a storage.Invalidator")
	}
	var a, b listener
	cancelA, err := inv.Subscribe(a.add)
	skipIfNotSupported(t, "Subscribe", err)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer cancelA()
	cancelB, err := inv.Subscribe(b.add)
	if err != nil {
		t.Fatalf("a second Subscribe: %v", err)
	}
	defer cancelB()

	// A Remove reaches every subscriber, with its keys.
	keys := []string{"inv/a", "inv/b", "inv/absent"}
	mustSet(t, s, "inv/a", []byte("v"), storage.Params{})
	mustSet(t, s, "inv/b", []byte("v"), storage.Params{})
	mustRemove(t, s, keys...)
	for _, l := range []*listener{&a, &b} {
		waitUntil(t, "subscribers hearing a Remove of their storage", func() bool {
			return l.heardKey("inv/a") && l.heardKey("inv/b") && l.heardKey("inv/absent")
		})
	}

	// A DeletePrefix reaches them, with its prefix.
	if pd, ok := s.(storage.PrefixDeleter); ok {
		mustSet(t, s, "inv/p/1", []byte("v"), storage.Params{})
		err := pd.DeletePrefix(t.Context(), "inv/p/")
		switch {
		case errors.Is(err, storage.ErrNotSupported):
		case err != nil:
			t.Fatalf("DeletePrefix: %v", err)
		default:
			waitUntil(t, "a subscriber hearing a DeletePrefix", func() bool { return a.heardPrefix("inv/p/") })
		}
	}

	// After cancel returns, fn is not called again; cancel is idempotent.
	within(t, "cancel", cancelA)
	within(t, "a second cancel", cancelA)
	n := a.len()
	mustRemove(t, s, "inv/after")
	waitUntil(t, "the remaining subscriber hearing a Remove", func() bool { return b.heardKey("inv/after") })
	if got := a.len(); got != n {
		t.Errorf("a cancelled subscription heard %d more invalidations after cancel returned", got-n)
	}
}

func checkNonblocking(t *testing.T, s storage.Storage, _ config) {
	nb, ok := s.(storage.Nonblocking)
	if !ok {
		t.Skip("not a storage.Nonblocking")
	}
	within(t, "Nonblocking", func() { t.Logf("Nonblocking() = %v", nb.Nonblocking()) })
}

// --- Close -------------------------------------------------------------

// callAll calls every method s has once, with a background context, and
// returns what each returned, by name. Callbacks record that they ran.
func callAll(s storage.Storage) map[string]error {
	ctx := context.Background()
	errs := map[string]error{}
	_, errs["Get"] = s.Get(ctx, "k")
	errs["Set"] = s.Set(ctx, "k", []byte("v"), storage.Params{})
	errs["Remove"] = s.Remove(ctx, "k")
	if sc, ok := s.(storage.Scanner); ok {
		errs["Scan"] = sc.Scan(ctx, "", func(storage.KeyInfo) error {
			return errors.New("fn called")
		})
	}
	if pd, ok := s.(storage.PrefixDeleter); ok {
		errs["DeletePrefix"] = pd.DeletePrefix(ctx, "k")
	}
	if vw, ok := s.(storage.Viewer); ok {
		errs["View"] = vw.View(ctx, "k", func([]byte) error { return errors.New("fn called") })
	}
	if lk, ok := s.(storage.Locker); ok {
		unlock, acquired, err := lk.TryLock(ctx, "lock", time.Minute)
		if err == nil {
			err = fmt.Errorf("acquired %v", acquired)
			if unlock != nil {
				_ = unlock(ctx)
			}
		}
		errs["TryLock"] = err
	}
	if inv, ok := s.(storage.Invalidator); ok {
		cancel, err := inv.Subscribe(func(storage.Invalidation) {})
		if err == nil {
			err = errors.New("subscribed")
			cancel()
		}
		errs["Subscribe"] = err
	}
	return errs
}

func checkCloser(t *testing.T, s storage.Storage, _ config) {
	cl, ok := s.(io.Closer)
	if !ok {
		t.Skip("not an io.Closer")
	}
	mustSet(t, s, "k", []byte("v"), storage.Params{})
	var cancel func()
	if inv, ok := s.(storage.Invalidator); ok {
		cancel, _ = inv.Subscribe(func(storage.Invalidation) {})
	}
	var err error
	within(t, "Close", func() { err = cl.Close() })
	if cancel != nil {
		within(t, "cancel of a subscription after Close", cancel)
	}
	if err != nil {
		t.Errorf("Close: %v", err)
	}
	within(t, "a second Close", func() { err = cl.Close() })
	if err != nil && !errors.Is(err, storage.ErrClosed) {
		t.Errorf("a second Close: %v, want nil or storage.ErrClosed", err)
	}
	var errs map[string]error
	within(t, "calls after Close", func() { errs = callAll(s) })
	for _, name := range slices.Sorted(maps.Keys(errs)) {
		if !errors.Is(errs[name], storage.ErrClosed) {
			t.Errorf("%s after Close = %v, want an error matching storage.ErrClosed", name, errs[name])
		}
	}
}

// checkCloseConcurrent closes the storage while goroutines use it: calls
// racing Close may succeed or return ErrClosed, calls made after Close
// returned must return ErrClosed, and nothing may hang or panic.
func checkCloseConcurrent(t *testing.T, s storage.Storage, _ config) {
	cl, ok := s.(io.Closer)
	if !ok {
		t.Skip("not an io.Closer")
	}
	const workers = 4
	var closed atomic.Bool // set once Close has returned
	started := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			key := fmt.Sprintf("cc/%d", w)
			for i := 0; ; i++ {
				if i == 10 {
					started <- struct{}{}
				}
				after := closed.Load()
				var err error
				switch i % 3 {
				case 0:
					err = s.Set(ctx, key, []byte("v"), storage.Params{})
				case 1:
					_, err = s.Get(ctx, key)
				case 2:
					err = s.Remove(ctx, key)
				}
				switch {
				case errors.Is(err, storage.ErrClosed):
					if i < 10 {
						started <- struct{}{}
					}
					return
				case after:
					t.Errorf("a call made after Close returned = %v, want storage.ErrClosed", err)
					return
				case err != nil && !errors.Is(err, storage.ErrNotFound):
					t.Errorf("a call racing Close = %v, want success or storage.ErrClosed", err)
				}
			}
		})
	}
	for range workers {
		<-started
	}
	within(t, "Close while in use", func() {
		if err := cl.Close(); err != nil {
			t.Errorf("Close while in use: %v", err)
		}
		closed.Store(true)
	})
	within(t, "calls racing Close", wg.Wait)
}
