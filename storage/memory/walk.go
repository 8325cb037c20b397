package memory

import (
	"math"
	"slices"
	"strings"

	"github.com/gecaso/gecaso/storage"
)

// walk calls visit, under the lock, with every slot of the shard's index
// that locates an entry. Every chunkSlots slots it releases the lock, so
// that a walk over a large shard does not hold writers up for long.
// Compaction changes slots in place, which a walk does not mind; a table
// replaced meanwhile (grown, or rid of its tombstones) may move slots the
// walk has passed ahead of it and back. Then replaced is called: when it
// returns true the walk starts over on the new table, otherwise it goes on
// from the same position. After three restarts the walk keeps the lock
// to the end, so that writers growing the table cannot starve it. walk
// returns false when the shard is closed.
func (sh *shard) walk(visit func(t *table, i int), replaced func() (restart bool)) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false
	}
	restarts := 0
	t := sh.tab.Load()
	for i := 0; t != nil && i < len(t.slots); i++ {
		if i > 0 && i%chunkSlots == 0 && restarts < 3 {
			sh.mu.Unlock()
			sh.mu.Lock()
			if sh.closed {
				return false
			}
			if nt := sh.tab.Load(); nt != t {
				t = nt
				if replaced() {
					restarts++
					i = -1
					continue
				}
				if t == nil || i >= len(t.slots) {
					break
				}
			}
		}
		if isEntry(t.slots[i].Load()) {
			visit(t, i)
		}
	}
	return true
}

// collect appends to dst the KeyInfo of every live entry whose key starts
// with prefix. ok is false when the shard is closed.
func (sh *shard) collect(dst []storage.KeyInfo, prefix string) (_ []storage.KeyInfo, ok bool) {
	start := len(dst)
	now := sh.s.now()
	ok = sh.walk(func(t *table, i int) {
		h, b, off := sh.headerAtLocked(slotLoc(t.slots[i].Load()))
		k := keyAt(b, off, &h)
		if !h.expired(now) && strings.HasPrefix(string(k), prefix) {
			dst = append(dst, sh.s.keyInfo(string(k), &h))
		}
	}, func() bool {
		dst = dst[:start] // no key twice: forget this shard's and start over
		return true
	})
	return dst, ok
}

// deletePrefix removes every entry whose key starts with prefix, then
// compacts. It returns false when the shard is closed.
func (sh *shard) deletePrefix(prefix string) bool {
	if prefix == "" {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if sh.closed {
			return false
		}
		sh.resetLocked()
		return true
	}
	ok := sh.walk(func(t *table, i int) {
		h, b, off := sh.headerAtLocked(slotLoc(t.slots[i].Load()))
		if strings.HasPrefix(string(keyAt(b, off, &h)), prefix) {
			sh.removeSlotLocked(t, i)
		}
	}, func() bool { return true }) // a key present when the call started must go
	if ok {
		sh.compact()
	}
	return ok
}

// expire removes the entries expired at now and returns how many. It reads
// the headers of the entries in segments that may hold an expired one
// only. When no writer replaced the index meanwhile, it then sets the
// minExp of each full segment it read to the least expiry left in it, so
// that later visits skip the segment until then.
func (sh *shard) expire(now int64) int {
	sh.mu.Lock()
	if sh.closed || !sh.mayExpireLocked(now) {
		sh.mu.Unlock()
		return 0
	}
	startSegs, startHead := slices.Clone(sh.segs), sh.head
	sh.mu.Unlock()

	n := 0
	mins := map[*segment]int64{} // the least expiry left in each segment read
	replaced := false
	sh.walk(func(t *table, i int) {
		g, off := sh.segmentAtLocked(slotLoc(t.slots[i].Load()))
		if g.ttlLive == 0 || g.minExp > now {
			return
		}
		m, seen := mins[g]
		if !seen {
			m = math.MaxInt64
		}
		h, _ := entryAt(g.buf[:g.end], off)
		switch {
		case h.expired(now):
			sh.removeSlotLocked(t, i)
			sh.expired++
			n++
		case h.exp != 0:
			m = min(m, h.exp)
		}
		mins[g] = m
	}, func() bool {
		replaced = true
		return false
	})

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if replaced || sh.closed {
		return n
	}
	for g, m := range mins {
		// Only segments full before the walk: the head may have taken
		// entries the walk did not see.
		full := int(g.idx) < len(startSegs) && startSegs[g.idx] == g && g != startHead && g != sh.head
		if full && int(g.idx) < len(sh.segs) && sh.segs[g.idx] == g {
			g.minExp = m
		}
	}
	return n
}

// mayExpireLocked reports whether a segment of the shard may hold an entry
// expired at now, so that a sweep of a shard whose entries all expire
// later does not walk its index.
func (sh *shard) mayExpireLocked(now int64) bool {
	if sh.ttlLive == 0 {
		return false
	}
	for _, g := range sh.segs {
		if g != nil && g.ttlLive > 0 && g.minExp <= now {
			return true
		}
	}
	return false
}
