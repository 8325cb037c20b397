package memory

import (
	"encoding/binary"
	"math"
	"sync/atomic"
)

// An entry in a segment is a 24-byte header, the key and the value, padded
// to a multiple of 8 bytes:
//
//	0       8       16      20      24
//	[ seq  ][ exp  ][klen ][vlen ][ key ... value ... padding ]
//
// All little-endian. seq is the write's [storage.KeyInfo.Seq], exp the
// expiry in nanoseconds after Storage.base (0: never).
const (
	hdrSize = 24

	// maxEntry bounds the bytes of one entry, so that sizes fit an int on
	// every platform and a length field cannot overflow.
	maxEntry = math.MaxInt32 - 7
)

// entrySize is the space an entry of a klen-byte key and a vlen-byte value
// takes in a segment, or -1 when it exceeds maxEntry.
func entrySize(klen, vlen int) int {
	if int64(klen)+int64(vlen) > maxEntry-hdrSize { // in int64: no overflow on 32-bit platforms
		return -1
	}
	return (hdrSize + klen + vlen + 7) &^ 7
}

// putEntry writes an entry at the start of b, which has room for it.
func putEntry(b []byte, seq uint64, exp int64, key string, value []byte) {
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint64(b[8:], uint64(exp))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(key)))
	binary.LittleEndian.PutUint32(b[20:], uint32(len(value)))
	n := copy(b[hdrSize:], key)
	copy(b[hdrSize+n:], value)
}

// putSeq sets the seq of the entry at the start of b.
func putSeq(b []byte, seq uint64) { binary.LittleEndian.PutUint64(b, seq) }

// header is a decoded entry header.
type header struct {
	seq        uint64
	exp        int64
	klen, vlen int
}

// size is the space the entry takes, padding included.
func (h *header) size() int { return (hdrSize + h.klen + h.vlen + 7) &^ 7 }

// expired reports whether the entry has expired at now.
func (h *header) expired(now int64) bool { return h.exp != 0 && now >= h.exp }

// entryAt decodes the header of the entry at off in b, the written bytes of
// a segment. ok is false when no entry fits there: a reader that followed
// a location dated by a concurrent compaction reads arbitrary bytes, and
// must find that out rather than panic. On ok, the key and value lie
// within b.
func entryAt(b []byte, off int) (h header, ok bool) {
	if off < 0 || off > len(b)-hdrSize {
		return h, false
	}
	p := b[off : off+hdrSize : off+hdrSize]
	kl := binary.LittleEndian.Uint32(p[16:])
	vl := binary.LittleEndian.Uint32(p[20:])
	if uint64(kl)+uint64(vl) > uint64(len(b)-off-hdrSize) {
		return h, false
	}
	h.seq = binary.LittleEndian.Uint64(p)
	h.exp = int64(binary.LittleEndian.Uint64(p[8:]))
	h.klen, h.vlen = int(kl), int(vl)
	return h, true
}

// keyAt returns the key of the entry at off, whose header is h.
func keyAt(b []byte, off int, h *header) []byte {
	s := off + hdrSize
	return b[s : s+h.klen : s+h.klen]
}

// valueAt returns the value of the entry at off, whose header is h. Its
// capacity ends with it, so that an append by a borrower copies rather
// than writes over the next entry.
func valueAt(b []byte, off int, h *header) []byte {
	s := off + hdrSize + h.klen
	return b[s : s+h.vlen : s+h.vlen]
}

// segment is a byte arena holding entries one after the other. Bytes once
// published are never written again: a write appends a new entry and
// compaction copies live entries into another segment, then drops this
// one, which the garbage collector frees once no slice lent by View points
// into it. So readers read a segment without a lock, and never see its
// bytes change. Readers find a segment's bytes in the shard's directory
// (see view); the segment itself is the writers' bookkeeping, guarded by
// the shard's lock.
type segment struct {
	buf     []byte // allocated once, never resized
	end     int    // bytes written (and published in the directory)
	idx     uint32 // position in the shard's directory
	live    int    // bytes of the live entries, padding included
	ttlLive int    // live entries with an expiry
	minExp  int64  // no live entry expires before it; math.MaxInt64: none may
	jumbo   bool   // holds one entry too large to share a segment
}

// view is what readers need of a segment, kept by value in the shard's
// directory so that a read goes from the directory straight to the bytes.
// A directory is replaced, not modified, when a segment comes or goes, but
// the pub of its newest copy grows as the segment is written; a reader
// holding an older copy sees a smaller pub, and reads again.
type view struct {
	buf []byte       // the segment's buf; nil for an unused index
	pub atomic.Int64 // bytes written and published; readers read below it only
}

// written returns the published bytes of the segment v shows.
func (v *view) written() []byte { return v.buf[:v.pub.Load()] }
