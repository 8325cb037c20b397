package codec

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// decFunc decodes the value at d.b[d.i] into v, which is addressable and
// holds its zero value, and advances d.i past it. Input has been validated.
type decFunc func(d *decState, v reflect.Value) error

// decInfo is the compiled decoder of one type: fn when values of the type
// can be decoded, err (wrapping ErrUnsupported) when they never can. ratio
// is R of the type, for the allocation budget of decoding one (see
// budget.go).
type decInfo struct {
	fn    decFunc
	err   error
	ratio int
}

// decState is the input and the scratch space of one decoding; it is pooled.
type decState struct {
	b      []byte
	i      int
	budget int // bytes the decoder may still allocate (see budget.go)
	limit  int // the budget it started with, for the error message
	r      bytes.Reader
	mp     *msgpack.Decoder // for msgpack.CustomDecoder values; created on first use
}

var decStates = sync.Pool{New: func() any { return new(decState) }}

// spend charges n values of size bytes to the allocation budget, before
// they are allocated.
func (d *decState) spend(n int, size int) error {
	if size <= 0 || n <= 0 {
		return nil
	}
	if n > d.budget/size {
		return corruptf("decoding would allocate more than %d bytes for %d bytes of input", d.limit, len(d.b))
	}
	d.budget -= n * size
	return nil
}

// run decodes d.b into v with msgpack-level panics (there should be none
// after validation; user decode methods may still panic) turned into errors.
func (d *decState) run(di *decInfo, v reflect.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corruptf("decoding %s: panic: %v", v.Type(), r)
		}
		if err != nil {
			v.SetZero()
		}
	}()
	v.SetZero()
	if err := di.fn(d, v); err != nil {
		return err
	}
	if d.i != len(d.b) {
		return corruptf("%d trailing bytes after the value", len(d.b)-d.i)
	}
	return nil
}

var (
	decMu    sync.Mutex // serialises compilation; guards nothing else
	decCache sync.Map   // reflect.Type -> *decInfo
)

// decoderOf returns the compiled decoder of t, compiling it on first use.
func decoderOf(t reflect.Type) *decInfo {
	if di, ok := decCache.Load(t); ok {
		return di.(*decInfo)
	}
	decMu.Lock()
	defer decMu.Unlock()
	if di, ok := decCache.Load(t); ok {
		return di.(*decInfo)
	}
	if err := checkDecodable(t, make(map[reflect.Type]bool)); err != nil {
		di := &decInfo{err: fmt.Errorf("%w: cannot decode into %s", ErrUnsupported, err)}
		decCache.Store(t, di)
		return di
	}
	building := make(map[reflect.Type]*decInfo)
	di := buildDecoder(t, building)
	for typ, x := range building {
		x.ratio = ratioOf(typ)
		decCache.Store(typ, x)
	}
	return di
}

func hasDecodeHook(t reflect.Type) bool {
	return implementsAny(t, customDecoderType, unmarshalerType, binaryUnmarshalerType, textUnmarshalerType)
}

// checkDecodable mirrors checkEncodable for decoding targets.
func checkDecodable(t reflect.Type, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if t == timeType || (t.Kind() != reflect.Pointer && hasDecodeHook(t)) {
		return nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String, reflect.Interface:
		return nil
	case reflect.Pointer, reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Pointer {
			for e := t.Elem(); e.Kind() == reflect.Pointer; e = e.Elem() {
				if e == t {
					return fmt.Errorf("pointer type %s that points to itself", t)
				}
			}
		}
		if err := checkDecodable(t.Elem(), seen); err != nil {
			return fmt.Errorf("%w (element of %s)", err, t)
		}
		return nil
	case reflect.Map:
		if err := checkDecodable(t.Key(), seen); err != nil {
			return fmt.Errorf("%w (key of %s)", err, t)
		}
		if err := checkDecodable(t.Elem(), seen); err != nil {
			return fmt.Errorf("%w (element of %s)", err, t)
		}
		return nil
	case reflect.Struct:
		si := structInfoOf(t)
		if t.NumField() > 0 && len(si.list) == 0 {
			return fmt.Errorf("struct %s has no exported fields and no unmarshaler", t)
		}
		for _, f := range si.byName {
			if err := checkDecodable(f.typ, seen); err != nil {
				return fmt.Errorf("%w (field %s of %s)", err, f.name, t)
			}
		}
		return nil
	}
	return fmt.Errorf("type %s", t)
}

func buildDecoder(t reflect.Type, building map[reflect.Type]*decInfo) *decInfo {
	if di, ok := decCache.Load(t); ok {
		return di.(*decInfo)
	}
	if di, ok := building[t]; ok {
		return di
	}
	di := new(decInfo)
	building[t] = di
	di.fn = makeDecoder(t, building)
	return di
}

type decodeHook int

const (
	hookCustom decodeHook = iota
	hookUnmarshaler
	hookBinary
	hookText
)

func makeDecoder(t reflect.Type, building map[reflect.Type]*decInfo) decFunc {
	if t == timeType {
		return decodeTime
	}
	if t.Kind() != reflect.Pointer {
		// msgpack's order of precedence, value receivers first. Either way
		// the method is called through the (always addressable) target.
		ifaces := []reflect.Type{customDecoderType, unmarshalerType, binaryUnmarshalerType, textUnmarshalerType}
		for _, typ := range []reflect.Type{t, reflect.PointerTo(t)} {
			for h, iface := range ifaces {
				if typ.Implements(iface) {
					return decodeWithHook(t, decodeHook(h))
				}
			}
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		return decodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return decodeInt(t)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return decodeUint(t)
	case reflect.Float32, reflect.Float64:
		return decodeFloat(t)
	case reflect.String:
		return decodeString
	case reflect.Interface:
		return decodeInterface(t)
	case reflect.Pointer:
		return decodePointer(t, buildDecoder(t.Elem(), building))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return decodeByteSlice
		}
		return decodeSlice(t, buildDecoder(t.Elem(), building))
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return decodeByteArray
		}
		return decodeArray(t, buildDecoder(t.Elem(), building))
	case reflect.Map:
		return decodeMap(t, buildDecoder(t.Key(), building), buildDecoder(t.Elem(), building))
	case reflect.Struct:
		return decodeStruct(t, building)
	}
	panic("codec: unreachable: no decoder for " + t.String())
}

// mismatch reports that the value at d.i cannot be decoded into t.
func (d *decState) mismatch(t reflect.Type) error {
	return corruptf("cannot decode %s at offset %d into %s", codeName(d.b[d.i]), d.i, t)
}

func codeName(c byte) string {
	switch {
	case c <= codePosFixIntMax, c >= codeNegFixIntMin, c >= codeUint8 && c <= codeInt64:
		return "an integer"
	case c < codeFixArray, c == codeMap16, c == codeMap32:
		return "a map"
	case c < codeFixStr, c == codeArray16, c == codeArray32:
		return "an array"
	case c < codeNil, c >= codeStr8 && c <= codeStr32:
		return "a string"
	case c == codeNil:
		return "nil"
	case c == codeTrue, c == codeFalse:
		return "a bool"
	case c >= codeBin8 && c <= codeBin32:
		return "binary"
	case c == codeFloat32, c == codeFloat64:
		return "a float"
	}
	return "an extension"
}

func (d *decState) isNil() bool {
	if d.b[d.i] == codeNil {
		d.i++
		return true
	}
	return false
}

// integer reads an integer. neg reports a negative value, which u holds as
// int64(u). nil reads as 0 (as msgpack does) and a float with an integral
// value as that integer; ok is false for anything else.
func (d *decState) integer() (u uint64, neg, ok bool) {
	b, i := d.b, d.i
	c := b[i]
	switch {
	case c <= codePosFixIntMax:
		d.i++
		return uint64(c), false, true
	case c >= codeNegFixIntMin:
		d.i++
		return uint64(int64(int8(c))), true, true
	}
	var n int64
	switch c {
	case codeNil:
		d.i++
		return 0, false, true
	case codeUint8:
		d.i += 2
		return uint64(b[i+1]), false, true
	case codeUint16:
		d.i += 3
		return uint64(binary.BigEndian.Uint16(b[i+1:])), false, true
	case codeUint32:
		d.i += 5
		return uint64(binary.BigEndian.Uint32(b[i+1:])), false, true
	case codeUint64:
		d.i += 9
		return binary.BigEndian.Uint64(b[i+1:]), false, true
	case codeInt8:
		n, d.i = int64(int8(b[i+1])), i+2
	case codeInt16:
		n, d.i = int64(int16(binary.BigEndian.Uint16(b[i+1:]))), i+3
	case codeInt32:
		n, d.i = int64(int32(binary.BigEndian.Uint32(b[i+1:]))), i+5
	case codeInt64:
		n, d.i = int64(binary.BigEndian.Uint64(b[i+1:])), i+9
	case codeFloat32, codeFloat64:
		var f float64
		if c == codeFloat32 {
			f = float64(math.Float32frombits(binary.BigEndian.Uint32(b[i+1:])))
		} else {
			f = math.Float64frombits(binary.BigEndian.Uint64(b[i+1:]))
		}
		if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<64 {
			return 0, false, false // fractional, NaN, infinite or out of range
		}
		d.i = i + 1 + 4*int(c-codeFloat32+1)
		if f < 0 {
			return uint64(int64(f)), true, true
		}
		return uint64(f), false, true
	default:
		return 0, false, false
	}
	return uint64(n), n < 0, true
}

func decodeInt(t reflect.Type) decFunc {
	bits := t.Bits()
	lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
	return func(d *decState, v reflect.Value) error {
		start := d.i
		u, neg, ok := d.integer()
		if !ok {
			return d.mismatch(t)
		}
		if neg && int64(u) < lo {
			return corruptf("%d at offset %d overflows %s", int64(u), start, t)
		}
		if !neg && u > uint64(hi) {
			return corruptf("%d at offset %d overflows %s", u, start, t)
		}
		v.SetInt(int64(u))
		return nil
	}
}

func decodeUint(t reflect.Type) decFunc {
	bits := t.Bits()
	hi := uint64(math.MaxUint64) >> (64 - bits)
	return func(d *decState, v reflect.Value) error {
		start := d.i
		u, neg, ok := d.integer()
		if !ok {
			return d.mismatch(t)
		}
		if neg {
			return corruptf("%d at offset %d overflows %s", int64(u), start, t)
		}
		if u > hi {
			return corruptf("%d at offset %d overflows %s", u, start, t)
		}
		v.SetUint(u)
		return nil
	}
}

// float reads a number as a float of the given bits. Integers and float64
// values convert only when the conversion is exact; nil reads as 0.
func (d *decState) float(bits int) (f float64, ok bool) {
	b, i := d.b, d.i
	switch b[i] {
	case codeFloat32:
		d.i += 5
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b[i+1:]))), true
	case codeFloat64:
		f = math.Float64frombits(binary.BigEndian.Uint64(b[i+1:]))
		if bits == 32 && f == f && float64(float32(f)) != f {
			return 0, false
		}
		d.i += 9
		return f, true
	}
	u, neg, ok := d.integer()
	if !ok {
		return 0, false
	}
	if neg {
		n := int64(u)
		f = float64(n)
		ok = int64(f) == n
	} else {
		f = float64(u)
		ok = f < 1<<64 && uint64(f) == u
	}
	if bits == 32 && float64(float32(f)) != f {
		ok = false
	}
	if !ok {
		d.i = i
	}
	return f, ok
}

func decodeFloat(t reflect.Type) decFunc {
	bits := t.Bits()
	return func(d *decState, v reflect.Value) error {
		f, ok := d.float(bits)
		if !ok {
			return d.mismatch(t)
		}
		v.SetFloat(f)
		return nil
	}
}

func decodeBool(d *decState, v reflect.Value) error {
	switch d.b[d.i] {
	case codeTrue:
		v.SetBool(true)
	case codeFalse, codeNil:
	default:
		return d.mismatch(v.Type())
	}
	d.i++
	return nil
}

// strBytes reads a str or bin value (msgpack decodes either into a string
// or a []byte). The bytes alias the input. isNil reports nil.
func (d *decState) strBytes() (p []byte, isNil, ok bool) {
	b, i := d.b, d.i
	c := b[i]
	var n, hdr int
	switch {
	case c >= codeFixStr && c < codeNil:
		n, hdr = int(c&0x1f), 1
	case c == codeStr8 || c == codeBin8:
		n, hdr = int(b[i+1]), 2
	case c == codeStr16 || c == codeBin16:
		n, hdr = int(binary.BigEndian.Uint16(b[i+1:])), 3
	case c == codeStr32 || c == codeBin32:
		n, hdr = int(binary.BigEndian.Uint32(b[i+1:])), 5
	case c == codeNil:
		d.i++
		return nil, true, true
	default:
		return nil, false, false
	}
	start := i + hdr
	d.i = start + n
	return b[start:d.i:d.i], false, true
}

func decodeString(d *decState, v reflect.Value) error {
	p, _, ok := d.strBytes()
	if !ok {
		return d.mismatch(v.Type())
	}
	v.SetString(string(p))
	return nil
}

func decodeByteSlice(d *decState, v reflect.Value) error {
	p, isNil, ok := d.strBytes()
	if !ok {
		return d.mismatch(v.Type())
	}
	if !isNil {
		v.SetBytes(append(make([]byte, 0, len(p)), p...))
	}
	return nil
}

func decodeByteArray(d *decState, v reflect.Value) error {
	start := d.i
	p, _, ok := d.strBytes()
	if !ok {
		return d.mismatch(v.Type())
	}
	if len(p) > v.Len() {
		return corruptf("%d bytes at offset %d do not fit %s", len(p), start, v.Type())
	}
	copy(v.Bytes(), p)
	return nil
}

// containerLen reads the header of an array (wantMap false) or a map. ok is
// false, and nothing is read, for any other value.
func (d *decState) containerLen(wantMap bool) (n int, ok bool) {
	b, i := d.b, d.i
	c := b[i]
	fix, c16, c32 := byte(codeFixArray), byte(codeArray16), byte(codeArray32)
	if wantMap {
		fix, c16, c32 = codeFixMap, codeMap16, codeMap32
	}
	switch {
	case c&0xf0 == fix:
		d.i++
		return int(c & 0x0f), true
	case c == c16:
		d.i += 3
		return int(binary.BigEndian.Uint16(b[i+1:])), true
	case c == c32:
		d.i += 5
		return int(binary.BigEndian.Uint32(b[i+1:])), true
	}
	return 0, false
}

// skip advances past one value.
func (d *decState) skip() error {
	end, err := scan(d.b, d.i, MaxDepth)
	if err != nil {
		return err
	}
	d.i = end
	return nil
}

// ext reads an extension value; the payload aliases the input.
func (d *decState) ext() (typ int8, p []byte, ok bool) {
	b, i := d.b, d.i
	c := b[i]
	var n, hdr int
	switch c {
	case codeFixExt1, codeFixExt2, codeFixExt4, codeFixExt8, codeFixExt16:
		n, hdr = 1<<(c-codeFixExt1), 1
	case codeExt8:
		n, hdr = int(b[i+1]), 2
	case codeExt16:
		n, hdr = int(binary.BigEndian.Uint16(b[i+1:])), 3
	case codeExt32:
		n, hdr = int(binary.BigEndian.Uint32(b[i+1:])), 5
	default:
		return 0, nil, false
	}
	typ = int8(b[i+hdr])
	start := i + hdr + 1
	d.i = start + n
	return typ, b[start:d.i:d.i], true
}

func decodeTime(d *decState, v reflect.Value) error {
	if d.isNil() {
		return nil
	}
	start := d.i
	typ, p, ok := d.ext()
	if !ok || typ != timeExt {
		d.i = start
		return d.mismatch(v.Type())
	}
	t, ok := parseTime(p)
	if !ok {
		return corruptf("malformed timestamp at offset %d", start)
	}
	*v.Addr().Interface().(*time.Time) = t // Set(ValueOf(t)) would box t on the heap
	return nil
}

func decodePointer(t reflect.Type, elem *decInfo) decFunc {
	et := t.Elem()
	return func(d *decState, v reflect.Value) error {
		if d.isNil() {
			return nil
		}
		if err := d.spend(1, int(et.Size())); err != nil {
			return err
		}
		p := reflect.New(et)
		if err := elem.fn(d, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
}

func decodeSlice(t reflect.Type, elem *decInfo) decFunc {
	size := int(t.Elem().Size())
	return func(d *decState, v reflect.Value) error {
		if d.isNil() {
			return nil
		}
		n, ok := d.containerLen(false)
		if !ok {
			return d.mismatch(t)
		}
		if err := d.spend(n, size); err != nil {
			return err
		}
		if n == 0 {
			v.Set(reflect.MakeSlice(t, 0, 0)) // empty, not nil
			return nil
		}
		// Grow allocates only the backing array; MakeSlice followed by Set
		// would also allocate a slice header.
		v.Grow(n)
		v.SetLen(n)
		for i := range n {
			if err := elem.fn(d, v.Index(i)); err != nil {
				return err
			}
		}
		return nil
	}
}

// decodeArray fills a Go array from a msgpack array of at most its length,
// as msgpack does; missing elements stay zero.
func decodeArray(t reflect.Type, elem *decInfo) decFunc {
	return func(d *decState, v reflect.Value) error {
		if d.isNil() {
			return nil
		}
		start := d.i
		n, ok := d.containerLen(false)
		if !ok {
			return d.mismatch(t)
		}
		if n > t.Len() {
			return corruptf("%d elements at offset %d do not fit %s", n, start, t)
		}
		for i := range n {
			if err := elem.fn(d, v.Index(i)); err != nil {
				return err
			}
		}
		return nil
	}
}

func decodeMap(t reflect.Type, key, elem *decInfo) decFunc {
	kt, et := t.Key(), t.Elem()
	first, entry := mapCosts(t)
	ifaceKey := kt.Kind() == reflect.Interface
	return func(d *decState, v reflect.Value) error {
		if d.isNil() {
			return nil
		}
		n, ok := d.containerLen(true)
		if !ok {
			return d.mismatch(t)
		}
		if err := d.spend(1, mapHeaderCost); err != nil {
			return err
		}
		if n == 0 {
			v.Set(reflect.MakeMapWithSize(t, 0))
			return nil
		}
		if err := d.spend(1, first); err != nil {
			return err
		}
		if err := d.spend(n, entry); err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(t, n)
		k, e := reflect.New(kt).Elem(), reflect.New(et).Elem()
		for range n {
			k.SetZero()
			start := d.i
			if err := key.fn(d, k); err != nil {
				return err
			}
			if ifaceKey && !k.Comparable() {
				return corruptf("map key at offset %d of %s is not comparable", start, t)
			}
			e.SetZero()
			if err := elem.fn(d, e); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
		return nil
	}
}

// decodeStruct accepts what msgpack writes for a struct: a map from field
// name to value (unknown names skipped) or an array of every field in order.
func decodeStruct(t reflect.Type, building map[reflect.Type]*decInfo) decFunc {
	si := structInfoOf(t)
	type decField struct {
		index []int
		dec   *decInfo
	}
	made := make(map[*field]*decField)
	get := func(f *field) *decField {
		if df, ok := made[f]; ok {
			return df
		}
		df := &decField{index: f.index, dec: buildDecoder(f.typ, building)}
		made[f] = df
		return df
	}
	list := make([]*decField, len(si.list))
	for i, f := range si.list {
		list[i] = get(f)
	}
	// Marshal writes a struct's fields in si.sorted's order, so a decoder
	// reading a map of them first tries the name after the last one it
	// matched, by comparing bytes, and hashes a name into byName only when
	// that fails. Each name decodes into the field byName gives it.
	type namedField struct {
		df  *decField
		pos int // the name's place in order; -1: Marshal writes no field of that name
	}
	type orderField struct {
		name string
		df   *decField
	}
	byName := make(map[string]namedField, len(si.byName))
	for name, f := range si.byName {
		byName[name] = namedField{df: get(f), pos: -1}
	}
	var order []orderField
	for _, f := range si.sorted {
		if nf, ok := byName[f.name]; ok {
			nf.pos = len(order)
			byName[f.name] = nf
			order = append(order, orderField{name: f.name, df: nf.df})
		}
	}
	decodeField := func(d *decState, v reflect.Value, f *decField) error {
		if len(f.index) > 1 && d.b[d.i] == codeNil {
			if _, ok := fieldByIndex(v, f.index); !ok {
				d.i++ // nil inside a nil embedded pointer, as Marshal writes it: keep the pointer nil
				return nil
			}
		}
		fv, err := fieldAlloc(d, v, f.index)
		if err != nil {
			return err
		}
		if !fv.IsValid() || !fv.CanSet() {
			return d.skip() // unexported, as msgpack would fail to set it
		}
		return f.dec.fn(d, fv)
	}
	return func(d *decState, v reflect.Value) error {
		if d.isNil() {
			return nil
		}
		if n, ok := d.containerLen(true); ok {
			next := 0 // the field of order Marshal would write next
			for range n {
				name, isNil, ok := d.strBytes()
				if !ok || isNil {
					return corruptf("field name at offset %d of %s is not a string", d.i, t)
				}
				var f *decField
				if next < len(order) && string(name) == order[next].name {
					f = order[next].df
					next++
				} else if nf, ok := byName[string(name)]; ok {
					f = nf.df
					if nf.pos >= 0 {
						next = nf.pos + 1
					}
				} else {
					if err := d.skip(); err != nil {
						return err
					}
					continue
				}
				if err := decodeField(d, v, f); err != nil {
					return err
				}
			}
			return nil
		}
		start := d.i
		n, ok := d.containerLen(false)
		if !ok {
			return d.mismatch(t)
		}
		if n == 0 {
			return nil
		}
		if n != len(list) {
			return corruptf("array of %d elements at offset %d for %s of %d fields", n, start, t, len(list))
		}
		for _, f := range list {
			if err := decodeField(d, v, f); err != nil {
				return err
			}
		}
		return nil
	}
}

// fieldAlloc is v.FieldByIndex that allocates nil embedded pointers on the
// way. It returns an invalid value when such a pointer cannot be set.
func fieldAlloc(d *decState, v reflect.Value, index []int) (reflect.Value, error) {
	if len(index) == 1 {
		return v.Field(index[0]), nil
	}
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, nil
				}
				if err := d.spend(1, int(v.Type().Elem().Size())); err != nil {
					return reflect.Value{}, err
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}

func decodeInterface(t reflect.Type) decFunc {
	return func(d *decState, v reflect.Value) error {
		if d.isNil() {
			return nil
		}
		start := d.i
		if t == errorType {
			p, _, ok := d.strBytes()
			if !ok {
				return d.mismatch(t)
			}
			if err := d.spend(1, anyBoxCost); err != nil {
				return err
			}
			v.Set(reflect.ValueOf(errors.New(string(p))))
			return nil
		}
		x, err := d.anyValue()
		if err != nil {
			return err
		}
		xv := reflect.ValueOf(x)
		if !xv.Type().AssignableTo(t) {
			d.i = start
			return d.mismatch(t)
		}
		v.Set(xv)
		return nil
	}
}

// rawValue returns the bytes of the next value and advances past it.
func (d *decState) rawValue() ([]byte, error) {
	start := d.i
	if err := d.skip(); err != nil {
		return nil, err
	}
	return d.b[start:d.i:d.i], nil
}

// decodeWithHook decodes a value whose type (or pointer type) decodes itself.
// The method gets a copy of the bytes, which it may keep. nil leaves the zero
// value without calling the method, as msgpack does.
func decodeWithHook(t reflect.Type, h decodeHook) decFunc {
	return func(d *decState, v reflect.Value) error {
		if d.isNil() {
			return nil
		}
		start := d.i
		target := v.Addr().Interface()
		var err error
		switch h {
		case hookCustom:
			var raw []byte
			if raw, err = d.rawValue(); err != nil {
				return err
			}
			if d.mp == nil {
				d.mp = msgpack.NewDecoder(nil)
			}
			d.r.Reset(raw)
			d.mp.Reset(&d.r) // clears every flag another user may have set
			err = target.(msgpack.CustomDecoder).DecodeMsgpack(d.mp)
			d.r.Reset(nil)
		case hookUnmarshaler:
			var raw []byte
			if raw, err = d.rawValue(); err != nil {
				return err
			}
			err = target.(msgpack.Unmarshaler).UnmarshalMsgpack(bytes.Clone(raw))
		case hookBinary, hookText:
			p, _, ok := d.strBytes()
			if !ok {
				return d.mismatch(t)
			}
			p = append(make([]byte, 0, len(p)), p...)
			if h == hookBinary {
				err = target.(encoding.BinaryUnmarshaler).UnmarshalBinary(p)
			} else {
				err = target.(encoding.TextUnmarshaler).UnmarshalText(p)
			}
		}
		if err != nil {
			return corruptf("decoding %s at offset %d: %w", t, start, err)
		}
		return nil
	}
}

// anyValue decodes the next value as msgpack's natural Go value: nil, bool,
// int64 (uint64 above math.MaxInt64), float32, float64, string, []byte,
// time.Time (UTC), []any, and map[string]any when every key is a string or
// map[any]any otherwise. Other extension types are an error.
func (d *decState) anyValue() (any, error) {
	b, i := d.b, d.i
	c := b[i]
	switch {
	case c == codeNil:
		d.i++
		return nil, nil
	case c == codeTrue || c == codeFalse:
		d.i++
		return c == codeTrue, nil
	}
	if n, ok := d.containerLen(true); ok {
		return d.anyMap(n)
	}
	// Every other value is boxed in the interface.
	if err := d.spend(1, anyBoxCost); err != nil {
		return nil, err
	}
	switch {
	case c <= codePosFixIntMax || c >= codeNegFixIntMin || (c >= codeUint8 && c <= codeInt64):
		u, neg, _ := d.integer()
		if !neg && u > math.MaxInt64 {
			return u, nil
		}
		return int64(u), nil
	case c == codeFloat32:
		d.i += 5
		return math.Float32frombits(binary.BigEndian.Uint32(b[i+1:])), nil
	case c == codeFloat64:
		d.i += 9
		return math.Float64frombits(binary.BigEndian.Uint64(b[i+1:])), nil
	case isStr(c):
		p, _, _ := d.strBytes()
		return string(p), nil
	case c >= codeBin8 && c <= codeBin32:
		p, _, _ := d.strBytes()
		return append(make([]byte, 0, len(p)), p...), nil
	}
	if n, ok := d.containerLen(false); ok {
		if err := d.spend(n, anySlotCost); err != nil {
			return nil, err
		}
		s := make([]any, n)
		for j := range s {
			x, err := d.anyValue()
			if err != nil {
				return nil, err
			}
			s[j] = x
		}
		return s, nil
	}
	typ, p, ok := d.ext()
	if !ok {
		return nil, corruptf("unexpected code 0x%02x at offset %d", c, i)
	}
	if typ != timeExt {
		return nil, corruptf("extension type %d at offset %d has no Go type", typ, i)
	}
	t, ok := parseTime(p)
	if !ok {
		return nil, corruptf("malformed timestamp at offset %d", i)
	}
	return t, nil
}

func isStr(c byte) bool { return (c >= codeFixStr && c < codeNil) || (c >= codeStr8 && c <= codeStr32) }

// spendAnyMap charges a map of n entries decoded into an interface.
func (d *decState) spendAnyMap(n int) error {
	if err := d.spend(1, mapHeaderCost); err != nil || n == 0 {
		return err
	}
	if err := d.spend(1, anyMapFirst); err != nil {
		return err
	}
	return d.spend(n, anyMapEntry)
}

// anyMap decodes the n entries of a map into a map[string]any, or into a
// map[any]any from the first key that is not a string.
func (d *decState) anyMap(n int) (any, error) {
	if err := d.spendAnyMap(n); err != nil {
		return nil, err
	}
	var m map[string]any
	j := 0
	if n == 0 || isStr(d.b[d.i]) {
		m = make(map[string]any, n)
		for ; j < n && isStr(d.b[d.i]); j++ {
			p, _, _ := d.strBytes()
			x, err := d.anyValue()
			if err != nil {
				return nil, err
			}
			m[string(p)] = x
		}
		if j == n {
			return m, nil
		}
		// A key that is not a string after some that are: the map is
		// built again as a map[any]any.
		if err := d.spendAnyMap(n); err != nil {
			return nil, err
		}
	}
	mm := make(map[any]any, n)
	for k, x := range m {
		mm[k] = x
	}
	for ; j < n; j++ {
		start := d.i
		k, err := d.anyValue()
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case []any, []byte, map[string]any, map[any]any:
			return nil, corruptf("map key at offset %d is not comparable", start)
		}
		x, err := d.anyValue()
		if err != nil {
			return nil, err
		}
		mm[k] = x
	}
	return mm, nil
}
