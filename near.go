package gecaso

import (
	"hash/maphash"
	"sync"
	"time"
)

// near is the optional in-process cache of decoded results (WithNearCache).
// It is keyed by the canonical encoding of the argument, so a hit skips the
// key digest, the storage and decoding. Each shard evicts in insertion order
// (FIFO): cheap on the hit path, which takes only a read lock.
type near[V any] struct {
	seed     maphash.Seed
	maxAge   time.Duration
	perShard int
	shards   [nearShards]nearShard[V]
}

const nearShards = 16

type nearShard[V any] struct {
	mu    sync.RWMutex // guards m, order and next
	m     map[string]nearEntry[V]
	order []string // keys in insertion order, a ring once full
	next  int      // the ring slot to overwrite next
}

type nearEntry[V any] struct {
	v       V
	expires int64 // unix nanoseconds
}

func newNear[V any](maxEntries int, maxAge time.Duration) *near[V] {
	n := &near[V]{seed: maphash.MakeSeed(), maxAge: maxAge}
	n.perShard = max(1, (maxEntries+nearShards-1)/nearShards)
	for i := range n.shards {
		n.shards[i].m = make(map[string]nearEntry[V])
	}
	return n
}

func (n *near[V]) shard(k []byte) *nearShard[V] {
	return &n.shards[maphash.Bytes(n.seed, k)%nearShards]
}

func (n *near[V]) get(k []byte) (V, bool) {
	sh := n.shard(k)
	sh.mu.RLock()
	e, ok := sh.m[string(k)]
	sh.mu.RUnlock()
	if !ok || time.Now().UnixNano() >= e.expires {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v for maxAge, or until expires when that is sooner (a zero
// expires means the entry itself never expires).
func (n *near[V]) put(k string, v V, expires time.Time) {
	exp := time.Now().Add(n.maxAge).UnixNano()
	if !expires.IsZero() && expires.UnixNano() < exp {
		exp = expires.UnixNano()
	}
	sh := n.shard([]byte(k))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[k]; !ok {
		if len(sh.order) < n.perShard {
			sh.order = append(sh.order, k)
		} else {
			delete(sh.m, sh.order[sh.next])
			sh.order[sh.next] = k
			sh.next = (sh.next + 1) % n.perShard
		}
	}
	sh.m[k] = nearEntry[V]{v: v, expires: exp}
}

func (n *near[V]) remove(k []byte) {
	sh := n.shard(k)
	sh.mu.Lock()
	delete(sh.m, string(k))
	sh.mu.Unlock()
}

func (n *near[V]) clear() {
	for i := range n.shards {
		sh := &n.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.order, sh.next = sh.order[:0], 0
		sh.mu.Unlock()
	}
}
