package codec

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// ErrCorrupt is wrapped by every error that comes from the content of the
// bytes being decoded: a malformed or truncated envelope or msgpack value, a
// checksum mismatch, a future format version, a value that does not fit the
// target type, and (for [Unpack]) an entry that holds a cached error rather
// than a value. Callers treat such an entry as a miss. Match it with
// errors.Is.
var ErrCorrupt = errors.New("codec: corrupt entry")

// ErrUnsupported is wrapped by every error of encoding a value that cannot be
// encoded canonically (a func, a channel, a complex number, a uintptr, an
// unsafe.Pointer, a struct with fields but none exported and no marshaler, a
// cycle, nesting deeper than [MaxDepth], a marshaler that fails), by
// AppendEnvelope's error for an envelope it cannot frame (a time outside
// the years 1677-2262, a StaleUntil without an ExpiresAt or before it), and
// by Unmarshal's error for a target type that cannot hold decoded values.
// Match it with errors.Is.
var ErrUnsupported = errors.New("codec: value cannot be encoded")

// Marshal returns the canonical msgpack encoding of v: equal values give
// equal bytes in every process (see the package documentation for what
// counts as equal). The returned slice belongs to the caller. Marshal is
// safe for concurrent use. Errors wrap [ErrUnsupported].
func Marshal(v any) ([]byte, error) {
	s := encStates.Get().(*encState)
	out, err := appendMarshal(s, s.out[:0], v)
	var b []byte
	if err == nil {
		b = bytes.Clone(out) // one allocation of the exact size
	}
	s.out = out[:0]
	s.reset()
	encStates.Put(s)
	return b, err
}

// AppendMarshal appends the canonical msgpack encoding of v to dst and
// returns the extended slice. On error it returns dst unextended (bytes past
// its length may have been written). It is safe for concurrent use.
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	s := encStates.Get().(*encState)
	out, err := appendMarshal(s, dst, v)
	s.reset()
	encStates.Put(s)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func appendMarshal(s *encState, dst []byte, v any) ([]byte, error) {
	if v == nil {
		return appendNil(dst), nil
	}
	rv := reflect.ValueOf(v)
	ei := encoderOf(rv.Type())
	if ei.err != nil {
		return dst, ei.err
	}
	return ei.fn(s, dst, rv)
}

// Unmarshal decodes the msgpack value b into v, which must be a non-nil
// pointer. It decodes what [Marshal] and msgpack.Marshal write.
//
// b is untrusted: before any decoding it is checked to hold exactly one
// msgpack value whose every declared length fits in the bytes that follow
// and whose nesting is at most [MaxDepth]. What decoding allocates is
// bounded by what b can justify: at most 1 MiB + R*len(b) bytes of the
// slices, maps, pointers and interface values it builds (before the
// allocator rounds them up), plus copies of strings and byte slices (at
// most len(b) bytes), where R, fixed by the
// type of *v, is the most memory a value that type holds takes per byte
// Marshal writes for it (see "Memory" in the package documentation).
// Every value Marshal writes for the type therefore decodes, however large
// its unexported or skipped fields, and an input that would take more,
// such as a long array of nils where large structs are expected, is
// refused before anything is allocated. *v is zeroed first, so
// nothing of an earlier value survives (no merging into maps or structs).
// An integer that does not fit the target (300 into a uint8), a float that
// would lose precision, or a value of another kind (a string into an int) is
// an error, never a silently wrong value. On error *v is left zero.
//
// Every error caused by b wraps [ErrCorrupt]; an error for a v that is not a
// non-nil pointer or whose type cannot hold decoded values (func, chan ...)
// wraps [ErrUnsupported]. Unmarshal does not keep b: strings and slices in
// *v are copies. It is safe for concurrent use.
func Unmarshal(b []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: Unmarshal needs a non-nil pointer, not %T", ErrUnsupported, v)
	}
	di := decoderOf(rv.Type().Elem())
	if di.err != nil {
		return di.err
	}
	return decode(di, b, rv.Elem())
}

// decode validates b and decodes it into v, an addressable value of di's
// type, which it leaves zero on error.
func decode(di *decInfo, b []byte, v reflect.Value) error {
	return decodeWithFloor(di, b, v, budgetFloor)
}

// decodeWithFloor is decode with the allocation budget's floor given: the
// tests decode with none, to check that R(T)*len(b) is enough for every
// value Marshal writes.
func decodeWithFloor(di *decInfo, b []byte, v reflect.Value, floor int) error {
	if err := validate(b); err != nil {
		v.SetZero()
		return err
	}
	d := decStates.Get().(*decState)
	d.b, d.i = b, 0
	d.limit = decodeBudget(floor, di.ratio, len(b))
	d.budget = d.limit
	err := d.run(di, v)
	d.b = nil
	decStates.Put(d)
	return err
}

// Decoder decodes values of type T as [Unmarshal] does, compiled once: it
// skips the look-up of T's decoder and the boxing of the target on every
// call. A Decoder is safe for concurrent use.
type Decoder[T any] struct {
	dec *decInfo
}

// NewDecoder returns the Decoder of T. Its error wraps [ErrUnsupported] when
// no value can ever be decoded into a T (T is or contains a func, a
// channel ...).
func NewDecoder[T any]() (*Decoder[T], error) {
	di := decoderOf(reflect.TypeFor[T]())
	if di.err != nil {
		return nil, di.err
	}
	return &Decoder[T]{dec: di}, nil
}

// Decode decodes b into *v, with the guarantees of [Unmarshal]: every error
// caused by b wraps [ErrCorrupt], and on error *v is the zero value.
func (d *Decoder[T]) Decode(b []byte, v *T) error {
	if v == nil {
		return fmt.Errorf("%w: Decode needs a non-nil pointer", ErrUnsupported)
	}
	return decode(d.dec, b, reflect.ValueOf(v).Elem())
}

// Encoder is the canonical encoder of values of type T, compiled once: it
// writes the same bytes as [Marshal] without looking the type up on every
// call, and without allocating for booleans, numbers, strings, byte slices
// and structs and arrays of those when dst has room. An Encoder is safe for
// concurrent use.
type Encoder[T any] struct {
	enc    *encInfo
	scalar scalarKind // T's kind when T is a boolean, integer or string type without encoding hooks
	boxes  sync.Pool  // *encBox[T]: an addressable copy of the value and the encoding's state
}

type encBox[T any] struct {
	v T
	s encState
}

// NewEncoder returns the Encoder of T. Its error wraps [ErrUnsupported] when
// no value of T can ever be encoded (T is or contains a func, a channel ...).
func NewEncoder[T any]() (*Encoder[T], error) {
	t := reflect.TypeFor[T]()
	ei := encoderOf(t)
	if ei.err != nil {
		return nil, ei.err
	}
	return &Encoder[T]{enc: ei, scalar: scalarOf(t)}, nil
}

// Append appends the canonical encoding of v to dst and returns the extended
// slice, the same bytes as AppendMarshal(dst, v). On error it returns dst
// unextended; the error wraps [ErrUnsupported].
func (e *Encoder[T]) Append(dst []byte, v T) ([]byte, error) {
	if e.scalar != notScalar {
		if b, ok := appendScalar(dst, e.scalar, unsafe.Pointer(&v)); ok {
			return b, nil
		}
	}
	box, _ := e.boxes.Get().(*encBox[T])
	if box == nil {
		box = new(encBox[T])
	}
	// The copy in box is addressable and on the heap, so the value does not
	// escape and methods with pointer receivers apply without a copy.
	box.v = v
	out, err := e.enc.fn(&box.s, dst, reflect.ValueOf(&box.v).Elem())
	var zero T
	box.v = zero // do not keep the caller's data alive in the pool
	box.s.reset()
	e.boxes.Put(box)
	if err != nil {
		return dst, err
	}
	return out, nil
}
