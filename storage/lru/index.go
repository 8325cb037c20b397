package lru

import (
	"math"
	"strings"
)

// index is the recency order of the keys the lru manages, with the size
// each one counts for. It is a doubly linked list threaded through slices
// by position, plus a map from key to position. Moving a key to the front
// rewrites a few positions in links, a slice of 8-byte entries small
// enough to stay in a CPU cache, and allocates nothing; the nodes hold no
// pointers but their keys, so the garbage collector has little to scan.
// Removed positions go on a free list and are reused.
//
// An index is not safe for concurrent use; the lru's mutex guards it. The
// zero value is an empty index ready to use.
type index struct {
	// links[i] and nodes[i] describe position i. Position 0 is the
	// sentinel: links[0].next is the newest position, links[0].prev the
	// oldest.
	links []link
	nodes []node
	pos   map[string]int32 // key -> position
	free  int32            // first free position, chained through links[i].next; 0: none
	bytes int64            // sum of the sizes of the listed keys

	// vals[i] is the value at position i when the lru keeps the values
	// itself (owned); nil otherwise.
	owned bool
	vals  []ownVal
}

// link places a position in the list.
type link struct{ prev, next int32 }

// node is the key at a position, or nothing for a free one.
type node struct {
	key  string
	size int64  // what the key counts for against the byte bound
	gen  uint64 // the lru's write counter when the key was last put
}

func (x *index) init() {
	if x.pos == nil {
		x.links = make([]link, 1, 64)
		x.nodes = make([]node, 1, 64)
		x.pos = make(map[string]int32)
		if x.owned {
			x.vals = make([]ownVal, 1, 64)
		}
	}
}

// len returns the number of keys.
func (x *index) len() int { return len(x.pos) }

// unlink takes position i out of the list.
func (x *index) unlink(i int32) {
	l := x.links[i]
	x.links[l.prev].next = l.next
	x.links[l.next].prev = l.prev
}

// linkFront puts position i at the front, as the newest.
func (x *index) linkFront(i int32) {
	head := x.links[0].next
	x.links[i] = link{prev: 0, next: head}
	x.links[head].prev = i
	x.links[0].next = i
}

// linkBack puts position i at the back, as the oldest.
func (x *index) linkBack(i int32) {
	tail := x.links[0].prev
	x.links[i] = link{prev: tail, next: 0}
	x.links[tail].next = i
	x.links[0].prev = i
}

// touch makes key the newest and reports whether it is listed.
func (x *index) touch(key string) bool {
	i, ok := x.pos[key]
	if ok {
		x.touchAt(i)
	}
	return ok
}

// touchAt makes position i the newest.
func (x *index) touchAt(i int32) {
	if x.links[0].next != i {
		x.unlink(i)
		x.linkFront(i)
	}
}

// has reports whether key is listed.
func (x *index) has(key string) bool {
	_, ok := x.pos[key]
	return ok
}

// alloc returns a free position holding key, size and gen, not linked yet.
func (x *index) alloc(key string, size int64, gen uint64) int32 {
	x.init()
	var i int32
	if x.free != 0 {
		i = x.free
		x.free = x.links[i].next
	} else {
		if len(x.nodes) == math.MaxInt32 {
			panic("gecaso/lru: more than 2^31 keys")
		}
		x.links = append(x.links, link{})
		x.nodes = append(x.nodes, node{})
		if x.owned {
			x.vals = append(x.vals, ownVal{})
		}
		i = int32(len(x.nodes) - 1)
	}
	x.nodes[i] = node{key: key, size: size, gen: gen}
	x.pos[key] = i
	x.bytes += size
	return i
}

// put lists key as the newest with the given size and write generation,
// replacing what it counted for before, and returns its position.
func (x *index) put(key string, size int64, gen uint64) int32 {
	if i, ok := x.pos[key]; ok {
		n := &x.nodes[i]
		x.bytes += size - n.size
		n.size, n.gen = size, gen
		x.unlink(i)
		x.linkFront(i)
		return i
	}
	i := x.alloc(key, size, gen)
	x.linkFront(i)
	return i
}

// putBack lists key as the oldest, unless it is listed already.
func (x *index) putBack(key string, size int64, gen uint64) {
	if !x.has(key) {
		x.linkBack(x.alloc(key, size, gen))
	}
}

// release unlinks position i, forgets its key and frees it.
func (x *index) release(i int32) {
	x.unlink(i)
	n := &x.nodes[i]
	delete(x.pos, n.key)
	x.bytes -= n.size
	*n = node{} // drops the key for the garbage collector
	if x.owned {
		x.vals[i] = ownVal{}
	}
	x.links[i] = link{next: x.free}
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
		oldest := x.links[0].prev
		victims = append(victims, victim{x.nodes[oldest].key, x.nodes[oldest].size})
		x.release(oldest)
	}
	return victims
}

// keys returns the keys from the newest to the oldest.
func (x *index) keys() []string {
	keys := make([]string, 0, len(x.pos))
	if x.pos == nil {
		return keys
	}
	for i := x.links[0].next; i != 0; i = x.links[i].next {
		keys = append(keys, x.nodes[i].key)
	}
	return keys
}
