package gecaso

import (
	"hash/maphash"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
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
	mix     [2]uint64 // the seed of hashShort
	maxAge  int64     // nanoseconds
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

// nearNode is immutable once published. A hit reads hash, expires and key
// first, and a short key (an integer, a short string: the usual arguments)
// is kept in the node itself, so that those take one cache line and a hit
// does not chase a pointer to compare the key.
type nearNode[V any] struct {
	hash    uint64
	expires int64  // monoNow nanoseconds
	key     string // in short when it fits
	short   [nearShortKey]byte
	wall    int64 // the entry's own expiry, Unix nanoseconds; 0: never
	next    *nearNode[V]
	skey    string // the storage key
	v       V
}

// nearShortKey is the length up to which a key is kept in its node.
const nearShortKey = 16

// newNearNode returns a node for key k, in the node itself when it fits.
func newNearNode[V any](h uint64, k string) *nearNode[V] {
	e := &nearNode[V]{hash: h, key: k}
	if len(k) <= nearShortKey && len(k) > 0 {
		copy(e.short[:], k)
		// The node is never written once published, so the string
		// stays immutable.
		e.key = unsafe.String(&e.short[0], len(k))
	}
	return e
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
	n := &near[V]{seed: maphash.MakeSeed(), mix: [2]uint64{rand.Uint64(), rand.Uint64()}, maxAge: int64(maxAge)}
	if byStorageKey {
		n.byKey = make(map[string]string)
	}
	size := 1 << bits.Len(uint(maxEntries-1)) // a power of two ≥ maxEntries
	n.mask = uint64(size - 1)
	n.buckets = make([]atomic.Pointer[nearNode[V]], size)
	n.size = maxEntries
	return n
}

// get returns the node kept for k, or nil when there is none or it has
// expired. It reads the clock once, after finding k: a miss does not read
// it. The node is immutable: a hit copies its value once, where the caller
// returns it, rather than at every call on the way.
func (n *near[V]) get(k []byte) *nearNode[V] {
	h := n.hash(unsafe.String(unsafe.SliceData(k), len(k)))
	for e := n.buckets[h&n.mask].Load(); e != nil; e = e.next {
		if e.hash == h && e.key == string(k) {
			if monoNow() >= e.expires {
				return nil
			}
			return e
		}
	}
	return nil
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
	h := n.hash(k)
	e := newNearNode[V](h, k)
	e.skey, e.v, e.expires, e.wall = skey, v, exp, wall

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
	h := n.hash(string(k))
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
		n.removeLocked(n.hash(k), k)
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

// hash returns the hash of key k: hashShort for a key of up to 16 bytes
// (an integer, a short string: the usual arguments), maphash beyond.
func (n *near[V]) hash(k string) uint64 {
	if len(k) <= 16 {
		return hashShort(n.mix, k)
	}
	return maphash.String(n.seed, k)
}

// hashShort hashes a key of up to 16 bytes in a few instructions, where
// maphash costs a hit several nanoseconds. It reads k as two words, as
// wyhash does (overlapping for 8 to 16 bytes; the first, middle and last
// byte below 4), and mixes them with the random seed by two 128-bit
// multiplications, so that without the seed one cannot choose keys that
// collide.
func hashShort(seed [2]uint64, k string) uint64 {
	var a, b uint64
	switch n := len(k); {
	case n >= 8:
		a, b = le64(k), le64(k[n-8:])
	case n >= 4:
		a, b = uint64(le32(k)), uint64(le32(k[n-4:]))
	case n > 0:
		a = uint64(k[0])<<16 | uint64(k[n>>1])<<8 | uint64(k[n-1])
	}
	// The odd constants are wyhash's: they keep a factor from being zero
	// for the common small words, whatever the seed.
	hi, lo := bits.Mul64(a^seed[0]^0xa0761d6478bd642f, b^seed[1]^0xe7037ed1a0b428db^uint64(len(k)))
	hi, lo = bits.Mul64(hi^0x8ebc6af09c88c6e3, lo^seed[0]^0x589965cc75374cc3)
	return hi ^ lo
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
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
	first := head.clone()
	last := first
	for e := head.next; e != old; e = e.next {
		c := e.clone()
		last.next = c
		last = c
	}
	last.next = rest
	return first
}

// clone returns a copy of e whose key, when e keeps it in e.short, is
// kept in the copy's own.
func (e *nearNode[V]) clone() *nearNode[V] {
	c := &nearNode[V]{}
	*c = *e
	if len(e.key) > 0 && unsafe.StringData(e.key) == &e.short[0] {
		c.key = unsafe.String(&c.short[0], len(e.key))
	}
	return c
}
