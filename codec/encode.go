package codec

import (
	"bytes"
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// encFunc appends the canonical encoding of v to b.
type encFunc func(s *encState, b []byte, v reflect.Value) ([]byte, error)

// encInfo is the compiled encoder of one type: fn when the type can be
// encoded, err (wrapping ErrUnsupported) when it never can.
type encInfo struct {
	fn  encFunc
	err error
}

// encState is the scratch space of one encoding; it is pooled.
type encState struct {
	depth   int        // non-empty arrays and maps open around the value, counted as validate counts them
	path    []visit    // pointers, maps and slices open around it, to detect cycles
	ents    []mapEntry // map entries being sorted, a stack shared by nested maps
	scratch []byte     // copy of a map's entries while they are rewritten in order
	out     []byte     // Marshal's buffer, copied out at the end
	w       appendWriter
	mp      *msgpack.Encoder // for msgpack.CustomEncoder values; created on first use
}

// visit identifies a reference being encoded: a pointer, map or slice of a type.
type visit struct {
	ptr uintptr
	n   int
	typ reflect.Type
}

// mapEntry locates an encoded key and value: b[start:keyEnd] and b[keyEnd:end].
type mapEntry struct{ start, keyEnd, end int }

func (s *encState) reset() {
	s.depth = 0
	s.path = s.path[:0]
	s.ents = s.ents[:0]
	if cap(s.scratch) > 1<<16 {
		s.scratch = nil // do not pin a large buffer in the pool
	}
	if cap(s.out) > 1<<16 {
		s.out = nil
	}
	s.w.b = nil
}

var encStates = sync.Pool{New: func() any { return new(encState) }}

// enter opens a level of non-empty array or map (empty ones do not nest
// anything, and validate does not count them); leave must follow when it
// returns nil.
func (s *encState) enter(t reflect.Type) error {
	if s.depth >= MaxDepth {
		return fmt.Errorf("%w: %s nested deeper than %d levels", ErrUnsupported, t, MaxDepth)
	}
	s.depth++
	return nil
}

func (s *encState) leave() { s.depth-- }

// push records a reference on the current path and fails if it is already
// there: the value contains itself.
func (s *encState) push(v reflect.Value, n int) error {
	vis := visit{ptr: v.Pointer(), n: n, typ: v.Type()}
	if slices.Contains(s.path, vis) {
		return fmt.Errorf("%w: cycle through %s", ErrUnsupported, vis.typ)
	}
	s.path = append(s.path, vis)
	return nil
}

func (s *encState) pop() { s.path = s.path[:len(s.path)-1] }

// appendWriter lets a msgpack.Encoder write into our buffer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

var (
	encMu    sync.Mutex // serialises compilation; guards nothing else
	encCache sync.Map   // reflect.Type -> *encInfo
)

// encoderOf returns the compiled encoder of t, compiling it on first use.
func encoderOf(t reflect.Type) *encInfo {
	if ei, ok := encCache.Load(t); ok {
		return ei.(*encInfo)
	}
	encMu.Lock()
	defer encMu.Unlock()
	if ei, ok := encCache.Load(t); ok {
		return ei.(*encInfo)
	}
	// Check the whole type graph first, so that every encoder built below
	// (and cached, including those of types reached from t) is valid.
	if err := checkEncodable(t, make(map[reflect.Type]bool)); err != nil {
		ei := &encInfo{err: fmt.Errorf("%w: %s", ErrUnsupported, err)}
		encCache.Store(t, ei)
		return ei
	}
	building := make(map[reflect.Type]*encInfo)
	ei := buildEncoder(t, building)
	for typ, e := range building {
		encCache.Store(typ, e)
	}
	return ei
}

// hasEncodeHook reports whether t or *t encodes itself.
func hasEncodeHook(t reflect.Type) bool {
	return implementsAny(t, customEncoderType, marshalerType, binaryMarshalerType, textMarshalerType)
}

// checkEncodable returns why values of type t can never be encoded, or nil.
// An interface type is accepted: its dynamic values are checked when met.
func checkEncodable(t reflect.Type, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if t == timeType || t == errorType || (t.Kind() != reflect.Pointer && hasEncodeHook(t)) {
		return nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String, reflect.Interface:
		return nil
	case reflect.Pointer, reflect.Slice, reflect.Array:
		if err := checkEncodable(t.Elem(), seen); err != nil {
			return fmt.Errorf("%w (element of %s)", err, t)
		}
		return nil
	case reflect.Map:
		if err := checkEncodable(t.Key(), seen); err != nil {
			return fmt.Errorf("%w (key of %s)", err, t)
		}
		if err := checkEncodable(t.Elem(), seen); err != nil {
			return fmt.Errorf("%w (element of %s)", err, t)
		}
		return nil
	case reflect.Struct:
		si := structInfoOf(t)
		if t.NumField() > 0 && len(si.list) == 0 {
			return fmt.Errorf("struct %s has no exported fields and no marshaler, so all its values would look alike", t)
		}
		for _, f := range si.list {
			if err := checkEncodable(f.typ, seen); err != nil {
				return fmt.Errorf("%w (field %s of %s)", err, f.name, t)
			}
		}
		return nil
	}
	return fmt.Errorf("type %s", t) // func, chan, complex, uintptr, unsafe.Pointer
}

// buildEncoder compiles the encoder of a type that checkEncodable accepted.
// Encoders of element types are reached through their *encInfo, so that
// recursive types compile.
func buildEncoder(t reflect.Type, building map[reflect.Type]*encInfo) *encInfo {
	if ei, ok := encCache.Load(t); ok {
		return ei.(*encInfo)
	}
	if ei, ok := building[t]; ok {
		return ei
	}
	ei := new(encInfo)
	building[t] = ei
	ei.fn = makeEncoder(t, building)
	return ei
}

func makeEncoder(t reflect.Type, building map[reflect.Type]*encInfo) encFunc {
	switch {
	case t == timeType:
		return encodeTime
	case t == errorType:
		return encodeError
	}
	if t.Kind() != reflect.Pointer {
		// msgpack's order of precedence, value receivers first.
		for _, hook := range []struct {
			iface reflect.Type
			fn    encFunc
		}{
			{customEncoderType, encodeCustom},
			{marshalerType, encodeMarshaler},
			{binaryMarshalerType, encodeBinary},
			{textMarshalerType, encodeText},
		} {
			if t.Implements(hook.iface) {
				return nilAware(t, hook.fn)
			}
		}
		pt := reflect.PointerTo(t)
		for _, hook := range []struct {
			iface reflect.Type
			fn    encFunc
		}{
			{customEncoderType, encodeCustom},
			{marshalerType, encodeMarshaler},
			{binaryMarshalerType, encodeBinary},
			{textMarshalerType, encodeText},
		} {
			if pt.Implements(hook.iface) {
				return addressed(t, hook.fn)
			}
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		return encodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return encodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return encodeUint
	case reflect.Float32:
		return encodeFloat32
	case reflect.Float64:
		return encodeFloat64
	case reflect.String:
		return encodeString
	case reflect.Interface:
		return encodeInterface
	case reflect.Pointer:
		return encodePointer(buildEncoder(t.Elem(), building))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return encodeByteSlice
		}
		return encodeSlice(buildEncoder(t.Elem(), building))
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return encodeByteArray
		}
		return encodeArray(buildEncoder(t.Elem(), building))
	case reflect.Map:
		return encodeMap(buildEncoder(t.Key(), building), buildEncoder(t.Elem(), building))
	case reflect.Struct:
		return encodeStruct(t, building)
	}
	panic("codec: unreachable: no encoder for " + t.String())
}

func encodeBool(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	return appendBool(b, v.Bool()), nil
}

func encodeInt(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	return appendInt(b, v.Int()), nil
}

func encodeUint(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	return appendUint(b, v.Uint()), nil
}

func encodeFloat32(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	return appendFloat32(b, float32(v.Float())), nil
}

func encodeFloat64(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	return appendFloat64(b, v.Float()), nil
}

func tooLong(t reflect.Type, n int) error {
	return fmt.Errorf("%w: %s of length %d is longer than msgpack allows", ErrUnsupported, t, n)
}

func encodeString(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	s := v.String()
	if uint64(len(s)) > math.MaxUint32 {
		return b, tooLong(v.Type(), len(s))
	}
	return appendString(b, s), nil
}

func encodeByteSlice(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	if v.IsNil() {
		return appendNil(b), nil
	}
	p := v.Bytes()
	if uint64(len(p)) > math.MaxUint32 {
		return b, tooLong(v.Type(), len(p))
	}
	return appendBytes(b, p), nil
}

func encodeByteArray(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	if v.CanAddr() {
		return appendBytes(b, v.Bytes()), nil
	}
	n := v.Len()
	b = appendBinHeader(b, n)
	for i := range n {
		b = append(b, byte(v.Index(i).Uint()))
	}
	return b, nil
}

func encodeTime(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	if !v.CanInterface() {
		return b, fmt.Errorf("%w: unexported %s", ErrUnsupported, v.Type())
	}
	if v.CanAddr() {
		return appendTime(b, *v.Addr().Interface().(*time.Time)), nil // no copy to the heap
	}
	return appendTime(b, v.Interface().(time.Time)), nil
}

func encodeError(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	if v.IsNil() {
		return appendNil(b), nil
	}
	if !v.CanInterface() {
		return b, fmt.Errorf("%w: unexported %s", ErrUnsupported, v.Type())
	}
	return appendString(b, v.Interface().(error).Error()), nil
}

func encodeInterface(s *encState, b []byte, v reflect.Value) ([]byte, error) {
	if v.IsNil() {
		return appendNil(b), nil
	}
	e := v.Elem()
	ei := encoderOf(e.Type())
	if ei.err != nil {
		return b, ei.err
	}
	return ei.fn(s, b, e)
}

func encodePointer(elem *encInfo) encFunc {
	return func(s *encState, b []byte, v reflect.Value) ([]byte, error) {
		if v.IsNil() {
			return appendNil(b), nil
		}
		if err := s.push(v, 0); err != nil {
			return b, err
		}
		b, err := elem.fn(s, b, v.Elem())
		s.pop()
		return b, err
	}
}

func encodeSlice(elem *encInfo) encFunc {
	return func(s *encState, b []byte, v reflect.Value) ([]byte, error) {
		if v.IsNil() {
			return appendNil(b), nil
		}
		n := v.Len()
		if uint64(n) > math.MaxUint32 {
			return b, tooLong(v.Type(), n)
		}
		if n > 0 {
			if err := s.enter(v.Type()); err != nil {
				return b, err
			}
			defer s.leave()
			if err := s.push(v, n); err != nil {
				return b, err
			}
			defer s.pop()
		}
		b = appendArrayHeader(b, n)
		for i := range n {
			var err error
			if b, err = elem.fn(s, b, v.Index(i)); err != nil {
				return b, err
			}
		}
		return b, nil
	}
}

func encodeArray(elem *encInfo) encFunc {
	return func(s *encState, b []byte, v reflect.Value) ([]byte, error) {
		n := v.Len()
		if n == 0 {
			return appendArrayHeader(b, 0), nil
		}
		if err := s.enter(v.Type()); err != nil {
			return b, err
		}
		b = appendArrayHeader(b, n)
		for i := range n {
			var err error
			if b, err = elem.fn(s, b, v.Index(i)); err != nil {
				return b, err
			}
		}
		s.leave()
		return b, nil
	}
}

// encodeMap writes the entries sorted by the bytes of their encoded keys (and
// then of their values, for keys that encode alike such as NaNs), whatever
// the key type: the order Go iterates in never shows.
func encodeMap(key, elem *encInfo) encFunc {
	return func(s *encState, b []byte, v reflect.Value) ([]byte, error) {
		if v.IsNil() {
			return appendNil(b), nil
		}
		n := v.Len()
		if uint64(n) > math.MaxUint32 {
			return b, tooLong(v.Type(), n)
		}
		if n == 0 {
			return appendMapHeader(b, 0), nil
		}
		if err := s.enter(v.Type()); err != nil {
			return b, err
		}
		defer s.leave()
		if err := s.push(v, 0); err != nil {
			return b, err
		}
		defer s.pop()
		b = appendMapHeader(b, n)
		region := len(b)
		base := len(s.ents)
		defer func() { s.ents = s.ents[:base] }()
		// One key and one value, reused: Key and Value would copy each entry
		// to the heap.
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		var it reflect.MapIter
		it.Reset(v)
		for it.Next() {
			k.SetIterKey(&it)
			e.SetIterValue(&it)
			start := len(b)
			var err error
			if b, err = key.fn(s, b, k); err != nil {
				return b, err
			}
			keyEnd := len(b)
			if b, err = elem.fn(s, b, e); err != nil {
				return b, err
			}
			s.ents = append(s.ents, mapEntry{start, keyEnd, len(b)})
		}
		ents := s.ents[base:]
		if len(ents) < 2 {
			return b, nil
		}
		slices.SortFunc(ents, func(x, y mapEntry) int {
			if c := bytes.Compare(b[x.start:x.keyEnd], b[y.start:y.keyEnd]); c != 0 {
				return c
			}
			return bytes.Compare(b[x.keyEnd:x.end], b[y.keyEnd:y.end])
		})
		s.scratch = append(s.scratch[:0], b[region:]...)
		b = b[:region]
		for _, e := range ents {
			b = append(b, s.scratch[e.start-region:e.end-region]...)
		}
		return b, nil
	}
}

// encodeStruct writes a map from field name to value over the fields msgpack
// would encode, sorted by name. omitempty is ignored: every field is written.
func encodeStruct(t reflect.Type, building map[reflect.Type]*encInfo) encFunc {
	si := structInfoOf(t)
	type encField struct {
		key   []byte
		index []int
		enc   *encInfo
	}
	fields := make([]encField, len(si.sorted))
	for i, f := range si.sorted {
		fields[i] = encField{key: f.key, index: f.index, enc: buildEncoder(f.typ, building)}
	}
	return func(s *encState, b []byte, v reflect.Value) ([]byte, error) {
		if len(fields) == 0 {
			return appendMapHeader(b, 0), nil
		}
		if err := s.enter(t); err != nil {
			return b, err
		}
		b = appendMapHeader(b, len(fields))
		for i := range fields {
			f := &fields[i]
			b = append(b, f.key...)
			fv, ok := fieldByIndex(v, f.index)
			if !ok {
				b = appendNil(b) // inside a nil embedded pointer, as msgpack writes it
				continue
			}
			var err error
			if b, err = f.enc.fn(s, b, fv); err != nil {
				return b, err
			}
		}
		s.leave()
		return b, nil
	}
}

// fieldByIndex is v.FieldByIndex that reports false instead of panicking
// when an embedded pointer on the way is nil.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	if len(index) == 1 {
		return v.Field(index[0]), true
	}
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return v, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// nilAware wraps the encoder of a type whose values encode themselves: a nil
// value of a nilable kind is written as nil without calling its method.
func nilAware(t reflect.Type, fn encFunc) encFunc {
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Interface, reflect.Pointer, reflect.Func, reflect.Chan:
		return func(s *encState, b []byte, v reflect.Value) ([]byte, error) {
			if v.IsNil() {
				return appendNil(b), nil
			}
			return fn(s, b, v)
		}
	}
	return fn
}

// addressed wraps the encoder of a type whose pointer encodes itself. A value
// that is not addressable is copied first, so that the encoding depends on
// the type alone, never on where the value sits.
func addressed(t reflect.Type, fn encFunc) encFunc {
	return func(s *encState, b []byte, v reflect.Value) ([]byte, error) {
		if v.CanAddr() {
			return fn(s, b, v.Addr())
		}
		if !v.CanInterface() {
			return b, fmt.Errorf("%w: unexported %s", ErrUnsupported, t)
		}
		p := reflect.New(t)
		p.Elem().Set(v)
		return fn(s, b, p)
	}
}

func hookValue(v reflect.Value) (any, error) {
	if !v.CanInterface() {
		return nil, fmt.Errorf("%w: unexported %s", ErrUnsupported, v.Type())
	}
	return v.Interface(), nil
}

// appendRaw appends msgpack produced by a type's own method after checking
// it is exactly one value that still fits in the nesting allowed here.
func appendRaw(s *encState, b []byte, raw []byte, t reflect.Type, method string) ([]byte, error) {
	end, err := scan(raw, 0, MaxDepth-s.depth)
	if err == nil && end != len(raw) {
		err = fmt.Errorf("%d bytes after the first value", len(raw)-end)
	}
	if err != nil {
		return b, fmt.Errorf("%w: %s.%s did not write one msgpack value: %w", ErrUnsupported, t, method, err)
	}
	return append(b, raw...), nil
}

func encodeCustom(s *encState, b []byte, v reflect.Value) ([]byte, error) {
	x, err := hookValue(v)
	if err != nil {
		return b, err
	}
	if s.mp == nil {
		s.mp = msgpack.NewEncoder(&s.w)
	}
	s.mp.Reset(&s.w) // clears every flag another user may have set
	s.mp.SetSortMapKeys(true)
	s.mp.UseCompactInts(true)
	start := len(b)
	s.w.b = b
	err = x.(msgpack.CustomEncoder).EncodeMsgpack(s.mp)
	b, s.w.b = s.w.b, nil
	if err != nil {
		return b[:start], fmt.Errorf("%w: %s.EncodeMsgpack: %w", ErrUnsupported, v.Type(), err)
	}
	raw := b[start:]
	if _, err := appendRaw(s, nil, raw, v.Type(), "EncodeMsgpack"); err != nil {
		return b[:start], err
	}
	return b, nil
}

func encodeMarshaler(s *encState, b []byte, v reflect.Value) ([]byte, error) {
	x, err := hookValue(v)
	if err != nil {
		return b, err
	}
	raw, err := x.(msgpack.Marshaler).MarshalMsgpack()
	if err != nil {
		return b, fmt.Errorf("%w: %s.MarshalMsgpack: %w", ErrUnsupported, v.Type(), err)
	}
	return appendRaw(s, b, raw, v.Type(), "MarshalMsgpack")
}

func encodeBinary(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	x, err := hookValue(v)
	if err != nil {
		return b, err
	}
	p, err := x.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return b, fmt.Errorf("%w: %s.MarshalBinary: %w", ErrUnsupported, v.Type(), err)
	}
	if uint64(len(p)) > math.MaxUint32 {
		return b, tooLong(v.Type(), len(p))
	}
	return appendBytes(b, p), nil
}

// encodeText writes the text as a msgpack str (msgpack writes bin; both
// decode through UnmarshalText, and str reads better in text keys).
func encodeText(_ *encState, b []byte, v reflect.Value) ([]byte, error) {
	x, err := hookValue(v)
	if err != nil {
		return b, err
	}
	p, err := x.(encoding.TextMarshaler).MarshalText()
	if err != nil {
		return b, fmt.Errorf("%w: %s.MarshalText: %w", ErrUnsupported, v.Type(), err)
	}
	if uint64(len(p)) > math.MaxUint32 {
		return b, tooLong(v.Type(), len(p))
	}
	return append(appendStrHeader(b, len(p)), p...), nil
}
