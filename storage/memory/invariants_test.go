package memory

import (
	"errors"
	"fmt"
	"hash/maphash"
)

// check verifies, under each shard's lock, that the index, the segments and
// the counters agree: every slot locates a well-formed entry of a key that
// hashes to that shard and tag, no key is indexed twice, and every count
// and byte total is what the entries add up to.
func (s *Storage) check() error {
	var errs []error
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if err := sh.checkLocked(i); err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", i, err))
		}
		sh.mu.Unlock()
	}
	return errors.Join(errs...)
}

type segSums struct{ live, ttlLive int }

func (sh *shard) checkLocked(shardIdx int) error {
	dir, segs := *sh.dir.Load(), sh.segs
	if len(segs) == 0 || segs[0] != nil {
		return fmt.Errorf("segments %v: want index 0 present and unused", segs)
	}
	if len(segs) > 1 && segs[len(segs)-1] == nil {
		return errors.New("segments end with a free index")
	}
	if len(dir) != len(segs) {
		return fmt.Errorf("directory of %d, %d segments", len(dir), len(segs))
	}
	var arena int64
	for idx, g := range segs {
		if g == nil {
			if dir[idx].buf != nil {
				return fmt.Errorf("directory shows bytes at free index %d", idx)
			}
			continue
		}
		if int(g.idx) != idx {
			return fmt.Errorf("segment at %d says it is at %d", idx, g.idx)
		}
		if len(dir[idx].buf) != len(g.buf) || &dir[idx].buf[:1][0] != &g.buf[:1][0] {
			return fmt.Errorf("directory at %d shows other bytes than its segment", idx)
		}
		if dir[idx].pub.Load() != int64(g.end) {
			return fmt.Errorf("segment %d: published %d, end %d", idx, dir[idx].pub.Load(), g.end)
		}
		if g.live == 0 && g != sh.head {
			return fmt.Errorf("segment %d holds nothing live and is not the head", idx)
		}
		arena += int64(len(g.buf))
	}
	if sh.head != nil && (int(sh.head.idx) >= len(segs) || segs[sh.head.idx] != sh.head) {
		return errors.New("the head is not in the directory")
	}
	if sh.evac != nil && (int(sh.evac.idx) >= len(segs) || segs[sh.evac.idx] != sh.evac) {
		return errors.New("the segment being compacted is not in the directory")
	}
	if arena != sh.arena {
		return fmt.Errorf("arena %d, segments add up to %d", sh.arena, arena)
	}

	t := sh.tab.Load()
	sums := map[*segment]*segSums{}
	keys := map[string]bool{}
	var entries, used, ttlLive int
	var kv, space int64
	if t != nil {
		empty := 0
		for i := range t.slots {
			sl := t.slots[i].Load()
			switch {
			case sl == slotEmpty:
				empty++
				continue
			case !isEntry(sl):
				if sl != slotTomb {
					return fmt.Errorf("slot %d = %#x: neither an entry nor a tombstone", i, sl)
				}
				used++
				continue
			}
			used++
			entries++
			loc := slotLoc(sl)
			si, off := locSegment(loc), locOffset(loc)
			if int(si) >= len(segs) || segs[si] == nil {
				return fmt.Errorf("slot %d locates segment %d, absent", i, si)
			}
			g := segs[si]
			h, ok := entryAt(g.buf[:g.end], off)
			if !ok {
				return fmt.Errorf("slot %d locates no entry at %d:%d", i, si, off)
			}
			key := string(keyAt(g.buf, off, &h))
			hash := maphash.String(sh.s.seed, key)
			if int(hash&(numShards-1)) != shardIdx || uint32(hash>>32) != slotTag(sl) {
				return fmt.Errorf("key %q is in the wrong shard or has the wrong tag", key)
			}
			if keys[key] {
				return fmt.Errorf("key %q indexed twice", key)
			}
			keys[key] = true
			if g.jumbo && off != 0 {
				return fmt.Errorf("jumbo segment %d holds an entry at %d", si, off)
			}
			sum := sums[g]
			if sum == nil {
				sum = &segSums{}
				sums[g] = sum
			}
			sum.live += h.size()
			if h.exp != 0 {
				sum.ttlLive++
				ttlLive++
				if h.exp < g.minExp {
					return fmt.Errorf("segment %d: minExp %d above an entry's expiry %d", si, g.minExp, h.exp)
				}
			}
			kv += int64(h.klen + h.vlen)
			space += int64(h.size())
		}
		if empty == 0 {
			return errors.New("index has no empty slot: probes would not end")
		}
		if 4*used > 3*len(t.slots) {
			return fmt.Errorf("index holds %d of %d slots", used, len(t.slots))
		}
		if used != sh.used {
			return fmt.Errorf("used %d, slots say %d", sh.used, used)
		}
	}
	for _, g := range segs {
		if g == nil {
			continue
		}
		sum := sums[g]
		if sum == nil {
			sum = &segSums{}
		}
		if sum.live != g.live || sum.ttlLive != g.ttlLive {
			return fmt.Errorf("segment %d: live %d, ttlLive %d; entries add up to %d, %d", g.idx, g.live, g.ttlLive, sum.live, sum.ttlLive)
		}
	}
	if entries != sh.entries || kv != sh.kvBytes || space != sh.liveSpace || ttlLive != sh.ttlLive {
		return fmt.Errorf("counters entries %d, kv %d, space %d, ttl %d; entries add up to %d, %d, %d, %d",
			sh.entries, sh.kvBytes, sh.liveSpace, sh.ttlLive, entries, kv, space, ttlLive)
	}
	return nil
}
