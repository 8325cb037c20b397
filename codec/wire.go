package codec

import (
	"encoding/binary"
	"math"
	"time"
)

// msgpack type codes (https://github.com/msgpack/msgpack/blob/master/spec.md).
const (
	codePosFixIntMax = 0x7f
	codeFixMap       = 0x80
	codeFixArray     = 0x90
	codeFixStr       = 0xa0
	codeNil          = 0xc0
	codeNeverUsed    = 0xc1
	codeFalse        = 0xc2
	codeTrue         = 0xc3
	codeBin8         = 0xc4
	codeBin16        = 0xc5
	codeBin32        = 0xc6
	codeExt8         = 0xc7
	codeExt16        = 0xc8
	codeExt32        = 0xc9
	codeFloat32      = 0xca
	codeFloat64      = 0xcb
	codeUint8        = 0xcc
	codeUint16       = 0xcd
	codeUint32       = 0xce
	codeUint64       = 0xcf
	codeInt8         = 0xd0
	codeInt16        = 0xd1
	codeInt32        = 0xd2
	codeInt64        = 0xd3
	codeFixExt1      = 0xd4
	codeFixExt2      = 0xd5
	codeFixExt4      = 0xd6
	codeFixExt8      = 0xd7
	codeFixExt16     = 0xd8
	codeStr8         = 0xd9
	codeStr16        = 0xda
	codeStr32        = 0xdb
	codeArray16      = 0xdc
	codeArray32      = 0xdd
	codeMap16        = 0xde
	codeMap32        = 0xdf
	codeNegFixIntMin = 0xe0
)

// timeExt is the msgpack extension type of timestamps.
const timeExt = -1

// Canonical NaNs: every NaN of a width encodes as this one bit pattern.
const (
	nan32Bits = 0x7fc00000
	nan64Bits = 0x7ff8000000000000
)

func appendNil(b []byte) []byte { return append(b, codeNil) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, codeTrue)
	}
	return append(b, codeFalse)
}

// appendInt writes n in the smallest msgpack form: non-negative values as
// unsigned forms, negative values as signed forms, so a value gives the same
// bytes whatever Go integer type held it.
func appendInt(b []byte, n int64) []byte {
	if n >= 0 {
		return appendUint(b, uint64(n))
	}
	switch {
	case n >= -32:
		return append(b, byte(n))
	case n >= math.MinInt8:
		return append(b, codeInt8, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, codeInt16), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, codeInt32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, codeInt64), uint64(n))
}

func appendUint(b []byte, n uint64) []byte {
	switch {
	case n <= codePosFixIntMax:
		return append(b, byte(n))
	case n <= math.MaxUint8:
		return append(b, codeUint8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, codeUint16), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, codeUint32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, codeUint64), n)
}

// appendFloat32 writes f as a msgpack float 32 with -0 made 0 and every NaN
// made one NaN.
func appendFloat32(b []byte, f float32) []byte {
	bits := math.Float32bits(f)
	switch {
	case f == 0:
		bits = 0
	case f != f:
		bits = nan32Bits
	}
	return binary.BigEndian.AppendUint32(append(b, codeFloat32), bits)
}

// appendFloat64 is appendFloat32 for float 64.
func appendFloat64(b []byte, f float64) []byte {
	bits := math.Float64bits(f)
	switch {
	case f == 0:
		bits = 0
	case f != f:
		bits = nan64Bits
	}
	return binary.BigEndian.AppendUint64(append(b, codeFloat64), bits)
}

func appendStrHeader(b []byte, n int) []byte {
	switch {
	case n < 32:
		return append(b, codeFixStr|byte(n))
	case n <= math.MaxUint8:
		return append(b, codeStr8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, codeStr16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, codeStr32), uint32(n))
}

func appendBinHeader(b []byte, n int) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, codeBin8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, codeBin16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, codeBin32), uint32(n))
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, codeFixArray|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, codeArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, codeArray32), uint32(n))
}

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, codeFixMap|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, codeMap16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, codeMap32), uint32(n))
}

func appendString(b []byte, s string) []byte {
	return append(appendStrHeader(b, len(s)), s...)
}

func appendBytes(b []byte, p []byte) []byte {
	return append(appendBinHeader(b, len(p)), p...)
}

// appendTime writes t as a msgpack timestamp (extension -1) in its smallest
// form: 32-bit seconds, 64-bit nanoseconds and seconds, or 96-bit. The zone
// and the monotonic reading do not take part: equal instants give equal bytes.
func appendTime(b []byte, t time.Time) []byte {
	secs := t.Unix()
	nsec := uint64(t.Nanosecond())
	if uint64(secs)>>34 == 0 {
		data := nsec<<34 | uint64(secs)
		if data>>32 == 0 {
			return binary.BigEndian.AppendUint32(append(b, codeFixExt4, 0xff), uint32(data))
		}
		return binary.BigEndian.AppendUint64(append(b, codeFixExt8, 0xff), data)
	}
	b = append(b, codeExt8, 12, 0xff)
	b = binary.BigEndian.AppendUint32(b, uint32(nsec))
	return binary.BigEndian.AppendUint64(b, uint64(secs))
}

// parseTime reads the payload of a timestamp extension. ok is false for a
// length other than 4, 8 or 12 or nanoseconds above 999999999.
func parseTime(p []byte) (t time.Time, ok bool) {
	var secs, nsec int64
	switch len(p) {
	case 4:
		secs = int64(binary.BigEndian.Uint32(p))
	case 8:
		data := binary.BigEndian.Uint64(p)
		nsec = int64(data >> 34)
		secs = int64(data & (1<<34 - 1))
	case 12:
		nsec = int64(binary.BigEndian.Uint32(p))
		secs = int64(binary.BigEndian.Uint64(p[4:]))
	default:
		return time.Time{}, false
	}
	if nsec > 999_999_999 {
		return time.Time{}, false
	}
	return time.Unix(secs, nsec).UTC(), true
}
