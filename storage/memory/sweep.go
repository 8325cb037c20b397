package memory

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

// sweep removes the entries of sh expired at now, then compacts the shard
// if its garbage passed the threshold, in steps that let writers in, and
// shrinks its index if it is less than an eighth full. It returns how
// many entries it removed.
func (sh *shard) sweep(now int64) int {
	n := sh.expire(now)
	sh.compact()
	sh.mu.Lock()
	if t := sh.tab.Load(); !sh.closed && t != nil && len(t.slots) > minTable && 8*sh.entries < len(t.slots) {
		sh.resizeLocked(t)
	}
	sh.mu.Unlock()
	return n
}
