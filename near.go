package gecaso

import (
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// near is the optional in-process cache of decoded results (WithNearCache).
// It is keyed by the canonical encoding of the argument, so a hit skips the
// key digest, the storage and decoding.
//
// Reads take no lock and write no shared memory, so that hits from many
// cores do not contend: the table is a fixed array of buckets (the bound is
// known up front, so it never grows), each an immutable chain of nodes
// published with an atomic pointer. Writers, which come only after a miss of
// the near cache, copy the part of a chain they change under one lock, and
// evict in insertion order (FIFO).
type near[V any] struct {
	seed    maphash.Seed
	maxAge  int64 // nanoseconds
	mask    uint64
	buckets []atomic.Pointer[nearNode[V]]

	mu    sync.Mutex // serialises writers; guards order and next
	size  int        // maxEntries
	order []nearSlot // keys in insertion order, a ring of size once full
	next  int        // the ring slot to overwrite next
}

type nearSlot struct {
	hash uint64
	key  string
}

// nearNode is immutable once published.
type nearNode[V any] struct {
	hash    uint64
	key     string
	v       V
	expires int64 // monoNow nanoseconds
	next    *nearNode[V]
}

// epoch is the origin of monoNow.
var epoch = time.Now()

// monoNow returns the monotonic clock in nanoseconds since epoch. It reads
// only the monotonic clock, which costs about half of time.Now, and cannot be
// moved by changes to the wall clock.
func monoNow() int64 { return int64(time.Since(epoch)) }

func newNear[V any](maxEntries int, maxAge time.Duration) *near[V] {
	n := &near[V]{seed: maphash.MakeSeed(), maxAge: int64(maxAge)}
	size := 1 << bits.Len(uint(maxEntries-1)) // a power of two ≥ maxEntries
	n.mask = uint64(size - 1)
	n.buckets = make([]atomic.Pointer[nearNode[V]], size)
	n.size = maxEntries
	return n
}

func (n *near[V]) get(k []byte) (V, bool) {
	h := maphash.Bytes(n.seed, k)
	for e := n.buckets[h&n.mask].Load(); e != nil; e = e.next {
		if e.hash == h && e.key == string(k) {
			if monoNow() >= e.expires {
				break
			}
			return e.v, true
		}
	}
	var zero V
	return zero, false
}

// put keeps v for maxAge, or until expires when that is sooner (a zero
// expires means the entry itself never expires).
func (n *near[V]) put(k string, v V, expires time.Time) {
	age := n.maxAge
	if !expires.IsZero() {
		age = min(age, int64(time.Until(expires)))
	}
	now := monoNow()
	exp := now + age
	if age > 0 && exp < now {
		exp = math.MaxInt64 // a maxAge of "forever" must not wrap around
	}
	h := maphash.String(n.seed, k)
	e := &nearNode[V]{hash: h, key: k, v: v, expires: exp}

	n.mu.Lock()
	defer n.mu.Unlock()
	b := &n.buckets[h&n.mask]
	head := b.Load()
	if old := find(head, h, k); old != nil {
		e.next = old.next
		b.Store(replace(head, old, e))
		return
	}
	e.next = head
	b.Store(e)
	if len(n.order) < n.size {
		n.order = append(n.order, nearSlot{h, k})
		return
	}
	// Evict the oldest key. A slot whose key was removed and
	// put again may evict the newer entry early; that costs a miss, never
	// the bound, since every key in the table has a slot.
	old := n.order[n.next]
	n.order[n.next] = nearSlot{h, k}
	n.next = (n.next + 1) % len(n.order)
	n.removeLocked(old.hash, old.key)
}

func (n *near[V]) remove(k []byte) {
	h := maphash.Bytes(n.seed, k)
	n.mu.Lock()
	n.removeLocked(h, string(k))
	n.mu.Unlock()
}

// removeLocked unlinks key from its bucket; n.mu is held.
func (n *near[V]) removeLocked(h uint64, key string) {
	b := &n.buckets[h&n.mask]
	head := b.Load()
	if old := find(head, h, key); old != nil {
		b.Store(replace(head, old, old.next))
	}
}

func (n *near[V]) clear() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.buckets {
		n.buckets[i].Store(nil)
	}
	clear(n.order)
	n.order, n.next = n.order[:0], 0
}

// find returns the node of chain head holding key, or nil.
func find[V any](head *nearNode[V], h uint64, key string) *nearNode[V] {
	for e := head; e != nil; e = e.next {
		if e.hash == h && e.key == key {
			return e
		}
	}
	return nil
}

// replace returns a chain equal to head up to old, one of its nodes, and
// continuing with rest: old.next to unlink old, or a node whose next is
// old.next to swap it for old. The nodes before old are copied, since
// published nodes never change.
func replace[V any](head, old, rest *nearNode[V]) *nearNode[V] {
	if head == old {
		return rest
	}
	first := &nearNode[V]{}
	*first = *head
	last := first
	for e := head.next; e != old; e = e.next {
		c := &nearNode[V]{}
		*c = *e
		last.next = c
		last = c
	}
	last.next = rest
	return first
}
