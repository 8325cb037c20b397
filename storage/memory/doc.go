// Package memory is an in-RAM [storage.Storage]: the fastest place to
// keep results that need not survive the process.
//
//	s := memory.New()
//	defer s.Close()
//	f := gecaso.Cached(s, fetchUser, gecaso.WithTTL(time.Minute))
//
// The storage is not bounded. Put an [github.com/gecaso/gecaso/storage/lru]
// layer over it to bound the number of entries or bytes.
//
// # Layout
//
// The storage is built so that the garbage collector has nothing to scan
// per entry, and its cost stays flat at tens of millions of entries: keys
// and values live in large byte slices, and the index holds integers.
//
// Keys are spread by a hash over 256 shards. A shard keeps its entries in
// segments: byte slices of 1 KiB to 1 MiB (growing with the shard, an
// eighth of its live bytes, and room for at least four entries of the size
// being written) into which entries are appended one after the
// other, each a 24-byte header (write sequence, expiry, key and value
// lengths), the key and the value, padded to 8 bytes. An entry larger than
// 32 KiB gets a segment of its own, of its exact size, written before the
// shard's lock is taken; overwriting or removing it drops the segment.
// The shard's index is an open-addressing hash table of 64-bit slots, each
// holding 32 bits of the key's hash and the entry's location (segment and
// offset); a lookup compares the stored key bytes of the entries whose
// hash bits match. Segments hold no pointer and
// the index holds none, so the collector marks each without looking
// inside: its work per cycle depends on the number of segments (about
// ten thousand at ten million entries), not of entries.
//
// An entry costs its key and value, 24 bytes of header, up to 7 of
// padding and 11 to 32 bytes of index (8 per slot, the index kept from a
// quarter to three quarters full), plus its share of the garbage
// compaction has not reclaimed yet (about a quarter at most, see below).
// [Storage.Stats] reports these bytes.
//
// # Reads
//
// Get and View take no lock and write no shared memory, so readers on
// different cores never slow each other down: they load the index and the
// segments with atomic loads. Stored bytes are never written over: a Set
// appends a new entry and points the key's slot at it, a removal marks the
// slot deleted, and compaction (below) copies live entries to another
// segment before it drops the old one. A reader therefore always reads
// bytes that stay as they are; a segment counter, increased whenever a
// segment is dropped, tells it when a location it followed may have been
// moved meanwhile, and it then reads again (under the shard's lock after
// three tries).
//
// This is also what View guarantees: the slice it lends shows bytes that
// do not change while fn runs, whatever other goroutines write, remove or
// compact, and fn runs with no lock held, so it may call the storage.
// A segment that compaction drops while a View reads it is freed by the
// garbage collector once no lent slice points into it. The slice is valid
// only until fn returns: keeping it would keep its whole segment alive.
//
// # Writes and compaction
//
// Set, Remove and DeletePrefix take their shard's lock. Overwritten,
// removed and expired entries leave garbage in their segments. A segment
// left with no live entry is dropped at once. When a shard's garbage
// passes a quarter of the bytes it has written (and at least 1 KiB),
// compaction picks the segment with the most garbage, copies its live
// entries to the end of the shard's newest segment, points their slots at
// the copies, and drops it. Entries keep their Seq and expiry when moved.
// Compaction runs in steps that hold the lock for a bounded time (about
// 64 KiB of copying, or the index probes of 150 small entries: tens of
// microseconds). Each write that makes garbage pays a step worth about
// eight times the garbage it made; the segment compacted is at least a
// quarter garbage, so compaction keeps pace with the writes, at a cost
// proportional to them. The sweeper (below) finishes the job on shards no
// longer written to.
//
// The index grows (or is rebuilt without its deleted slots) under the
// lock in one go: a fraction of a millisecond for the 40,000 entries of a
// shard of a ten-million-entry storage, during which readers go on with
// the previous index. The sweeper shrinks an index left less than an
// eighth full.
//
// # Expiry
//
// Expiry is checked on every read, on the monotonic clock: an expired
// entry is never returned, and a read that finds one removes it. A sweeper
// goroutine, started by [New] and stopped by [Storage.Close], reclaims the
// expired entries nobody reads and compacts: it visits one shard per tick,
// every shard once per [WithSweepInterval] (one minute by default). A
// visit walks the shard's index under its lock, released every 1024 slots
// so that writers get in (reads never wait for it), and reads the headers
// only of the entries in segments that may hold an expired one: each
// segment knows how many of its entries have an expiry and the earliest
// of them.
package memory
