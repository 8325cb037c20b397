package badger

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"

	bdb "github.com/dgraph-io/badger/v4"
)

// Read transactions. Each Badger transaction costs its reader a lock, two
// sends to Badger's watermark goroutine (one at the start, one at Discard)
// and that goroutine's work: about a tenth of a hit, measured. Get and View
// reuse read transactions instead, as long as no write of this Storage has
// committed since the transaction began, so that a read still sees every
// write that returned before it started:
//
//   - every write (Set, Remove, DeletePrefix, a pause of value-log GC) bumps
//     a generation after it commits and before it returns;
//   - a reader takes a transaction from a slot, and uses it only if its
//     generation is the current one (else discards it and begins one);
//   - it puts the transaction back if the generation is still the same,
//     and discards it otherwise.
//
// A transaction is in one slot or one reader's hands at a time (Swap and
// CompareAndSwap), never shared. A transaction left in a slot holds back
// Badger's read watermark, below which compactions may drop old versions,
// so every write also discards the stale transactions it finds in the
// slots.

// readTxn is a read transaction, the generation it began in and the slot
// it goes back to.
type readTxn struct {
	txn  *bdb.Txn
	gen  uint64
	slot int
}

// readTxns is the Storage's store of read transactions.
type readTxns struct {
	gen   atomic.Uint64
	slots []readSlot
}

// readSlot holds one read transaction, on a cache line of its own so that
// readers on different cores do not contend for it.
type readSlot struct {
	txn atomic.Pointer[readTxn]
	_   [56]byte
}

func (r *readTxns) init() {
	r.slots = make([]readSlot, min(2*runtime.GOMAXPROCS(0), 32))
}

// take returns a read transaction that sees every write committed before
// the call; the caller gives it back with give.
func (s *Storage) take() *readTxn {
	r := &s.reads
	i := rand.IntN(len(r.slots))
	if c := r.slots[i].txn.Swap(nil); c != nil {
		if c.gen == r.gen.Load() {
			return c
		}
		c.txn.Discard()
	}
	g := r.gen.Load()
	return &readTxn{txn: s.db.NewTransaction(false), gen: g, slot: i}
}

// give puts c back in its slot for another read, or discards it when a
// write has committed since it began, or when another reader has filled
// the slot meanwhile.
func (s *Storage) give(c *readTxn) {
	r := &s.reads
	if c.gen == r.gen.Load() && r.slots[c.slot].txn.CompareAndSwap(nil, c) {
		return
	}
	c.txn.Discard()
}

// wrote marks a committed write: later reads begin new transactions. It
// discards the transactions it finds stale in the slots.
func (s *Storage) wrote() {
	r := &s.reads
	g := r.gen.Add(1)
	for i := range r.slots {
		if c := r.slots[i].txn.Load(); c != nil && c.gen != g && r.slots[i].txn.CompareAndSwap(c, nil) {
			c.txn.Discard()
		}
	}
}

// discardReads discards every read transaction in the slots; Close calls
// it once no reader is left.
func (s *Storage) discardReads() {
	for i := range s.reads.slots {
		if c := s.reads.slots[i].txn.Swap(nil); c != nil {
			c.txn.Discard()
		}
	}
}
