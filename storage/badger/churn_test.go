package badger

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	bdb "github.com/dgraph-io/badger/v4"

	"github.com/gecaso/gecaso/storage"
)

var soak = flag.Duration("badger.soak", 0, "run the churn tests this long, with the default options and full-size values")

// churnLoad describes a write load: large values (into the value log) and
// small ones (into the LSM tree), each at a steady pace, all with one TTL.
type churnLoad struct {
	largeSize, smallSize int
	largeEvery           time.Duration // one large value per period
	smallPerLarge        int           // small values written per period
	ttl                  time.Duration
}

// churnLive keeps what a churn load has written and not yet seen expire,
// by Badger's whole-second expiry, in write order (one TTL for all, so
// expiry follows write order).
type churnLive struct {
	mu      sync.Mutex // guards the rest
	queue   []churnEntry
	bytes   int64 // live bytes: keys and values of the queue
	peak    int64 // the most live bytes seen
	written int64 // bytes written in all
}

type churnEntry struct {
	expiresAt uint64 // Badger's, in Unix seconds
	size      int64
}

func (l *churnLive) add(exp uint64, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queue = append(l.queue, churnEntry{exp, size})
	l.bytes += size
	l.written += size
	l.peak = max(l.peak, l.bytes)
}

// now drops what has expired and returns the most live bytes seen and the
// bytes written.
func (l *churnLive) now() (peak, written int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := uint64(time.Now().Unix())
	n := 0
	for n < len(l.queue) && l.queue[n].expiresAt <= now {
		l.bytes -= l.queue[n].size
		n++
	}
	l.queue = l.queue[n:]
	return l.peak, l.written
}

// runChurn writes load into s and, about every 20 ms, calls check with the
// directory's disk use, the most live bytes so far and the bytes written,
// until check returns false. It returns the bytes written.
func runChurn(t *testing.T, s *Storage, load churnLoad, check func(du, live, written int64) bool) int64 {
	t.Helper()
	large, small := make([]byte, load.largeSize), make([]byte, load.smallSize)
	for i := range large {
		large[i] = byte(i * 7) // not all zeroes, like real data
	}
	copy(small, large)
	var live churnLive
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(load.largeEvery) // pacing the load, not waiting for a condition
		defer tick.Stop()
		set := func(key string, v []byte) error {
			now := time.Now()
			err := s.Set(context.Background(), key, v, storage.Params{TTL: load.ttl})
			if err == nil {
				live.add(expiresAt(now, load.ttl), int64(len(key)+len(v)))
			}
			return err
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
			}
			if err := set(fmt.Sprintf("large/%08d", i), large); err != nil {
				done <- err
				return
			}
			for j := range load.smallPerLarge {
				if err := set(fmt.Sprintf("small/%08d/%03d", i, j), small); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case err := <-done:
			t.Fatal(err)
		case <-poll.C: // polling the disk use while the load runs
		}
		peak, written := live.now()
		if !check(diskUsage(t, s.Dir()), peak, written) {
			close(stop)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			_, written = live.now()
			return written
		}
	}
}

// smallFiles shrinks Badger's files, so that a short test writes many times
// their size: 1 MiB memtables, values from 64 KiB in the value log, and
// (through the maximum value size) 1 MiB value-log files.
func smallFiles() []Option {
	return []Option{
		WithMaxValueSize(512 << 10),
		WithBadgerOptions(func(o bdb.Options) bdb.Options {
			return o.WithMemTableSize(1 << 20).WithValueThreshold(64 << 10)
		}),
	}
}

// TestChurnDiskBounded writes large and small values with a short TTL, at
// a steady pace, with the GC loop at its default interval (so only the
// directory's growth starts its passes), and checks that the directory
// never takes more than the package documentation's bound: three times the
// live bytes plus the constant for these file sizes. It writes until it
// has written half as much again as that bound, which without the passes
// would all stay on disk. With -badger.soak=D it runs for D with the default options and
// values of 1.2 MB and 4 KiB.
func TestChurnDiskBounded(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	load := churnLoad{
		largeSize: 200 << 10, smallSize: 2 << 10,
		largeEvery: 10 * time.Millisecond, smallPerLarge: 5,
		ttl: 100 * time.Millisecond,
	}
	opts := smallFiles()
	if *soak > 0 {
		load = churnLoad{
			largeSize: 1_200_000, smallSize: 4 << 10,
			largeEvery: 50 * time.Millisecond, smallPerLarge: 50,
			ttl: 2 * time.Second,
		}
		opts = nil
	}
	s := openT(t, opts...)
	c := s.diskBound()
	var worst float64
	var maxDU, maxLive int64
	failed := false
	start := time.Now()
	written := runChurn(t, s, load, func(du, live, written int64) bool {
		bound := 3*live + c
		if du > bound && !failed {
			failed = true
			t.Errorf("disk use %d bytes, over the bound of %d (3 x %d live bytes + %d)", du, bound, live, c)
		}
		worst = max(worst, float64(du)/float64(bound))
		maxDU, maxLive = max(maxDU, du), max(maxLive, live)
		if *soak > 0 {
			return time.Since(start) < *soak
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("wrote only %d bytes in a minute", written)
		}
		return written < 3*bound/2
	})
	st := s.Stats()
	t.Logf("wrote %d MB in %v; disk use at most %d MB, %.0f%% of the bound (live at most %d MB, constant %d MB); %d passes, %d reclaims, %d value-log files rewritten",
		written>>20, time.Since(start).Round(time.Second), maxDU>>20, 100*worst, maxLive>>20, c>>20, st.GCPasses, st.Reclaims, st.ValueLogRewrites)
}

// budgetFiles are the options of the byte-budget tests: the small files of
// smallFiles, under a budget of the fewest memtables allowed (8 MiB).
func budgetFiles() []Option {
	return append(smallFiles(), WithMaxBytes(minBudgetMemTables<<20))
}

// TestMaxBytesAcrossRestarts fills a directory with a byte budget, with
// entries that never expire, twice over in each of three rounds,
// closing and reopening it between rounds, and checks that its disk use
// never passes the budget and that the oldest entries went first: the last
// round's latest writes are all there, the first round's are gone.
func TestMaxBytesAcrossRestarts(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	dir := t.TempDir()
	ctx := context.Background()
	maxDU := pollDiskUsage(t, dir)
	var budget, refused, evicted int64
	const rounds = 3
	for round := range rounds {
		s, err := Open(dir, budgetFiles()...)
		if err != nil {
			t.Fatal(err)
		}
		budget = s.Stats().MaxBytes
		n, r := fillBudget(t, s, fmt.Sprintf("r%d/", round), 2*budget)
		refused += r
		evicted += s.Stats().Evictions
		t.Logf("round %d: %d entries written, %d refused", round, n, r)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got := maxDU()
	t.Logf("disk use at most %.1f MB of a %d MB budget; %d entries evicted, %d writes refused", float64(got)/(1<<20), budget>>20, evicted, refused)
	if got > budget {
		t.Errorf("disk use reached %d bytes, over the budget of %d", got, budget)
	}
	if evicted == 0 {
		t.Errorf("no entry evicted after writing %d bytes in all", rounds*2*budget)
	}

	// Reopened without a budget, so that nothing more goes: the newest
	// entries stayed, the oldest went.
	s := openDirT(t, dir, append(smallFiles(), WithGCInterval(-1))...)
	var first, last int
	err := s.Scan(ctx, "", func(ki storage.KeyInfo) error {
		switch {
		case ki.Key < "r1/":
			first++
		case ki.Key >= fmt.Sprintf("r%d/", rounds-1):
			last++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if first > 0 {
		t.Errorf("%d entries of the first round still there; want the oldest evicted first", first)
	}
	if last == 0 {
		t.Errorf("no entry of the last round left")
	}
}

// TestMaxBytesAtOpen: a directory filled past a budget without one is
// within it once Open returns with the budget, and stays within while
// writes go on.
func TestMaxBytesAtOpen(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	dir := t.TempDir()
	s := openDirT(t, dir, append(smallFiles(), WithGCInterval(-1))...)
	const budget = minBudgetMemTables << 20
	fillBudget(t, s, "old/", 2*budget)
	s.Close()
	if du := diskUsage(t, dir); du <= budget {
		t.Fatalf("filled to only %d bytes, within the budget of %d", du, budget)
	}

	s = openDirT(t, dir, budgetFiles()...)
	if du := diskUsage(t, dir); du > budget {
		t.Errorf("right after Open the directory takes %d bytes, over the budget of %d", du, budget)
	}
	maxDU := pollDiskUsage(t, dir)
	fillBudget(t, s, "new/", budget)
	if got := maxDU(); got > budget {
		t.Errorf("disk use reached %d bytes, over the budget of %d", got, budget)
	}
	if st := s.Stats(); st.Evictions == 0 || st.MaxBytes != budget {
		t.Errorf("Stats after Open over the budget: %+v; want evictions and MaxBytes %d", st, budget)
	}
}

// fillBudget writes entries that never expire under prefix, one value of
// 300 KiB (into the value log with smallFiles) for fifteen of 2 KiB (into
// the LSM tree), until bytes bytes are stored. A write refused with ErrFull
// waits for the GC loop to take up the measure it asked for. It returns
// the entries stored and refused.
func fillBudget(t *testing.T, s *Storage, prefix string, bytes int64) (stored, refused int64) {
	t.Helper()
	large, small := make([]byte, 300<<10), make([]byte, 2<<10)
	for i := range large {
		large[i] = byte(i * 7)
	}
	ctx := context.Background()
	var written int64
	for i := 0; written < bytes; i++ {
		v := small
		if i%16 == 0 {
			v = large
		}
		err := s.Set(ctx, fmt.Sprintf("%s%06d", prefix, i), v, storage.Params{})
		switch {
		case errors.Is(err, ErrFull):
			refused++
			for len(s.gc.kick) > 0 {
				time.Sleep(time.Millisecond) // polling for the loop to measure, or to start a pass
			}
		case err != nil:
			t.Fatal(err)
		default:
			stored++
			written += int64(len(v))
		}
	}
	return stored, refused
}

// pollDiskUsage polls the disk use of dir every few milliseconds until the
// test ends or the returned function is called, which returns the most seen.
func pollDiskUsage(t *testing.T, dir string) func() int64 {
	var maxDU int64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C: // polling the disk use while writes run
				maxDU = max(maxDU, diskUsage(t, dir))
			}
		}
	}()
	var once sync.Once
	get := func() int64 {
		once.Do(func() { close(stop) })
		<-polled
		return maxDU
	}
	t.Cleanup(func() { get() })
	return get
}
