package badger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso/storage"
)

// openT opens a Storage in a fresh temporary directory and closes it when
// the test ends.
func openT(t testing.TB, opts ...Option) *Storage {
	t.Helper()
	s, err := Open(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openMemT(t testing.TB, opts ...Option) *Storage {
	t.Helper()
	s, err := Open("", append(opts, WithInMemory())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// modes runs f once on disk and once in memory.
func modes(t *testing.T, f func(t *testing.T, s *Storage)) {
	t.Run("disk", func(t *testing.T) { f(t, openT(t)) })
	t.Run("memory", func(t *testing.T) { f(t, openMemT(t)) })
}

func mustSet(t testing.TB, s storage.Storage, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, value, storage.Params{TTL: ttl}); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func TestSetGetRemove(t *testing.T) {
	modes(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		tests := []struct {
			give string
			want []byte
		}{
			{give: "plain", want: []byte("value")},
			{give: "", want: []byte("empty key")},
			{give: "!badger!head", want: []byte("badger's reserved prefix")},
			{give: "\x00\xff binary", want: []byte{0, 1, 2}},
			{give: "empty value", want: []byte{}},
		}
		for _, tt := range tests {
			mustSet(t, s, tt.give, tt.want, 0)
		}
		for _, tt := range tests {
			got, err := s.Get(ctx, tt.give)
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.give, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Get(%q) (-want +got):\n%s", tt.give, diff)
			}
		}
		mustSet(t, s, "plain", []byte("replaced"), 0)
		got, err := s.Get(ctx, "plain")
		if err != nil || string(got) != "replaced" {
			t.Errorf("Get after overwrite = %q, %v; want %q", got, err, "replaced")
		}
		if err := s.Remove(ctx, "plain", "", "never set"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"plain", "", "never set"} {
			if _, err := s.Get(ctx, k); err != storage.ErrNotFound {
				t.Errorf("Get(%q) after Remove: err = %v, want bare storage.ErrNotFound", k, err)
			}
		}
		if _, err := s.Get(ctx, "!badger!head"); err != nil {
			t.Errorf("Get of a key not removed: %v", err)
		}
	})
}

func TestGetReturnsCallersCopy(t *testing.T) {
	s := openT(t)
	in := []byte("abc")
	mustSet(t, s, "k", in, 0)
	in[0] = 'X' // Set must not have kept in
	got, _ := s.Get(context.Background(), "k")
	got[1] = 'Y'
	again, _ := s.Get(context.Background(), "k")
	if string(again) != "abc" {
		t.Errorf("stored value changed through caller slices: %q", again)
	}
}

func TestView(t *testing.T) {
	modes(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		mustSet(t, s, "k", []byte("lent"), 0)
		var got string
		if err := s.View(ctx, "k", func(v []byte) error { got = string(v); return nil }); err != nil {
			t.Fatal(err)
		}
		if got != "lent" {
			t.Errorf("View saw %q, want %q", got, "lent")
		}
		errFn := errors.New("from fn")
		if err := s.View(ctx, "k", func([]byte) error { return errFn }); err != errFn {
			t.Errorf("View returned %v, want fn's error unchanged", err)
		}
		called := false
		err := s.View(ctx, "absent", func([]byte) error { called = true; return nil })
		if err != storage.ErrNotFound || called {
			t.Errorf("View of absent key: err = %v, called = %v; want bare ErrNotFound, not called", err, called)
		}
	})
}

func TestExpiresAt(t *testing.T) {
	base := time.Unix(1000, 0)
	tests := []struct {
		name string
		give time.Duration
		want uint64
	}{
		{name: "none", give: 0, want: 0},
		{name: "300ms rounds up", give: 300 * time.Millisecond, want: 1001},
		{name: "whole second stays", give: time.Second, want: 1001},
		{name: "1.5s rounds up", give: 1500 * time.Millisecond, want: 1002},
		{name: "1ns rounds up", give: time.Nanosecond, want: 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, expiresAt(base, tt.give)); diff != "" {
				t.Errorf("expiresAt(%v) (-want +got):\n%s", tt.give, diff)
			}
		})
	}
	// Just after a second boundary the rounding adds almost a second.
	if got, want := expiresAt(base.Add(time.Millisecond), 300*time.Millisecond), uint64(1001); got != want {
		t.Errorf("expiresAt(1000.001s + 300ms) = %d, want %d", got, want)
	}
}

// TestTTL checks the whole-second granularity against the real clock: a
// sub-second TTL is not expired at once (Badger's own WithTTL truncates it to
// zero), and the entry goes away no earlier than its TTL and no later than
// the TTL rounded up to a second (plus polling slack).
func TestTTL(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	modes(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		const ttl = 300 * time.Millisecond
		start := time.Now()
		mustSet(t, s, "short", []byte("v"), ttl)
		mustSet(t, s, "forever", []byte("v"), 0)
		_, err := s.Get(ctx, "short")
		if time.Since(start) < ttl && err != nil {
			t.Fatalf("Get right after Set with a %v TTL: %v", ttl, err)
		}
		deadline := start.Add(ttl + time.Second + 2*time.Second)
		for {
			_, err := s.Get(ctx, "short")
			if err == storage.ErrNotFound {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("entry with a %v TTL still present after %v", ttl, time.Since(start))
			}
			time.Sleep(10 * time.Millisecond) // polling a real clock
		}
		if gone := time.Since(start); gone < ttl {
			t.Errorf("entry with a %v TTL gone after only %v", ttl, gone)
		}
		if _, err := s.Get(ctx, "forever"); err != nil {
			t.Errorf("entry without TTL: %v", err)
		}
	})
}

func TestNegativeTTLRemoves(t *testing.T) {
	s := openT(t)
	mustSet(t, s, "k", []byte("v"), 0)
	mustSet(t, s, "k", []byte("w"), -time.Second)
	if _, err := s.Get(context.Background(), "k"); err != storage.ErrNotFound {
		t.Errorf("Get after Set with a negative TTL: %v, want ErrNotFound", err)
	}
}

func TestScan(t *testing.T) {
	modes(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		mustSet(t, s, "a/2", []byte("22"), 0)
		mustSet(t, s, "a/1", []byte("1"), time.Hour)
		mustSet(t, s, "b/1", []byte("b"), 0)
		mustSet(t, s, "a/3", []byte("333"), 0)
		if err := s.Remove(ctx, "a/3"); err != nil {
			t.Fatal(err)
		}
		var got []storage.KeyInfo
		err := s.Scan(ctx, "a/", func(ki storage.KeyInfo) error { got = append(got, ki); return nil })
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		var sizes []int64
		for _, ki := range got {
			keys = append(keys, ki.Key)
			sizes = append(sizes, ki.Size)
		}
		if diff := cmp.Diff([]string{"a/1", "a/2"}, keys); diff != "" {
			t.Errorf("Scan keys (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{1, 2}, sizes); diff != "" {
			t.Errorf("Scan sizes (-want +got):\n%s", diff)
		}
		if got[1].Seq >= got[0].Seq {
			t.Errorf("Seq does not order writes: a/2 written first has %d, a/1 later has %d", got[1].Seq, got[0].Seq)
		}
		if exp := got[0].ExpiresAt; exp.Before(time.Now().Add(time.Hour-time.Second)) || exp.After(time.Now().Add(time.Hour+time.Second)) {
			t.Errorf("ExpiresAt of a/1 = %v, want about an hour from now", exp)
		}
		if !got[1].ExpiresAt.IsZero() {
			t.Errorf("ExpiresAt of a/2 = %v, want zero", got[1].ExpiresAt)
		}

		var all []string
		s.Scan(ctx, "", func(ki storage.KeyInfo) error { all = append(all, ki.Key); return nil })
		if diff := cmp.Diff([]string{"a/1", "a/2", "b/1"}, all); diff != "" {
			t.Errorf("Scan of every key (-want +got):\n%s", diff)
		}

		stop := errors.New("stop")
		n := 0
		err = s.Scan(ctx, "", func(storage.KeyInfo) error { n++; return stop })
		if err != stop || n != 1 {
			t.Errorf("Scan with fn failing: err = %v after %d calls, want fn's error after 1", err, n)
		}
	})
}

func TestScanCallbackMayCallStorage(t *testing.T) {
	s := openT(t)
	ctx := context.Background()
	for i := range 10 {
		mustSet(t, s, fmt.Sprint(i), []byte("v"), 0)
	}
	err := s.Scan(ctx, "", func(ki storage.KeyInfo) error {
		if _, err := s.Get(ctx, ki.Key); err != nil {
			return err
		}
		return s.Set(ctx, "x"+ki.Key, []byte("w"), storage.Params{})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScanCancelled(t *testing.T) {
	s := openT(t)
	for i := range 1000 {
		mustSet(t, s, fmt.Sprint(i), nil, 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Scan(ctx, "", func(storage.KeyInfo) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan after cancel = %v, want context.Canceled", err)
	}
}

func TestDeletePrefix(t *testing.T) {
	modes(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		for i := range 100 {
			mustSet(t, s, fmt.Sprintf("a/%d", i), []byte("v"), 0)
			mustSet(t, s, fmt.Sprintf("b/%d", i), []byte("v"), 0)
		}
		if err := s.DeletePrefix(ctx, "a/"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePrefix(ctx, "nothing/"); err != nil {
			t.Fatal(err)
		}
		count := func(prefix string) int {
			n := 0
			if err := s.Scan(ctx, prefix, func(storage.KeyInfo) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if got := count("a/"); got != 0 {
			t.Errorf("%d keys left under a/ after DeletePrefix", got)
		}
		if got := count("b/"); got != 100 {
			t.Errorf("%d keys under b/, want 100", got)
		}
		if _, err := s.Get(ctx, "a/5"); err != storage.ErrNotFound {
			t.Errorf("Get(a/5) = %v, want ErrNotFound", err)
		}
		if err := s.DeletePrefix(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if got := count(""); got != 0 {
			t.Errorf("%d keys left after DeletePrefix(\"\")", got)
		}
		mustSet(t, s, "after", []byte("v"), 0) // writes work again
	})
}

// TestDeletePrefixConcurrentWrites: writes racing a DeletePrefix wait for
// it and succeed, or give up with ErrBusy should it block them longer than
// maxBlockedWait (a loaded machine); never anything else, and never hang.
func TestDeletePrefixConcurrentWrites(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	s := openT(t)
	ctx := context.Background()
	for i := range 20000 {
		mustSet(t, s, fmt.Sprintf("old/%d", i), []byte("v"), 0)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex // guards bad, busy
	var bad []error
	busy := 0
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Set(ctx, fmt.Sprintf("new/%d/%d", w, i), []byte("v"), storage.Params{})
				switch {
				case err == nil:
				case errors.Is(err, ErrBusy):
					mu.Lock()
					busy++
					mu.Unlock()
				default:
					mu.Lock()
					bad = append(bad, err)
					mu.Unlock()
				}
			}
		})
	}
	err := s.DeletePrefix(ctx, "old/")
	close(stop)
	wg.Wait()
	if err != nil && !errors.Is(err, ErrBusy) {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("%d writes failed with something other than ErrBusy, first: %v", len(bad), bad[0])
	}
	t.Logf("%d writes waited for DeletePrefix, %d gave up with ErrBusy", s.Stats().BusyWaits, busy)
}

func TestClose(t *testing.T) {
	modes(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		mustSet(t, s, "k", []byte("v"), 0)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		tests := []struct {
			name string
			give func() error
		}{
			{"Get", func() error { _, err := s.Get(ctx, "k"); return err }},
			{"Set", func() error { return s.Set(ctx, "k", nil, storage.Params{}) }},
			{"Remove", func() error { return s.Remove(ctx, "k") }},
			{"View", func() error { return s.View(ctx, "k", func([]byte) error { return nil }) }},
			{"Scan", func() error { return s.Scan(ctx, "", func(storage.KeyInfo) error { return nil }) }},
			{"DeletePrefix", func() error { return s.DeletePrefix(ctx, "") }},
			{"Reclaim", func() error { return s.Reclaim(ctx) }},
		}
		for _, tt := range tests {
			if err := tt.give(); err != storage.ErrClosed {
				t.Errorf("%s after Close = %v, want storage.ErrClosed", tt.name, err)
			}
		}
	})
}

// TestCloseDuringWrites: Close while many Sets and Gets are running returns,
// and every call ends with success or ErrClosed.
func TestCloseDuringWrites(t *testing.T) {
	for _, batching := range []bool{true, false} {
		t.Run(fmt.Sprintf("batching=%v", batching), func(t *testing.T) {
			s, err := Open(t.TempDir(), withBatching(batching))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			started := make(chan struct{})
			var once sync.Once
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for w := range 8 {
				wg.Go(func() {
					for i := 0; ; i++ {
						k := fmt.Sprintf("%d/%d", w, i)
						err := s.Set(ctx, k, bytes.Repeat([]byte("v"), 100), storage.Params{})
						if err == nil {
							_, err = s.Get(ctx, k)
						}
						if i == 10 {
							once.Do(func() { close(started) })
						}
						if err == storage.ErrClosed {
							return
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			<-started
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("call during Close: %v, want nil or ErrClosed", err)
			}
		})
	}
}

func TestSetContextDone(t *testing.T) {
	s := openT(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Set(ctx, "k", []byte("v"), storage.Params{}); err != context.Canceled {
		t.Errorf("Set with a cancelled ctx = %v, want context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), "k"); err != storage.ErrNotFound {
		t.Errorf("value stored despite a cancelled ctx: %v", err)
	}
	if _, err := s.Get(ctx, "k"); err != context.Canceled {
		t.Errorf("Get with a cancelled ctx = %v, want context.Canceled", err)
	}
}

// TestSetLeavesQueue: a Set whose ctx ends while it waits for the writer
// returns ctx.Err() (and its value is then never written), or its write's
// result; it never blocks on a busy writer.
func TestSetLeavesQueue(t *testing.T) {
	s := openT(t, WithSyncWrites(true))
	var wg sync.WaitGroup
	ctx := context.Background()
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				c, cancel := context.WithCancel(ctx)
				if i%2 == 0 {
					cancel() // after the ctx check: races the writer
				}
				k := fmt.Sprintf("%d/%d", w, i)
				errCh := make(chan error, 1)
				go func() { errCh <- s.Set(c, k, []byte("v"), storage.Params{}) }()
				cancel()
				err := <-errCh
				if err != nil && err != context.Canceled {
					t.Errorf("Set(%s) = %v", k, err)
				}
				_, gerr := s.Get(ctx, k)
				if err == nil && gerr != nil {
					t.Errorf("Set(%s) succeeded but Get = %v", k, gerr)
				}
			}
		})
	}
	wg.Wait()
}

func TestTooLarge(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	ctx := context.Background()
	t.Run("memory at threshold", func(t *testing.T) {
		s := openMemT(t)
		// Badger crashes the process on a value of exactly its threshold in
		// memory; the Storage must refuse it first.
		err := s.Set(ctx, "k", make([]byte, 1<<20), storage.Params{})
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("Set of a 1 MiB value in memory = %v, want ErrTooLarge", err)
		}
		if err := s.Set(ctx, "k", make([]byte, 1<<20-1), storage.Params{}); err != nil {
			t.Errorf("Set of a 1 MiB - 1 value in memory: %v", err)
		}
	})
	t.Run("disk 64MiB", func(t *testing.T) {
		s := openT(t)
		big := bytes.Repeat([]byte("0123456789abcdef"), 64<<20/16)
		if err := s.Set(ctx, "big", big, storage.Params{}); err != nil {
			t.Fatalf("Set of a 64 MiB value: %v", err)
		}
		got, err := s.Get(ctx, "big")
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("Get of the 64 MiB value: %d bytes, %v", len(got), err)
		}
		err = s.Set(ctx, "bigger", append(big, 'x'), storage.Params{})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "67108865") {
			t.Errorf("Set of 64 MiB + 1 = %v, want ErrTooLarge naming the size", err)
		}
	})
	t.Run("key", func(t *testing.T) {
		s := openMemT(t)
		long := strings.Repeat("k", maxKeyLen+1)
		if err := s.Set(ctx, long, nil, storage.Params{}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Set of a key over the limit = %v, want ErrTooLarge", err)
		}
		if _, err := s.Get(ctx, long); err != storage.ErrNotFound {
			t.Errorf("Get of a key over the limit = %v, want ErrNotFound", err)
		}
		if err := s.Set(ctx, long[1:], nil, storage.Params{}); err != nil {
			t.Errorf("Set of a key at the limit: %v", err)
		}
	})
	t.Run("option over the limit", func(t *testing.T) {
		_, err := Open("", WithInMemory(), WithMaxValueSize(2<<20))
		if err == nil || !strings.Contains(err.Error(), "maximum value size") {
			t.Errorf("Open in memory with a 2 MiB value bound = %v, want an error", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give string
		want string // in the error
	}{
		{name: "regular file", give: file, want: "not a directory"},
		{name: "under a file", give: filepath.Join(file, "sub"), want: "not a directory"},
		{name: "empty path", give: "", want: "empty directory path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.give)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.give)
			}
			if !strings.Contains(err.Error(), tt.give) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q) = %q, want the path and %q", tt.give, err, tt.want)
			}
		})
	}
}

func TestOpenUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, where a 0500 directory is still writable; TestOpenErrors covers a path under a file")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !errors.Is(err, fs.ErrPermission) && !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Open of an unwritable directory = %v, want an error naming it and the permission", err)
	}
}

func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	s := openDirT(t, dir)
	done := make(chan error, 1)
	go func() {
		s2, err := Open(dir)
		if err == nil {
			s2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
			t.Errorf("second Open of a directory in use = %v, want ErrLocked naming it", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Open of a directory in use did not return")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s3.Close()
}

func openDirT(t testing.TB, dir string, opts ...Option) *Storage {
	t.Helper()
	s, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openDirT(t, dir)
	for i := range 1000 {
		mustSet(t, s, fmt.Sprint(i), []byte(fmt.Sprint("v", i)), 0)
	}
	s.Close()
	s = openDirT(t, dir)
	for i := range 1000 {
		got, err := s.Get(ctx, fmt.Sprint(i))
		if err != nil || string(got) != fmt.Sprint("v", i) {
			t.Fatalf("after reopen Get(%d) = %q, %v", i, got, err)
		}
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openDirT(t, dir)
	mustSet(t, s, "k", []byte("v"), 0)
	s.Close()

	r := openDirT(t, dir, WithReadOnly())
	got, err := r.Get(ctx, "k")
	if err != nil || string(got) != "v" {
		t.Errorf("read-only Get = %q, %v", got, err)
	}
	r2 := openDirT(t, dir, WithReadOnly())
	if _, err := r2.Get(ctx, "k"); err != nil {
		t.Errorf("second read-only Storage: %v", err)
	}
	tests := []struct {
		name string
		give func() error
	}{
		{"Set", func() error { return r.Set(ctx, "k", nil, storage.Params{}) }},
		{"Remove", func() error { return r.Remove(ctx, "k") }},
		{"DeletePrefix", func() error { return r.DeletePrefix(ctx, "") }},
		{"Reclaim", func() error { return r.Reclaim(ctx) }},
	}
	for _, tt := range tests {
		if err := tt.give(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s in read-only mode = %v, want ErrReadOnly", tt.name, err)
		}
	}
}

// TestOpenCorrupt: a directory whose files are garbage gives an error naming
// it, never a panic.
func TestOpenCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := openDirT(t, dir)
	for i := range 5000 {
		mustSet(t, s, fmt.Sprint(i), bytes.Repeat([]byte("v"), 1000), 0)
	}
	s.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string]func([]byte) []byte{
		"garbage": func(b []byte) []byte { return bytes.Repeat([]byte{0xA5}, max(len(b), 64)) },
		"zero-tail": func(b []byte) []byte {
			b = bytes.Clone(b)
			clear(b[len(b)/2:])
			return b
		},
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"7 bytes":   func(b []byte) []byte { return b[:min(len(b), 7)] },
	}
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		for how, fn := range damage {
			if how != "garbage" && !strings.HasSuffix(e.Name(), ".sst") {
				continue
			}
			t.Run(e.Name()+"/"+how, func(t *testing.T) {
				p := filepath.Join(dir, e.Name())
				orig, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				defer os.WriteFile(p, orig, 0o600)
				if err := os.WriteFile(p, fn(orig), 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := Open(dir)
				if err == nil && strings.HasSuffix(e.Name(), ".sst") {
					t.Errorf("Open with a damaged table succeeded")
				}
				if err != nil {
					if !strings.Contains(err.Error(), dir) {
						t.Errorf("Open error does not name the directory: %v", err)
					}
					return
				}
				// Some files (the value log, a memtable) Badger checks lazily or
				// truncates; then reads must not crash either.
				s.Scan(context.Background(), "", func(ki storage.KeyInfo) error {
					_, _ = s.Get(context.Background(), ki.Key)
					return nil
				})
				s.Close()
			})
		}
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex // guards buf
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug})
	s, err := Open(t.TempDir(), WithLogger(slog.New(h)))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "storage=badger") {
		t.Errorf("no Badger message reached the logger; got %q", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestBadgerOptionsEscapeHatch(t *testing.T) {
	_, err := Open(t.TempDir(), WithBadgerOptions(func(o bdb.Options) bdb.Options {
		return o.WithCompression(options.Snappy) // without a block cache
	}))
	if err == nil || !strings.Contains(err.Error(), "block cache") {
		t.Errorf("Open with compression and no block cache = %v, want a clear error", err)
	}
}

// diskUsage returns the bytes allocated on disk under dir. Badger
// preallocates sparse files (a fresh value log is 512 MiB long and nearly
// empty), so apparent sizes say nothing.
func diskUsage(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		n += fi.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOpenLocked: a directory held by a Storage of this process cannot be
// opened again, for writing or for reading, and the error matches
// ErrLocked, names the directory, and says "gecaso/badger" once.
func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openDirT(t, dir)
	tests := []struct {
		name string
		give []Option
	}{
		{name: "second writer", give: nil},
		{name: "reader beside a writer", give: []Option{WithReadOnly()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(dir, tt.give...)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Open = %v, want an error matching ErrLocked and naming %s", err, dir)
			}
			if n := strings.Count(err.Error(), "gecaso/badger:"); n != 1 {
				t.Errorf("error %q says gecaso/badger %d times, want once", err, n)
			}
		})
	}
}

// TestOpenLockedByOtherProcess: a directory held by another process gives
// the same ErrLocked, and opens once that process has closed it.
func TestOpenLockedByOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "opened" {
		t.Fatalf("child did not open %s: %q, %v", dir, sc.Text(), sc.Err())
	}

	s, err := Open(dir)
	if err == nil {
		s.Close()
		t.Fatal("Open of a directory another process holds succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open = %v, want an error matching ErrLocked and naming %s", err, dir)
	}

	in.Close() // the child closes its Storage and exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatalf("Open after the other process closed the directory: %v", err)
	}
	s.Close()
}

const lockDirEnv = "GECASO_BADGER_LOCK_DIR"

// TestLockChild is the child of TestOpenLockedByOtherProcess: it holds the
// directory until its standard input closes.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockDirEnv)
	if dir == "" {
		t.Skip("run by TestOpenLockedByOtherProcess")
	}
	s, err := Open(dir, WithGCInterval(-1))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("opened")
	io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadsSeeWrites: Get and View reuse read transactions, yet a read that
// starts after a Set, Remove or DeletePrefix returned sees it, while
// readers and a writer run at once.
func TestReadsSeeWrites(t *testing.T) {
	modes(t, func(t *testing.T, s *Storage) {
		ctx := context.Background()
		const n = 1000
		var latest atomic.Int64   // the last value whose Set returned; -1 once removed
		var removals atomic.Int64 // odd while a removal runs
		latest.Store(-1)
		done := make(chan struct{})
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					before := removals.Load()
					want := latest.Load()
					var got int64 = -1
					var err error
					if r%2 == 0 {
						var v []byte
						if v, err = s.Get(ctx, "c"); err == nil {
							got, _ = strconv.ParseInt(string(v), 10, 64)
						}
					} else {
						err = s.View(ctx, "c", func(v []byte) error {
							got, _ = strconv.ParseInt(string(v), 10, 64)
							return nil
						})
					}
					if err != nil && err != storage.ErrNotFound {
						t.Error(err)
						return
					}
					if removals.Load() != before || before%2 == 1 {
						continue // a removal raced the read
					}
					if want >= 0 && got < want {
						t.Errorf("read %d after the Set of %d returned", got, want)
						return
					}
				}
			})
		}
		for i := range int64(n) {
			mustSet(t, s, "c", []byte(strconv.FormatInt(i, 10)), 0)
			latest.Store(i)
			if i%500 == 499 {
				removals.Add(1)
				var err error
				if i%1000 == 999 {
					err = s.Remove(ctx, "c")
				} else {
					err = s.DeletePrefix(ctx, "c")
				}
				if err != nil {
					t.Fatal(err)
				}
				latest.Store(-1)
				removals.Add(1)
				if _, err := s.Get(ctx, "c"); err != storage.ErrNotFound {
					t.Fatalf("Get after removing the key = %v, want ErrNotFound", err)
				}
			}
		}
		close(done)
		wg.Wait()
	})
}

// TestErrorsNameThePackageOnce: errors that wrap this package's sentinels
// say "gecaso/badger:" once, name the key, and match the sentinel.
func TestErrorsNameThePackageOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDirT(t, dir, WithMaxValueSize(1<<20))
	mustSet(t, s, "k", []byte("v"), 0)
	s.Close()
	ro := openDirT(t, dir, WithReadOnly())
	rw := openDirT(t, t.TempDir(), WithMaxValueSize(1<<20))
	tests := []struct {
		name string
		give error
		want error
	}{
		{"value too large", rw.Set(ctx, "k", make([]byte, 1<<20+1), storage.Params{}), ErrTooLarge},
		{"key too large", rw.Set(ctx, "k"+strings.Repeat("x", maxKeyLen), nil, storage.Params{}), ErrTooLarge},
		{"read-only", ro.Set(ctx, "k", nil, storage.Params{}), ErrReadOnly},
		{"read-only remove", ro.Remove(ctx, "k"), ErrReadOnly},
		{"full", newError(`set "k": 1 bytes`, ErrFull, nil), ErrFull},
		{"busy", rw.wrapWrite(ctx, "set", "k", bdb.ErrBlockedWrites), ErrBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.give, tt.want) {
				t.Fatalf("error %v does not match %v", tt.give, tt.want)
			}
			msg := tt.give.Error()
			if !strings.HasPrefix(msg, "gecaso/badger: ") || strings.Count(msg, "gecaso/badger:") != 1 {
				t.Errorf("error %q: want one gecaso/badger: prefix", msg)
			}
			if !strings.Contains(msg, `"k`) {
				t.Errorf("error %q does not name the key", msg)
			}
		})
	}
	if err := rw.wrapWrite(ctx, "set", "k", bdb.ErrBlockedWrites); !errors.Is(err, bdb.ErrBlockedWrites) {
		t.Errorf("ErrBusy error %v does not match Badger's cause", err)
	}
}
