package memory

import "sync/atomic"

// A shard's index is an open-addressing hash table of 64-bit slots with
// linear probing. Readers probe it without a lock, with atomic loads;
// writers change it under the shard's lock, with atomic stores. It holds
// no pointer, so the garbage collector never scans it.
//
// A slot holds the upper 32 bits of the key's hash (its tag) and the
// location of the entry in the shard's arena:
//
//	63         32 31            18 17           0
//	[    tag     ][ segment index ][ offset / 8  ]
//
// Segment index 0 is never used, so an entry's slot is never one of the two
// special values below, whatever its tag.
const (
	slotEmpty = 0 // never used since the table was made: ends a probe
	slotTomb  = 1 // its entry was removed: probes go on past it

	offBits = 18 // offsets in 8-byte units: segments of up to 2 MiB hold many entries
	segBits = 32 - offBits
	offMask = 1<<offBits - 1

	// maxSegments bounds the segments of one shard (index 0 is unused).
	maxSegments = 1<<segBits - 1

	// maxPackedSegment is the largest segment that holds several entries:
	// offsets in it must fit in offBits.
	maxPackedSegment = 8 << offBits

	minTable = 16 // slots of a shard's first table
)

// table is one generation of a shard's index. Once a writer replaces it
// (to grow it or to clear its tombstones), nobody writes to it again, so a
// reader that still probes it sees a consistent, if dated, index.
type table struct {
	slots []atomic.Uint64 // a power of two long
	mask  uint32          // len(slots) - 1
}

func newTable(size int) *table {
	log := 0
	for 1<<log < size {
		log++
	}
	return &table{
		slots: make([]atomic.Uint64, 1<<log),
		mask:  uint32(1<<log - 1),
	}
}

// home is the first slot a key with tag probes. The position comes from the
// tag, which the slot keeps, so that growing the table needs no key.
func (t *table) home(tag uint32) uint32 { return home(tag, t.mask) }

func makeSlot(tag, loc uint32) uint64 { return uint64(tag)<<32 | uint64(loc) }

func slotTag(sl uint64) uint32 { return uint32(sl >> 32) }
func slotLoc(sl uint64) uint32 { return uint32(sl) }

// isEntry reports whether sl locates an entry (it is neither empty nor a
// tombstone).
func isEntry(sl uint64) bool { return slotLoc(sl)>>offBits != 0 }

func makeLoc(seg uint32, off int) uint32 { return seg<<offBits | uint32(off>>3) }

func locSegment(loc uint32) uint32 { return loc >> offBits }
func locOffset(loc uint32) int     { return int(loc&offMask) << 3 }

// rehash returns a table of size slots holding t's entries and none of its
// tombstones. The caller holds the shard's lock and publishes the result.
func (t *table) rehash(size int) *table {
	nt := newTable(size)
	for i := range t.slots {
		sl := t.slots[i].Load()
		if !isEntry(sl) {
			continue
		}
		j := nt.home(slotTag(sl))
		for nt.slots[j].Load() != slotEmpty {
			j = (j + 1) & nt.mask
		}
		nt.slots[j].Store(sl)
	}
	return nt
}
