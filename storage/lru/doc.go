// Package lru bounds any storage to its least recently used keys: by
// count, and optionally by bytes.
//
//	s := lru.New(nil, 10_000) // values kept in memory by the lru itself
//	defer s.Close()
//	f := gecaso.Cached(s, fetchUser)
//
// The order is exact: every Set, Get hit and View hit makes its key the
// most recently used, and when a write passes a bound the least recently
// used keys are evicted, which removes them from the inner storage too.
// The order lives in index.go, a list threaded through a slice with a map
// beside it, so that a hit moves four positions under one mutex and
// allocates nothing; the inner storage is read and written without the
// lock, and evicted keys are removed after it is released.
//
// With a nil inner storage the lru keeps the values itself, beside the
// index, so that a hit is a single look-up and costs about what a
// [memory.Storage] hit costs; see [New] for how that mode differs.
//
// Over a persistent storage (Badger) or a shared one, New indexes the
// keys the storage already holds, oldest first by [storage.KeyInfo.Seq],
// and evicts down to the bounds, so that the bound holds across restarts.
// See [New] for the order.
//
// The index may count a key that has left the inner storage behind the
// lru's back (expired, removed by another process) until a Get misses it
// or it is evicted. Over a shared storage that tells of removals
// ([storage.Invalidator]: storage/redis), keys other processes remove
// leave the index as soon as the lru hears of it. A storage's own
// bookkeeping keys (Redis locks) are never scanned, so never indexed,
// counted or evicted; [Storage.TryLock] goes straight to the inner
// storage.
package lru
