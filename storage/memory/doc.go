// Package memory is an in-RAM [storage.Storage]: the fastest place to
// keep results that need not survive the process.
//
//	s := memory.New()
//	defer s.Close()
//	f := gecaso.Cached(s, fetchUser, gecaso.WithTTL(time.Minute))
//
// Entries live in 64 shards chosen by a hash of the key, each behind its
// own read-write lock, so that goroutines on different cores rarely wait
// for each other. Reads take only a shard's read lock.
//
// Expiry is checked on every read: an expired entry is never returned. A
// sweeper goroutine, started by [New] and stopped by [Storage.Close],
// reclaims the memory of expired entries nobody reads: it visits one
// shard per tick, every shard once per [WithSweepInterval] (one minute by
// default). A visit scans the shard under its read lock, so reads go on,
// and takes the write lock only to delete the expired keys it found; a
// shard holding no entry with a TTL is skipped. A timer heap would find
// expired entries without scanning, but costs a pointer and a heap update
// on every Set with a TTL, and its stale items on overwrite; a scan of one
// shard at a time, once a minute, costs less for a cache.
//
// The storage is not bounded. Put an [github.com/gecaso/gecaso/storage/lru]
// layer over it to bound the number of entries or bytes.
package memory
