package codec

import (
	"encoding/binary"
	"fmt"
)

// MaxDepth is how deeply non-empty arrays and maps (structs included) may
// nest inside one encoded value. Marshal refuses deeper values and Unmarshal
// refuses deeper input before decoding it. It is not the cycle guard: Marshal
// detects cycles exactly, by the pointers, maps and slices it is inside.
const MaxDepth = 100

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// validate reports whether b holds exactly one well-formed msgpack value
// that can be decoded with bounded work: every declared length fits in the
// bytes that follow it (each array element or map key and value needs at
// least one byte), nesting is at most MaxDepth, timestamps are well formed,
// and nothing trails the value. It allocates nothing unless b is corrupt.
func validate(b []byte) error {
	if len(b) == 0 {
		return corruptf("empty input")
	}
	end, err := scan(b, 0, MaxDepth)
	if err != nil {
		return err
	}
	if end != len(b) {
		return corruptf("%d trailing bytes after the value", len(b)-end)
	}
	return nil
}

// scan walks the one value that starts at b[i] without recursion and returns
// the offset just past it. Containers may nest at most limit (<= MaxDepth)
// deep.
func scan(b []byte, i, limit int) (int, error) {
	// left[d] counts the items still expected in the container at depth d.
	var left [MaxDepth]int
	depth := 0
	for {
		if i >= len(b) {
			return i, corruptf("input ends at offset %d inside a value", i)
		}
		start := i
		c := b[i]
		i++
		var size, items int // payload bytes to skip; items of a container
		switch {
		case c <= codePosFixIntMax || c >= codeNegFixIntMin:
		case c < codeFixArray:
			items = 2 * int(c&0x0f)
		case c < codeFixStr:
			items = int(c & 0x0f)
		case c < codeNil:
			size = int(c & 0x1f)
		default:
			var lenBytes int // bytes of the length field
			ext := false
			switch c {
			case codeNil, codeFalse, codeTrue:
			case codeNeverUsed:
				return i, corruptf("reserved code 0xc1 at offset %d", start)
			case codeBin8, codeStr8:
				lenBytes = 1
			case codeBin16, codeStr16:
				lenBytes = 2
			case codeBin32, codeStr32:
				lenBytes = 4
			case codeExt8:
				lenBytes, ext = 1, true
			case codeExt16:
				lenBytes, ext = 2, true
			case codeExt32:
				lenBytes, ext = 4, true
			case codeFloat32, codeUint32, codeInt32:
				size = 4
			case codeFloat64, codeUint64, codeInt64:
				size = 8
			case codeUint8, codeInt8:
				size = 1
			case codeUint16, codeInt16:
				size = 2
			case codeFixExt1, codeFixExt2, codeFixExt4, codeFixExt8, codeFixExt16:
				size, ext = 1<<(c-codeFixExt1), true
			case codeArray16, codeMap16:
				lenBytes = 2
			case codeArray32, codeMap32:
				lenBytes = 4
			}
			if lenBytes > 0 {
				if lenBytes > len(b)-i {
					return i, corruptf("length of code 0x%02x at offset %d is truncated", c, start)
				}
				n := readLen(b[i:], lenBytes)
				i += lenBytes
				if n < 0 || n > len(b) {
					return i, corruptf("value at offset %d declares %d bytes or items, %d left", start, n, len(b)-i)
				}
				switch c {
				case codeArray16, codeArray32:
					items = n
				case codeMap16, codeMap32:
					items = 2 * n
				default:
					size = n
				}
			}
			if ext {
				if i >= len(b) {
					return i, corruptf("extension type at offset %d is truncated", start)
				}
				typ := int8(b[i])
				i++
				if typ == timeExt && size <= len(b)-i {
					if _, ok := parseTime(b[i : i+size]); !ok {
						return i, corruptf("malformed timestamp at offset %d", start)
					}
				}
			}
		}
		if size > len(b)-i {
			return i, corruptf("value at offset %d declares %d bytes, %d left", start, size, len(b)-i)
		}
		i += size
		if items > 0 {
			if items > len(b)-i {
				return i, corruptf("container at offset %d declares %d items, %d bytes left", start, items, len(b)-i)
			}
			if depth >= limit {
				return i, corruptf("nesting deeper than %d at offset %d", limit, start)
			}
			left[depth] = items
			depth++
			continue
		}
		// A value is complete: it completes every container it ends.
		for depth > 0 {
			left[depth-1]--
			if left[depth-1] > 0 {
				break
			}
			depth--
		}
		if depth == 0 {
			return i, nil
		}
	}
}

// readLen reads a big-endian length of 1, 2 or 4 bytes.
func readLen(p []byte, n int) int {
	switch n {
	case 1:
		return int(p[0])
	case 2:
		return int(binary.BigEndian.Uint16(p))
	}
	return int(binary.BigEndian.Uint32(p))
}
