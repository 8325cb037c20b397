package memory

import (
	"errors"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// errFull is returned by a Set that would give a shard more segments than
// a location can name: far beyond any memory, in practice.
var errFull = errors.New("its shard holds too many segments")

const (
	// moveCost is what moving one entry costs in compaction budget beyond
	// its bytes: hashing its key and probing the index for it, a cache
	// miss in a large shard, which takes about as long as copying a few
	// hundred bytes.
	moveCost = 256

	// stepBudget bounds the budget of one compaction step, and so how long
	// it holds the shard's lock: about 64 KiB of copying, or 150 entries
	// of 200 bytes, a few tens of microseconds.
	stepBudget = 64 << 10

	// chunkSlots is how many slots a walk over a shard's index (Scan,
	// DeletePrefix, the sweeper) visits before it lets writers in.
	chunkSlots = 1024
)

// shard is one part of the key space: an index and the segments its slots
// point into. Readers use only the fields before mu, with atomic loads and
// no lock; see lookup.
type shard struct {
	// gen counts the segments dropped from dir. A reader that saw it
	// unchanged around its probe knows that every location it followed
	// named the segment it was written for.
	gen atomic.Uint64
	tab atomic.Pointer[table]  // nil until the first Set, after DeletePrefix("") and after Close
	dir atomic.Pointer[[]view] // the segments' bytes by index (0 unused); see view

	// idxSlots and idxMask repeat tab's first slot and mask on the shard's
	// own cache line, so that a lookup goes from the shard straight to its
	// slot rather than through the table's header, one dependent memory
	// access less: a cache miss in a large storage. idxSeq is a sequence
	// lock over the two, odd while a writer changes them (see index).
	idxSeq   atomic.Uint64
	idxSlots atomic.Pointer[atomic.Uint64] // nil when tab is
	idxMask  atomic.Uint32

	// Keeps what writers change off the cache lines readers load (CPUs
	// fetch lines in pairs).
	_ [128 - 44]byte

	mu     sync.Mutex // guards every field below, and every write to those above
	s      *Storage
	closed bool
	segs   []*segment // the segments by index, as in dir

	head    *segment // where entries are appended; nil: none yet
	evac    *segment // the segment compaction is emptying; nil: none
	evacOff int      // the offset of evac's next entry to look at

	used      int   // slots of tab holding an entry or a tombstone
	entries   int   // live entries, expired ones not reclaimed yet included
	kvBytes   int64 // bytes of their keys and values
	liveSpace int64 // bytes they take in the segments, headers and padding included
	arena     int64 // bytes of the segments held
	ttlLive   int   // live entries with an expiry

	compactions uint64 // segments emptied by compaction
	expired     uint64 // entries reclaimed after they expired

	// Pads the 136 bytes of the writers' fields to 256, so that a shard
	// takes 384 bytes (on 64-bit platforms; a test checks it) and
	// neighbours share no cache line pair.
	_ [256 - 136]byte
}

func (sh *shard) init(s *Storage) {
	sh.s = s
	sh.resetLocked()
}

// resetLocked empties the shard. Slices lent by View stay intact: dropped
// segments are left to the garbage collector.
func (sh *shard) resetLocked() {
	sh.setTableLocked(nil)
	sh.segs = []*segment{nil}
	dir := make([]view, 1)
	sh.dir.Store(&dir)
	sh.gen.Add(1)
	sh.head, sh.evac, sh.evacOff = nil, nil, 0
	sh.used, sh.entries, sh.kvBytes, sh.liveSpace, sh.arena, sh.ttlLive = 0, 0, 0, 0, 0, 0
}

// --- reads, without a lock -------------------------------------------

// lookup returns the header and value of key's entry; found is false when
// the shard holds none. It takes no lock and writes no shared memory, so
// that readers on different cores never contend.
//
// A reader can follow a location that a concurrent compaction has just
// made stale, into a segment since dropped, or into another segment that
// reused the index. Bytes below a segment's pub never change, so whatever
// it reads there is memory-safe; gen tells it whether it may trust what
// it read: a segment's index is reused only after the segment is dropped,
// which increments gen after every slot pointing into it was changed. So
// when gen is the same before and after a probe, every segment the probe
// loaded was the one its slot meant. When gen moved, the probe is retried,
// and after a few tries done under the lock.
func (sh *shard) lookup(key string, tag uint32) (h header, v []byte, found bool) {
	for range 3 {
		g := sh.gen.Load()
		var sure bool
		h, v, found, sure = sh.probe(key, tag)
		if sure && sh.gen.Load() == g {
			return h, v, found
		}
	}
	sh.mu.Lock()
	h, v, found, _ = sh.probe(key, tag)
	sh.mu.Unlock()
	return h, v, found
}

// probe looks key up in the current index. sure is false when it met a
// location that cannot be right, which only a concurrent change explains.
func (sh *shard) probe(key string, tag uint32) (h header, v []byte, found, sure bool) {
	first, mask := sh.index()
	if first == nil {
		return h, nil, false, true
	}
	i := home(tag, mask)
	for range mask + 1 {
		sl := slotAt(first, i).Load()
		if sl == slotEmpty {
			return h, nil, false, true
		}
		if slotTag(sl) == tag && isEntry(sl) {
			loc := slotLoc(sl)
			dir := *sh.dir.Load() // after the slot: a segment is in dir before any slot points into it
			si := locSegment(loc)
			if int(si) >= len(dir) {
				return h, nil, false, false
			}
			b := dir[si].written()
			off := locOffset(loc)
			if mayHold(b, off, key) {
				var ok bool
				if h, ok = entryAt(b, off); !ok {
					return h, nil, false, false
				}
				if string(keyAt(b, off, &h)) == key {
					return h, valueAt(b, off, &h), true, true
				}
			}
		}
		i = (i + 1) & mask
	}
	return h, nil, false, false // no empty slot: a table replaced while being read
}

// index returns the first slot and the mask of the shard's current index,
// nil when it has none, from the shard's own cache line. The two come from
// one table: the sequence number was even (no writer between its stores)
// and unchanged around their loads. Otherwise a writer is replacing the
// index at this moment, and they are read from the table itself, which is
// never changed in size; a reader never waits for a writer.
func (sh *shard) index() (first *atomic.Uint64, mask uint32) {
	seq := sh.idxSeq.Load()
	first, mask = sh.idxSlots.Load(), sh.idxMask.Load()
	if seq&1 == 0 && sh.idxSeq.Load() == seq {
		return first, mask
	}
	if t := sh.tab.Load(); t != nil {
		return &t.slots[0], t.mask
	}
	return nil, 0
}

// slotAt returns slot i of the index whose first slot is first. The caller
// keeps i within the index's mask, which index returned with first.
func slotAt(first *atomic.Uint64, i uint32) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(unsafe.Pointer(first), uintptr(i)*unsafe.Sizeof(*first)))
}

// home is the first slot a key with tag probes in an index of mask+1 slots
// (a power of two): the tag's top bits.
func home(tag, mask uint32) uint32 { return uint32(uint64(tag) >> bits.LeadingZeros32(mask)) }

// mayHold reports whether the entry at off in b may hold key, from the
// bytes where key's last 8 would lie were it the entry's key, before its
// header is read: it rejects most entries of other keys, and has the CPU
// fetch the cache line those bytes are on while it fetches the header's,
// two memory accesses at the time of one in a large storage. A real entry
// of key always fits in b.
func mayHold(b []byte, off int, key string) bool {
	n := len(key)
	if n < 8 {
		return true
	}
	end := off + hdrSize + n
	return end <= len(b) && string(b[end-8:end]) == key[n-8:]
}

// --- writes, under the lock ------------------------------------------

// segmentAtLocked returns the segment and offset of loc. The caller holds
// the lock, under which every slot locates a live entry.
func (sh *shard) segmentAtLocked(loc uint32) (*segment, int) {
	return sh.segs[locSegment(loc)], locOffset(loc)
}

// headerAtLocked returns the header of the live entry at loc, its
// segment's written bytes and its offset in them.
func (sh *shard) headerAtLocked(loc uint32) (header, []byte, int) {
	g, off := sh.segmentAtLocked(loc)
	b := g.buf[:g.end]
	h, _ := entryAt(b, off)
	return h, b, off
}

// findLocked returns the slot of t holding key (-1 when none), and the slot
// where a new entry for key goes: the first tombstone or empty slot of its
// probe.
func (sh *shard) findLocked(t *table, key string, tag uint32) (at, free int) {
	free = -1
	i := t.home(tag)
	for range len(t.slots) {
		sl := t.slots[i].Load()
		switch {
		case sl == slotEmpty:
			if free < 0 {
				free = int(i)
			}
			return -1, free
		case !isEntry(sl):
			if free < 0 {
				free = int(i)
			}
		case slotTag(sl) == tag:
			h, b, off := sh.headerAtLocked(slotLoc(sl))
			if string(keyAt(b, off, &h)) == key {
				return int(i), free
			}
		}
		i = (i + 1) & t.mask
	}
	return -1, free
}

// findLoc returns the slot of t that locates the entry at loc, whose key
// has tag, or -1 when no slot does: the entry is garbage.
func (t *table) findLoc(tag, loc uint32) int {
	want := makeSlot(tag, loc)
	i := t.home(tag)
	for range len(t.slots) {
		switch t.slots[i].Load() {
		case want:
			return int(i)
		case slotEmpty:
			return -1
		}
		i = (i + 1) & t.mask
	}
	return -1
}

// tableLocked returns the table, made on the first Set.
func (sh *shard) tableLocked() *table {
	t := sh.tab.Load()
	if t == nil {
		t = newTable(minTable)
		sh.setTableLocked(t)
		sh.used = 0
	}
	return t
}

// setTableLocked makes t the shard's index (nil: none), and publishes its
// first slot and mask for readers under the sequence lock (see index).
func (sh *shard) setTableLocked(t *table) {
	sh.tab.Store(t)
	sh.idxSeq.Add(1)
	if t == nil {
		sh.idxSlots.Store(nil)
		sh.idxMask.Store(0)
	} else {
		sh.idxSlots.Store(&t.slots[0])
		sh.idxMask.Store(t.mask)
	}
	sh.idxSeq.Add(1)
}

// resizeLocked replaces t by a table with room for twice the live entries,
// dropping the tombstones, and returns it.
func (sh *shard) resizeLocked(t *table) *table {
	size := minTable
	for size < 2*(sh.entries+1) {
		size *= 2
	}
	nt := t.rehash(size)
	sh.setTableLocked(nt)
	sh.used = sh.entries
	return nt
}

// setLocked stores the entry of size bytes for key. jumbo, when not nil,
// is the entry already written into a buffer of its own, but for its seq.
func (sh *shard) setLocked(key string, value []byte, tag uint32, seq uint64, exp int64, size int, jumbo []byte) error {
	t := sh.tableLocked()
	at, free := sh.findLocked(t, key, tag)
	if at < 0 && t.slots[free].Load() == slotEmpty && 4*(sh.used+1) > 3*len(t.slots) {
		t = sh.resizeLocked(t)
		at, free = sh.findLocked(t, key, tag)
	}

	var loc uint32
	if jumbo != nil {
		putSeq(jumbo, seq)
		g, err := sh.installLocked(jumbo)
		if err != nil {
			return err
		}
		g.jumbo = true
		g.end = len(jumbo)
		sh.publishLocked(g)
		sh.addLiveLocked(g, size, exp)
		loc = makeLoc(g.idx, 0)
	} else {
		g, off, err := sh.appendLocked(size)
		if err != nil {
			return err
		}
		putEntry(g.buf[off:off+size], seq, exp, key, value)
		g.end = off + size
		sh.publishLocked(g) // before the slot: readers read below pub only
		sh.addLiveLocked(g, size, exp)
		loc = makeLoc(g.idx, off)
	}
	sh.kvBytes += int64(len(key) + len(value))

	sl := makeSlot(tag, loc)
	if at >= 0 {
		old := t.slots[at].Load()
		t.slots[at].Store(sl)
		sh.payLocked(sh.killLocked(slotLoc(old)))
		return nil
	}
	if t.slots[free].Load() == slotEmpty {
		sh.used++
	}
	t.slots[free].Store(sl)
	sh.entries++
	return nil
}

// removeSlotLocked removes the entry slot i of t locates and returns the
// bytes of garbage that leaves.
func (sh *shard) removeSlotLocked(t *table, i int) int {
	old := t.slots[i].Load()
	t.slots[i].Store(slotTomb) // before the kill, which may drop the segment
	sh.entries--
	return sh.killLocked(slotLoc(old))
}

// addLiveLocked counts a new live entry of size bytes in g.
func (sh *shard) addLiveLocked(g *segment, size int, exp int64) {
	g.live += size
	sh.liveSpace += int64(size)
	if exp != 0 {
		g.ttlLive++
		sh.ttlLive++
		g.minExp = min(g.minExp, exp)
	}
}

// killLocked accounts for the entry at loc, which no slot locates any
// more, and returns the bytes of garbage it leaves: none when its segment
// held nothing else and was dropped.
func (sh *shard) killLocked(loc uint32) int {
	g, off := sh.segmentAtLocked(loc)
	h, _ := entryAt(g.buf[:g.end], off)
	n := h.size()
	g.live -= n
	sh.liveSpace -= int64(n)
	sh.kvBytes -= int64(h.klen + h.vlen)
	if h.exp != 0 {
		g.ttlLive--
		sh.ttlLive--
	}
	if g.live == 0 && g != sh.head {
		sh.dropLocked(g)
		return 0
	}
	return n
}

// appendLocked returns where an entry of size bytes goes: the end of the
// head segment, or of a new one when it does not fit.
func (sh *shard) appendLocked(size int) (*segment, int, error) {
	if g := sh.head; g != nil && size <= len(g.buf)-g.end {
		return g, g.end, nil
	}
	// Segments grow with the shard, an eighth of its live bytes, so that
	// a small storage holds little and a large one has few segments; and
	// hold at least four entries of this size, so that the unused end a
	// segment is sealed with, smaller than the entry that did not fit, is
	// under a quarter of it. Compaction cannot reclaim those ends (moving
	// the entries makes new ones), so they must stay under its threshold.
	n := sh.s.cfg.segMin
	for n < sh.s.cfg.segMax && (int64(n) < sh.liveSpace/8 || n < 4*size) {
		n *= 2
	}
	g, err := sh.installLocked(make([]byte, n))
	if err != nil {
		return nil, 0, err
	}
	if old := sh.head; old != nil && old.live == 0 {
		sh.dropLocked(old)
	}
	sh.head = g
	return g, 0, nil
}

// installLocked adds a segment over buf at the first free index.
func (sh *shard) installLocked(buf []byte) (*segment, error) {
	idx := slices.Index(sh.segs[1:], nil) + 1
	if idx == 0 {
		idx = len(sh.segs)
		if idx > maxSegments {
			return nil, errFull
		}
		sh.segs = append(sh.segs, nil)
	}
	g := &segment{buf: buf, idx: uint32(idx), minExp: math.MaxInt64}
	sh.segs[idx] = g
	sh.storeDirLocked()
	sh.arena += int64(len(buf))
	return g, nil
}

// dropLocked removes g, which no slot locates any more. Its memory goes
// back to the garbage collector once no slice lent by View points into
// it.
func (sh *shard) dropLocked(g *segment) {
	sh.segs[g.idx] = nil
	for len(sh.segs) > 1 && sh.segs[len(sh.segs)-1] == nil {
		sh.segs = sh.segs[:len(sh.segs)-1]
	}
	sh.storeDirLocked()
	sh.gen.Add(1) // after the directory: see lookup
	sh.arena -= int64(len(g.buf))
	if sh.evac == g {
		sh.evac = nil
	}
}

// storeDirLocked publishes a new directory made from segs.
func (sh *shard) storeDirLocked() {
	dir := make([]view, len(sh.segs))
	for i, g := range sh.segs {
		if g != nil {
			dir[i].buf = g.buf
			dir[i].pub.Store(int64(g.end))
		}
	}
	sh.dir.Store(&dir)
}

// publishLocked makes the bytes written to g up to g.end visible to
// readers.
func (sh *shard) publishLocked(g *segment) {
	(*sh.dir.Load())[g.idx].pub.Store(int64(g.end))
}

// --- compaction ------------------------------------------------------

// garbageLocked returns the bytes of the segments that hold no live entry
// (dead entries, and the unused end of sealed segments), and the bytes
// written (the arena less the head's free room).
func (sh *shard) garbageLocked() (garbage, written int64) {
	written = sh.arena
	if g := sh.head; g != nil {
		written -= int64(len(g.buf) - g.end)
	}
	return written - sh.liveSpace, written
}

// overLocked reports whether the shard's garbage passed the threshold at
// which compaction starts: a quarter of the bytes written, and at least
// the smallest segment.
func (sh *shard) overLocked() bool {
	garbage, written := sh.garbageLocked()
	return garbage >= int64(sh.s.cfg.segMin) && 4*garbage > written
}

// payLocked runs compaction after a write that made garbage bytes of
// garbage: about eight bytes moved per byte of garbage made, at most a
// step. The segment with the most garbage is at least a quarter garbage
// when compaction runs, so moving eight bytes reclaims about three or
// more: compaction keeps pace with the writes that make garbage, at a
// cost proportional to them. (An entry of more than 32 KiB has a segment
// of its own and makes no garbage.)
func (sh *shard) payLocked(garbage int) {
	if garbage == 0 || (sh.evac == nil && !sh.overLocked()) {
		return
	}
	sh.compactLocked(min(8*garbage, stepBudget))
}

// compactLocked moves up to about budget bytes of live entries out of the
// segment with the most garbage, and drops that segment once it is empty.
// Moved entries keep their seq and expiry; their slots are changed in
// place, so that a walk over the index is not disturbed.
func (sh *shard) compactLocked(budget int) {
	for budget > 0 {
		g := sh.evac
		if g == nil {
			if !sh.overLocked() {
				return
			}
			if g = sh.victimLocked(); g == nil {
				return
			}
			if g == sh.head {
				sh.head = nil // sealed: entries moved out must go elsewhere
			}
			sh.evac, sh.evacOff = g, 0
		}
		budget = sh.evacuateLocked(g, budget)
	}
}

// victimLocked returns the segment with the most garbage, the head
// included, or nil when none holds any.
func (sh *shard) victimLocked() *segment {
	var best *segment
	most := 0
	for _, g := range sh.segs {
		if g == nil || g.jumbo { // a jumbo segment is dropped with its entry
			continue
		}
		garbage := len(g.buf) - g.live
		if g == sh.head {
			garbage = g.end - g.live
		}
		if garbage > most {
			best, most = g, garbage
		}
	}
	return best
}

// evacuateLocked moves g's live entries, from evacOff on, to the head
// until budget runs out, and returns what is left of budget.
func (sh *shard) evacuateLocked(g *segment, budget int) int {
	t := sh.tab.Load()
	b := g.buf[:g.end]
	for g.live > 0 && sh.evacOff < len(b) && budget > 0 {
		off := sh.evacOff
		h, ok := entryAt(b, off)
		if !ok {
			break // cannot happen: written under this lock
		}
		n := h.size()
		sh.evacOff += n
		budget -= n + moveCost
		hash := maphash.Bytes(sh.s.seed, keyAt(b, off, &h))
		tag := uint32(hash >> 32)
		i := t.findLoc(tag, makeLoc(g.idx, off))
		if i < 0 {
			continue // dead
		}
		dst, doff, err := sh.appendLocked(n)
		if err != nil {
			sh.evac = nil // leave it be; the next step picks again
			return 0
		}
		copy(dst.buf[doff:doff+n], b[off:off+n])
		dst.end = doff + n
		sh.publishLocked(dst)
		sh.addLiveLocked(dst, n, h.exp)
		t.slots[i].Store(makeSlot(tag, makeLoc(dst.idx, doff)))
		g.live -= n
		sh.liveSpace -= int64(n)
		if h.exp != 0 {
			g.ttlLive--
			sh.ttlLive--
		}
	}
	if g.live == 0 {
		sh.dropLocked(g)
		sh.compactions++
	} else if sh.evacOff >= len(b) {
		sh.evac = nil // cannot happen: live bytes no slot locates
	}
	return budget
}

// compact runs compaction steps, each under the lock, until the shard's
// garbage is under the threshold, letting writers in between steps. It
// moves at most about twice the bytes the shard had written when it
// started: enough to move every live entry once with room to spare, and a
// bound should the garbage be of a kind moving cannot reclaim.
func (sh *shard) compact() {
	var steps int64
	for {
		sh.mu.Lock()
		if sh.closed || (sh.evac == nil && !sh.overLocked()) {
			sh.mu.Unlock()
			return
		}
		if steps == 0 {
			_, written := sh.garbageLocked()
			steps = 2*written/stepBudget + 2
		}
		sh.compactLocked(stepBudget)
		sh.mu.Unlock()
		if steps--; steps == 0 {
			return
		}
	}
}
