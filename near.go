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

	mu    sync.Mutex // serialises writers; guards order, next and byKey
	size  int        // maxEntries
	order []nearSlot // keys in insertion order, a ring of size once full
	next  int        // the ring slot to overwrite next
	// byKey maps the storage key of every entry to its key here, so that
	// an invalidation naming storage keys can find the entries; nil unless
	// the Func listens to invalidations.
	byKey map[string]string
}

type nearSlot struct {
	hash uint64
	key  string
}

// nearNode is immutable once published.
type nearNode[V any] struct {
	hash    uint64
	key     string
	skey    string // the storage key
	v       V
	expires int64 // monoNow nanoseconds
	wall    int64 // the entry's own expiry, Unix nanoseconds; 0: never
	next    *nearNode[V]
}

// epoch is the origin of monoNow.
var epoch = time.Now()

// monoNow returns the monotonic clock in nanoseconds since epoch. It reads
// only the monotonic clock, which costs about half of time.Now, and cannot be
// moved by changes to the wall clock.
func monoNow() int64 { return int64(time.Since(epoch)) }

// newNear returns a near cache of maxEntries results kept for maxAge;
// byStorageKey makes removeKey work.
func newNear[V any](maxEntries int, maxAge time.Duration, byStorageKey bool) *near[V] {
	n := &near[V]{seed: maphash.MakeSeed(), maxAge: int64(maxAge)}
	if byStorageKey {
		n.byKey = make(map[string]string)
	}
	size := 1 << bits.Len(uint(maxEntries-1)) // a power of two ≥ maxEntries
	n.mask = uint64(size - 1)
	n.buckets = make([]atomic.Pointer[nearNode[V]], size)
	n.size = maxEntries
	return n
}

// get returns the value kept for k and its entry's expiry (zero: never).
func (n *near[V]) get(k []byte) (V, time.Time, bool) {
	h := maphash.Bytes(n.seed, k)
	for e := n.buckets[h&n.mask].Load(); e != nil; e = e.next {
		if e.hash == h && e.key == string(k) {
			if monoNow() >= e.expires {
				break
			}
			var exp time.Time
			if e.wall != 0 {
				exp = time.Unix(0, e.wall)
			}
			return e.v, exp, true
		}
	}
	var zero V
	return zero, time.Time{}, false
}

// put keeps v, the value of the entry stored under skey, for maxAge, or
// until expires when that is sooner (a zero expires means the entry itself
// never expires).
func (n *near[V]) put(k, skey string, v V, expires time.Time) {
	age := n.maxAge
	if !expires.IsZero() {
		age = min(age, int64(time.Until(expires)))
	}
	now := monoNow()
	exp := now + age
	if age > 0 && exp < now {
		exp = math.MaxInt64 // a maxAge of "forever" must not wrap around
	}
	var wall int64
	if !expires.IsZero() {
		wall = expires.UnixNano()
	}
	h := maphash.String(n.seed, k)
	e := &nearNode[V]{hash: h, key: k, skey: skey, v: v, expires: exp, wall: wall}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byKey != nil {
		n.byKey[skey] = k
	}
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

// removeKey removes the entry of the storage key skey, if kept; it needs
// the map newNear makes with byStorageKey.
func (n *near[V]) removeKey(skey string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if k, ok := n.byKey[skey]; ok {
		n.removeLocked(maphash.String(n.seed, k), k)
	}
}

// removeLocked unlinks key from its bucket; n.mu is held.
func (n *near[V]) removeLocked(h uint64, key string) {
	b := &n.buckets[h&n.mask]
	head := b.Load()
	if old := find(head, h, key); old != nil {
		b.Store(replace(head, old, old.next))
		if n.byKey != nil && n.byKey[old.skey] == key {
			delete(n.byKey, old.skey)
		}
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
	if n.byKey != nil {
		clear(n.byKey)
	}
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
