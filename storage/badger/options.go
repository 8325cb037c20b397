package badger

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Option configures [Open]. Options are applied in order; a later option
// overrides an earlier one, except [WithBadgerOptions], whose functions are
// all applied, in order, after the cache profile.
type Option func(*config)

const (
	// defaultGCInterval is how often the GC loop looks for reclaimable space.
	defaultGCInterval = 5 * time.Minute

	// defaultMaxValueSize bounds values on disk. Larger values are refused
	// rather than written, so that one huge result cannot fill memory or a
	// value-log file.
	defaultMaxValueSize = 64 << 20

	// memTableSize is the cache profile's memtable size. Badger's default is
	// 64 MiB with five of them, sized for a database's write throughput; a
	// cache pays that in resident memory for nothing.
	memTableSize = 8 << 20

	// vlogFileSlack is what a value-log file holds beyond the largest value
	// it must accept: the entry's header, its key and checksum. The cache
	// profile sizes value-log files to the maximum value size plus this,
	// and no larger, because value-log GC never rewrites the newest file:
	// its garbage stays on disk until a file of this size has been written
	// after it.
	vlogFileSlack = 64 << 10

	// maxValueLogFileSize bounds the value-log file size the cache profile
	// picks (Badger's own default), and so the maximum value size.
	maxValueLogFileSize = 1 << 30

	// minBudgetMemTables is the smallest byte budget, in memtables:
	// Badger's memtable logs alone take up to three, and the budget counts
	// the LSM tree twice.
	minBudgetMemTables = 8

	// maxKeyLen is Badger's key limit (65000 bytes) minus the one-byte prefix
	// every stored key carries.
	maxKeyLen = 65000 - 1
)

type config struct {
	syncWrites   bool
	gcInterval   time.Duration
	readOnly     bool
	inMemory     bool
	logger       *slog.Logger
	tune         []func(bdb.Options) bdb.Options
	maxValueSize int64
	maxBytes     int64
	batching     bool  // group commit of concurrent Sets; tests and benchmarks turn it off to compare
	blocking     bool  // WithNonblocking(false): reads may wait long enough that callers must be able to leave them
	filterMin    int64 // the smallest capacity of a key filter
	filterSlack  int64 // keys the memtables may hold beyond the tables' count; 0: a memtable's worth of 64-byte entries
}

// withFilterSizes sets the smallest capacity of a key filter and what a
// build counts for the memtables; tests shrink them to make builds
// frequent.
func withFilterSizes(minKeys, slack int64) Option {
	return func(c *config) { c.filterMin, c.filterSlack = minKeys, slack }
}

func defaultConfig() config {
	return config{
		gcInterval: defaultGCInterval,
		batching:   true,
		filterMin:  minFilterKeys,
	}
}

// WithSyncWrites makes every Set and Remove wait until its data is on stable
// storage (fsync) before returning. The default is off.
//
// Without it, an acknowledged write survives the process being killed
// (kill -9, a panic, OOM), because the operating system still holds the
// written pages and flushes them later; it can be lost if the machine loses
// power or the kernel crashes within the next few seconds. With it, writes
// survive power loss too, at a cost: measured 20 to 28 times slower per
// serial write (an fsync took about 160 µs where measured). Concurrent Sets
// share one fsync (see [Storage.Set]), which narrows the gap under load:
// 16 writers paid 36 µs per Set. For a cache, a lost entry is only a
// recomputation, so the default is off.
func WithSyncWrites(on bool) Option { return func(c *config) { c.syncWrites = on } }

// WithNonblocking sets what [Storage.Nonblocking] reports; the default is
// true. gecaso reads a [storage.Nonblocking] storage on the caller's
// goroutine, and any other, for a caller whose context can be cancelled, on
// a goroutine of its own that the caller leaves as soon as its context ends.
//
// Badger answers a read from its memtables and memory-mapped files, in the
// process, without waiting on the network or on another process: a read
// takes microseconds, and tens to hundreds of microseconds when the page
// cache is cold (measured on a local virtual disk right after dropping the
// cache: median 26 µs, 99th percentile 0.74 ms, slowest of 2000 5.7 ms).
// A caller whose context ends during a read waits for that read to end.
// A goroutine per read, on the other hand, wakes another thread for every
// call: on the 2-core virtual machine of the benchmarks, the hit of a
// caller with a cancellable context took 2.4 times as long with one. So
// reads stay on the caller's goroutine by default.
//
// Pass false when the directory is on storage whose reads can stall for
// long (a network file system, a failing disk): callers then leave a stalled
// read at once, at the cost of a goroutine per read for callers whose
// context can be cancelled.
func WithNonblocking(on bool) Option { return func(c *config) { c.blocking = !on } }

// WithGCInterval sets how often the Storage's background loop makes a pass
// over the directory to return space to the file system: it runs
// value-log GC, and a full [Storage.Reclaim] when a key scan shows that at
// least half of the stored bytes are expired or deleted. Besides these timed
// passes, the loop measures the directory as writes accumulate (every few
// megabytes written) and makes a pass whenever it has grown by half since
// the last pass, and by at least one value-log file: this is what keeps the
// disk use of a cache under churn bounded (see the package documentation).
// The default (and 0) is 5 minutes; a negative interval disables the loop
// altogether, timed and triggered passes alike, leaving [Storage.Reclaim]
// to the caller (a byte budget, [WithMaxBytes], needs the loop and is then
// refused by Open). The loop never runs in read-only or in-memory mode.
func WithGCInterval(d time.Duration) Option { return func(c *config) { c.gcInterval = d } }

// WithMaxBytes sets a budget for the directory's disk use, in bytes as du
// counts them; the default, 0, is none. It must be at least eight
// memtables (64 MiB with the cache profile).
//
// The Storage enforces it by accounting. It counts the directory's use
// with the LSM tree's files twice, since a pass of the GC loop may rewrite
// the whole tree before it deletes the old tables: call that the load. A
// Set is admitted while the load the GC loop last measured, plus what was
// written since (twice, for values under 1 MiB), stays within the budget
// less a reserve for what a pass writes before it deletes (two memtables
// and two value-log files); a Set that would go past it is refused with an error matching [ErrFull], and
// nothing is written: gecaso reports it and returns the result uncached.
// When the load reaches high water, an eighth of the budget (or two
// maximum values) below that limit, the loop makes a pass: expired and
// removed entries go first, then the oldest entries, in write order (which
// survives restarts), until the load is down a quarter of the budget, and
// their space is returned. So entries of the LSM tree (values under 1 MiB)
// fit in about a quarter of the budget, values of the value log in about
// half. Set refuses writes while the loop catches up, which it does in
// milliseconds to seconds.
//
// The budget holds across restarts: Open measures the directory and, when
// it is over (opened with a smaller budget than before), makes the pass
// before it returns, which may take seconds for a large directory. Beyond
// the accounting, the directory can pass the budget by about the size of
// the Sets admitted at the same moment.
//
// Unless [WithMaxValueSize] says otherwise, the budget also lowers the
// maximum value size to a sixteenth of it, and with it the value-log file
// size; the maximum value size may not pass an eighth of the budget.
// WithMaxBytes needs a directory (not [WithInMemory]), write access and the
// GC loop.
func WithMaxBytes(n int64) Option { return func(c *config) { c.maxBytes = n } }

// WithReadOnly opens the directory for reading only: Get, View and Scan work,
// while Set, Remove, DeletePrefix and Reclaim return an error matching
// [ErrReadOnly]. Several read-only Storages may share a directory, but not
// with a writer. The default is read-write.
func WithReadOnly() Option { return func(c *config) { c.readOnly = true } }

// WithInMemory keeps everything in memory and nothing on disk; the dir given
// to [Open] is ignored and may be empty. It is meant for tests. In this mode
// values must be smaller than Badger's value threshold (1 MiB by default):
// the maximum value size defaults to one byte less, and a larger
// [WithMaxValueSize] is refused by Open. The default is on disk.
func WithInMemory() Option { return func(c *config) { c.inMemory = true } }

// WithLogger sends Badger's own log messages to l: its errors at Error level,
// its warnings at Warn, and its informational and debug messages (compaction
// progress and the like, which are frequent) at Debug. The default, nil,
// silences Badger entirely. The Storage itself logs nothing: it returns its
// errors.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithBadgerOptions lets fn adjust the Badger options after the cache profile
// has been applied and before Open. It is the escape hatch for any of
// Badger's settings this package does not expose. Several calls compose in
// order. The directory, read-only, in-memory and sync-writes settings are
// decided by this package's own options; fn should not change them.
//
// The cache profile differs from [bdb.DefaultOptions]: 8 MiB memtables
// (3 of them), no compression and no block cache (Badger panics when
// compression is on without a block cache, so keep the two together), a
// 16 MiB index cache, 2 compactors, value-log files the size of the largest
// value (64 MiB and 64 KiB by default, see [WithMaxValueSize]), metrics,
// conflict detection and logging off.
func WithBadgerOptions(fn func(bdb.Options) bdb.Options) Option {
	return func(c *config) {
		if fn != nil {
			c.tune = append(c.tune, fn)
		}
	}
}

// WithMaxValueSize sets the largest value Set accepts, in bytes; a larger
// value is refused with an error matching [ErrTooLarge] and nothing is
// written. The default (and 0) is 64 MiB on disk (a sixteenth of the budget
// when [WithMaxBytes] is smaller than 1 GiB), and one byte less than the
// value threshold (1 MiB - 1) in memory. On disk it may go up to 1 GiB less
// 64 KiB.
//
// On disk it also sizes the value-log files, which hold values of 1 MiB and
// more: a file is the maximum value size plus 64 KiB (1 MiB at least).
// Value-log GC never rewrites the newest file, so under churn up to about
// one file of expired values stays on disk: a smaller maximum value size
// bounds the disk use more tightly.
func WithMaxValueSize(n int64) Option { return func(c *config) { c.maxValueSize = n } }

// withBatching turns group commit on or off; benchmarks use it to measure
// what batching buys.
func withBatching(on bool) Option { return func(c *config) { c.batching = on } }

// badgerOptions returns the Badger options for cfg, validated.
func (c *config) badgerOptions(dir string) (bdb.Options, error) {
	if c.inMemory && c.readOnly {
		return bdb.Options{}, errors.New("in-memory and read-only modes exclude each other")
	}
	if c.maxValueSize < 0 {
		return bdb.Options{}, fmt.Errorf("negative maximum value size %d", c.maxValueSize)
	}
	switch {
	case c.maxBytes < 0:
		return bdb.Options{}, fmt.Errorf("negative byte budget %d", c.maxBytes)
	case c.maxBytes == 0:
	case c.inMemory || c.readOnly:
		return bdb.Options{}, errors.New("a byte budget needs a writable directory (not in-memory or read-only mode)")
	case c.gcInterval < 0:
		return bdb.Options{}, errors.New("a byte budget needs the GC loop (a GC interval of 0 or more)")
	}
	if c.gcInterval == 0 {
		c.gcInterval = defaultGCInterval
	}
	if c.inMemory {
		dir = ""
	}
	maxValue := c.maxValueSize
	if maxValue == 0 {
		maxValue = defaultMaxValueSize
		if c.maxBytes > 0 {
			maxValue = min(maxValue, c.maxBytes/16)
		}
	}
	o := bdb.DefaultOptions(dir).
		WithLogger(nil).
		WithMetricsEnabled(false).
		WithMemTableSize(memTableSize).
		WithNumMemtables(3).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(16 << 20).
		WithNumCompactors(2).
		WithValueLogFileSize(min(max(maxValue+vlogFileSlack, 1<<20), maxValueLogFileSize)).
		WithDetectConflicts(false)
	for _, fn := range c.tune {
		o = fn(o)
	}
	o = o.WithSyncWrites(c.syncWrites).WithReadOnly(c.readOnly).WithInMemory(c.inMemory)
	if c.inMemory {
		o = o.WithDir("").WithValueDir("")
	}
	if c.logger != nil {
		o = o.WithLogger(slogLogger{c.logger.With("storage", "badger")})
	}
	if o.Compression != options.None && o.BlockCacheSize == 0 {
		// Badger panics inside Open on this combination.
		return bdb.Options{}, errors.New("compression needs a block cache: set BlockCacheSize above 0 or turn compression off")
	}

	limit := o.ValueLogFileSize - vlogFileSlack
	if c.inMemory {
		// In memory, a value of exactly the threshold crashes Badger and a
		// larger one is refused, so stay strictly below it.
		limit = o.ValueThreshold - 1
	}
	switch {
	case c.maxValueSize == 0:
		c.maxValueSize = min(maxValue, limit)
	case c.maxValueSize > limit:
		return bdb.Options{}, fmt.Errorf("maximum value size %d is over the limit of %d for these Badger options", c.maxValueSize, limit)
	}
	if c.maxBytes > 0 && c.maxBytes < minBudgetMemTables*o.MemTableSize {
		return bdb.Options{}, fmt.Errorf("byte budget %d under the minimum of %d (%d memtables)", c.maxBytes, minBudgetMemTables*o.MemTableSize, minBudgetMemTables)
	}
	if c.maxBytes > 0 && c.maxValueSize > c.maxBytes/8 {
		return bdb.Options{}, fmt.Errorf("maximum value size %d is over an eighth of the byte budget %d", c.maxValueSize, c.maxBytes)
	}

	return o, nil
}
