package codec

//lint:file-ignore U1000 unexported and _msgpack fields are here for the encoder to skip, not to be read

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vmihailenco/msgpack/v5"
)

// row takes 4104 bytes in memory and a few on the wire: its scratch space
// is unexported, so not encoded.
type row struct {
	ID      int
	scratch [4096]byte
}

// skippedRow keeps a large array out of the encoding with a tag.
type skippedRow struct {
	Name string
	Blob [8192]byte `msgpack:"-"`
}

// sparseRow is written by msgpack.Marshal without its zero fields.
type sparseRow struct {
	_msgpack struct{} `msgpack:",omitempty"`
	ID       int
	Note     string
	pad      [2048]byte
}

// arrayRow is written by msgpack.Marshal as an array, without names.
type arrayRow struct {
	_msgpack struct{} `msgpack:",as_array"`
	ID       int
	pad      [1024]byte
}

// embeddedSparseRow is written by msgpack.Marshal without its fields
// reached through a nil embedded pointer, since one of its fields is
// omitempty.
type embeddedSparseRow struct {
	*ShapeInner
	Note string `msgpack:",omitempty"`
	pad  [4096]byte
}

// bigRow is 8 KiB in memory and over a kilobyte on the wire.
type bigRow struct{ A [1024]int64 }

type withRows struct {
	Rows  []row
	Index map[string]skippedRow
	First *row
}

var ignoreHidden = []cmp.Option{
	cmpopts.IgnoreUnexported(row{}, skippedRow{}, sparseRow{}, arrayRow{}, embeddedSparseRow{}, shapeRow{}, ShapeInner{}, shapeOuter{}),
	cmpopts.IgnoreFields(skippedRow{}, "Blob"),
	cmpopts.IgnoreFields(shapeRow{}, "Skip"),
}

func makeRows(n int) []row {
	rows := make([]row, n)
	for i := range rows {
		rows[i].ID = i * 7
		rows[i].scratch[i%4096] = 1 // must not survive: it is not encoded
	}
	return rows
}

func makeSkipped(n int) map[int]skippedRow {
	m := make(map[int]skippedRow, n)
	for i := range n {
		r := skippedRow{Name: fmt.Sprint("r", i)}
		r.Blob[i%8192] = 1
		m[i] = r
	}
	return m
}

// readsBack returns a test that the value build returns, written with write, reads back equal
// through Unmarshal, through a Decoder, and with an allocation budget of
// R(T)*len(b) alone (no floor), as the budget's design promises.
func readsBack[T any](build func() T, write func(any) ([]byte, error)) func(t *testing.T) {
	return func(t *testing.T) {
		give := build()
		b, err := write(give)
		if err != nil {
			t.Fatal(err)
		}
		var got T
		if err := Unmarshal(b, &got); err != nil {
			t.Fatalf("Unmarshal of %d bytes into %T: %v", len(b), got, err)
		}
		if diff := cmp.Diff(give, got, ignoreHidden...); diff != "" {
			t.Errorf("Unmarshal (-want +got):\n%s", diff)
		}
		dec, err := NewDecoder[T]()
		if err != nil {
			t.Fatal(err)
		}
		var fromDecoder T
		if err := dec.Decode(b, &fromDecoder); err != nil {
			t.Fatalf("Decoder: %v", err)
		}
		if diff := cmp.Diff(give, fromDecoder, ignoreHidden...); diff != "" {
			t.Errorf("Decoder (-want +got):\n%s", diff)
		}
		var tight T
		if err := decodeWithFloor(dec.dec, b, reflect.ValueOf(&tight).Elem(), 0); err != nil {
			t.Errorf("decoding %d bytes within R=%d times their size: %v", len(b), dec.dec.ratio, err)
		}
	}
}

// TestUnmarshalLargeHiddenFields guards that values whose unexported or
// skipped fields make them much larger in memory than on the wire read
// back: the allocation budget follows what the input can justify.
func TestUnmarshalLargeHiddenFields(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"rows/1", readsBack(func() []row { return makeRows(1) }, Marshal)},
		{"rows/300", readsBack(func() []row { return makeRows(300) }, Marshal)},
		{"rows/10000", readsBack(func() []row { return makeRows(10_000) }, Marshal)},
		{"skipped map/1", readsBack(func() map[int]skippedRow { return makeSkipped(1) }, Marshal)},
		{"skipped map/300", readsBack(func() map[int]skippedRow { return makeSkipped(300) }, Marshal)},
		{"skipped map/10000", readsBack(func() map[int]skippedRow { return makeSkipped(10_000) }, Marshal)},
		{"pointers to rows/10000", readsBack(func() []*row {
			rows := makeRows(10_000)
			ptrs := make([]*row, len(rows))
			for i := range rows {
				if i%3 != 0 {
					ptrs[i] = &rows[i]
				}
			}
			return ptrs
		}, Marshal)},
		{"rows in rows/30x30", readsBack(func() [][]row {
			s := make([][]row, 30)
			for i := range s {
				s[i] = makeRows(30)
			}
			return s
		}, Marshal)},
		{"struct of rows/300", readsBack(func() withRows {
			return withRows{Rows: makeRows(300), Index: map[string]skippedRow{"a": {Name: "a"}}, First: &row{ID: 1}}
		}, Marshal)},
		{"empty maps of skipped rows/10000", readsBack(func() []map[int]skippedRow {
			s := make([]map[int]skippedRow, 10_000)
			for i := range s {
				s[i] = map[int]skippedRow{}
			}
			return s
		}, Marshal)},
		{"maps of one skipped row/3000", readsBack(func() []map[int]skippedRow {
			s := make([]map[int]skippedRow, 3000)
			for i := range s {
				s[i] = map[int]skippedRow{i: {}}
			}
			return s
		}, Marshal)},
		{"big rows/20", readsBack(func() []bigRow { return make([]bigRow, 20) }, Marshal)},
		{"rows by msgpack/10000", readsBack(func() []row { return makeRows(10_000) }, msgpack.Marshal)},
		{"omitempty rows by msgpack/300", readsBack(func() []sparseRow {
			sparse := make([]sparseRow, 300)
			sparse[7].ID = 7
			return sparse
		}, msgpack.Marshal)},
		{"omitempty rows with an embedded pointer by msgpack/300", readsBack(func() []embeddedSparseRow {
			return make([]embeddedSparseRow, 300)
		}, msgpack.Marshal)},
		{"as_array rows by msgpack/10000", readsBack(func() []arrayRow { return make([]arrayRow, 10_000) }, msgpack.Marshal)},
		{"empty maps in any/10000", readsBack(func() []any {
			s := make([]any, 10_000)
			for i := range s {
				s[i] = map[string]any{}
			}
			return s
		}, Marshal)},
		{"mixed keys in any/3000", readsBack(func() []any {
			s := make([]any, 3000)
			for i := range s {
				s[i] = map[any]any{"a": nil, int64(1): nil}
			}
			return s
		}, Marshal)},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// TestDecodeRatio pins R for the types the package documentation names.
func TestDecodeRatio(t *testing.T) {
	tests := []struct {
		give reflect.Type
		want int
	}{
		{reflect.TypeFor[int](), 1},
		{reflect.TypeFor[[]int](), 8},
		{reflect.TypeFor[[]row](), 821},        // 4104 bytes for 5: 81 a2 "ID" 00
		{reflect.TypeFor[[]bigRow](), 8},       // 8192 bytes for 1028
		{reflect.TypeFor[[]arrayRow](), 516},   // 1032 bytes for 2: 91 00
		{reflect.TypeFor[[]sparseRow](), 2072}, // 2072 bytes for 1: 80
		{reflect.TypeFor[any](), 340},
		{reflect.TypeFor[map[string]any](), 340},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			if got := ratioOf(tt.give); got != tt.want {
				t.Errorf("ratioOf(%v) = %d, want %d", tt.give, got, tt.want)
			}
		})
	}
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// repeat returns an array32 header for n values followed by n copies of v.
func repeat(n int, v ...byte) []byte {
	b := []byte{codeArray32, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	return append(b, bytes.Repeat(v, n)...)
}

// TestUnmarshalHostileAllocation checks that inputs asking for far more
// memory than their size justifies are refused before the memory is
// allocated, and that the refusal itself allocates little.
func TestUnmarshalHostileAllocation(t *testing.T) {
	tests := []struct {
		name string
		give []byte
		into func() any
	}{
		{"a million nils into rows", repeat(1<<20, codeNil), func() any { return new([]row) }},
		{"a million empty maps into rows", repeat(1<<20, codeFixMap), func() any { return new([]row) }},
		{"a million zeros into big rows", repeat(1<<20, 0), func() any { return new([]bigRow) }},
		{"a million nils into skipped rows by key", func() []byte {
			b := []byte{codeMap32, 0, 8, 0, 0}
			return append(b, bytes.Repeat([]byte{0, codeNil}, 1<<19)...)
		}(), func() any { return new(map[int]skippedRow) }},
		{"array32 claiming 4G rows", unhex(t, "ddffffffff01"), func() any { return new([]row) }},
		{"map32 claiming 4G skipped rows", unhex(t, "dfffffffff0101"), func() any { return new(map[int]skippedRow) }},
		{"nested deeper than MaxDepth", append(bytes.Repeat([]byte{0x91}, MaxDepth+1), 0x01), func() any { return new(any) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			into := tt.into()
			var err error
			n := allocated(func() { err = Unmarshal(tt.give, into) })
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Unmarshal into %T: %v, want ErrCorrupt", into, err)
			}
			if n > 2<<20 {
				t.Errorf("refusing %d bytes allocated %d bytes", len(tt.give), n)
			}
		})
	}
}

// TestUnmarshalAllocationBound checks that decoding allocates no more than
// the documented bound, (1 MiB + R*len(b)) in Go values, rounded up by the
// allocator by at most a quarter, plus len(b) of copied strings, for inputs
// that use the budget fully or nearly, genuine or hostile.
func TestUnmarshalAllocationBound(t *testing.T) {
	oneEntry := func(n int, m func(i int) any) []byte {
		s := make([]any, n)
		for i := range s {
			s[i] = m(i)
		}
		return mustMarshal(t, s)
	}
	tests := []struct {
		name string
		give []byte
		into func() any
	}{
		{"empty maps", repeat(100_000, codeFixMap), func() any { return new([]map[int]int) }},
		{"maps of one entry", oneEntry(30_000, func(i int) any { return map[int]int{i: i} }), func() any { return new([]map[int]int) }},
		{"maps of one skipped row", oneEntry(3_000, func(i int) any { return map[int]skippedRow{i: {}} }), func() any { return new([]map[int]skippedRow) }},
		{"empty maps in any", repeat(100_000, codeFixMap), func() any { return new([]any) }},
		{"maps of one entry in any", oneEntry(30_000, func(i int) any { return map[string]any{"": nil} }), func() any { return new([]any) }},
		{"maps of mixed keys in any", oneEntry(20_000, func(i int) any { return map[any]any{"": nil, int64(0): nil} }), func() any { return new([]any) }},
		{"scalars in any", oneEntry(100_000, func(i int) any { return int64(1000 + i) }), func() any { return new([]any) }},
		{"rows", mustMarshal(t, makeRows(20_000)), func() any { return new([]row) }},
		{"empty maps into pointers to rows, refused midway", repeat(64<<10, codeFixMap), func() any { return new([]*row) }},
		{"nils into pointers to pointers", repeat(100_000, codeNil), func() any { return new([]**row) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			into := tt.into()
			ratio := decoderOf(reflect.TypeOf(into).Elem()).ratio
			var err error
			n := allocated(func() { err = Unmarshal(tt.give, into) })
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Unmarshal into %T: %v", into, err)
			}
			if bound := uint64((budgetFloor+ratio*len(tt.give))*5/4 + len(tt.give)); n > bound {
				t.Errorf("decoding %d bytes allocated %d bytes, more than the bound %d (R=%d, err %v)", len(tt.give), n, bound, ratio, err)
			}
		})
	}
}

func TestNewDecoderRefusesSelfPointer(t *testing.T) {
	type self *self
	if _, err := NewDecoder[self](); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewDecoder of a pointer to itself: %v, want ErrUnsupported", err)
	}
}

// ShapeInner is embedded through a pointer in shapeOuter.
type ShapeInner struct {
	Kind uint8
	big  [2048]byte
}

type shapeRow struct {
	ID    int64
	Name  string
	Tags  []string
	Score *float64
	pad   [1024]byte
	Skip  [512]int64 `msgpack:"-"`
}

type shapeOuter struct {
	*ShapeInner
	Rows   []shapeRow
	ByID   map[int16]shapeRow
	Ptrs   []*shapeRow
	Fixed  [2]shapeRow
	Groups map[string][]shapeRow
	cache  [64]uint64
}

// shapeSource reads the bytes of a fuzz input, then zeros.
type shapeSource struct{ data []byte }

func (s *shapeSource) next() byte {
	if len(s.data) == 0 {
		return 0
	}
	c := s.data[0]
	s.data = s.data[1:]
	return c
}

// count returns a number of elements: most often a few, at times hundreds.
func (s *shapeSource) count() int {
	if c := s.next(); c < 0xf0 {
		return int(c % 16)
	}
	return int(s.next()) + int(s.next()&1)<<8
}

func (s *shapeSource) row() shapeRow {
	r := shapeRow{ID: int64(int8(s.next())) << (s.next() % 56)}
	r.Name = string(bytes.Repeat([]byte{'a' + s.next()%26}, int(s.next()%40)))
	if k := s.next() % 4; k > 0 {
		r.Tags = make([]string, k-1)
		for i := range r.Tags {
			r.Tags[i] = string(rune('a' + s.next()%26))
		}
	}
	if c := s.next(); c%2 == 1 {
		f := float64(c) / 4
		r.Score = &f
	}
	r.pad[s.next()] = s.next()
	r.Skip[s.next()%128] = int64(s.next())
	return r
}

func (s *shapeSource) outer() shapeOuter {
	var o shapeOuter
	if c := s.next(); c%2 == 1 {
		o.ShapeInner = &ShapeInner{Kind: c}
		o.big[c] = 1
	}
	if n := s.count(); n%5 != 0 {
		o.Rows = make([]shapeRow, n)
		for i := range o.Rows {
			o.Rows[i] = s.row()
		}
	}
	if n := s.count(); n%3 != 0 {
		o.ByID = make(map[int16]shapeRow, n)
		for range n {
			o.ByID[int16(s.next())<<int(s.next()%8)] = s.row()
		}
	}
	for range s.next() % 8 {
		if s.next()%2 == 0 {
			o.Ptrs = append(o.Ptrs, nil)
			continue
		}
		r := s.row()
		o.Ptrs = append(o.Ptrs, &r)
	}
	o.Fixed[s.next()%2] = s.row()
	for range s.next() % 4 {
		if o.Groups == nil {
			o.Groups = make(map[string][]shapeRow)
		}
		rows := make([]shapeRow, s.next()%16)
		for i := range rows {
			rows[i] = s.row()
		}
		o.Groups[string(rune('a'+s.next()%26))] = rows
	}
	o.cache[s.next()%64] = 1
	return o
}

// FuzzUnmarshalHiddenFields checks that values of struct shapes with large
// unexported and skipped fields, built from the fuzz input, always read
// back: Marshal then Unmarshal (and a Decoder, and a decoding within
// R*len(b) alone) succeeds and gives an equal value.
func FuzzUnmarshalHiddenFields(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 255, 1, 3, 7})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Add(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 300))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &shapeSource{data: data}
		readsBack(src.outer, Marshal)(t)
		readsBack(func() []shapeRow {
			rows := make([]shapeRow, src.count())
			for i := range rows {
				rows[i] = src.row()
			}
			return rows
		}, Marshal)(t)
	})
}
