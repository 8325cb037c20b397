package badger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
)

// fillExpiring writes n entries of size bytes with the given TTL from a few
// goroutines, and returns when the last has been written.
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
	// Badger rounds expiry up to whole seconds: past this, every entry
	// has expired.
	expired := time.Now().Add(2*time.Second + 100*time.Millisecond)
	s.Close()
	written := diskUsage(t, dir)
	s = openDirT(t, dir, WithGCInterval(50*time.Millisecond))
	time.Sleep(time.Until(expired)) // Badger's expiry reads the real clock
	// Count passes of the loop, not seconds, so that a slow machine only
	// makes the test slower: passes are counted when they start, so once
	// the count is first+1, a whole pass has run over expired entries.
	first := s.Stats().GCPasses + 1
	const passes = 40
	for {
		p := s.Stats().GCPasses
		now := diskUsage(t, dir)
		// Half: what a pass leaves besides live entries (the memtables' logs,
		// the newest value-log file) takes up to a third of this small
		// directory; without the loop it would keep all it has.
		if now < written/2 {
			t.Logf("GC loop took disk usage from %d MB to %d MB in %d passes", written>>20, now>>20, p)
			return
		}
		if p > first+passes {
			t.Fatalf("disk usage still %d bytes of %d after %d passes of the GC loop over expired entries", now, written, passes)
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

// TestReclaimConcurrentWrites: writes racing a Reclaim all succeed (its
// compaction does not block them; its value-log GC pauses them briefly),
// and they are all there afterwards.
func TestReclaimConcurrentWrites(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	s := openT(t, WithGCInterval(-1))
	ctx := context.Background()
	fillExpiring(t, s, "old/", 30_000, 1024, time.Second)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex // guards stored
	var stored []string
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("new/%d/%d", w, i)
				if err := s.Set(ctx, k, []byte(k), storage.Params{}); err != nil {
					t.Errorf("write during Reclaim: %v", err)
					return
				}
				mu.Lock()
				stored = append(stored, k)
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
	for _, k := range stored {
		if v, err := s.Get(ctx, k); err != nil || string(v) != k {
			t.Fatalf("Get(%s) of a write acknowledged during Reclaim = %q, %v", k, v, err)
		}
	}
	t.Logf("%d writes stored during Reclaim, %d of them waited for a pause", len(stored), s.Stats().BusyWaits)
}

// blockWrites pauses the Storage's writes, as its DeletePrefix does, until
// the returned function is called.
func blockWrites(t *testing.T, s *Storage) (unblock func()) {
	paused := make(chan struct{})
	resume := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.pause.run(context.Background(), func() error {
			close(paused)
			<-resume
			return nil
		})
	}()
	<-paused
	var once sync.Once
	return func() {
		once.Do(func() {
			close(resume)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

// TestWritesWaitWhileBlocked: a Set or Remove arriving while a DeletePrefix
// blocks writes waits for it to end and then succeeds; one whose ctx ends
// first returns ctx.Err() and changes nothing; one that waits longer than
// maxBlockedWait gives up with ErrBusy.
func TestWritesWaitWhileBlocked(t *testing.T) {
	t.Parallel() // waits maxBlockedWait; overlaps it with other tests
	ctx := context.Background()
	ops := []struct {
		name  string
		write func(ctx context.Context, s *Storage) error
		want  string // the value of "k" once the write is done
	}{
		{"Set", func(ctx context.Context, s *Storage) error {
			return s.Set(ctx, "k", []byte("new"), storage.Params{})
		}, "new"},
		{"Remove", func(ctx context.Context, s *Storage) error { return s.Remove(ctx, "k") }, ""},
	}
	get := func(s *Storage) string {
		v, err := s.Get(ctx, "k")
		if err == storage.ErrNotFound {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	for _, op := range ops {
		t.Run(op.name+"/waits", func(t *testing.T) {
			t.Parallel()
			s := openT(t, WithGCInterval(-1))
			mustSet(t, s, "k", []byte("old"), 0)
			unblock := blockWrites(t, s)
			done := make(chan error, 1)
			go func() { done <- op.write(ctx, s) }()
			for s.Stats().BusyWaits == 0 {
				time.Sleep(time.Millisecond) // polling for the write to start waiting
			}
			if got := get(s); got != "old" {
				t.Errorf("value while the write waits = %q, want %q", got, "old")
			}
			unblock()
			if err := <-done; err != nil {
				t.Fatalf("%s after the block ended: %v", op.name, err)
			}
			if got := get(s); got != op.want {
				t.Errorf("value after the write = %q, want %q", got, op.want)
			}
		})
		t.Run(op.name+"/ctx", func(t *testing.T) {
			t.Parallel()
			s := openT(t, WithGCInterval(-1))
			mustSet(t, s, "k", []byte("old"), 0)
			unblock := blockWrites(t, s)
			defer unblock()
			c, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- op.write(c, s) }()
			for s.Stats().BusyWaits == 0 {
				time.Sleep(time.Millisecond) // polling for the write to start waiting
			}
			cancel()
			if err := <-done; err != context.Canceled {
				t.Errorf("%s whose ctx ended while waiting = %v, want context.Canceled", op.name, err)
			}
			if got := get(s); got != "old" {
				t.Errorf("value after a cancelled write = %q, want %q", got, "old")
			}
		})
		t.Run(op.name+"/gives up", func(t *testing.T) {
			t.Parallel()
			s := openT(t, WithGCInterval(-1))
			mustSet(t, s, "k", []byte("old"), 0)
			unblock := blockWrites(t, s)
			defer unblock()
			err := op.write(ctx, s)
			if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), `"k"`) {
				t.Errorf("%s blocked past maxBlockedWait = %v, want ErrBusy naming the key", op.name, err)
			}
			if got := get(s); got != "old" {
				t.Errorf("value after a write that gave up = %q, want %q", got, "old")
			}
		})
	}
}

// TestStats: the gauges follow what is on disk and the counters what was
// done: a value of 2 MiB shows in the value log and small ones in the LSM
// tree; a Reclaim after they expire is counted, with what it returned.
func TestStats(t *testing.T) {
	t.Parallel() // waits for expiry; overlaps it with other tests
	dir := t.TempDir()
	s := openDirT(t, dir, WithGCInterval(-1))
	if st := s.Stats(); st.GCPasses != 0 || st.Reclaims != 0 || st.MaxBytes != 0 {
		t.Errorf("Stats of a new Storage = %+v, want no passes, no reclaims, no budget", st)
	}
	mustSet(t, s, "big", make([]byte, 2<<20), time.Second)
	fillExpiring(t, s, "small/", 12_000, 512, time.Second)
	st := s.Stats()
	if st.ValueLogBytes < 2<<20 || st.LSMBytes < 6<<20 || st.DiskBytes < st.ValueLogBytes+st.LSMBytes {
		t.Errorf("Stats after writing a 2 MiB value and 6 MB of small ones = %+v", st)
	}
	if du := diskUsage(t, dir); st.DiskBytes > du+1<<20 || st.DiskBytes < du-1<<20 {
		t.Errorf("DiskBytes = %d, du = %d", st.DiskBytes, du)
	}
	waitExpired(t, s, "", 5*time.Second)
	if err := s.Reclaim(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	if after.Reclaims != 1 || after.ReclaimedBytes < (st.DiskBytes-after.DiskBytes)/2 || after.DiskBytes >= st.DiskBytes/2 {
		t.Errorf("Stats after a Reclaim of expired entries = %+v, before %+v", after, st)
	}
	s.Close()
	if closed := s.Stats(); closed.Reclaims != 1 {
		t.Errorf("Stats after Close = %+v, want the counters kept", closed)
	}

	m := openMemT(t)
	mustSet(t, m, "k", []byte("v"), 0)
	if st := m.Stats(); st.DiskBytes != 0 || st.LSMBytes != 0 || st.ValueLogBytes != 0 {
		t.Errorf("Stats in memory = %+v, want no disk use", st)
	}
}
