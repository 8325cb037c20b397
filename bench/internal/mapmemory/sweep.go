package mapmemory

import "time"

// sweepLoop visits one shard per tick, so that every shard is visited once
// per interval and no tick does more than one shard's work. It exits when
// s.stop is closed.
func (s *Storage) sweepLoop(interval time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(max(interval/numShards, time.Microsecond))
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % numShards {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.shards[i].sweep(s.now())
	}
}

// sweep deletes the entries of sh expired at now and returns how many. It
// finds them under the read lock, so reads of the shard go on, and takes
// the write lock only to delete them, or to note that no entry with a TTL
// is left so that later visits skip the shard.
func (sh *shard) sweep(now int64) int {
	sh.mu.RLock()
	if sh.m == nil || sh.ttlSets == sh.ttlSwept {
		sh.mu.RUnlock()
		return 0
	}
	sets := sh.ttlSets
	var dead []string
	live := 0 // entries with a TTL that stay
	for k, e := range sh.m {
		switch {
		case e.expired(now):
			dead = append(dead, k)
		case e.exp != 0:
			live++
		}
	}
	sh.mu.RUnlock()
	if len(dead) == 0 && live > 0 {
		return 0
	}
	n := 0
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, k := range dead {
		// Rewritten or removed since the scan: not ours to delete.
		if e, ok := sh.m[k]; ok && e.expired(now) {
			delete(sh.m, k)
			n++
		}
	}
	if live == 0 && n == len(dead) {
		// Every entry with a TTL is gone, unless a Set with a TTL came
		// after the scan: then ttlSets has moved past sets and the shard
		// is still visited.
		sh.ttlSwept = sets
	}
	return n
}
