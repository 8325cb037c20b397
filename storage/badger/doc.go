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
// Badger locks the directory: a second Open of it, in this process or
// another, fails at once with an error matching [ErrLocked]; read-only
// Opens ([WithReadOnly]) may share a directory with each other but not with
// a writer. A lock left by a killed process does not block the next Open.
// Processes that must share results should use a shared storage (Redis), or
// send their calls to one process that owns the directory.
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
// it, and the space of a value of 1 MiB or more, which lives in the value
// log, only when value-log GC rewrites its file, which it does only for
// garbage a compaction has counted. Left to itself, a cache whose entries
// expire grows without bound: measured before the GC loop watched the
// directory's growth, values of 1.2 MB with a 2 s TTL written at 10 a
// second took 703 MB after a minute, and kept them.
//
// So the Storage collects. Its GC loop measures the directory every few
// megabytes written and makes a pass whenever the directory has grown by
// half since the last pass, and by at least a value-log file; and on a
// timer ([WithGCInterval], 5 minutes by default), which returns what an
// idle cache holds. A pass counts live and dead entries with a key-only
// scan and, when the dead take at least half as much as the live, runs
// [Storage.Reclaim], which forces Badger's memtable flush and a compaction
// of every level without blocking writes, then rewrites every value-log
// file at least half garbage (Badger never rewrites the newest one),
// pausing writes for tens of milliseconds per file. Under churn this keeps
// the directory within
//
//	3 x live bytes + C,  C = 4 x value-log file + 6 x memtable + 16 MiB
//
// where live bytes are the keys and values of the entries not yet expired
// (by Badger's rounded expiry). Between passes the directory grows by half
// its size after the last pass (by a value-log file, if that is more); what a
// pass leaves is the live entries, the value-log files less than half
// garbage (at most twice the live values they hold), the newest value-log
// file and the batch written past its end (two files), the memtables' logs
// (three memtables) and the tables flushed but not yet compacted. The file
// sizes are those of the cache profile: 8 MiB memtables, value-log files of
// the maximum value size plus 64 KiB ([WithMaxValueSize]), so C is about
// 320 MiB by default and shrinks with the maximum value size. Measured
// with the default options, values of 1.2 MB and 4 KiB with a 2 s TTL
// written at about 22 MB/s for five minutes (6.6 GB): at most 200 MB on
// disk, with up to 80 MB live. The package's churn test checks the bound,
// briefly with small files and, given -badger.soak=5m, for minutes with the
// defaults.
//
// Nothing bounds the live data unless asked: give entries a TTL, set a
// byte budget ([WithMaxBytes], which evicts the oldest entries), or put an
// lru.Storage in front to bound the number of entries. [Storage.Stats]
// reports the disk use and what the GC loop did.
//
// Badger preallocates sparse files (a new value-log file is twice its
// size long but holds almost nothing), so measure the directory with du,
// not ls.
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
// [WithBadgerOptions]). Measured (Linux, Go 1.26): a process holding an
// empty Storage has 13 MB resident (Go heap 11 MB); after writing 1M
// entries of 256 bytes and reading them all at random, 444 MB resident, of
// which 288 MB are Badger's memory-mapped tables (page cache the kernel can
// drop under pressure) and 156 MB anonymous (Go heap in use 75 MB); the
// same directory reopened and read through, 316 MB resident, of which 287
// MB mapped tables and 29 MB anonymous (Go heap 24 MB). The key filter (see
// below), added since, takes 3 to 6 bytes per key of the Go heap (4 MiB for
// a million keys; Stats.FilterBytes).
//
// # Reads of absent keys
//
// Most misses start with a read of a key that was never written. Badger
// answers it only after a search of each memtable, whose skiplists hashed
// keys reach through memory the CPU caches do not hold. The Storage keeps a
// Bloom filter of the keys the directory holds (12 bits per key, sized for
// twice the keys found, 512 KiB at least, [Stats].FilterBytes) and answers
// a read of a key it has never seen at once; about one in a hundred absent
// keys still goes to Badger, and a key removed or expired does until the
// next build. The filter is built by a scan of the keys in the background
// after Open (reads go to Badger until it is done: about a second per
// million keys) and rebuilt the same way when the keys written since
// outgrow it. Every Set adds its key before it commits, so a build never
// misses a key, whatever writes meanwhile.
//
// # In memory
//
// [WithInMemory] keeps everything in RAM, for tests. Values must then stay
// under 1 MiB: Badger crashes on a value of exactly its value threshold in
// this mode, so the Storage refuses such values first.
package badger
