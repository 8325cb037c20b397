package codec

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// The envelope frame, version 1 (all integers big-endian):
//
//	offset  size  field
//	0       2     magic "gc"
//	2       1     format version, 1
//	3       8     written at, Unix nanoseconds (int64); 0: unknown
//	11      8     expires at, Unix nanoseconds (int64); 0: never
//	19      1-10  params length, minimal uvarint
//	        n     params: canonical msgpack map, or nothing for none
//	        1-10  data length, minimal uvarint
//	        n     data: msgpack of the value
//	end-4   4     CRC-32C (Castagnoli) of every byte before it
//
// Both times sit at fixed offsets so a storage can read the expiry without
// parsing the rest. A reader refuses a version above the one it knows.
const (
	envMagic0      = 'g'
	envMagic1      = 'c'
	envVersion     = 1
	envHeaderSize  = 19
	envMinSize     = envHeaderSize + 1 + 1 + 4
	envWrittenAtAt = 3
	envExpiresAtAt = 11
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Envelope is what gecaso stores under a key: the time the entry was written,
// when it expires, the params given with it, and the msgpack-encoded value.
// An Envelope is a plain value: it is not safe for concurrent mutation.
type Envelope struct {
	// WrittenAt is when the entry was written; the zero time means unknown.
	WrittenAt time.Time

	// ExpiresAt is when the entry stops being valid; the zero time means it
	// never expires.
	ExpiresAt time.Time

	// StaleUntil and Error: placeholders of format version 2.
	StaleUntil time.Time
	Error      bool

	// Params are encoded canonically by AppendEnvelope when non-nil (an empty
	// map stores no params). DecodeEnvelope leaves Params nil: see
	// DecodeParams.
	Params map[string]any

	// RawParams is the msgpack of the params as stored. AppendEnvelope writes
	// it as is when Params is nil. After DecodeEnvelope it aliases the input,
	// or is nil when the entry has no params.
	RawParams []byte

	// Data is the msgpack of the value. AppendEnvelope writes it as is
	// without checking it. After DecodeEnvelope it aliases the input (its
	// capacity ends with it), or is nil when empty.
	Data []byte
}

// Expired reports whether the envelope has expired at now: it has an expiry
// and now is not before it.
func (e *Envelope) Expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// DecodeParams decodes RawParams with the bounds of [Unmarshal]. It returns
// nil when there are none (or an empty map is stored); its error wraps [ErrCorrupt]. The map belongs to
// the caller.
func (e *Envelope) DecodeParams() (map[string]any, error) {
	if len(e.RawParams) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := Unmarshal(e.RawParams, &m); err != nil {
		return nil, fmt.Errorf("%w (in the params)", err)
	}
	if len(m) == 0 {
		return nil, nil // as AppendEnvelope stores empty params: not at all
	}
	return m, nil
}

// The instants an int64 of Unix nanoseconds can hold.
var (
	minEnvelopeTime = time.Unix(0, math.MinInt64)
	maxEnvelopeTime = time.Unix(0, math.MaxInt64)
)

func unixNanos(t time.Time, what string) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	if t.Before(minEnvelopeTime) || t.After(maxEnvelopeTime) {
		return 0, fmt.Errorf("%w: envelope %s %v is outside the years 1677-2262", ErrUnsupported, what, t)
	}
	n := t.UnixNano()
	if n == 0 {
		n = 1 // 0 means "none"; the Unix epoch itself is stored 1ns later
	}
	return n, nil
}

func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// AppendEnvelope appends the framed envelope e to dst and returns the
// extended slice. Data must already be msgpack (AppendEnvelope does not check
// it). Params, when non-nil, are encoded canonically; otherwise RawParams is
// written as is. Times must lie between
// 1677-09-21 and 2262-04-11 (an int64 of nanoseconds). On error it
// returns dst unextended; the error wraps [ErrUnsupported].
func AppendEnvelope(dst []byte, e *Envelope) ([]byte, error) {
	return appendEnvelope(dst, e, func(b []byte) ([]byte, error) {
		return append(b, e.Data...), nil
	})
}

func appendEnvelope(dst []byte, e *Envelope, data func([]byte) ([]byte, error)) ([]byte, error) {
	written, err := unixNanos(e.WrittenAt, "written-at time")
	if err != nil {
		return dst, err
	}
	expires, err := unixNanos(e.ExpiresAt, "expiry")
	if err != nil {
		return dst, err
	}
	start := len(dst)
	b := append(dst, envMagic0, envMagic1, envVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(written))
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b, err = appendPrefixed(b, func(b []byte) ([]byte, error) {
		switch {
		case e.Params != nil && len(e.Params) == 0:
			return b, nil
		case e.Params != nil:
			return AppendMarshal(b, e.Params)
		}
		return append(b, e.RawParams...), nil
	})
	if err != nil {
		return dst, err
	}
	if b, err = appendPrefixed(b, data); err != nil {
		return dst, err
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli)), nil
}

// appendPrefixed appends what fill appends, preceded by its length as a
// minimal uvarint. It guesses a one-byte length and moves the content when
// the guess was short, which saves encoding into a scratch buffer.
func appendPrefixed(dst []byte, fill func([]byte) ([]byte, error)) ([]byte, error) {
	at := len(dst)
	b, err := fill(append(dst, 0))
	if err != nil {
		return dst, err
	}
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b, nil
	}
	var hdr [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(hdr[:], uint64(n))
	b = append(b, hdr[:k-1]...)
	copy(b[at+k:], b[at+1:at+1+n])
	copy(b[at:], hdr[:k])
	return b, nil
}

// DecodeEnvelope parses the frame b into e. It neither copies nor allocates:
// e.RawParams and e.Data alias b, so b must not change while they are in
// use; e.Params is set to nil. It checks the magic, the format version, the
// lengths and the checksum, and that nothing trails the frame, but neither
// the msgpack inside nor the expiry. Every error wraps [ErrCorrupt],
// including a format version newer than this package writes (a reader
// treats it as a miss). On error e is left unchanged.
func DecodeEnvelope(b []byte, e *Envelope) error {
	if len(b) < envMinSize {
		return corruptf("envelope of %d bytes is shorter than %d", len(b), envMinSize)
	}
	if b[0] != envMagic0 || b[1] != envMagic1 {
		return corruptf("envelope magic %q is not %q", b[:2], "gc")
	}
	switch v := b[2]; {
	case v > envVersion:
		return corruptf("envelope format version %d is newer than %d", v, envVersion)
	case v < envVersion:
		return corruptf("unknown envelope format version %d", v)
	}
	end := len(b) - 4
	if got, want := crc32.Checksum(b[:end], castagnoli), binary.BigEndian.Uint32(b[end:]); got != want {
		return corruptf("envelope checksum %08x does not match %08x", got, want)
	}
	i := envHeaderSize
	params, i, err := readPrefixed(b, i, end, "params")
	if err != nil {
		return err
	}
	data, i, err := readPrefixed(b, i, end, "data")
	if err != nil {
		return err
	}
	if i != end {
		return corruptf("%d bytes of junk after the envelope's data", end-i)
	}
	e.WrittenAt = fromUnixNanos(int64(binary.BigEndian.Uint64(b[envWrittenAtAt:])))
	e.ExpiresAt = fromUnixNanos(int64(binary.BigEndian.Uint64(b[envExpiresAtAt:])))
	e.Params = nil
	e.RawParams = params
	e.Data = data
	return nil
}

// readPrefixed reads a length-prefixed field of b[i:end]; empty is nil.
func readPrefixed(b []byte, i, end int, what string) ([]byte, int, error) {
	n, k := binary.Uvarint(b[i:end])
	if k <= 0 {
		return nil, i, corruptf("envelope %s length at offset %d is malformed", what, i)
	}
	if k > 1 && b[i+k-1] == 0 {
		return nil, i, corruptf("envelope %s length at offset %d is not minimal", what, i)
	}
	i += k
	if n > uint64(end-i) || n > math.MaxInt {
		return nil, i, corruptf("envelope %s of %d bytes exceeds the %d bytes left", what, n, end-i)
	}
	if n == 0 {
		return nil, i, nil
	}
	j := i + int(n)
	return b[i:j:j], j, nil
}

// Pack encodes value canonically and frames it with params (which may be
// nil) in an envelope written now that never expires. The returned slice
// belongs to the caller. The error wraps [ErrUnsupported]. It is safe for
// concurrent use.
func Pack(value any, params map[string]any) ([]byte, error) {
	e := Envelope{WrittenAt: time.Now(), Params: params}
	return appendEnvelope(make([]byte, 0, 64), &e, func(b []byte) ([]byte, error) {
		return AppendMarshal(b, value)
	})
}

// Unpack decodes an envelope written by [Pack] or [AppendEnvelope]: it
// decodes the data into value (a non-nil pointer, as for [Unmarshal]; with a
// nil value the data is only validated) and returns the params, nil when
// there are none. Unpack ignores expiry: see [Envelope.Expired]. Errors
// caused by b wrap [ErrCorrupt]. Nothing returned aliases b. It is safe for
// concurrent use.
func Unpack(b []byte, value any) (params map[string]any, err error) {
	var e Envelope
	if err := DecodeEnvelope(b, &e); err != nil {
		return nil, err
	}
	if value == nil {
		err = validate(e.Data)
	} else {
		err = Unmarshal(e.Data, value)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (in the data)", err)
	}
	return e.DecodeParams()
}
