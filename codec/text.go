package codec

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
)

// AppendText appends a readable rendering of the msgpack value b to dst and
// returns the extended slice. It is JSON-like and deterministic:
//
//	nil, booleans     null, true, false
//	integers          42, -7
//	float64           1.5, 2.0, 1e+300, NaN, +Inf, -Inf (always with '.', 'e' or a letter)
//	float32           float32(1.5)
//	strings           "abc", quoted as Go quotes them (so invalid UTF-8 shows as \x..)
//	binary            b64:AAEC (base64url, unpadded)
//	arrays, maps      [1,2], {"a":1,2:[]} in stored order (sorted, for Marshal's output)
//	timestamps        2024-01-02T03:04:05.000000006Z (UTC, nanoseconds)
//	other extensions  ext(5):AAEC
//
// Different values render differently, so a rendering can stand in for the
// value in a key. The error wraps [ErrCorrupt] when b is not exactly one
// valid msgpack value; dst is then returned unextended. It is safe for
// concurrent use.
func AppendText(dst []byte, b []byte) ([]byte, error) {
	if err := validate(b); err != nil {
		return dst, err
	}
	out, _ := appendText(dst, b, 0)
	return out, nil
}

// appendText renders the valid value at b[i] and returns the offset past it.
func appendText(dst, b []byte, i int) ([]byte, int) {
	d := decState{b: b, i: i}
	c := b[i]
	switch {
	case c <= codePosFixIntMax || c >= codeNegFixIntMin || (c >= codeUint8 && c <= codeInt64):
		u, neg, _ := d.integer()
		if neg {
			return strconv.AppendInt(dst, int64(u), 10), d.i
		}
		return strconv.AppendUint(dst, u, 10), d.i
	case c == codeNil:
		return append(dst, "null"...), i + 1
	case c == codeTrue:
		return append(dst, "true"...), i + 1
	case c == codeFalse:
		return append(dst, "false"...), i + 1
	case c == codeFloat32:
		f := math.Float32frombits(binary.BigEndian.Uint32(b[i+1:]))
		dst = append(dst, "float32("...)
		dst = appendFloatText(dst, float64(f), 32)
		return append(dst, ')'), i + 5
	case c == codeFloat64:
		f := math.Float64frombits(binary.BigEndian.Uint64(b[i+1:]))
		return appendFloatText(dst, f, 64), i + 9
	case (c >= codeFixStr && c < codeNil) || (c >= codeStr8 && c <= codeStr32):
		p, _, _ := d.strBytes()
		return strconv.AppendQuote(dst, string(p)), d.i
	case c >= codeBin8 && c <= codeBin32:
		p, _, _ := d.strBytes()
		dst = append(dst, "b64:"...)
		return base64.RawURLEncoding.AppendEncode(dst, p), d.i
	}
	if n, ok := d.containerLen(false); ok {
		dst = append(dst, '[')
		j := d.i
		for k := range n {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst, j = appendText(dst, b, j)
		}
		return append(dst, ']'), j
	}
	if n, ok := d.containerLen(true); ok {
		dst = append(dst, '{')
		j := d.i
		for k := range n {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst, j = appendText(dst, b, j)
			dst = append(dst, ':')
			dst, j = appendText(dst, b, j)
		}
		return append(dst, '}'), j
	}
	typ, p, _ := d.ext()
	if typ == timeExt {
		if t, ok := parseTime(p); ok {
			return t.AppendFormat(dst, "2006-01-02T15:04:05.000000000Z07:00"), d.i
		}
	}
	dst = append(dst, "ext("...)
	dst = strconv.AppendInt(dst, int64(typ), 10)
	dst = append(dst, "):"...)
	return base64.RawURLEncoding.AppendEncode(dst, p), d.i
}

// appendFloatText writes the shortest decimal that reads back as f, with a
// ".0" added where it would otherwise look like an integer.
func appendFloatText(dst []byte, f float64, bits int) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, bits)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' || c == 'N' || c == 'I' {
			return dst
		}
	}
	return append(dst, ".0"...)
}
