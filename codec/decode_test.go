package codec

//lint:file-ignore U1000 unexported and _msgpack fields are here for the encoder to skip, not to be read

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"
)

// decodeLike decodes b into a new value of the type of like and returns it.
func decodeLike(b []byte, like any) (any, error) {
	p := reflect.New(reflect.TypeOf(like))
	err := Unmarshal(b, p.Interface())
	return p.Elem().Interface(), err
}

// decodeInto decodes b into the pointer p and returns what p points to.
func decodeInto(b []byte, p any) (any, error) {
	err := Unmarshal(b, p)
	return reflect.ValueOf(p).Elem().Interface(), err
}

// picky encodes itself as exactly two bytes.
type picky struct{ b []byte }

func (p picky) MarshalBinary() ([]byte, error) { return p.b, nil }

func (p *picky) UnmarshalBinary(b []byte) error {
	if len(b) != 2 {
		return fmt.Errorf("want 2 bytes, got %d", len(b))
	}
	p.b = b
	return nil
}

type withEmbeddedValue struct {
	Embedded
	Z bool
}

func TestUnmarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		give string // hex
		into any
		want string // in the message
	}{
		{"300 into uint8", "cd012c", new(uint8), "overflows uint8"},
		{"-1 into uint", "ff", new(uint), "overflows uint"},
		{"128 into int8", "cc80", new(int8), "overflows int8"},
		{"-129 into int8", "d1ff7f", new(int8), "overflows int8"},
		{"1<<63 into int64", "cf8000000000000000", new(int64), "overflows int64"},
		{"string into int", "a131", new(int), "cannot decode a string"},
		{"1.5 into int", "cb3ff8000000000000", new(int), "cannot decode a float"},
		{"NaN into int", "cb7ff8000000000000", new(int), "cannot decode a float"},
		{"inexact float64 into float32", "cb3fb999999999999a", new(float32), "cannot decode a float"},
		{"inexact int into float32", "ce01000001", new(float32), "cannot decode an integer"},
		{"inexact int into float64", "cf7fffffffffffffff", new(float64), "cannot decode an integer"},
		{"int into string", "01", new(string), "cannot decode an integer"},
		{"int into bool", "01", new(bool), "cannot decode an integer"},
		{"array into map", "9101", new(map[string]int), "cannot decode an array"},
		{"map into slice", "80", new([]int), "cannot decode a map"},
		{"array too long for array", "93010203", new([2]int), "do not fit"},
		{"bytes too long for byte array", "c403010203", new([2]byte), "do not fit"},
		{"int field name", "810101", new(inner), "field name"},
		{"struct array of the wrong length", "9101", new(inner), "array of 1 elements"},
		{"time from an int", "01", new(time.Time), "cannot decode an integer"},
		{"other extension into any", "d40501", new(any), "extension type 5"},
		{"other extension into time", "d40501", new(time.Time), "cannot decode an extension"},
		{"array as a map key", "81910101", new(map[any]any), "not comparable"},
		{"array as a key into any", "81910101", new(any), "not comparable"},
		{"int into error", "01", new(withError), "cannot decode an integer"},
		{"int into fmt.Stringer", "01", new([]interface{ String() string }), "cannot decode an integer"},
		{"text unmarshaler refuses", "a178", new(textOnly), "no T: prefix"},
		{"binary unmarshaler refuses", "c40101", new(picky), "want 2 bytes"},
		{"custom decoder refuses", "01", new(custom), "decoding codec.custom"},
		{"empty", "", new(int), "empty input"},
		{"trailing bytes", "0101", new(int), "1 trailing bytes"},
		{"reserved code", "c1", new(any), "reserved code"},
		{"truncated int", "cd01", new(int), "declares 2 bytes, 1 left"},
		{"truncated array", "9201", new([]int), "declares 2 items, 1 bytes left"},
		{"truncated inside an array", "92cd01", new([]int), "declares 2 bytes, 1 left"},
		{"input ends inside an array", "929101", new([]any), "ends at offset 3"},
		{"bad timestamp length", "d5ff0000", new(time.Time), "malformed timestamp"},
		{"timestamp nanoseconds too large", "d6ff", new(time.Time), "declares 4 bytes"},
		{"timestamp nanoseconds above 1e9", "c70cff3b9aca00" + "0000000000000000", new(time.Time), "malformed timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeInto(unhex(t, tt.give), tt.into)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Unmarshal(%s) into %T = %#v, %v; want an error wrapping ErrCorrupt", tt.give, tt.into, got, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if !reflect.ValueOf(tt.into).Elem().IsZero() {
				t.Errorf("after an error the target holds %#v, want its zero value", got)
			}
		})
	}
}

func TestUnmarshalAccepts(t *testing.T) {
	type asArray struct {
		_msgpack struct{} `msgpack:",as_array"`
		A        int
		B        string
	}
	tests := []struct {
		name string
		give string // hex
		want any
	}{
		{"nil into int", "c0", 0},
		{"integral float into int", "cb4014000000000000", 5},
		{"int into float64", "d0fb", -5.0},
		{"exact float64 into float32", "cb3ff8000000000000", float32(1.5)},
		{"float32 into float64", "ca3fc00000", 1.5},
		{"int64 form of a small int", "d30000000000000005", uint8(5)},
		{"bin into string", "c4026869", "hi"},
		{"str into bytes", "a26869", []byte("hi")},
		{"short array into array", "9101", [3]int{1, 0, 0}},
		{"short bytes into byte array", "c40101", [2]byte{1, 0}},
		{"unknown field skipped", "82a158 01 a17a 92 01 81a16102", inner{X: 1}},
		{"fields in reverse order", "82a159 a179 a158 01", inner{X: 1, Y: "y"}},
		{"a field twice: last wins", "83a158 01 a159 a179 a158 02", inner{X: 2, Y: "y"}},
		{"unknown field first", "83a17a 01 a158 01 a159 a179", inner{X: 1, Y: "y"}},
		{"alias between names", "83a162 01 a177 05 a163 02", struct {
			A int `msgpack:"a,alias:w"`
			B int `msgpack:"b"`
			C int `msgpack:"c"`
		}{A: 5, B: 1, C: 2}},
		{"struct from an array", "9201a179", inner{X: 1, Y: "y"}},
		{"empty array into struct", "90", inner{}},
		{"nil into struct", "c0", inner{}},
		{"as_array struct", "9205a161", asArray{A: 5, B: "a"}},
		{"struct field by its embedded name", "81a8" + hex.EncodeToString([]byte("Embedded")) + "82a15801a159a162",
			withEmbeddedValue{Embedded: Embedded{X: 1, Y: "b"}}},
		{"field alias", "81a17705", struct {
			A int `msgpack:"a,alias:w"`
		}{A: 5}},
		{"error from a string", "81a145a3626164", withError{E: errors.New("bad")}},
		{"legacy 32-bit timestamp", "d6ff00000001", time.Unix(1, 0).UTC()},
		{"nil time", "c0", time.Time{}},
		{"duplicate map keys: last wins", "82a16101a16102", map[string]int{"a": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeLike(unhex(t, tt.give), tt.want)
			if err != nil {
				t.Fatalf("Unmarshal(%s) into %T: %v", tt.give, tt.want, err)
			}
			opts := cmp.Comparer(func(a, b error) bool { return a.Error() == b.Error() })
			if diff := cmp.Diff(tt.want, got, cmp.Exporter(func(reflect.Type) bool { return true }), opts); diff != "" {
				t.Errorf("Unmarshal(%s) (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestUnmarshalInterface(t *testing.T) {
	tests := []struct {
		name string
		give any // encoded with Marshal
		want any
	}{
		{"nil", nil, nil},
		{"small int", 5, int64(5)},
		{"negative", -300, int64(-300)},
		{"uint64 above int64", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"float32", float32(0.5), float32(0.5)},
		{"float64", 0.5, 0.5},
		{"string", "s", "s"},
		{"bytes", []byte{1}, []byte{1}},
		{"bool", true, true},
		{"time", time.Unix(5, 6), time.Unix(5, 6).UTC()},
		{"array", []int{1, 2}, []any{int64(1), int64(2)}},
		{"string map", map[string]int{"a": 1}, map[string]any{"a": int64(1)}},
		{"struct", inner{X: 1}, map[string]any{"X": int64(1), "Y": ""}},
		{"mixed keys", map[any]any{"a": 1, 2: "b"}, map[any]any{"a": int64(1), int64(2): "b"}},
		{"nested", map[string]any{"a": []any{map[int]bool{1: true}}},
			map[string]any{"a": []any{map[any]any{int64(1): true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Marshal(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if err := Unmarshal(b, &got); err != nil {
				t.Fatalf("Unmarshal(%x): %v", b, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unmarshal into any (-want +got):\n%s", diff)
			}
			if _, isTime := got.(time.Time); isTime && got.(time.Time).Location() != time.UTC {
				t.Errorf("time decoded in %v, want UTC", got.(time.Time).Location())
			}
			again, err := Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Errorf("Marshal(Unmarshal(%x)) = %x, want the same bytes", b, again)
			}
		})
	}
}

func TestUnmarshalNilEmbeddedPointer(t *testing.T) {
	give := withEmbeddedPtr{Z: true}
	var got withEmbeddedPtr
	if err := Unmarshal(mustMarshal(t, give), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(give, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestUnmarshalZeroesTarget(t *testing.T) {
	m := map[string]int{"old": 1}
	if err := Unmarshal(unhex(t, "81a36e657702"), &m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"new": 2}, m); diff != "" {
		t.Errorf("decoding into a used map merged (-want +got):\n%s", diff)
	}
	s := inner{X: 7, Y: "old"}
	if err := Unmarshal(unhex(t, "81a15801"), &s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inner{X: 1}, s); diff != "" {
		t.Errorf("decoding into a used struct kept old fields (-want +got):\n%s", diff)
	}
	n := 5
	if err := Unmarshal(unhex(t, "a161"), &n); err == nil || n != 0 {
		t.Errorf("after a failed decode n = %d (err %v), want 0 and an error", n, err)
	}
}

func TestUnmarshalBadTarget(t *testing.T) {
	var n int
	var f func()
	tests := []struct {
		name string
		give any
	}{
		{"nil", nil},
		{"not a pointer", n},
		{"nil pointer", (*int)(nil)},
		{"func", &f},
		{"chan in struct", &struct{ C chan int }{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Unmarshal([]byte{1}, tt.give); !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrCorrupt) {
				t.Errorf("Unmarshal into %T: %v, want ErrUnsupported", tt.give, err)
			}
		})
	}
}

func TestUnmarshalHostile(t *testing.T) {
	type big struct{ A [1024]int64 }
	nested := func(n int) []byte { return append(bytes.Repeat([]byte{0x91}, n), 0x01) }
	nils := func(n int) []byte {
		b := append([]byte{codeArray32}, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		return append(b, bytes.Repeat([]byte{codeNil}, n)...)
	}
	tests := []struct {
		name string
		give []byte
		into any
	}{
		{"str32 claiming 4 GiB", unhex(t, "dbffffffff61"), new(string)},
		{"bin32 claiming 4 GiB", unhex(t, "c6ffffffff61"), new([]byte)},
		{"array32 claiming 4G elements", unhex(t, "ddffffffff01"), new([]any)},
		{"map32 claiming 4G entries", unhex(t, "dfffffffff0101"), new(map[int]int)},
		{"ext32 claiming 4 GiB", unhex(t, "c9ffffffff0501"), new(any)},
		{"map entries need two bytes", unhex(t, "8201010101"[:8]), new(map[int]int)},
		{"1 MB of nested array headers into any", nested(1 << 20), new(any)},
		{"1 MB of nested array headers into a slice", nested(1 << 20), new([][][]int)},
		{"nesting one level too deep", nested(MaxDepth + 1), new(any)},
		{"a million nils into big structs", nils(1 << 20), new([]big)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeInto(tt.give, tt.into); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Unmarshal into %T: %v, want ErrCorrupt", tt.into, err)
			}
		})
	}
	t.Run("nesting at the limit", func(t *testing.T) {
		var got any
		if err := Unmarshal(nested(MaxDepth), &got); err != nil {
			t.Errorf("Unmarshal of %d nested arrays: %v", MaxDepth, err)
		}
	})
}

// TestUnmarshalPlainMsgpack decodes what msgpack.Marshal writes, which is not
// canonical: fixed-width int64, structs in declaration order, omitempty.
func TestUnmarshalPlainMsgpack(t *testing.T) {
	type asArray struct {
		_msgpack struct{} `msgpack:",as_array"`
		A        int64
		B        []string
	}
	type plain struct {
		Z   int64
		A   string `msgpack:",omitempty"`
		Arr asArray
		M   map[string]any
		T   time.Time
		P   *float32
	}
	f := float32(2.5)
	want := plain{Z: 1 << 40, Arr: asArray{A: -1, B: []string{"x"}}, M: map[string]any{"k": "v"},
		T: time.Unix(1e9, 7).UTC(), P: &f}
	b, err := msgpack.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got plain
	if err := Unmarshal(b, &got); err != nil {
		t.Fatalf("Unmarshal(msgpack.Marshal(...)): %v", err)
	}
	if diff := cmp.Diff(want, got, cmp.Exporter(func(reflect.Type) bool { return true })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDecoder checks Decoder against Unmarshal, and that both leave the
// target zero on corrupt input.
func TestDecoder(t *testing.T) {
	type item struct {
		Name string
		Tags []string
	}
	dec, err := NewDecoder[item]()
	if err != nil {
		t.Fatal(err)
	}
	want := item{Name: "a", Tags: []string{"x", "y"}}
	b, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got := item{Name: "stale", Tags: []string{"stale"}}
	if err := dec.Decode(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
	for _, bad := range [][]byte{nil, {0xc1}, b[:len(b)-1], append(b[:len(b):len(b)], 0)} {
		got := item{Name: "stale"}
		if err := dec.Decode(bad, &got); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%x) = %v, want ErrCorrupt", bad, err)
		}
		if diff := cmp.Diff(item{}, got); diff != "" {
			t.Errorf("Decode(%x) left (-zero +got):\n%s", bad, diff)
		}
		got = item{Name: "stale"}
		if err := Unmarshal(bad, &got); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Unmarshal(%x) = %v, want ErrCorrupt", bad, err)
		}
		if diff := cmp.Diff(item{}, got); diff != "" {
			t.Errorf("Unmarshal(%x) left (-zero +got):\n%s", bad, diff)
		}
	}
	if err := dec.Decode(b, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Decode into nil = %v, want ErrUnsupported", err)
	}
	if _, err := NewDecoder[func()](); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewDecoder[func()] = %v, want ErrUnsupported", err)
	}
	if _, err := NewDecoder[struct{ C chan int }](); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewDecoder of a struct with a chan = %v, want ErrUnsupported", err)
	}
}
