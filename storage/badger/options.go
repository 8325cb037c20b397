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

	// valueLogFileSize is smaller than Badger's 1 GiB so that value-log GC,
	// which rewrites one whole file at a time, returns space in smaller steps.
	// It must stay above maxValueSize plus the largest key.
	valueLogFileSize = 256 << 20

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
	batching     bool // group commit of concurrent Sets; tests and benchmarks turn it off to compare
}

func defaultConfig() config {
	return config{
		gcInterval: defaultGCInterval,
		batching:   true,
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

// WithGCInterval sets how often the Storage's background loop looks for space
// to return to the file system: it runs value-log GC, and a full [Storage.Reclaim]
// when a key scan shows that at least half of the stored entries are expired
// or deleted. The default (and 0) is 5 minutes; a negative interval disables
// the loop, leaving [Storage.Reclaim] to the caller. The loop never runs in
// read-only or in-memory mode.
func WithGCInterval(d time.Duration) Option { return func(c *config) { c.gcInterval = d } }

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
// 16 MiB index cache, 2 compactors, 256 MiB value-log files, metrics, conflict
// detection and logging off.
func WithBadgerOptions(fn func(bdb.Options) bdb.Options) Option {
	return func(c *config) {
		if fn != nil {
			c.tune = append(c.tune, fn)
		}
	}
}

// WithMaxValueSize sets the largest value Set accepts, in bytes; a larger
// value is refused with an error matching [ErrValueTooLarge] and nothing is
// written. The default (and 0) is 64 MiB on disk, and one byte less than the
// value threshold (1 MiB - 1) in memory. On disk the bound may go up to the
// value-log file size (256 MiB) less 64 KiB.
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
	if c.gcInterval == 0 {
		c.gcInterval = defaultGCInterval
	}
	if c.inMemory {
		dir = ""
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
		WithValueLogFileSize(valueLogFileSize).
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

	limit := o.ValueLogFileSize - 64<<10
	if c.inMemory {
		// In memory, a value of exactly the threshold crashes Badger and a
		// larger one is refused, so stay strictly below it.
		limit = o.ValueThreshold - 1
	}
	switch {
	case c.maxValueSize == 0 && c.inMemory:
		c.maxValueSize = limit
	case c.maxValueSize == 0:
		c.maxValueSize = min(defaultMaxValueSize, limit)
	case c.maxValueSize > limit:
		return bdb.Options{}, fmt.Errorf("maximum value size %d is over the limit of %d for these Badger options", c.maxValueSize, limit)
	}
	return o, nil
}
