package lru

import (
	"math"
	"strings"
)

// index is the recency order of the keys the lru manages, with the size
// each one counts for. It is a doubly linked list threaded through a slice
// of nodes by position, plus a map from key to position: moving a key to
// the front changes four positions and allocates nothing, and the nodes
// hold no pointers but their keys, so the garbage collector has little to
// scan. Removed nodes go on a free list and are reused.
//
// An index is not safe for concurrent use; the lru's mutex guards it. The
// zero value is an empty index ready to use.
type index struct {
	nodes []node           // nodes[0] is the sentinel: its next is the newest node, its prev the oldest
	pos   map[string]int32 // key -> position in nodes
	free  int32            // first free node, chained through next; 0: none
	bytes int64            // sum of the sizes of the listed nodes
}

// node is one key in the order, or a free slot.
type node struct {
	key        string
	size       int64  // what the key counts for against the byte bound
	gen        uint64 // the lru's write counter when the key was last put
	prev, next int32
}

func (x *index) init() {
	if x.nodes == nil {
		x.nodes = make([]node, 1, 64)
		x.pos = make(map[string]int32)
	}
}

// len returns the number of keys.
func (x *index) len() int { return len(x.pos) }

// unlink takes node i out of the list.
func (x *index) unlink(i int32) {
	n := &x.nodes[i]
	x.nodes[n.prev].next = n.next
	x.nodes[n.next].prev = n.prev
}

// linkFront puts node i at the front, as the newest.
func (x *index) linkFront(i int32) {
	head := x.nodes[0].next
	x.nodes[i].prev, x.nodes[i].next = 0, head
	x.nodes[head].prev = i
	x.nodes[0].next = i
}

// linkBack puts node i at the back, as the oldest.
func (x *index) linkBack(i int32) {
	tail := x.nodes[0].prev
	x.nodes[i].prev, x.nodes[i].next = tail, 0
	x.nodes[tail].next = i
	x.nodes[0].prev = i
}

// touch makes key the newest and reports whether it is listed.
func (x *index) touch(key string) bool {
	i, ok := x.pos[key]
	if !ok {
		return false
	}
	if x.nodes[0].next != i {
		x.unlink(i)
		x.linkFront(i)
	}
	return true
}

// alloc returns a free node holding key, size and gen, not linked yet.
func (x *index) alloc(key string, size int64, gen uint64) int32 {
	x.init()
	var i int32
	if x.free != 0 {
		i = x.free
		x.free = x.nodes[i].next
	} else {
		if len(x.nodes) == math.MaxInt32 {
			panic("gecaso/lru: more than 2^31 keys")
		}
		x.nodes = append(x.nodes, node{})
		i = int32(len(x.nodes) - 1)
	}
	x.nodes[i] = node{key: key, size: size, gen: gen}
	x.pos[key] = i
	x.bytes += size
	return i
}

// put lists key as the newest with the given size and write generation,
// replacing what it counted for before.
func (x *index) put(key string, size int64, gen uint64) {
	if i, ok := x.pos[key]; ok {
		n := &x.nodes[i]
		x.bytes += size - n.size
		n.size, n.gen = size, gen
		x.unlink(i)
		x.linkFront(i)
		return
	}
	x.linkFront(x.alloc(key, size, gen))
}

// putBack lists key as the oldest, unless it is listed already.
func (x *index) putBack(key string, size int64, gen uint64) {
	if _, ok := x.pos[key]; ok {
		return
	}
	x.linkBack(x.alloc(key, size, gen))
}

// release unlinks node i, forgets its key and frees it.
func (x *index) release(i int32) {
	x.unlink(i)
	n := &x.nodes[i]
	delete(x.pos, n.key)
	x.bytes -= n.size
	*n = node{next: x.free}
	x.free = i
}

// remove forgets key if it was last put at generation maxGen or before,
// and reports whether it did. A key put later was written after the
// caller learnt that it was gone, and stays.
func (x *index) remove(key string, maxGen uint64) bool {
	i, ok := x.pos[key]
	if !ok || x.nodes[i].gen > maxGen {
		return false
	}
	x.release(i)
	return true
}

// removePrefix forgets every key with prefix last put at generation
// maxGen or before, and returns how many.
func (x *index) removePrefix(prefix string, maxGen uint64) int {
	n := 0
	for key, i := range x.pos {
		if strings.HasPrefix(key, prefix) && x.nodes[i].gen <= maxGen {
			x.release(i)
			n++
		}
	}
	return n
}

// victim is a key evicted from the index, with the size it counted for.
type victim struct {
	key  string
	size int64
}

// evict forgets the oldest keys until at most maxEntries keys (when
// maxEntries > 0) of at most maxBytes bytes (when maxBytes > 0) remain,
// and appends them to victims, oldest first.
func (x *index) evict(maxEntries int, maxBytes int64, victims []victim) []victim {
	for len(x.pos) > 0 && (maxEntries > 0 && len(x.pos) > maxEntries || maxBytes > 0 && x.bytes > maxBytes) {
		oldest := &x.nodes[x.nodes[0].prev]
		victims = append(victims, victim{oldest.key, oldest.size})
		x.release(x.nodes[0].prev)
	}
	return victims
}

// has reports whether key is listed.
func (x *index) has(key string) bool {
	_, ok := x.pos[key]
	return ok
}

// keys returns the keys from the newest to the oldest.
func (x *index) keys() []string {
	keys := make([]string, 0, len(x.pos))
	if x.nodes == nil {
		return keys
	}
	for i := x.nodes[0].next; i != 0; i = x.nodes[i].next {
		keys = append(keys, x.nodes[i].key)
	}
	return keys
}
