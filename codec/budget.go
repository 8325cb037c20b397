package codec

import (
	"fmt"
	"math"
	"reflect"
)

// The decoder's allocation budget.
//
// Decoding charges every slice, map, pointer and interface value it builds
// to a budget of budgetFloor + R(T)*len(b) bytes, and refuses the input
// (ErrCorrupt) before an allocation that would exceed it. Copies of strings
// and byte slices are not charged: they add at most len(b) bytes.
//
// R(T), computed once per target type, is what the input can justify: for
// every value that decoding into a T charges for (a slice element, a map
// entry, what a pointer points to, the value inside an interface), the
// bytes charged divided by the fewest bytes Marshal or msgpack.Marshal
// writes for such a value, counting only bytes no other charged value
// counts; R(T) is the largest of these ratios. The counted bytes of the
// charged values are disjoint, so any value Marshal wrote, of any size, is
// charged at most R(T)*len(b) and always decodes. A hostile input (a
// million nils where an array of large structs is expected) gets no more
// than a genuine input of its size could: every element it makes costs
// the same, but it pays for each with one byte where Marshal writes many.
//
// The charges model what the Go runtime allocates: a slice element or a
// pointer's target costs its size; a map costs its header, a first group of
// slots and three slots per entry (covering the runtime's load factor and
// power-of-two growth), plus the out-of-line keys and elements larger than
// mapMaxInline; a value decoded into an interface costs its box.
const (
	budgetFloor    = 1 << 20 // what any input may allocate, however short
	mapHeaderCost  = 48      // a map's own header
	mapGroupSlots  = 8       // slots of the first group a map allocates on its first insert
	mapSlotsPerKey = 3       // slots charged per entry
	mapSlotExtra   = 8       // control byte and padding of a slot
	mapMaxInline   = 128     // larger keys and elements live outside the slots
	anyBoxCost     = 24      // the largest box of a scalar in an interface (time.Time, []byte)
	anySlotCost    = 16      // an element of []any
)

// decodeBudget returns the budget of decoding n bytes with the given ratio.
func decodeBudget(floor, ratio, n int) int {
	if n > 0 && ratio > (math.MaxInt-floor)/n {
		return math.MaxInt
	}
	return floor + ratio*n
}

// mapCosts returns what decodeMap charges for a map of type t, beyond its
// header: once per non-empty map (its first group of slots and the two
// scratch values it decodes keys and elements into) and per entry.
func mapCosts(t reflect.Type) (first, entry int) {
	k, e := int(t.Key().Size()), int(t.Elem().Size())
	first, entry = mapSlotCosts(k, e)
	return first + k + e, entry
}

// mapSlotCosts returns the costs of the slots of a map with keys and
// elements of the given sizes: its first group, and per entry.
func mapSlotCosts(k, e int) (first, entry int) {
	slot, outside := mapSlotExtra, 0
	for _, size := range []int{k, e} {
		if size > mapMaxInline {
			slot += 8
			outside += size
		} else {
			slot += size
		}
	}
	return mapGroupSlots * slot, mapSlotsPerKey*slot + outside
}

// anyMapFirst and anyMapEntry are the costs of the slots of the maps
// decoded into an interface, map[string]any and map[any]any.
var anyMapFirst, anyMapEntry = mapSlotCosts(16, 16)

// anyValueCost is the most one value decoded into an interface is charged
// for itself: its box, or the header of a map (whose entries are charged
// apart).
const anyValueCost = max(anyBoxCost, mapHeaderCost)

// anyRatio is R for a value decoded into an interface. Its atoms: an
// element of []any (a slot and the value's own cost, for one byte), and
// the entries of a map, each a key and an element of at least one byte
// each; a map whose keys turn from strings to other types is built twice,
// as map[string]any and then as map[any]any.
var anyRatio = func() int {
	r := float64(anySlotCost + anyValueCost)
	for n := 1; n <= 64; n++ {
		once := anyMapFirst + n*anyMapEntry + 2*n*anyValueCost
		r = max(r, float64(once)/float64(2*n))
		if n >= 2 {
			twice := once + mapHeaderCost + anyMapFirst + n*anyMapEntry
			r = max(r, float64(twice)/float64(2*n))
		}
	}
	return int(math.Ceil(r))
}()

// ratioOf returns R(t) (see above), at least 1.
func ratioOf(t reflect.Type) int {
	c := costModel{claims: make(map[reflect.Type]int), extras: make(map[reflect.Type]int), seen: make(map[reflect.Type]bool)}
	if t.Kind() != reflect.Pointer {
		c.atom(c.extra(t), c.claim(t)) // the target itself is not charged, what it holds is
	}
	c.visit(t)
	return max(1, int(math.Ceil(c.ratio)))
}

// costModel computes R for one type. Charged values are "atoms"; the bytes
// an atom claims are those of its encoding outside the encodings of other
// atoms.
type costModel struct {
	claims map[reflect.Type]int
	extras map[reflect.Type]int
	seen   map[reflect.Type]bool
	ratio  float64
}

// atom records a charged value of cost bytes whose encoding has at least
// claim bytes of its own.
func (c *costModel) atom(cost, claim int) {
	if cost <= 0 {
		return
	}
	c.ratio = max(c.ratio, float64(cost)/float64(max(claim, 1)))
}

func opaque(t reflect.Type) bool {
	return t == timeType || (t.Kind() != reflect.Pointer && hasDecodeHook(t))
}

// claim returns the fewest bytes of the encoding of a t (not a pointer)
// that no other atom claims: its header, and the fields and elements it
// holds inline. What a slice, map or pointer inside it holds is claimed by
// those atoms.
func (c *costModel) claim(t reflect.Type) int {
	if n, ok := c.claims[t]; ok {
		return n
	}
	n := 1
	switch {
	case opaque(t):
	case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8:
		n = 1 + t.Len() // bin: a header and the bytes
	case t.Kind() == reflect.Array:
		n = 1 + t.Len()*c.heldClaim(t.Elem())
	case t.Kind() == reflect.Struct:
		n = 1 + c.fieldsClaim(t)
	}
	c.claims[t] = n
	return n
}

// heldClaim is claim for a value held inline: a pointer claims nothing, the
// value it points to is an atom of its own.
func (c *costModel) heldClaim(t reflect.Type) int {
	if t.Kind() == reflect.Pointer {
		return 0
	}
	return c.claim(t)
}

// fieldsClaim returns the fewest bytes the fields of struct t take, as
// msgpack writes them: a name (unless the struct is written as an array)
// and a value, for every field that cannot be omitted. A field reached
// through a nil embedded pointer is written as nil, or omitted altogether
// when any field of the struct can be.
func (c *costModel) fieldsClaim(t reflect.Type) int {
	asArray, _ := msgpackStructOptions(t)
	list := structInfoOf(t).list
	optional := make([]bool, len(list))
	anyOptional := false
	for i, f := range list {
		sf, declaring := structFieldOf(t, f.index)
		_, omitAll := msgpackStructOptions(declaring)
		optional[i] = omitAll || hasTagOption(sf.Tag.Get("msgpack"), "omitempty")
		anyOptional = anyOptional || optional[i]
	}
	n := 0
	for i, f := range list {
		through := throughPointer(t, f.index)
		if optional[i] || (through && anyOptional) {
			continue
		}
		if !asArray {
			n += len(f.key)
		}
		held := c.heldClaim(f.typ)
		if through {
			held = min(held, 1)
		}
		n += held
	}
	return n
}

// extra returns the most decoding a t (not a pointer) inline charges
// beyond its own size, not counting what other atoms are charged: a map's
// header, a boxed interface value, the embedded structs reached through
// pointers.
func (c *costModel) extra(t reflect.Type) int {
	if n, ok := c.extras[t]; ok {
		return n
	}
	n := 0
	switch {
	case opaque(t):
	case t.Kind() == reflect.Map:
		n = mapHeaderCost
	case t.Kind() == reflect.Interface:
		n = anyValueCost
	case t.Kind() == reflect.Array:
		n = t.Len() * c.heldExtra(t.Elem())
	case t.Kind() == reflect.Struct:
		embedded := make(map[string]bool)
		for _, f := range structInfoOf(t).list {
			n += c.heldExtra(f.typ)
			typ := t
			for i, x := range f.index {
				if i > 0 && typ.Kind() == reflect.Pointer {
					key := fmt.Sprint(f.index[:i])
					if !embedded[key] {
						embedded[key] = true
						n += int(typ.Elem().Size())
					}
					typ = typ.Elem()
				}
				typ = typ.Field(x).Type
			}
		}
	}
	c.extras[t] = n
	return n
}

func (c *costModel) heldExtra(t reflect.Type) int {
	if t.Kind() == reflect.Pointer {
		return 0
	}
	return c.extra(t)
}

// chain returns what decoding a non-nil pointer of type t charges (what it
// points to, through pointers to pointers) and the bytes that value claims.
func (c *costModel) chain(t reflect.Type) (cost, claim int) {
	e := t.Elem()
	if e.Kind() == reflect.Pointer {
		cost, claim = c.chain(e)
		return int(e.Size()) + cost, claim
	}
	return int(e.Size()) + c.extra(e), c.claim(e)
}

// held returns the costs of a value of type t held in a slot charged slot
// bytes: once as nil, once not, for a pointer; else once.
func (c *costModel) held(slot int, t reflect.Type) (costs, claims [2]int, n int) {
	if t.Kind() != reflect.Pointer {
		return [2]int{slot + c.extra(t)}, [2]int{c.claim(t)}, 1
	}
	cost, claim := c.chain(t)
	return [2]int{slot, slot + cost}, [2]int{1, claim}, 2
}

// visit records the atoms of every type reachable from t.
func (c *costModel) visit(t reflect.Type) {
	if c.seen[t] || opaque(t) {
		return
	}
	c.seen[t] = true
	switch t.Kind() {
	case reflect.Pointer:
		c.atom(c.chain(t))
		c.visit(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return
		}
		costs, claims, n := c.held(int(t.Elem().Size()), t.Elem())
		for i := range n {
			c.atom(costs[i], claims[i])
		}
		c.visit(t.Elem())
	case reflect.Array:
		c.visit(t.Elem())
	case reflect.Map:
		// The first entry of a map pays for its first group and scratch
		// values; later entries cost less.
		first, entry := mapCosts(t)
		kc, kcl, kn := c.held(0, t.Key())
		ec, ecl, en := c.held(0, t.Elem())
		for i := range kn {
			for j := range en {
				c.atom(first+entry+kc[i]+ec[j], kcl[i]+ecl[j])
			}
		}
		c.visit(t.Key())
		c.visit(t.Elem())
	case reflect.Struct:
		si := structInfoOf(t)
		for _, f := range si.list {
			c.visit(f.typ)
		}
		for _, f := range si.byName {
			c.visit(f.typ)
		}
	case reflect.Interface:
		c.atom(anyRatio, 1)
	}
}

// msgpackStructOptions reports the options msgpack reads from the tag of a
// struct's _msgpack field: written as an array, every field omitempty.
func msgpackStructOptions(t reflect.Type) (asArray, omitEmpty bool) {
	if t.Kind() != reflect.Struct {
		return false, false
	}
	sf, ok := t.FieldByName("_msgpack")
	if !ok || len(sf.Index) != 1 {
		return false, false
	}
	tag := sf.Tag.Get("msgpack")
	return hasTagOption(tag, "as_array") || hasTagOption(tag, "asArray"), hasTagOption(tag, "omitempty")
}

func hasTagOption(tag, opt string) bool {
	_, opts := parseTag(tag)
	return opts[opt]
}

// structFieldOf returns the field at index in t and the struct declaring
// it, through embedded structs and pointers to them.
func structFieldOf(t reflect.Type, index []int) (reflect.StructField, reflect.Type) {
	var sf reflect.StructField
	declaring := t
	for i, x := range index {
		if i > 0 {
			declaring = sf.Type
			if declaring.Kind() == reflect.Pointer {
				declaring = declaring.Elem()
			}
		}
		sf = declaring.Field(x)
	}
	return sf, declaring
}

// throughPointer reports whether the field at index in t is reached
// through an embedded pointer.
func throughPointer(t reflect.Type, index []int) bool {
	typ := t
	for i, x := range index {
		if i > 0 && typ.Kind() == reflect.Pointer {
			return true
		}
		typ = typ.Field(x).Type
	}
	return false
}
