package badger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
)

// fillExpiring writes n entries of size bytes with the given TTL from a few
// goroutines, and returns when the last has been written. It retries a write
// refused with ErrBusy, which a GC loop's Reclaim may cause.
func fillExpiring(t testing.TB, s *Storage, prefix string, n, size int, ttl time.Duration) {
	t.Helper()
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i * 7) // not all zeroes, like real data
	}
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				err := s.Set(context.Background(), fmt.Sprintf("%s%08d", prefix, i), value, storage.Params{TTL: ttl})
				if errors.Is(err, ErrBusy) {
					i -= workers
					continue
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// waitExpired polls until no key under prefix is left: the writers finish at
// different moments, so the entries expire over a second or two.
func waitExpired(t testing.TB, s *Storage, prefix string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := 0
		err := s.Scan(context.Background(), prefix, func(storage.KeyInfo) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys under %s not expired after %v", n, prefix, within)
		}
		time.Sleep(20 * time.Millisecond) // polling a real clock
	}
}

// TestReclaim writes 100k entries of 1 KiB that live one second, waits for
// them to expire, and checks that Reclaim gives their space back, while
// entries that have not expired survive it.
func TestReclaim(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	dir := t.TempDir()
	s := openDirT(t, dir, WithGCInterval(-1))
	ctx := context.Background()
	fillExpiring(t, s, "keep/", 1000, 1024, 0)
	fillExpiring(t, s, "short/", 100_000, 1024, time.Second)
	written := diskUsage(t, dir)
	waitExpired(t, s, "short/", 5*time.Second)
	expired := diskUsage(t, dir)

	if err := s.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	after := diskUsage(t, dir)
	t.Logf("disk usage: %d MB written, %d MB once expired, %d MB after Reclaim", written>>20, expired>>20, after>>20)
	if after > expired/4 {
		t.Errorf("Reclaim left %d bytes of %d on disk; want most of it returned", after, expired)
	}
	n := 0
	err := s.Scan(ctx, "", func(ki storage.KeyInfo) error {
		n++
		if _, err := s.Get(ctx, ki.Key); err != nil {
			t.Errorf("Get(%s) after Reclaim: %v", ki.Key, err)
		}
		return nil
	})
	if err != nil || n != 1000 {
		t.Errorf("after Reclaim Scan found %d keys (%v), want the 1000 without TTL", n, err)
	}
	// The markers Reclaim writes are not callers' keys.
	if err := s.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	n = 0
	s.Scan(ctx, "", func(storage.KeyInfo) error { n++; return nil })
	if n != 1000 {
		t.Errorf("after a second Reclaim Scan found %d keys, want 1000", n)
	}
}

// TestReclaimValueLog: values over Badger's 1 MiB threshold live in the
// value log, whose space Reclaim returns through value-log GC.
func TestReclaimValueLog(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	dir := t.TempDir()
	s := openDirT(t, dir, WithGCInterval(-1))
	fillExpiring(t, s, "big/", 160, 2<<20, time.Second) // 320 MiB: more than one log file
	waitExpired(t, s, "big/", 5*time.Second)
	before := diskUsage(t, dir)
	if err := s.Reclaim(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := diskUsage(t, dir)
	t.Logf("disk usage: %d MB expired, %d MB after Reclaim", before>>20, after>>20)
	if after > before/2 {
		t.Errorf("Reclaim left %d bytes of %d on disk; want most of it returned", after, before)
	}
}

// TestGCLoopReclaims: with a short GC interval the Storage returns expired
// space by itself.
func TestGCLoopReclaims(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	dir := t.TempDir()
	// Fill without the loop, which would otherwise start reclaiming while a
	// slow fill (race detector, busy machine) is still going.
	s := openDirT(t, dir, WithGCInterval(-1))
	fillExpiring(t, s, "short/", 50_000, 1024, time.Second)
	s.Close()
	written := diskUsage(t, dir)
	openDirT(t, dir, WithGCInterval(50*time.Millisecond))
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := diskUsage(t, dir)
		if now < written/4 {
			t.Logf("GC loop took disk usage from %d MB to %d MB", written>>20, now>>20)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("disk usage still %d bytes of %d after 20 s of GC loop", now, written)
		}
		time.Sleep(50 * time.Millisecond) // polling a real clock
	}
}

func TestReclaimInMemory(t *testing.T) {
	s := openMemT(t)
	ctx := context.Background()
	mustSet(t, s, "k", []byte("v"), 0)
	if err := s.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Errorf("Get after Reclaim in memory = %q, %v", got, err)
	}
}

// TestCloseDuringReclaim: Close waits for a running Reclaim and then closes.
func TestCloseDuringReclaim(t *testing.T) {
	s, err := Open(t.TempDir(), WithGCInterval(-1))
	if err != nil {
		t.Fatal(err)
	}
	fillExpiring(t, s, "k/", 20_000, 1024, 0)
	done := make(chan error, 1)
	go func() { done <- s.Reclaim(context.Background()) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && err != storage.ErrClosed {
		t.Errorf("Reclaim racing Close = %v, want nil or ErrClosed", err)
	}
}

// TestReclaimConcurrentWrites: writes racing a Reclaim succeed or fail with
// ErrBusy (while Badger flushes its memtable), and the ones that succeeded
// are all there afterwards.
func TestReclaimConcurrentWrites(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	s := openT(t, WithGCInterval(-1))
	ctx := context.Background()
	fillExpiring(t, s, "old/", 30_000, 1024, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex // guards stored, busy, bad
	var stored []string
	busy := 0
	var bad []error
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("new/%d/%d", w, i)
				err := s.Set(ctx, k, []byte(k), storage.Params{})
				mu.Lock()
				switch {
				case err == nil:
					stored = append(stored, k)
				case errors.Is(err, ErrBusy):
					busy++
				default:
					bad = append(bad, err)
				}
				mu.Unlock()
			}
		})
	}
	err := s.Reclaim(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range bad {
		t.Errorf("write during Reclaim: %v, want nil or ErrBusy", err)
	}
	for _, k := range stored {
		if v, err := s.Get(ctx, k); err != nil || string(v) != k {
			t.Fatalf("Get(%s) of a write acknowledged during Reclaim = %q, %v", k, v, err)
		}
	}
	t.Logf("%d writes stored and %d refused with ErrBusy during Reclaim", len(stored), busy)
}
