// Package badger keeps gecaso's results on disk, in a Badger v4 database
// (github.com/dgraph-io/badger/v4) in one directory, so that they survive
// restarts:
//
//	s, err := badger.Open("gecaso-data")
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	f := gecaso.Cached(s, slowFunc, gecaso.WithName("app.slowFunc"), gecaso.WithVersion("1"))
//
// # One process per directory
//
// Badger locks the directory (a flock on its LOCK file): a second Open of it,
// in this process or another, fails at once with an error naming the
// directory; read-only Opens ([WithReadOnly]) may share a directory with each
// other but not with a writer. A LOCK file left by a killed process does not
// block the next Open. Processes that must share results should use a shared
// storage (Redis), or send their calls to one process that owns the directory.
//
// # Expiry
//
// Badger records expiry in whole Unix seconds. Set rounds the expiry up, so
// an entry written with a TTL is readable for at least the TTL and at most
// one second longer; gecaso keeps the exact expiry inside every entry and
// never returns an expired result, so callers see exact TTLs anyway. (Badger's
// own Entry.WithTTL truncates instead: a 300 ms TTL would expire at once.)
//
// # Disk space
//
// An expired or removed entry disappears from reads at once, but Badger
// returns its disk space only when a compaction rewrites the table holding
// it, which in a quiet cache may be never. The Storage's GC loop
// ([WithGCInterval], every 5 minutes by default) counts live and dead entries
// with a key-only scan and, when at least half are dead, runs
// [Storage.Reclaim], which forces that rewrite and then collects the value
// log. Measured: 100k entries of 1 KiB with a one-second TTL took 103 MB on
// disk once expired and 1 MB after Reclaim (0.1 to 0.2 s); 160 values of
// 2 MiB, which live in the value log, went from 322 MB to 66 MB (value-log
// GC never rewrites the newest log file). Nothing bounds
// the size of live data: give entries a TTL, or put an lru.Storage in front
// to bound the number of entries.
//
// Badger preallocates sparse files (a new value-log file is 512 MiB long but
// holds almost nothing), so measure the directory with du, not ls.
//
// # Crashes
//
// Set returns once Badger has written the entry to its write-ahead log and
// memtable, both memory-mapped files. Without [WithSyncWrites] (the
// default), a process killed at any moment (kill -9, OOM, a panic) loses no
// acknowledged write, because the operating system still holds the pages and
// writes them out; a power loss or kernel crash can lose the writes of the
// last few seconds. With WithSyncWrites every commit waits for fsync, and
// acknowledged writes survive power loss too, for 20 to 28 times the cost of
// a serial write (concurrent Sets share an fsync: see [Storage.Set]). In both
// modes a value read back after a crash is a value that was written, whole;
// the package's crash test kills a writing child process with SIGKILL at
// random moments and checks exactly that, and that every acknowledged write
// is there.
//
// Open refuses a directory whose table files are damaged (garbage, truncated,
// zeroed), with an error naming the directory: Badger itself would panic in a
// goroutine of its own and kill the process. Damage to other files gives an
// error from Badger, or loses the damaged entries; values that changed on
// disk are caught by gecaso's own checksum and treated as misses. Remove the
// directory to start afresh: it is a cache.
//
// # Memory
//
// The defaults are tuned for an embedded cache, not a database (see
// [WithBadgerOptions]). Measured with TestFootprint (Linux, Go 1.26): a
// process holding an empty Storage has 13 MB resident (Go heap 11 MB);
// after writing 1M entries of 256 bytes and reading them all at random, 444
// MB resident, of which 288 MB are Badger's memory-mapped tables (page cache
// the kernel can drop under pressure) and 156 MB anonymous (Go heap in use
// 75 MB); the same directory reopened and read through, 316 MB resident, of
// which 287 MB mapped tables and 29 MB anonymous (Go heap 24 MB).
//
// # In memory
//
// [WithInMemory] keeps everything in RAM, for tests. Values must then stay
// under 1 MiB: Badger crashes on a value of exactly its value threshold in
// this mode, so the Storage refuses such values first.
package badger
