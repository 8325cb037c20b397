package redis

import (
	"errors"

	"github.com/gecaso/gecaso/storage"
)

// An invalidation travels as one pub/sub message in a compact binary form,
// read by every process of the fleet, possibly of another gecaso version:
//
//	byte     format version, 1
//	uvarint  number of keys, then for each key: uvarint length, bytes
//	uvarint  number of prefixes, then for each: uvarint length, bytes
//
// Nothing may follow. Keys and prefixes are relative to the storage prefix
// (as given to Remove and DeletePrefix). A message whose first byte is a
// version above 1 comes from a newer gecaso: its reader cannot tell what was
// removed and drops everything, so that a fleet upgraded process by process
// stays coherent. Anything else that does not decode is malformed and
// dropped: the channel carries bytes from the network, which are untrusted.
const messageVersion = 1

var (
	errMalformed   = errors.New("malformed invalidation message")
	errNewerFormat = errors.New("invalidation message of a newer format")
)

// dropAll is the invalidation of everything.
var dropAll = storage.Invalidation{Prefixes: []string{""}}

// appendMessage appends the message of inv to b.
func appendMessage(b []byte, inv storage.Invalidation) []byte {
	b = append(b, messageVersion)
	for _, list := range [2][]string{inv.Keys, inv.Prefixes} {
		b = appendUvarint(b, uint64(len(list)))
		for _, s := range list {
			b = appendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// decodeMessage decodes a message. The keys and prefixes it returns share
// msg's memory. It returns errNewerFormat for a message of a later version,
// errMalformed for anything else that is not a message, and never panics
// or allocates more than a few times len(msg).
func decodeMessage(msg string) (storage.Invalidation, error) {
	var inv storage.Invalidation
	if len(msg) == 0 {
		return inv, errMalformed
	}
	switch v := msg[0]; {
	case v > messageVersion:
		return inv, errNewerFormat
	case v < messageVersion:
		return inv, errMalformed
	}
	d := decoder{msg: msg, pos: 1}
	inv.Keys = d.list()
	inv.Prefixes = d.list()
	if d.bad || d.pos != len(d.msg) {
		return storage.Invalidation{}, errMalformed
	}
	return inv, nil
}

// decoder reads a message; bad is set at the first inconsistency, after
// which every read returns zero values.
type decoder struct {
	msg string
	pos int
	bad bool
}

func (d *decoder) uvarint() uint64 {
	var v uint64
	for shift := uint(0); !d.bad; shift += 7 {
		if d.pos >= len(d.msg) || shift > 63 {
			d.bad = true
			break
		}
		c := d.msg[d.pos]
		d.pos++
		if shift == 63 && c > 1 {
			d.bad = true // overflows 64 bits
			break
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	return 0
}

// list reads a count and that many strings. Every string takes at least
// its length byte, so a count larger than the bytes left is malformed,
// which bounds the slice allocated.
func (d *decoder) list() []string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.msg)-d.pos) {
		d.bad = true
		return nil
	}
	if n == 0 {
		return nil
	}
	list := make([]string, 0, n)
	for range n {
		l := d.uvarint()
		if d.bad || l > uint64(len(d.msg)-d.pos) {
			d.bad = true
			return nil
		}
		list = append(list, d.msg[d.pos:d.pos+int(l)])
		d.pos += int(l)
	}
	return list
}
