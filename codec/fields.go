package codec

import (
	"bytes"
	"encoding"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

var (
	timeType              = reflect.TypeFor[time.Time]()
	errorType             = reflect.TypeFor[error]()
	customEncoderType     = reflect.TypeFor[msgpack.CustomEncoder]()
	customDecoderType     = reflect.TypeFor[msgpack.CustomDecoder]()
	marshalerType         = reflect.TypeFor[msgpack.Marshaler]()
	unmarshalerType       = reflect.TypeFor[msgpack.Unmarshaler]()
	binaryMarshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textMarshalerType     = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// implementsAny reports whether t or *t implements one of ifaces.
func implementsAny(t reflect.Type, ifaces ...reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, it := range ifaces {
		if t.Implements(it) || pt.Implements(it) {
			return true
		}
	}
	return false
}

// plainStruct reports whether msgpack encodes and decodes t field by field,
// which is when msgpack inlines an embedded t into its parent.
func plainStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != timeType &&
		!implementsAny(t, customEncoderType, marshalerType, binaryMarshalerType, textMarshalerType,
			customDecoderType, unmarshalerType, binaryUnmarshalerType, textUnmarshalerType)
}

// field is one key of a struct's map encoding.
type field struct {
	name  string
	index []int // path through embedded structs, as for reflect.Value.FieldByIndex
	typ   reflect.Type
	key   []byte // the encoded name
}

// structInfo lists the fields of a struct type the way msgpack v5 does, so
// that our maps decode with msgpack.Unmarshal into the same type.
type structInfo struct {
	list   []*field          // msgpack's order: declaration order, embedded fields inlined in place
	sorted []*field          // encoding order: by encoded name, then as in list
	byName map[string]*field // every name and alias the decoder accepts
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: make(map[string]*field)}
	collectFields(si, t, nil, map[reflect.Type]bool{t: true})
	for _, f := range si.list {
		f.key = appendString(nil, f.name)
	}
	// Fields are ordered as map keys are, so that a struct encodes like the
	// map[string]any of its fields.
	si.sorted = slices.Clone(si.list)
	slices.SortStableFunc(si.sorted, func(a, b *field) int { return bytes.Compare(a.key, b.key) })
	v, _ := structInfos.LoadOrStore(t, si)
	return v.(*structInfo)
}

// collectFields mirrors msgpack v5's getFields: a `msgpack:"-"` field is
// skipped, so is an unexported field unless embedded; an embedded plain
// struct (or pointer to one) is inlined unless tagged noinline or unless its
// fields would shadow fields already present; the tag's name replaces the
// field's name, and an alias:name option adds a name the decoder accepts.
func collectFields(si *structInfo, t reflect.Type, prefix []int, expanding map[reflect.Type]bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts := parseTag(sf.Tag.Get("msgpack"))
		if name == "-" {
			continue
		}
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		f := &field{name: name, index: append(slices.Clone(prefix), i), typ: sf.Type}
		if f.name == "" {
			f.name = sf.Name
		}
		if sf.Anonymous && !opts["noinline"] && shouldInline(si, sf.Type, opts["inline"], expanding) {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			expanding[et] = true
			inner := &structInfo{byName: make(map[string]*field)}
			collectFields(inner, et, f.index, expanding)
			delete(expanding, et)
			for _, g := range inner.list {
				if _, shadowed := si.byName[g.name]; shadowed {
					continue
				}
				si.add(g)
			}
			si.byName[f.name] = f // msgpack also accepts the embedded struct whole under its name
			continue
		}
		si.add(f)
		if alias, ok := tagOption(sf.Tag.Get("msgpack"), "alias"); ok {
			si.byName[alias] = f
		}
	}
}

func (si *structInfo) add(f *field) {
	si.list = append(si.list, f)
	si.byName[f.name] = f
}

// shouldInline reports whether msgpack inlines an embedded field of type t:
// always with the inline option, otherwise when t is a plain struct (or a
// pointer to one) none of whose fields is already present.
func shouldInline(si *structInfo, t reflect.Type, forced bool, expanding map[reflect.Type]bool) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || expanding[t] {
		return false
	}
	if forced {
		return true
	}
	if !plainStruct(t) {
		return false
	}
	inner := &structInfo{byName: make(map[string]*field)}
	expanding[t] = true
	collectFields(inner, t, nil, expanding)
	delete(expanding, t)
	for _, g := range inner.list {
		if _, ok := si.byName[g.name]; ok {
			return false
		}
	}
	return true
}

// parseTag splits a msgpack struct tag into its name and its options, the
// way msgpack's tag parser does for the tags people write: "name,opt,k:v".
func parseTag(tag string) (name string, opts map[string]bool) {
	parts := strings.Split(tag, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		k, _, hasValue := strings.Cut(p, ":")
		if i == 0 && !hasValue {
			name = p
			continue
		}
		if opts == nil {
			opts = make(map[string]bool)
		}
		opts[strings.TrimSpace(k)] = true
	}
	return name, opts
}

// tagOption returns the value of a key:value option of a msgpack tag.
func tagOption(tag, key string) (string, bool) {
	for _, p := range strings.Split(tag, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
