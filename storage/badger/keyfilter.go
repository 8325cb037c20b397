package badger

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"

	bdb "github.com/dgraph-io/badger/v4"
)

// The key filter. A read of a key the directory does not hold, the first
// step of every miss, costs Badger a search of each memtable and of each
// level's filters; with hashed keys, which land anywhere in the memtables'
// skiplists, that search misses the CPU caches at every step: about 3 µs
// of a 15 to 20 µs miss, measured. So the Storage keeps its own Bloom
// filter over every key the directory holds, and answers a read of a key
// the filter has never seen with ErrNotFound at once.
//
// The filter must never miss a key the directory holds:
//
//   - it is built by a scan of the directory's keys (in the background
//     after Open, and again when keys added since outgrow it); until the
//     first build completes, every read goes to Badger;
//   - every Set adds its key before it commits, while it holds the write
//     gate (pause.writes); a build installs the filter it fills (next)
//     inside a pause, so that every Set that committed before the install
//     is seen by the scan, which begins after it, and every Set after it
//     adds to the new filter as well as to the current one;
//   - a Set loads next before cur, and a build stores cur before it clears
//     next, so that a Set that misses the new filter in next finds it in
//     cur.
//
// Keys removed or expired stay in the filter (a Bloom filter cannot drop
// one) until the next build: such a read goes to Badger, as every read did
// before.

const (
	// filterBitsPerKey sizes the filter: with 8 bits set per key in one
	// 512-bit block, 12 bits per key gives about one false positive per
	// hundred reads of absent keys at capacity.
	filterBitsPerKey = 12

	// minFilterKeys is the smallest capacity a filter is built for.
	minFilterKeys = 1 << 16

	// filterScanCheck is how many keys a build scans between two looks at
	// its context.
	filterScanCheck = 4096
)

// keyFilter is a split-block Bloom filter of key hashes: a key sets one bit
// in each of the eight words of one 64-byte block, so that a lookup reads
// one cache line. It is safe for concurrent adds and lookups.
type keyFilter struct {
	blocks   [][8]atomic.Uint64 // a power of two of them
	shift    uint               // 64 - log2(len(blocks)): a hash's top bits pick its block
	capacity int64              // keys it was sized for
	added    atomic.Int64       // keys added since it was made
}

func newKeyFilter(capacity int64) *keyFilter {
	n := max(uint64(capacity)*filterBitsPerKey/512, 1)
	log := bits.Len64(n - 1)
	return &keyFilter{
		blocks:   make([][8]atomic.Uint64, 1<<log),
		shift:    uint(64 - log),
		capacity: capacity,
	}
}

// bitsOf returns the block of hash h and the bit it sets in each word.
func (f *keyFilter) bitsOf(h uint64) (*[8]atomic.Uint64, [8]uint64) {
	b := &f.blocks[h>>f.shift&uint64(len(f.blocks)-1)]
	// Eight 6-bit positions from a second hash of h, independent of the
	// bits that picked the block.
	x := h * 0x9e3779b97f4a7c15
	x ^= x >> 29
	var m [8]uint64
	for i := range m {
		m[i] = 1 << (x & 63)
		x >>= 6
	}
	return b, m
}

func (f *keyFilter) add(h uint64) {
	b, m := f.bitsOf(h)
	for i := range m {
		if b[i].Load()&m[i] == 0 {
			b[i].Or(m[i])
		}
	}
	f.added.Add(1)
}

// mayContain reports whether h may have been added; false is certain.
func (f *keyFilter) mayContain(h uint64) bool {
	b, m := f.bitsOf(h)
	for i := range m {
		if b[i].Load()&m[i] == 0 {
			return false
		}
	}
	return true
}

// full reports whether more keys were added than the filter was sized for.
func (f *keyFilter) full() bool { return f.added.Load() > f.capacity }

// bytes is the filter's memory.
func (f *keyFilter) bytes() int64 { return int64(len(f.blocks)) * 64 }

// filters are the Storage's key filter and the one a build is filling.
type filters struct {
	buildMu   sync.Mutex // held by a build: two at once could each miss keys the other's filter has
	seed      maphash.Seed
	cur       atomic.Pointer[keyFilter] // complete: holds every key of the directory; nil before the first build
	next      atomic.Pointer[keyFilter] // being filled by a build; nil when none runs
	lastCount atomic.Int64              // keys the last build found
}

func (fs *filters) hash(key string) uint64 { return maphash.String(fs.seed, key) }

// absent reports whether the directory certainly does not hold key.
func (s *Storage) absent(key string) bool {
	f := s.filters.cur.Load()
	if f == nil || f.mayContain(s.filters.hash(key)) {
		return false
	}
	s.stats.filtered.Add(1)
	return true
}

// noteKey adds key to the filters before a Set commits it; the caller holds
// the write gate. It starts a build when the current filter is full.
func (s *Storage) noteKey(key string) {
	fs := &s.filters
	h := fs.hash(key)
	next := fs.next.Load() // before cur: see the comment at the top
	cur := fs.cur.Load()
	if next != nil {
		next.add(h)
	}
	if cur != nil {
		cur.add(h)
		if cur.full() {
			s.startFilterBuild()
		}
	}
}

// startFilterBuild starts a build of the key filter in the background,
// unless one runs. The caller holds the gate (or is Open), so that Close
// waits for the build.
func (s *Storage) startFilterBuild() {
	if !s.filters.buildMu.TryLock() {
		return // a build runs; should the filter still be full after it, the next Set starts another
	}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		defer s.filters.buildMu.Unlock()
		_ = s.buildFilterLocked(s.gcCtx)
	}()
}

// buildFilterLocked fills a new filter with every key of the directory and
// makes it the current one; the caller holds buildMu. A build stopped by
// ctx (Close) leaves the current one.
func (s *Storage) buildFilterLocked(ctx context.Context) error {
	fs := &s.filters
	nf := newKeyFilter(max(2*s.estimateKeys(), s.cfg.filterMin))
	install := func() error { fs.next.Store(nf); return nil }
	var err error
	if s.cfg.readOnly {
		err = install() // nothing writes
	} else {
		err = s.pause.run(ctx, install)
	}
	if err != nil {
		return err
	}
	defer fs.next.Store(nil)
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	p := []byte{userPrefix}
	it := txn.NewIterator(bdb.IteratorOptions{PrefetchValues: false, Prefix: p})
	defer it.Close()
	n := 0
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		if n++; n%filterScanCheck == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		nf.add(maphash.Bytes(fs.seed, it.Item().Key()[1:]))
	}
	fs.cur.Store(nf) // before next is cleared (deferred): see the comment at the top
	fs.lastCount.Store(int64(n))
	s.stats.filterBuilds.Add(1)
	return nil
}

// estimateKeys returns about how many keys the directory holds: the keys
// of its tables (every version of each, expired ones included) and what
// its memtables may hold besides, or the count of the last build when
// larger.
func (s *Storage) estimateKeys() int64 {
	var n int64
	for _, t := range s.db.Tables() {
		n += int64(t.KeyCount)
	}
	return max(n+s.cfg.filterSlack, s.filters.lastCount.Load())
}
