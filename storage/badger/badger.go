package badger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bdb "github.com/dgraph-io/badger/v4"

	"github.com/gecaso/gecaso/storage"
)

// ErrReadOnly is returned, wrapped, by the writing methods of a Storage
// opened with [WithReadOnly]. Match it with errors.Is.
var ErrReadOnly = errors.New("gecaso/badger: storage is read-only")

// ErrTooLarge is returned, wrapped, by [Storage.Set] for a value over the
// maximum value size (see [WithMaxValueSize]) or a key over Badger's limit of
// 64999 bytes. Nothing is written. Match it with errors.Is.
var ErrTooLarge = errors.New("gecaso/badger: too large")

// ErrBusy is returned, wrapped, by [Storage.Set], [Storage.Remove] and
// [Storage.DeletePrefix] when Badger refused the write because a
// DeletePrefix or a Reclaim was blocking writes at that moment. It is
// transient: the entry is simply not stored (for a cache, a miss later), and
// the same call may succeed a moment later. Match it with errors.Is.
var ErrBusy = errors.New("gecaso/badger: writes briefly blocked by a prefix delete or reclaim")

// Key layout. Every caller's key is stored behind userPrefix, so that any
// string (including the empty one, and one starting with Badger's reserved
// "!badger!") is a valid key, and so that the internal markers below sort
// before and after every caller's key.
const (
	userPrefix = 'k'
)

var (
	markerLow   = []byte("\x00gecaso/reclaim-low")
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
// [storage.Viewer] and [io.Closer].
//
// WARNING: one directory belongs to one process at a time (Badger holds a
// file lock on it). Processes that must share cached results should use a
// shared storage such as Redis, or ask one owner process.
type Storage struct {
	db   *bdb.DB
	dir  string
	cfg  config
	gate gate

	writes  chan *writeReq     // Sets waiting for the writer; unbuffered
	stop    chan struct{}      // closed by Close to stop the writer
	stopGC  context.CancelFunc // cancels the GC loop and any pass it is in
	loops   sync.WaitGroup     // the writer and the GC loop
	reclaim chan struct{}      // capacity 1: held while a Reclaim runs

	closeOnce sync.Once
	closeErr  error
}

var (
	_ storage.Storage       = (*Storage)(nil)
	_ storage.Scanner       = (*Storage)(nil)
	_ storage.PrefixDeleter = (*Storage)(nil)
	_ storage.Viewer        = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// Open opens (creating it if needed) the Badger database in dir and returns a
// Storage over it, tuned as a cache (see [WithBadgerOptions] for the
// profile). The caller must [Storage.Close] it to release the directory.
//
// Open fails at once, with an error naming dir, when dir is a regular file,
// cannot be created or written, or is already open, in this process or
// another. A directory Badger cannot read (corrupt, or from an incompatible
// version) is an error too, even where Badger itself panics.
//
// Open starts a writer goroutine, which commits concurrent Sets together,
// and, unless disabled, the GC loop (see [WithGCInterval]); Close stops both.
func Open(dir string, opts ...Option) (*Storage, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.inMemory {
		dir = ""
	} else if dir == "" {
		return nil, errors.New("gecaso/badger: open: empty directory path")
	}
	bo, err := cfg.badgerOptions(dir)
	if err != nil {
		return nil, fmt.Errorf("gecaso/badger: open %s: %w", dir, err)
	}
	if dir != "" {
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			return nil, fmt.Errorf("gecaso/badger: open %s: not a directory", dir)
		}
	}
	if err := checkTables(bo); err != nil {
		return nil, fmt.Errorf("gecaso/badger: open %s: %w", dir, err)
	}
	db, err := openDB(bo)
	if err != nil {
		return nil, fmt.Errorf("gecaso/badger: open %s: %w", dir, err)
	}
	s := &Storage{
		db:      db,
		dir:     dir,
		cfg:     cfg,
		writes:  make(chan *writeReq),
		stop:    make(chan struct{}),
		reclaim: make(chan struct{}, 1),
	}
	s.gate.init()
	if !cfg.readOnly && cfg.batching {
		s.loops.Add(1)
		go s.writeLoop()
	}
	gcCtx, cancel := context.WithCancel(context.Background())
	s.stopGC = cancel
	if !cfg.readOnly && !cfg.inMemory && cfg.gcInterval > 0 {
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
	if len(key) > maxKeyLen {
		return nil, storage.ErrNotFound // could never have been stored
	}
	var v []byte
	err := s.db.View(func(txn *bdb.Txn) error {
		item, err := txn.Get(dbKey(key))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	switch {
	case err == nil:
		if v == nil {
			v = []byte{}
		}
		return v, nil
	case errors.Is(err, bdb.ErrKeyNotFound):
		return nil, storage.ErrNotFound
	}
	return nil, fmt.Errorf("gecaso/badger: get %q: %w", shortKey(key), err)
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
	if len(key) > maxKeyLen {
		return storage.ErrNotFound
	}
	var fnErr error
	called := false
	err := s.db.View(func(txn *bdb.Txn) error {
		item, err := txn.Get(dbKey(key))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			called = true
			if v == nil {
				v = []byte{}
			}
			fnErr = fn(v)
			return fnErr
		})
	})
	switch {
	case called:
		return fnErr
	case err == nil:
		return nil
	case errors.Is(err, bdb.ErrKeyNotFound):
		return storage.ErrNotFound
	}
	return fmt.Errorf("gecaso/badger: view %q: %w", shortKey(key), err)
}

// Set stores value under key, replacing any previous value. It copies what
// it needs before returning; value stays the caller's.
//
// With p.TTL > 0 the entry carries a Badger expiry of the TTL rounded up to
// the next whole second, so the entry is never dropped earlier than p.TTL and
// never kept more than a second longer. A negative TTL removes the key.
//
// Concurrent Sets are committed together, one Badger transaction (and, with
// [WithSyncWrites], one fsync) for all the Sets waiting at that moment; each
// Set returns when its own write is committed. When ctx is done before the
// write is taken up, Set returns ctx.Err() and the value is not stored; once
// taken up, Set waits for the commit (milliseconds at most).
//
// Errors: [ErrTooLarge] for an oversized key or value, [ErrReadOnly],
// [ErrBusy] while a DeletePrefix or Reclaim blocks writes, [storage.ErrClosed]
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
		return fmt.Errorf("gecaso/badger: set %q: %w", shortKey(key), ErrReadOnly)
	case len(key) > maxKeyLen:
		return fmt.Errorf("gecaso/badger: set %q: key of %d bytes over the limit of %d: %w",
			shortKey(key), len(key), maxKeyLen, ErrTooLarge)
	case int64(len(value)) > s.cfg.maxValueSize:
		return fmt.Errorf("gecaso/badger: set %q: value of %d bytes over the limit of %d: %w",
			shortKey(key), len(value), s.cfg.maxValueSize, ErrTooLarge)
	}
	exp := expiresAt(time.Now(), p.TTL)
	var err error
	if s.cfg.batching {
		var left bool
		if err, left = s.enqueue(ctx, dbKey(key), value, exp); left {
			return err // ctx.Err(), unwrapped: nothing was written
		}
	} else {
		err = s.db.Update(func(txn *bdb.Txn) error {
			e := bdb.NewEntry(dbKey(key), value)
			e.ExpiresAt = exp
			return txn.SetEntry(e)
		})
	}
	if err != nil {
		return wrapWrite("set", key, err)
	}
	return nil
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
		return fmt.Errorf("gecaso/badger: remove %q: %w", shortKey(keys[0]), ErrReadOnly)
	}
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for i, k := range keys {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(k) > maxKeyLen {
			continue // could never have been stored
		}
		bk := dbKey(k)
		err := txn.Delete(bk)
		if errors.Is(err, bdb.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return wrapWrite("remove", k, err)
			}
			txn = s.db.NewTransaction(true)
			err = txn.Delete(bk)
		}
		if err != nil {
			return wrapWrite("remove", k, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return wrapWrite("remove", keys[0], err)
	}
	return nil
}

// wrapWrite wraps a Badger error from a write, marking the transient refusal
// during a DropPrefix as ErrBusy.
func wrapWrite(op, key string, err error) error {
	if errors.Is(err, bdb.ErrBlockedWrites) {
		return fmt.Errorf("gecaso/badger: %s %q: %w: %w", op, shortKey(key), ErrBusy, err)
	}
	return fmt.Errorf("gecaso/badger: %s %q: %w", op, shortKey(key), err)
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
	return fmt.Errorf("gecaso/badger: scan %q: %w", shortKey(prefix), err)
}

// DeletePrefix removes every key that starts with prefix (every key when
// prefix is empty) using Badger's DropPrefix, which rewrites only the tables
// holding such keys. While it runs (about a second per million keys dropped),
// Badger blocks all writes: concurrent Sets and Removes fail with [ErrBusy],
// and a second concurrent DeletePrefix or Reclaim fails with ErrBusy too.
// When no key has the prefix, it returns at once without blocking anything.
// A done ctx is checked only before it starts.
func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.gate.enter() {
		return storage.ErrClosed
	}
	defer s.gate.leave()
	if s.cfg.readOnly {
		return fmt.Errorf("gecaso/badger: delete prefix %q: %w", shortKey(prefix), ErrReadOnly)
	}
	p := dbKey(prefix)
	if !s.hasPrefix(p) {
		// DropPrefix would block writes just to find nothing.
		return nil
	}
	if err := s.db.DropPrefix(p); err != nil {
		return wrapWrite("delete prefix", prefix, err)
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

// Close waits for the methods still running, stops the writer and the GC
// loop, waits for them, and closes the database, releasing the directory.
// Afterwards every method returns [storage.ErrClosed]. Close is idempotent:
// later calls return the first call's result. It must not be called from
// inside a Scan or View callback, which Close would wait for.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.stopGC()     // let a GC pass in progress stop at its next check
		s.gate.shut()  // refuse new calls; wait for those in flight
		close(s.stop)  // no Set is left waiting on the writer now
		s.loops.Wait() // the GC loop must be gone before the DB closes
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("gecaso/badger: close %s: %w", s.dir, err)
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
