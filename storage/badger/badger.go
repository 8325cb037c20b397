package badger

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bdb "github.com/dgraph-io/badger/v4"

	"github.com/gecaso/gecaso/storage"
)

// Key layout. Every caller's key is stored behind userPrefix, so that any
// string (including the empty one, and one starting with Badger's reserved
// "!badger!") is a valid key, and so that the internal markers below sort
// before and after every caller's key.
const (
	userPrefix = 'k'
)

var (
	markerLow   = []byte("\x00gecaso/reclaim-low")
	markerFill  = []byte("\x00gecaso/reclaim-fill/")
	markerFlush = []byte("\x00gecaso/reclaim-flush")
	markerHigh  = []byte("\xffgecaso/reclaim-high")
)

// Storage is a [storage.Storage] kept in a Badger database in one directory.
// It is safe for concurrent use by many goroutines. Every method returns
// [storage.ErrClosed] after [Storage.Close]. A method whose context is
// already done returns ctx.Err() without doing anything.
//
// Keys are stored with a one-byte prefix; values are stored as given. The
// Storage implements [storage.Scanner], [storage.PrefixDeleter],
// [storage.Viewer], [storage.Nonblocking] (see [WithNonblocking]) and
// [io.Closer].
//
// WARNING: one directory belongs to one process at a time (Badger holds a
// file lock on it). Processes that must share cached results should use a
// shared storage such as Redis, or ask one owner process.
type Storage struct {
	db   *bdb.DB
	dir  string
	cfg  config
	gate gate
	w    writer // group commit

	// From the Badger options Open used.
	valueThreshold   int   // values this long and longer go to the value log
	valueLogFileSize int64 // a value-log file is rotated past this size
	maxBatchBytes    int   // bounds the keys and values of one group commit
	memTableSize     int64 // a memtable is flushed to a table at this size

	pause   pause              // lets DropPrefix and value-log GC run without writes
	reads   readTxns           // read transactions Get and View reuse
	reclaim chan struct{}      // capacity 1: held while a Reclaim runs
	gc      gcState            // the GC loop's triggers
	budget  budget             // the marks of the byte budget, with WithMaxBytes
	stats   counters           // for Stats
	filters filters            // the key filter: see keyfilter.go
	gcCtx   context.Context    // the background work's; cancelled by Close
	stopGC  context.CancelFunc // cancels the GC loop and any pass it is in, and a build of the key filter
	loops   sync.WaitGroup     // the GC loop and a build of the key filter

	closeOnce sync.Once
	closeErr  error
}

var (
	_ storage.Storage       = (*Storage)(nil)
	_ storage.Scanner       = (*Storage)(nil)
	_ storage.PrefixDeleter = (*Storage)(nil)
	_ storage.Viewer        = (*Storage)(nil)
	_ storage.Nonblocking   = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// Open opens (creating it if needed) the Badger database in dir and returns a
// Storage over it, tuned as a cache (see [WithBadgerOptions] for the
// profile). The caller must [Storage.Close] it to release the directory.
//
// Open fails at once, with an error naming dir, when dir is a regular file
// or cannot be created or written; with an error matching [ErrLocked] when
// another Storage holds dir, in this process or another. A directory Badger
// cannot read (corrupt, or from an incompatible version) is an error too,
// even where Badger itself panics.
//
// Open starts, unless disabled, the GC loop (see [WithGCInterval]); Close
// stops it. In a directory none of whose tables has left Badger's level 0
// yet (a new one), a writable Open first writes the two keys Reclaim
// relies on and compacts level 0 once (milliseconds in a new directory).
// With a byte budget the directory does not fit, Open evicts before it
// returns (see [WithMaxBytes]).
func Open(dir string, opts ...Option) (*Storage, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.inMemory {
		dir = ""
	} else if dir == "" {
		return nil, newError("open: empty directory path", nil, nil)
	}
	bo, err := cfg.badgerOptions(dir)
	if err != nil {
		return nil, newError("open "+dir, nil, err)
	}
	if dir != "" {
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			return nil, newError("open "+dir+": not a directory", nil, nil)
		}
	}
	if cfg.filterSlack == 0 {
		cfg.filterSlack = bo.MemTableSize / 64
	}
	if err := checkTables(bo); err != nil {
		return nil, newError("open "+dir, nil, err)
	}
	db, err := openDB(bo)
	if err != nil {
		if isLockError(err) {
			return nil, newError("open "+dir, ErrLocked, err)
		}
		return nil, newError("open "+dir, nil, err)
	}
	s := &Storage{
		db:               db,
		dir:              dir,
		cfg:              cfg,
		valueThreshold:   int(bo.ValueThreshold),
		valueLogFileSize: bo.ValueLogFileSize,
		maxBatchBytes:    int(min(maxBatchBytes, bo.ValueLogFileSize)),
		memTableSize:     bo.MemTableSize,
		reclaim:          make(chan struct{}, 1),
	}
	s.gate.init()
	s.pause.init()
	s.reads.init()
	s.gc.init(s)
	if cfg.maxBytes > 0 {
		s.budget, err = newBudget(cfg.maxBytes, bo.MemTableSize, bo.ValueLogFileSize, cfg.maxValueSize, s.gc.checkEvery)
		if err != nil {
			db.Close()
			return nil, newError("open "+dir, nil, err)
		}
	}
	if !cfg.readOnly {
		if err := s.settle(); err != nil {
			db.Close()
			return nil, newError("open "+dir, nil, err)
		}
	}
	gcCtx, cancel := context.WithCancel(context.Background())
	s.gcCtx, s.stopGC = gcCtx, cancel
	s.filters.seed = maphash.MakeSeed()
	if cfg.inMemory {
		s.filters.cur.Store(newKeyFilter(cfg.filterMin)) // nothing is stored yet
	} else {
		s.startFilterBuild()
	}
	if !cfg.readOnly && !cfg.inMemory && cfg.gcInterval > 0 {
		s.gc.floor = s.measure()
		if s.overBudget() {
			// Opened with a budget the directory does not fit (a smaller
			// one than before): bring it within before the first write.
			// Should this fail, the loop tries again and writes are
			// refused meanwhile.
			_ = s.collect(gcCtx)
		}
		s.loops.Add(1)
		go s.gcLoop(gcCtx, cfg.gcInterval)
	}
	return s, nil
}

// openDB is bdb.Open turned into an error when it panics, which it does on
// some corrupt directories. (Badger also exits the process on a few
// unrecoverable I/O errors; nothing can catch those.)
func openDB(o bdb.Options) (db *bdb.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("badger panicked while opening (corrupt or incompatible directory?): %v", r)
		}
	}()
	return bdb.Open(o)
}

// Nonblocking reports whether gecaso may read the Storage on its callers'
// goroutines: true unless [WithNonblocking](false) was given. Its reads
// wait on the local disk at most, never on the network or on another
// process.
func (s *Storage) Nonblocking() bool { return !s.cfg.blocking }

// Dir returns the directory the Storage was opened on, or "" in memory.
func (s *Storage) Dir() string { return s.dir }

// dbKey returns the stored form of key.
func dbKey(key string) []byte {
	b := make([]byte, 1+len(key))
	b[0] = userPrefix
	copy(b[1:], key)
	return b
}

// Get returns a copy of the value stored under key, which the caller owns, or
// the bare [storage.ErrNotFound] when the key is absent or its Badger expiry
// (whole seconds, see the package documentation) has passed.
func (s *Storage) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.gate.enter() {
		return nil, storage.ErrClosed
	}
	defer s.gate.leave()
	if len(key) > maxKeyLen || s.absent(key) {
		return nil, storage.ErrNotFound // could never have been stored, or never was
	}
	var v []byte
	c := s.take()
	item, err := c.txn.Get(dbKey(key))
	if err == nil {
		v, err = item.ValueCopy(nil)
	}
	s.give(c)
	switch {
	case err == nil:
		if v == nil {
			v = []byte{}
		}
		return v, nil
	case errors.Is(err, bdb.ErrKeyNotFound):
		return nil, storage.ErrNotFound
	}
	return nil, newError(fmt.Sprintf("get %q", shortKey(key)), nil, err)
}

// View calls fn with the value stored under key, without copying it, or
// returns the bare [storage.ErrNotFound] without calling fn. The slice points
// into Badger's memory-mapped files: it is valid only until fn returns and
// must not be modified. View returns fn's error unchanged. fn must not call
// Close.
func (s *Storage) View(ctx context.Context, key string, fn func(value []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.gate.enter() {
		return storage.ErrClosed
	}
	defer s.gate.leave()
	if len(key) > maxKeyLen || s.absent(key) {
		return storage.ErrNotFound
	}
	var fnErr error
	called := false
	c := s.take()
	item, err := c.txn.Get(dbKey(key))
	if err == nil {
		err = item.Value(func(v []byte) error {
			called = true
			if v == nil {
				v = []byte{}
			}
			fnErr = fn(v)
			return fnErr
		})
	}
	s.give(c)
	switch {
	case called:
		return fnErr
	case err == nil:
		return nil
	case errors.Is(err, bdb.ErrKeyNotFound):
		return storage.ErrNotFound
	}
	return newError(fmt.Sprintf("view %q", shortKey(key)), nil, err)
}

// Set stores value under key, replacing any previous value. It copies what
// it needs before returning; value stays the caller's.
//
// With p.TTL > 0 the entry carries a Badger expiry of the TTL rounded up to
// the next whole second, so the entry is never dropped earlier than p.TTL and
// never kept more than a second longer. A negative TTL removes the key.
//
// A Set that finds no other write in progress commits at once, in the
// caller's goroutine. Concurrent Sets are committed together: one Badger
// transaction (and, with [WithSyncWrites], one fsync) for all the Sets that
// queued while the previous commit ran; each Set returns when its own write
// is committed. When ctx is done while the Set is queued, Set returns
// ctx.Err() and the value is not stored; once taken up for a commit, Set
// waits for it (milliseconds at most).
//
// While a DeletePrefix runs, or value-log GC rewrites a file (part of a
// Reclaim or of a pass of the GC loop), writes pause: Set waits for that to
// end, up to ctx's end and at most two seconds in all, then writes. A
// value-log file is rewritten in tens of milliseconds; a DeletePrefix takes
// about a second per million keys dropped.
//
// Errors: [ErrTooLarge] for an oversized key or value, [ErrFull] when a
// byte budget ([WithMaxBytes]) has no room yet, [ErrReadOnly], [ErrBusy]
// when writes stayed paused longer than Set waits, [storage.ErrClosed]
// after Close; anything else from Badger, wrapped.
func (s *Storage) Set(ctx context.Context, key string, value []byte, p storage.Params) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.TTL < 0 {
		return s.Remove(ctx, key)
	}
	if !s.gate.enter() {
		return storage.ErrClosed
	}
	defer s.gate.leave()
	switch {
	case s.cfg.readOnly:
		return newError(fmt.Sprintf("set %q", shortKey(key)), ErrReadOnly, nil)
	case len(key) > maxKeyLen:
		return newError(fmt.Sprintf("set %q: key of %d bytes over the limit of %d",
			shortKey(key), len(key), maxKeyLen), ErrTooLarge, nil)
	case int64(len(value)) > s.cfg.maxValueSize:
		return newError(fmt.Sprintf("set %q: value of %d bytes over the limit of %d",
			shortKey(key), len(value), s.cfg.maxValueSize), ErrTooLarge, nil)
	}
	k := dbKey(key)
	if !s.admit(k, value) {
		s.stats.refused.Add(1)
		return newError(fmt.Sprintf("set %q: %d bytes", shortKey(key), len(value)), ErrFull, nil)
	}
	exp := expiresAt(time.Now(), p.TTL)
	var bw pauseWait
	defer bw.stop()
	for {
		if err := s.enterWrite(ctx, &bw); err != nil {
			return s.wrapWrite(ctx, "set", key, err)
		}
		s.noteKey(key) // before the commit, under the write gate: see keyfilter.go
		err, left := s.commitEntered(ctx, k, value, exp)
		if left {
			return err // ctx.Err(), unwrapped: nothing was written
		}
		s.wrote() // whatever the outcome: a read must not reuse a transaction begun before
		if errors.Is(err, bdb.ErrBlockedWrites) {
			if err = s.awaitPause(ctx, &bw); err == nil {
				continue
			}
		}
		if err != nil {
			return s.wrapWrite(ctx, "set", key, err)
		}
		s.noteWrite(k, value)
		return nil
	}
}

// commitEntered commits an entry for a caller that entered the write gate
// (enterWrite), and leaves it, even should Badger panic. left reports that
// ctx ended while the entry was queued: nothing was written.
func (s *Storage) commitEntered(ctx context.Context, key, value []byte, exp uint64) (err error, left bool) {
	defer s.leaveWrite()
	if s.cfg.batching {
		return s.write(ctx, key, value, exp)
	}
	return s.commitOne(key, value, exp), false
}

// expiresAt returns Badger's expiry, in Unix seconds, for an entry written at
// now that must live for ttl: rounded up, because Badger compares whole
// seconds and truncating would drop the entry early (a 300 ms TTL would be
// expired at once). 0 means no expiry.
func expiresAt(now time.Time, ttl time.Duration) uint64 {
	if ttl <= 0 {
		return 0
	}
	d := now.Add(ttl)
	sec := d.Unix()
	if d.Nanosecond() > 0 {
		sec++
	}
	return uint64(sec)
}

// Remove deletes the given keys. Absent keys are not an error. Many keys may
// be split over several transactions, so a failure can leave some removed.
// Like [Storage.Set], Remove waits while writes are paused. A done ctx
// stops it between transactions.
func (s *Storage) Remove(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.gate.enter() {
		return storage.ErrClosed
	}
	defer s.gate.leave()
	if len(keys) == 0 {
		return nil
	}
	if s.cfg.readOnly {
		return newError(fmt.Sprintf("remove %q", shortKey(keys[0])), ErrReadOnly, nil)
	}
	bks := make([][]byte, 0, len(keys))
	for _, k := range keys {
		if len(k) <= maxKeyLen { // a longer one could never have been stored
			bks = append(bks, dbKey(k))
		}
	}
	if err := s.removeKeys(ctx, bks); err != nil {
		return s.wrapWrite(ctx, "remove", keys[0], err)
	}
	return nil
}

// removeKeys deletes the stored keys given, in as few transactions as
// Badger allows, waiting while writes are paused.
func (s *Storage) removeKeys(ctx context.Context, keys [][]byte) error {
	var bw pauseWait
	defer bw.stop()
	for len(keys) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.enterWrite(ctx, &bw); err != nil {
			return err
		}
		n, err := s.deleteSome(keys)
		if errors.Is(err, bdb.ErrBlockedWrites) {
			if err = s.awaitPause(ctx, &bw); err == nil {
				continue
			}
		}
		s.wrote()
		if err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// deleteSome deletes as many of keys, from the first, as one transaction
// holds, and returns how many. The caller has entered the write gate;
// deleteSome leaves it.
func (s *Storage) deleteSome(keys [][]byte) (int, error) {
	defer s.leaveWrite()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	n := 0
	for ; n < len(keys); n++ {
		err := txn.Delete(keys[n])
		if errors.Is(err, bdb.ErrTxnTooBig) && n > 0 {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return n, txn.Commit()
}

// wrapWrite wraps an error from a write: ctx's own error stays bare (nothing
// more was written), writes still paused after the wait become ErrBusy.
func (s *Storage) wrapWrite(ctx context.Context, op, key string, err error) error {
	what := fmt.Sprintf("%s %q", op, shortKey(key))
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return err
	case errors.Is(err, bdb.ErrBlockedWrites):
		return newError(what, ErrBusy, err)
	}
	return newError(what, nil, err)
}

// Scan calls fn for every live key that starts with prefix (every key when
// prefix is empty), in byte order of the keys, reading keys only. KeyInfo.Size
// is Badger's estimate of the value's size; ExpiresAt is Badger's
// whole-second expiry (zero when none); Seq is the commit version, which
// orders writes and keeps growing across restarts (concurrent Sets committed
// together share one). Scan sees a snapshot taken when it starts. It stops with
// fn's error, or with ctx.Err() when ctx is done. fn may call the Storage's
// other methods, but not Close.
func (s *Storage) Scan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.gate.enter() {
		return storage.ErrClosed
	}
	defer s.gate.leave()
	var fnErr error
	err := s.db.View(func(txn *bdb.Txn) error {
		p := dbKey(prefix)
		it := txn.NewIterator(bdb.IteratorOptions{PrefetchValues: false, Prefix: p})
		defer it.Close()
		n := 0
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			if n++; n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			info := storage.KeyInfo{
				Key:  string(item.Key()[1:]),
				Size: item.ValueSize(),
				Seq:  item.Version(),
			}
			if e := item.ExpiresAt(); e > 0 {
				info.ExpiresAt = time.Unix(int64(e), 0)
			}
			if fnErr = fn(info); fnErr != nil {
				return fnErr
			}
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return newError(fmt.Sprintf("scan %q", shortKey(prefix)), nil, err)
}

// DeletePrefix removes every key that starts with prefix (every key when
// prefix is empty) using Badger's DropPrefix, which rewrites only the tables
// holding such keys. While it runs (about a second per million keys dropped),
// Badger refuses all writes, so writes pause: concurrent Sets and Removes
// wait for it (see [Storage.Set]), and so does a second concurrent
// DeletePrefix, up to its ctx's end. When no key has the prefix, it returns
// at once without pausing anything. A done ctx is checked only before it
// starts.
func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.gate.enter() {
		return storage.ErrClosed
	}
	defer s.gate.leave()
	if s.cfg.readOnly {
		return newError(fmt.Sprintf("delete prefix %q", shortKey(prefix)), ErrReadOnly, nil)
	}
	p := dbKey(prefix)
	if !s.hasPrefix(p) {
		// DropPrefix would block writes just to find nothing.
		return nil
	}
	err := s.pause.run(ctx, func() error { return s.db.DropPrefix(p) })
	s.wrote()
	if err != nil {
		return s.wrapWrite(ctx, "delete prefix", prefix, err)
	}
	return nil
}

// hasPrefix reports whether any live key starts with p.
func (s *Storage) hasPrefix(p []byte) bool {
	found := false
	_ = s.db.View(func(txn *bdb.Txn) error {
		it := txn.NewIterator(bdb.IteratorOptions{PrefetchValues: false, Prefix: p})
		defer it.Close()
		it.Seek(p)
		found = it.ValidForPrefix(p)
		return nil
	})
	return found
}

// Close waits for the methods still running, stops the GC loop, waits for
// it, and closes the database, releasing the directory. Afterwards every
// method returns [storage.ErrClosed]. Close is idempotent: later calls return
// the first call's result. It must not be called from inside a Scan or View
// callback, which Close would wait for.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.stopGC()     // let a GC pass in progress stop at its next check
		s.gate.shut()  // refuse new calls; wait for those in flight
		s.loops.Wait() // the GC loop must be gone before the DB closes
		s.discardReads()
		if err := s.db.Close(); err != nil {
			s.closeErr = newError("close "+s.dir, nil, err)
		}
	})
	return s.closeErr
}

// shortKey bounds a key for an error message.
func shortKey(key string) string {
	const max = 100
	if len(key) <= max {
		return key
	}
	return key[:max] + "..."
}

// gate counts the calls in flight so that Close can refuse new ones and wait
// for the running ones before it closes the database: Badger unmaps its files
// on Close, and a read still going would fault. Entering never blocks, so a
// Scan callback may call Get.
type gate struct {
	state atomic.Int64  // closingBit | number of calls in flight
	idle  chan struct{} // capacity 1: signalled when the count drops to 0 while closing
}

const closingBit = 1 << 62

func (g *gate) init() { g.idle = make(chan struct{}, 1) }

// enter reports whether the caller may go on; if so it must call leave.
func (g *gate) enter() bool {
	if g.state.Add(1)&closingBit != 0 {
		g.leave()
		return false
	}
	return true
}

func (g *gate) leave() {
	if g.state.Add(-1) == closingBit {
		select {
		case g.idle <- struct{}{}:
		default:
		}
	}
}

// shut makes every later enter fail and waits for the calls in flight.
func (g *gate) shut() {
	if g.state.Or(closingBit) == 0 {
		return
	}
	<-g.idle
}
