package badger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	bdb "github.com/dgraph-io/badger/v4"

	"github.com/gecaso/gecaso/storage"
)

// Space. Badger hides an expired or removed entry at once, but its bytes stay
// on disk until a compaction rewrites the table that holds them, and only a
// compaction into the last level may drop them. A quiet cache whose data sits
// in one level is never compacted again, so its expired entries would stay
// forever: Flatten alone does nothing then (it only merges levels).
//
// Values of 1 MiB and more live in the value log, and the LSM tree holds
// only a pointer to them: a memtable fills with pointers so slowly that,
// under churn, gigabytes of expired values can pass through it before
// Badger flushes it, and value-log GC rewrites only the files whose
// garbage Badger has counted (its discard stats), which it counts only
// when a compaction drops the pointers. So nothing is ever returned
// unless a flush and a compaction are forced.
//
// Reclaim forces them, without blocking writes. It writes two marker keys
// that sort before and after every stored key, so the next table Badger
// builds spans the whole key range and overlaps every table below it. It
// then fills the rest of the memtable with filler entries that are expired
// from the start, so that Badger flushes the memtable holding the markers
// on its own, as it does any full memtable, and waits for that flush.
// (Badger's only public way to force a flush, DropPrefix, blocks every
// write while it flushes and compacts: measured up to 2.5 s on a loaded
// machine.) Flatten then pushes everything down to the last level,
// rewriting every table on the way and dropping what is expired or removed
// (the filler too), and counting the value-log space of what it dropped.
// Last, value-log GC rewrites, one file per call, every value-log file at
// least half garbage but the newest, which Badger never rewrites.
//
// Flatten compacts level 0 only when a level below holds tables: with
// every table in level 0, it does nothing. So Open settles the markers
// below level 0 once, in a directory that has nothing there yet (a new
// one): it writes them and flushes them with a DropPrefix, which compacts
// level 0 down, before any write can be blocked by it. The markers are
// never removed, so some level below 0 holds a table from then on.
//
// The GC loop decides when: every time the directory has grown by half
// again since the last pass (and by at least one value-log file), and on a
// timer. See the package documentation for the bound this gives.

// Reclaim returns to the file system the space held by expired and removed
// entries. It rewrites every live entry once, and writes a memtable's worth
// (8 MiB) of filler that the rewrite drops, so it costs about as much as
// writing the live data again. Its flush and compaction do not block
// writes; its value-log GC pauses them while it rewrites a file (tens of
// milliseconds; see [Storage.Set]). The GC loop calls Reclaim on its own
// (see [WithGCInterval]); call it yourself after a mass expiry or
// DeletePrefix when the disk space matters now.
//
// Reclaims do not overlap: a second call waits for the first, or returns
// ctx.Err() when ctx ends first; ctx is also checked between steps, but a
// step once started runs to its end. In memory, Reclaim compacts but has no
// value log to collect. It returns an error matching [ErrReadOnly] in
// read-only mode and [storage.ErrClosed] after Close.
func (s *Storage) Reclaim(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.gate.enter() {
		return storage.ErrClosed
	}
	defer s.gate.leave()
	return s.reclaimEntered(ctx)
}

// reclaimEntered is Reclaim for a caller that holds the gate or, for the GC
// loop, runs before Close closes the database.
func (s *Storage) reclaimEntered(ctx context.Context) error {
	if s.cfg.readOnly {
		return newError("reclaim", ErrReadOnly, nil)
	}
	select {
	case s.reclaim <- struct{}{}:
		defer func() { <-s.reclaim }()
	case <-ctx.Done():
		return ctx.Err()
	}
	before := s.diskUsage().total()
	defer func() {
		s.stats.reclaims.Add(1)
		if after := s.diskUsage().total(); after < before {
			s.stats.reclaimedBytes.Add(before - after)
		}
	}()
	if err := s.flush(ctx); err != nil {
		return err
	}
	if !s.belowLevel0() {
		// Open settled the markers below level 0, and nothing removes
		// them; should they be missing all the same, compact level 0 the
		// blocking way.
		if err := s.update(ctx, func(txn *bdb.Txn) error { return txn.Set(markerFlush, nil) }); err != nil {
			return wrapReclaim("write markers", err)
		}
		err := s.pause.run(ctx, func() error { return s.db.DropPrefix(markerFlush) })
		s.wrote()
		if err != nil {
			return wrapReclaim("flush", err)
		}
	}
	if err := s.db.Flatten(2); err != nil {
		return wrapReclaim("flatten", err)
	}
	return s.valueLogGC(ctx)
}

// settle makes sure a level below 0 holds a table, writing the markers
// there in a directory that has none yet. It runs in Open, before any
// other write.
func (s *Storage) settle() error {
	if s.belowLevel0() {
		return nil
	}
	err := s.db.Update(func(txn *bdb.Txn) error {
		for _, k := range [][]byte{markerLow, markerFlush, markerHigh} {
			if err := txn.Set(k, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.db.DropPrefix(markerFlush)
}

// lastMemLog returns the number of the newest memtable log file in the
// directory (Badger numbers them in order), 0 when there is none.
func (s *Storage) lastMemLog() int {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0
	}
	last := 0
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".mem"); ok {
			if id, err := strconv.Atoi(n); err == nil {
				last = max(last, id)
			}
		}
	}
	return last
}

// belowLevel0 reports whether a level below 0 holds a table.
func (s *Storage) belowLevel0() bool {
	for _, t := range s.db.Tables() {
		if t.Level > 0 {
			return true
		}
	}
	return false
}

// flush writes the markers and has Badger flush the memtable holding them,
// and returns once the flush is done.
func (s *Storage) flush(ctx context.Context) error {
	var version uint64
	err := s.update(ctx, func(txn *bdb.Txn) error {
		for _, k := range [][]byte{markerLow, markerHigh} {
			if err := txn.Set(k, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = s.db.View(func(txn *bdb.Txn) error {
			item, err := txn.Get(markerLow)
			if err == nil {
				version = item.Version()
			}
			return err
		})
	}
	if err != nil {
		return wrapReclaim("write markers", err)
	}
	// Badger rotates a full memtable before the next write: a memtable's
	// worth of filler, and one batch more, makes sure the markers' one is
	// rotated, whatever it held. On disk the filler stops as soon as the
	// rotation shows (a new memtable log file), so that little of it lands
	// in the next memtable. Each transaction stays under Badger's limit of
	// 15% of a memtable.
	size := min(s.valueThreshold-1, 32<<10, int(s.memTableSize/10))
	value := make([]byte, size)
	perTxn := max(1, int(s.memTableSize/40)/(size+64))
	log0 := s.lastMemLog()
	for n, i := int64(0), 0; n < s.memTableSize+s.memTableSize/10; {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.update(ctx, func(txn *bdb.Txn) error {
			for range perTxn {
				e := bdb.NewEntry(fmt.Appendf(markerFill[:len(markerFill):len(markerFill)], "%d", i), value)
				e.ExpiresAt = 1 // expired from the start: invisible, and dropped by the next compaction
				if err := txn.SetEntry(e); err != nil {
					return err
				}
				i++
				n += int64(size + len(e.Key) + 64)
			}
			return nil
		})
		if err != nil {
			return wrapReclaim("fill the memtable", err)
		}
		if s.dir != "" && s.lastMemLog() > log0 {
			break
		}
	}
	// Memtables are flushed in order: once a table holds a version at
	// least the markers', theirs has been flushed.
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, t := range s.db.Tables() {
			if t.MaxVersion >= version {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C: // polling Badger's tables: its flushes say nothing
		}
	}
}

// update runs fn in a read-write transaction and commits it, waiting while
// writes are paused (see [Storage.Set]).
func (s *Storage) update(ctx context.Context, fn func(txn *bdb.Txn) error) error {
	var bw pauseWait
	defer bw.stop()
	for {
		if err := s.enterWrite(ctx, &bw); err != nil {
			return err
		}
		err := s.updateEntered(fn)
		s.wrote()
		if !errors.Is(err, bdb.ErrBlockedWrites) {
			return err
		}
		if err := s.awaitPause(ctx, &bw); err != nil {
			return err
		}
	}
}

// updateEntered is db.Update for a caller that entered the write gate; it
// leaves it, even should Badger panic.
func (s *Storage) updateEntered(fn func(txn *bdb.Txn) error) error {
	defer s.leaveWrite()
	return s.db.Update(fn)
}

func wrapReclaim(step string, err error) error {
	if errors.Is(err, bdb.ErrBlockedWrites) {
		return newError("reclaim: "+step, ErrBusy, err)
	}
	return newError("reclaim: "+step, nil, err)
}

// valueLogGC rewrites value-log files while Badger finds one at least half
// garbage. Each call rewrites at most one file, as a pause (see pause.go).
func (s *Storage) valueLogGC(ctx context.Context) error {
	if s.cfg.inMemory {
		return nil
	}
	for ctx.Err() == nil {
		var err error
		if perr := s.pause.run(ctx, func() error { err = s.db.RunValueLogGC(0.5); return nil }); perr != nil {
			return perr
		}
		s.wrote() // values moved to another file
		switch {
		case err == nil:
			s.stats.valueLogRewrites.Add(1)
			continue
		case errors.Is(err, bdb.ErrNoRewrite), errors.Is(err, bdb.ErrRejected):
			// Nothing worth rewriting, or another GC is running.
			return nil
		default:
			return newError("value-log gc", nil, err)
		}
	}
	return ctx.Err()
}

// gcState is what the GC loop and the writes share.
type gcState struct {
	kick chan struct{} // capacity 1: asks the loop to measure the directory now

	// written counts the bytes the directory may have grown by since the
	// loop last measured it: twice the key and value of each entry kept in
	// the LSM tree (once in the memtable's log, once in a table), once
	// those in the value log.
	written atomic.Int64
	// usage and lsm are the directory's disk use, and the LSM tree's part
	// of it, when the loop last measured them.
	usage, lsm atomic.Int64

	checkEvery int64 // bytes written between two measures
	minGrowth  int64 // the least growth that starts a pass

	// Owned by the loop.
	floor int64 // disk use after the last pass
}

func (g *gcState) init(s *Storage) {
	g.kick = make(chan struct{}, 1)
	g.minGrowth = max(s.valueLogFileSize, s.memTableSize)
	g.checkEvery = g.minGrowth / 8
	if s.cfg.maxBytes > 0 {
		g.checkEvery = min(g.checkEvery, s.cfg.maxBytes/64)
	}
}

// load is what a byte budget bounds: the directory's disk use with the LSM
// tree's part counted twice, since a pass may rewrite all of the tree
// before it deletes the old tables.
func (g *gcState) load() int64 { return g.usage.Load() + g.lsm.Load() }

// noteWrite accounts for a committed write of an entry and asks the loop to
// measure the directory when enough has been written since it last did.
func (s *Storage) noteWrite(key, value []byte) {
	n := s.growth(key, value)
	total := s.gc.written.Add(n)
	if total >= s.gc.checkEvery && total-n < s.gc.checkEvery {
		s.kickGC()
	}
}

// growth returns how much writing key and value may grow the directory.
func (s *Storage) growth(key, value []byte) int64 {
	n := int64(len(key) + len(value))
	if len(value) < s.valueThreshold {
		n *= 2
	}
	return n
}

func (s *Storage) kickGC() {
	select {
	case s.gc.kick <- struct{}{}:
	default: // a measure is already asked for
	}
}

// admit reports whether a write of key and value keeps the directory within
// its byte budget, as far as the loop's last measure and the writes since
// tell.
func (s *Storage) admit(key, value []byte) bool {
	if s.cfg.maxBytes == 0 {
		return true
	}
	if s.gc.load()+s.gc.written.Load()+s.growth(key, value) <= s.admitLimit() {
		return true
	}
	s.kickGC()
	return false
}

// gcLoop measures the directory when writes ask it to, and makes a pass
// when it has grown enough, or every interval.
func (s *Storage) gcLoop(ctx context.Context, interval time.Duration) {
	defer s.loops.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Errors are transient here (ErrBusy) or will show on the
			// caller's own operations; there is nobody to return them to.
			s.measure()
			_ = s.collect(ctx)
		case <-s.gc.kick:
			s.measure()
			if s.passDue() {
				_ = s.collect(ctx)
			}
		}
	}
}

// measure records the directory's disk use and returns it. Writes counted
// before it began are in the figure; those after count toward the next.
func (s *Storage) measure() int64 {
	s.gc.written.Store(0)
	u := s.diskUsage()
	s.gc.usage.Store(u.total())
	s.gc.lsm.Store(u.lsm)
	return u.total()
}

// passDue reports whether the last measure calls for a pass: the directory
// has grown by half since the last pass, and by minGrowth at least; or,
// with a byte budget, its load has reached the high-water mark.
func (s *Storage) passDue() bool {
	if s.gc.usage.Load() >= s.gc.floor+max(s.gc.minGrowth, s.gc.floor/2) {
		return true
	}
	return s.overBudget()
}

// overBudget reports whether the last measure found the load of a
// directory with a byte budget at high water or over.
func (s *Storage) overBudget() bool {
	return s.cfg.maxBytes > 0 && s.gc.load() >= s.highWater()
}

// A byte budget bounds the load (see gcState.load). Writes are admitted up
// to the budget less a reserve for what a pass writes before it deletes:
// the filler and the table it makes (two memtables), and the value-log
// files that value-log GC writes before it deletes those it rewrote (two
// files). At high water, below
// that, a pass evicts the oldest entries until the load is down to low
// water, a quarter of the budget lower. High water leaves room for the
// writes admitted before the loop measures again (a measure's worth, and
// the largest value, counted twice), so that a write refused for want of
// room always finds a pass due.
type budget struct {
	admit, high, low int64
}

// newBudget returns the marks of a budget of maxBytes for these sizes, or
// an error when it leaves no room.
func newBudget(maxBytes, memTableSize, valueLogFileSize, maxValueSize, checkEvery int64) (budget, error) {
	var b budget
	b.admit = maxBytes - 2*memTableSize - 2*valueLogFileSize
	b.high = b.admit - max(maxBytes/8, 2*maxValueSize+checkEvery)
	b.low = b.high - maxBytes/4
	if b.low <= 0 {
		return b, fmt.Errorf("byte budget %d too small for memtables of %d, value-log files of %d and values of %d",
			maxBytes, memTableSize, valueLogFileSize, maxValueSize)
	}
	return b, nil
}

func (s *Storage) admitLimit() int64 { return s.budget.admit }
func (s *Storage) highWater() int64  { return s.budget.high }
func (s *Storage) lowWater() int64   { return s.budget.low }

// collect runs one pass: a Reclaim when a key scan finds dead (expired,
// removed or overwritten) entries holding at least half as many bytes as
// the live ones, and at least a memtable's worth, else value-log GC. With a
// byte budget, when the load had reached high water, the oldest entries
// then go until it is down to low water. It records the disk use it
// leaves.
func (s *Storage) collect(ctx context.Context) (err error) {
	s.stats.passes.Add(1)
	full := s.overBudget()
	defer func() { s.gc.floor = s.measure() }()
	c, err := s.census(ctx)
	if err != nil {
		return err
	}
	if c.dead >= s.memTableSize && 2*c.dead >= c.live {
		err = s.reclaimEntered(ctx)
	} else {
		err = s.valueLogGC(ctx)
	}
	if err != nil || !full {
		return err
	}
	// What is left over low water, once the garbage is gone, is live
	// entries (and the newest value-log file, which no GC rewrites).
	// Removing a live byte lowers the load by about load/usage bytes; a
	// few rounds make up for the estimate.
	for round := 0; round < 4; round++ {
		du := s.measure()
		load := s.gc.load()
		excess := load - s.lowWater()
		if excess <= 0 || du == 0 {
			return nil
		}
		if round > 0 {
			if c, err = s.census(ctx); err != nil {
				return err
			}
		}
		if c.live == 0 {
			return nil
		}
		if err := s.evict(ctx, c, excess*du/load); err != nil {
			return err
		}
	}
	return nil
}

// censusResult is what a key scan found.
type censusResult struct {
	live, dead     int64  // estimated bytes of live and of dead entries
	minSeq, maxSeq uint64 // the versions of the live entries span this
}

// census estimates the bytes held by live and by dead (expired, removed or
// overwritten) versions of stored entries, reading keys only.
func (s *Storage) census(ctx context.Context) (c censusResult, err error) {
	c.minSeq = ^uint64(0)
	err = s.scanVersions(ctx, func(item *bdb.Item, newest bool) error {
		size := item.EstimatedSize() + 16
		if !newest || item.IsDeletedOrExpired() {
			c.dead += size
			return nil
		}
		c.live += size
		c.minSeq = min(c.minSeq, item.Version())
		c.maxSeq = max(c.maxSeq, item.Version())
		return nil
	})
	return c, err
}

// scanVersions calls fn for every version of every stored entry, newest
// version of each key first, reading keys only.
func (s *Storage) scanVersions(ctx context.Context, fn func(item *bdb.Item, newest bool) error) error {
	return s.db.View(func(txn *bdb.Txn) error {
		p := []byte{userPrefix}
		it := txn.NewIterator(bdb.IteratorOptions{PrefetchValues: false, Prefix: p, AllVersions: true})
		defer it.Close()
		var last []byte
		n := 0
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			newest := string(last) != string(item.Key())
			if newest {
				last = item.KeyCopy(last)
			}
			if err := fn(item, newest); err != nil {
				return err
			}
		}
		return nil
	})
}

// evict removes the oldest live entries, in write order, until about excess
// bytes of them are gone, then reclaims their space. A first key scan
// spreads the live bytes over ranges of versions to find the version below
// which excess bytes lie; a second removes the entries below it. An entry
// written again meanwhile may go too: for a cache, a miss.
func (s *Storage) evict(ctx context.Context, c censusResult, excess int64) error {
	const buckets = 4096
	span := c.maxSeq - c.minSeq + 1
	bucket := func(v uint64) int {
		if v < c.minSeq {
			return 0
		}
		return int(min((v-c.minSeq)*buckets/span, buckets-1))
	}
	var hist [buckets]int64
	err := s.scanVersions(ctx, func(item *bdb.Item, newest bool) error {
		if newest && !item.IsDeletedOrExpired() {
			hist[bucket(item.Version())] += item.EstimatedSize() + 16
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Entries in buckets [0, cut) go: the fewest whole buckets that hold
	// at least excess bytes.
	cut := buckets
	var sum int64
	for i, n := range hist {
		if sum += n; sum >= excess {
			cut = i + 1
			break
		}
	}
	var keys [][]byte
	var removed, size int64
	flush := func() error {
		err := s.removeKeys(ctx, keys)
		removed += int64(len(keys))
		keys = keys[:0]
		return err
	}
	err = s.scanVersions(ctx, func(item *bdb.Item, newest bool) error {
		if !newest || item.IsDeletedOrExpired() || bucket(item.Version()) >= cut {
			return nil
		}
		keys = append(keys, item.KeyCopy(nil))
		size += item.EstimatedSize() + 16
		if len(keys) == 1024 {
			return flush()
		}
		return nil
	})
	if err == nil && len(keys) > 0 {
		err = flush()
	}
	s.stats.evictions.Add(removed)
	s.stats.evictedBytes.Add(size)
	if err != nil {
		return err
	}
	return s.reclaimEntered(ctx)
}

// diskBound returns the constant C of the bound the package documentation
// states for a directory under churn: disk use <= 3 x live bytes + C.
func (s *Storage) diskBound() int64 {
	return 4*s.valueLogFileSize + 6*s.memTableSize + 16<<20
}
