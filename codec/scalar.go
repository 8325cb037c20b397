package codec

import (
	"math"
	"reflect"
	"unsafe"
)

// scalarKind names the types whose canonical encoding [Encoder.Append]
// writes without reflection: booleans, integers and strings, the usual
// arguments of a memoized function, whose key is encoded on every call.
type scalarKind uint8

const (
	notScalar scalarKind = iota
	scalarBool
	scalarInt
	scalarInt8
	scalarInt16
	scalarInt32
	scalarInt64
	scalarUint
	scalarUint8
	scalarUint16
	scalarUint32
	scalarUint64
	scalarString
)

var scalarKinds = map[reflect.Kind]scalarKind{
	reflect.Bool:   scalarBool,
	reflect.Int:    scalarInt,
	reflect.Int8:   scalarInt8,
	reflect.Int16:  scalarInt16,
	reflect.Int32:  scalarInt32,
	reflect.Int64:  scalarInt64,
	reflect.Uint:   scalarUint,
	reflect.Uint8:  scalarUint8,
	reflect.Uint16: scalarUint16,
	reflect.Uint32: scalarUint32,
	reflect.Uint64: scalarUint64,
	reflect.String: scalarString,
}

// scalarOf returns the scalarKind of t, or notScalar when t's encoder is
// not the plain one of its kind: a type with an encoding hook (a marshaler
// on the value or its pointer) encodes itself, so makeEncoder gives it
// another encoder.
func scalarOf(t reflect.Type) scalarKind {
	k, ok := scalarKinds[t.Kind()]
	if !ok || hasEncodeHook(t) {
		return notScalar
	}
	return k
}

// appendScalar appends the encoding of the value of kind k at p, the bytes
// encodeBool, encodeInt, encodeUint and encodeString write for it. It
// returns false for a string too long for msgpack, whose error the
// reflective encoder reports.
func appendScalar(b []byte, k scalarKind, p unsafe.Pointer) ([]byte, bool) {
	switch k {
	case scalarBool:
		return appendBool(b, *(*bool)(p)), true
	case scalarInt:
		return appendInt(b, int64(*(*int)(p))), true
	case scalarInt8:
		return appendInt(b, int64(*(*int8)(p))), true
	case scalarInt16:
		return appendInt(b, int64(*(*int16)(p))), true
	case scalarInt32:
		return appendInt(b, int64(*(*int32)(p))), true
	case scalarInt64:
		return appendInt(b, *(*int64)(p)), true
	case scalarUint:
		return appendUint(b, uint64(*(*uint)(p))), true
	case scalarUint8:
		return appendUint(b, uint64(*(*uint8)(p))), true
	case scalarUint16:
		return appendUint(b, uint64(*(*uint16)(p))), true
	case scalarUint32:
		return appendUint(b, uint64(*(*uint32)(p))), true
	case scalarUint64:
		return appendUint(b, *(*uint64)(p)), true
	case scalarString:
		s := *(*string)(p)
		if uint64(len(s)) > math.MaxUint32 {
			return b, false
		}
		return appendString(b, s), true
	}
	return b, false
}
