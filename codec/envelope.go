package codec

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// The envelope frame, version 2 (all integers big-endian):
//
//	offset  size  field
//	0       2     magic "gc"
//	2       1     format version, 2
//	3       8     written at, Unix nanoseconds (int64); 0: unknown
//	11      8     expires at, Unix nanoseconds (int64); 0: never
//	19      8     stale until, Unix nanoseconds (int64); 0: not past the expiry
//	27      1     flags: bit 0, the data is a cached error; the others are 0
//	28      1-10  params length, minimal uvarint
//	        n     params: canonical msgpack map, or nothing for none
//	        1-10  data length, minimal uvarint
//	        n     data: msgpack of the value (or of the cached error)
//	end-4   4     CRC-32C (Castagnoli) of every byte before it
//
// A stale-until is never set without an expiry nor before it. Version 1
// is the same frame without stale-until and flags: its params length sits
// at offset 19. Every time sits at a fixed offset, the same in both
// versions for written-at and expires-at, so a storage can read the expiry
// without parsing the rest. A reader refuses a version above the one it
// knows.
const (
	envMagic0       = 'g'
	envMagic1       = 'c'
	envVersion      = 2
	envHeaderSize   = 28
	envMinSize      = envHeaderSize + 1 + 1 + 4
	envWrittenAtAt  = 3
	envExpiresAtAt  = 11
	envStaleUntilAt = 19
	envFlagsAt      = 27

	envHeaderSizeV1 = 19
	envMinSizeV1    = envHeaderSizeV1 + 1 + 1 + 4

	envFlagError = 1 << 0 // Envelope.Error
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Envelope is what gecaso stores under a key: the time the entry was written,
// when it expires, how long past that it may still be served stale, whether
// it holds a value or a cached error, the params given with it, and the
// msgpack-encoded data. An Envelope is a plain value: it is not safe for
// concurrent mutation.
//
// An entry goes through three states: fresh until ExpiresAt (see
// [Envelope.Expired]), then stale until StaleUntil, when the caller may still
// serve it (while it refreshes it, or when the refresh fails), then past
// serving (see [Envelope.Servable]); a storage has no reason to keep it
// beyond [Envelope.ServableUntil].
type Envelope struct {
	// WrittenAt is when the entry was written; the zero time means unknown.
	WrittenAt time.Time

	// ExpiresAt is when the entry stops being fresh; the zero time means it
	// never expires.
	ExpiresAt time.Time

	// StaleUntil is when an entry past its ExpiresAt stops being servable
	// even stale; the zero time means it is not servable past ExpiresAt.
	// When set, ExpiresAt must be set and StaleUntil must not be before it:
	// AppendEnvelope refuses other envelopes and DecodeEnvelope reports
	// them as corrupt.
	StaleUntil time.Time

	// Error reports that the entry is a cached error rather than a value:
	// Data then holds whatever msgpack the writer chose for the error. The
	// codec does not interpret Data either way; [Unpack] refuses such an
	// entry.
	Error bool

	// Params are encoded canonically by AppendEnvelope when non-nil (an empty
	// map stores no params). DecodeEnvelope leaves Params nil: see
	// DecodeParams.
	Params map[string]any

	// RawParams is the msgpack of the params as stored. AppendEnvelope writes
	// it as is when Params is nil. After DecodeEnvelope it aliases the input,
	// or is nil when the entry has no params.
	RawParams []byte

	// Data is the msgpack of the value (of the error when Error is set).
	// AppendEnvelope writes it as is without checking it. After
	// DecodeEnvelope it aliases the input (its capacity ends with it), or is
	// nil when empty.
	Data []byte
}

// Expired reports whether the entry is no longer fresh at now: it has an
// expiry and now is not before it. An expired entry may still be servable
// stale: see [Envelope.Servable].
func (e *Envelope) Expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// ServableUntil returns the instant from which the entry may not be served
// at all, not even stale: StaleUntil when set, else ExpiresAt. The zero time
// means never. A storage that expires entries itself can keep one until
// then.
func (e *Envelope) ServableUntil() time.Time {
	if !e.StaleUntil.IsZero() {
		return e.StaleUntil
	}
	return e.ExpiresAt
}

// Servable reports whether the entry may still be served at now, fresh or
// stale: it never expires, or now is before [Envelope.ServableUntil]. An
// entry that is servable and [Envelope.Expired] is stale.
func (e *Envelope) Servable(now time.Time) bool {
	until := e.ServableUntil()
	return until.IsZero() || now.Before(until)
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
// written as is. It always writes the current format version. Times must
// lie between 1677-09-21 and 2262-04-11 (an int64 of nanoseconds), and a
// StaleUntil needs an ExpiresAt not after it. On error it returns dst
// unextended; the error wraps [ErrUnsupported].
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
	var stale int64
	if !e.StaleUntil.IsZero() {
		if stale, err = unixNanos(e.StaleUntil, "stale-until time"); err != nil {
			return dst, err
		}
		if expires == 0 {
			return dst, fmt.Errorf("%w: envelope stale-until time %v without an expiry", ErrUnsupported, e.StaleUntil)
		}
		if e.StaleUntil.Before(e.ExpiresAt) {
			return dst, fmt.Errorf("%w: envelope stale-until time %v is before its expiry %v", ErrUnsupported, e.StaleUntil, e.ExpiresAt)
		}
	}
	var flags byte
	if e.Error {
		flags |= envFlagError
	}
	start := len(dst)
	b := append(dst, envMagic0, envMagic1, envVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(written))
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = binary.BigEndian.AppendUint64(b, uint64(stale))
	b = append(b, flags)
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
// use; e.Params is set to nil. It reads format versions 1 and 2 (a version 1
// entry has no StaleUntil and is not an Error). It checks the magic, the
// format version, the lengths, the flags, the order of the times and the
// checksum, and that nothing trails the frame, but neither the msgpack
// inside nor whether the entry has expired. Every error wraps [ErrCorrupt],
// including a format version newer than this package writes (a reader
// treats it as a miss). On error e is left unchanged.
func DecodeEnvelope(b []byte, e *Envelope) error {
	if len(b) < envMinSizeV1 {
		return corruptf("envelope of %d bytes is shorter than %d", len(b), envMinSizeV1)
	}
	if b[0] != envMagic0 || b[1] != envMagic1 {
		return corruptf("envelope magic %q is not %q", b[:2], "gc")
	}
	hdr := envHeaderSize
	switch v := b[2]; {
	case v == envVersion:
		if len(b) < envMinSize {
			return corruptf("envelope of %d bytes is shorter than %d", len(b), envMinSize)
		}
	case v == 1:
		hdr = envHeaderSizeV1
	case v > envVersion:
		return corruptf("envelope format version %d is newer than %d", v, envVersion)
	default:
		return corruptf("unknown envelope format version %d", v)
	}
	end := len(b) - 4
	if got, want := crc32.Checksum(b[:end], castagnoli), binary.BigEndian.Uint32(b[end:]); got != want {
		return corruptf("envelope checksum %08x does not match %08x", got, want)
	}
	expires := int64(binary.BigEndian.Uint64(b[envExpiresAtAt:]))
	var stale int64
	var flags byte
	if hdr == envHeaderSize {
		stale = int64(binary.BigEndian.Uint64(b[envStaleUntilAt:]))
		flags = b[envFlagsAt]
		if flags&^envFlagError != 0 {
			return corruptf("envelope flags %08b have unknown bits set", flags)
		}
		switch {
		case stale != 0 && expires == 0:
			return corruptf("envelope has a stale-until time but no expiry")
		case stale != 0 && stale < expires:
			return corruptf("envelope stale-until time %d is before its expiry %d", stale, expires)
		}
	}
	params, i, err := readPrefixed(b, hdr, end, "params")
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
	e.ExpiresAt = fromUnixNanos(expires)
	e.StaleUntil = fromUnixNanos(stale)
	e.Error = flags&envFlagError != 0
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
// there are none. Unpack ignores expiry: see [Envelope.Expired]. It refuses
// an entry that holds a cached error (see [Envelope.Error]), which holds no
// value. Errors caused by b wrap [ErrCorrupt]. Nothing returned aliases b. It is safe for
// concurrent use.
func Unpack(b []byte, value any) (params map[string]any, err error) {
	var e Envelope
	if err := DecodeEnvelope(b, &e); err != nil {
		return nil, err
	}
	if e.Error {
		return nil, corruptf("envelope holds a cached error, not a value")
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
