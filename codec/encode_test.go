package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vmihailenco/msgpack/v5"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

type inner struct {
	X int
	Y string
}

type withEmbedded struct {
	inner
	Z bool
}

// Embedded is exported: msgpack cannot set an unexported embedded pointer.
type Embedded struct {
	X int
	Y string
}

type withEmbeddedPtr struct {
	*Embedded
	Z bool
}

type tagged struct {
	B      int    `msgpack:"b"`
	A      string `msgpack:"a,omitempty"`
	Hidden int    `msgpack:"-"`
	secret int
}

type withError struct{ E error }

// textOnly encodes itself as text, through a pointer receiver.
type textOnly struct{ s string }

func (t *textOnly) MarshalText() ([]byte, error) { return []byte("T:" + t.s), nil }
func (t *textOnly) UnmarshalText(p []byte) error {
	s, ok := strings.CutPrefix(string(p), "T:")
	if !ok {
		return errors.New("no T: prefix")
	}
	t.s = s
	return nil
}

// custom encodes itself with msgpack's CustomEncoder as [s, n].
type custom struct {
	s string
	n int
}

func (c custom) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeArrayLen(2); err != nil {
		return err
	}
	if err := e.EncodeString(c.s); err != nil {
		return err
	}
	return e.EncodeInt(int64(c.n))
}

func (c *custom) DecodeMsgpack(d *msgpack.Decoder) error {
	if _, err := d.DecodeArrayLen(); err != nil {
		return err
	}
	var err error
	if c.s, err = d.DecodeString(); err != nil {
		return err
	}
	c.n, err = d.DecodeInt()
	return err
}

// twoValues is a broken marshaler that writes two msgpack values.
type twoValues struct{}

func (twoValues) MarshalMsgpack() ([]byte, error) { return []byte{1, 2}, nil }

type failing struct{}

func (failing) MarshalBinary() ([]byte, error) { return nil, errors.New("boom") }

func TestMarshalEncoding(t *testing.T) {
	seven := 7
	zone := time.FixedZone("X", 3*3600)
	tests := []struct {
		name string
		give any
		want string // hex
	}{
		{"int 5", 5, "05"},
		{"int64 5", int64(5), "05"},
		{"uint8 5", uint8(5), "05"},
		{"int -1", -1, "ff"},
		{"int -32", -32, "e0"},
		{"int -33", -33, "d0df"},
		{"int 127", 127, "7f"},
		{"int 128", 128, "cc80"},
		{"int16 256", int16(256), "cd0100"},
		{"int 65536", 65536, "ce00010000"},
		{"int 1<<32", 1 << 32, "cf0000000100000000"},
		{"int -129", -129, "d1ff7f"},
		{"int -32769", -32769, "d2ffff7fff"},
		{"int64 min", int64(math.MinInt64), "d38000000000000000"},
		{"uint64 max", uint64(math.MaxUint64), "cfffffffffffffffff"},
		{"duration", 5 * time.Nanosecond, "05"},
		{"float32", float32(1.5), "ca3fc00000"},
		{"float32 -0", float32(math.Copysign(0, -1)), "ca00000000"},
		{"float32 NaN", float32(math.NaN()), "ca7fc00000"},
		{"float64", 1.5, "cb3ff8000000000000"},
		{"float64 -0", math.Copysign(0, -1), "cb0000000000000000"},
		{"float64 NaN", math.NaN(), "cb7ff8000000000000"},
		{"float64 other NaN", math.Float64frombits(0x7ff0000000000001), "cb7ff8000000000000"},
		{"float64 5", 5.0, "cb4014000000000000"},
		{"true", true, "c3"},
		{"false", false, "c2"},
		{"nil", nil, "c0"},
		{"nil pointer", (*int)(nil), "c0"},
		{"pointer", &seven, "07"},
		{"pointer to pointer", func() **int { p := &seven; return &p }(), "07"},
		{"string", "abc", "a3616263"},
		{"empty string", "", "a0"},
		{"str8", strings.Repeat("x", 32), "d920" + strings.Repeat("78", 32)},
		{"bytes", []byte{1, 2}, "c4020102"},
		{"empty bytes", []byte{}, "c400"},
		{"nil bytes", []byte(nil), "c0"},
		{"byte array", [2]byte{1, 2}, "c4020102"},
		{"nil slice", []int(nil), "c0"},
		{"empty slice", []int{}, "90"},
		{"slice", []int{1, 2}, "920102"},
		{"array", [2]int{1, 2}, "920102"},
		{"strings", []string{"a"}, "91a161"},
		{"nil map", map[string]int(nil), "c0"},
		{"empty map", map[string]int{}, "80"},
		{"map sorted by key bytes", map[string]int{"b": 2, "a": 1, "aa": 3}, "83 a16101 a16202 a2616103"},
		{"int keys sorted by encoding", map[int]string{2: "b", -1: "a", 1: "c"}, "83 01a163 02a162 ffa161"},
		{"struct keys", map[inner]int{{X: 2}: 1, {X: 1}: 2},
			"82 82a15801a159a0 02 82a15802a159a0 01"},
		{"empty struct", struct{}{}, "80"},
		{"struct sorted by name", struct {
			B int
			A string
		}{B: 1, A: "x"}, "82 a141a178 a14201"},
		{"tags", tagged{B: 1, A: "", Hidden: 9, secret: 9}, "82 a161a0 a16201"},
		{"embedded inlined", withEmbedded{inner: inner{X: 1, Y: "y"}, Z: true}, "83 a15801 a159a179 a15ac3"},
		{"nil embedded pointer", withEmbeddedPtr{Z: true}, "83 a158c0 a159c0 a15ac3"},
		{"error field", withError{E: errors.New("x")}, "81 a145 a178"},
		{"nil error field", withError{}, "81 a145 c0"},
		{"any slice", []any{1, "a", nil}, "93 01 a161 c0"},
		{"epoch", time.Unix(0, 0), "d6ff00000000"},
		{"time with nanos", time.Unix(1, 5).In(zone), "d7ff0000001400000001"},
		{"zero time", time.Time{}, "c70cff 00000000 fffffff1886e0900"},
		{"binary marshaler", netip.MustParseAddr("10.0.0.1"), "c4040a000001"},
		{"text marshaler by pointer receiver", textOnly{s: "a"}, "a3543a61"},
		{"custom encoder", custom{s: "a", n: 300}, "92a161cd012c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.give)
			if err != nil {
				t.Fatalf("Marshal(%#v): %v", tt.give, err)
			}
			if diff := cmp.Diff(hex.EncodeToString(unhex(t, tt.want)), hex.EncodeToString(got)); diff != "" {
				t.Errorf("Marshal(%#v) (-want +got):\n%s", tt.give, diff)
			}
			if err := validate(got); err != nil {
				t.Errorf("Marshal's output does not validate: %v", err)
			}
		})
	}
}

func TestMarshalSameArgument(t *testing.T) {
	x := 3
	px := &x
	utc := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name   string
		a, b   any
		wantEq bool
	}{
		{"int widths", int(5), uint16(5), true},
		{"int and float", 5, 5.0, false},
		{"float32 and float64", float32(1.5), 1.5, false},
		{"zero and minus zero", 0.0, math.Copysign(0, -1), true},
		{"NaNs", math.NaN(), math.Float64frombits(0x7ff8000000000123), true},
		{"string and bytes", "ab", []byte("ab"), false},
		{"pointer and value", px, x, true},
		{"pointer chain", &px, 3, true},
		{"nils", []int(nil), map[string]int(nil), true},
		{"nil and empty slice", []int(nil), []int{}, false},
		{"slice and array", []int{1, 2}, [2]int{1, 2}, true},
		{"struct and map", struct {
			Long int
			B    string
		}{1, "b"}, map[string]any{"Long": 1, "B": "b"}, true},
		{"zones", utc, utc.In(time.FixedZone("Y", -7200)), true},
		{"monotonic", time.Now().Round(0), time.Now(), false},
		{"duration and int", time.Second, int64(1e9), true},
		{"any and concrete", any([]any{1}), []int{1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Marshal(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Marshal(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Equal(a, b); got != tt.wantEq {
				t.Errorf("Marshal(%#v) = %x, Marshal(%#v) = %x: equal %v, want %v", tt.a, a, tt.b, b, got, tt.wantEq)
			}
		})
	}
}

func TestMarshalUnsupported(t *testing.T) {
	type node struct {
		Next *node
		N    int
	}
	loop := &node{N: 1}
	loop.Next = loop
	selfMap := map[string]any{}
	selfMap["m"] = selfMap
	selfSlice := []any{nil}
	selfSlice[0] = selfSlice
	var selfIface any
	selfIface = &selfIface
	deep := any(1)
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	var x int
	tests := []struct {
		name string
		give any
		want string // in the message
	}{
		{"func", func() {}, "func()"},
		{"chan", make(chan int), "chan int"},
		{"complex", complex(1, 2), "complex128"},
		{"uintptr", uintptr(1), "uintptr"},
		{"unsafe.Pointer", unsafe.Pointer(&x), "unsafe.Pointer"},
		{"unexported fields only", struct{ a int }{1}, "no exported fields"},
		{"func field", struct{ F func() }{}, "field F"},
		{"empty func slice", []func(){}, "func()"},
		{"map of chans", map[string]chan int{}, "chan int"},
		{"func in any", []any{1, func() {}}, "func()"},
		{"pointer cycle", loop, "cycle"},
		{"map cycle", selfMap, "cycle"},
		{"slice cycle", selfSlice, "cycle"},
		{"interface cycle", selfIface, "cycle"},
		{"too deep", deep, "deeper than 100"},
		{"marshaler writing two values", twoValues{}, "did not write one msgpack value"},
		{"failing marshaler", failing{}, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.give)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Marshal(%T) = %x, %v; want an error wrapping ErrUnsupported", tt.give, got, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "codec: ") {
				t.Errorf("error %q does not start with \"codec: \" and mention %q", err, tt.want)
			}
		})
	}
}

func TestNewEncoderUnsupported(t *testing.T) {
	if _, err := NewEncoder[func()](); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewEncoder[func()]: %v, want ErrUnsupported", err)
	}
	if _, err := NewEncoder[struct{ C chan int }](); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewEncoder[struct{C chan int}]: %v, want ErrUnsupported", err)
	}
	if _, err := NewEncoder[any](); err != nil {
		t.Errorf("NewEncoder[any]: %v", err)
	}
}

type smallStruct struct {
	ID    int
	Name  string
	Score float64
	OK    bool
	Tags  [2]string
}

// appendWith encodes v with a new Encoder[T].
func appendWith[T any](t *testing.T, v T) []byte {
	t.Helper()
	e, err := NewEncoder[T]()
	if err != nil {
		t.Fatalf("NewEncoder[%T]: %v", v, err)
	}
	b, err := e.Append([]byte("prefix"), v)
	if err != nil {
		t.Fatalf("Append(%#v): %v", v, err)
	}
	s, ok := bytes.CutPrefix(b, []byte("prefix"))
	if !ok {
		t.Fatalf("Append lost the prefix: %x", b)
	}
	return s
}

func TestEncoderMatchesMarshal(t *testing.T) {
	check := func(t *testing.T, got []byte, v any) {
		t.Helper()
		want, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Encoder and Marshal differ for %#v (-want +got):\n%s", v, diff)
		}
	}
	check(t, appendWith(t, 300), 300)
	check(t, appendWith(t, "s"), "s")
	check(t, appendWith(t, []byte{1}), []byte{1})
	s := smallStruct{ID: 1, Name: "n", Score: 2.5, OK: true, Tags: [2]string{"a", "b"}}
	check(t, appendWith(t, s), s)
	check(t, appendWith(t, &s), s)
	check(t, appendWith(t, map[int]string{1: "a", 2: "b"}), map[int]string{1: "a", 2: "b"})
	check(t, appendWith[any](t, 5), 5)
	check(t, appendWith(t, textOnly{s: "x"}), textOnly{s: "x"})
	check(t, appendWith(t, time.Unix(5, 6)), time.Unix(5, 6))
}

func TestEncoderConcurrent(t *testing.T) {
	e, err := NewEncoder[map[string]smallStruct]()
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]smallStruct{"a": {ID: 1}, "b": {ID: 2}, "c": {ID: 3}}
	want, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	for range 8 {
		go func() {
			var b []byte
			for range 100 {
				b, _ = e.Append(b[:0], v)
			}
			done <- b
		}()
	}
	for range 8 {
		if got := <-done; !bytes.Equal(got, want) {
			t.Errorf("concurrent Append = %x, want %x", got, want)
		}
	}
}

func TestEncoderAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ei, _ := NewEncoder[int]()
	es, _ := NewEncoder[smallStruct]()
	eb, _ := NewEncoder[[]byte]()
	buf := make([]byte, 0, 256)
	s := smallStruct{ID: 1, Name: "name", Score: 1.5, Tags: [2]string{"a", "b"}}
	p := []byte("payload")
	tests := []struct {
		name string
		give func()
	}{
		{"int", func() { _, _ = ei.Append(buf[:0], 123456) }},
		{"small struct", func() { _, _ = es.Append(buf[:0], s) }},
		{"bytes", func() { _, _ = eb.Append(buf[:0], p) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.give() // warm the pool
			if got := testing.AllocsPerRun(100, tt.give); got != 0 {
				t.Errorf("Append allocates %v times per call, want 0", got)
			}
		})
	}
}

// roundTrip checks that Marshal(v) decodes back to v with msgpack.Unmarshal
// and with Unmarshal.
func roundTrip[T any](t *testing.T, v T) {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%#v): %v", v, err)
	}
	opts := []cmp.Option{cmp.Exporter(func(reflect.Type) bool { return true }), cmpopts.EquateNaNs(), cmp.Comparer(func(a, b error) bool {
		return (a == nil) == (b == nil) && (a == nil || a.Error() == b.Error())
	})}
	var viaMsgpack T
	if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
		t.Errorf("msgpack.Unmarshal(%x) into %T: %v", b, v, err)
	} else if diff := cmp.Diff(v, viaMsgpack, opts...); diff != "" {
		t.Errorf("msgpack.Unmarshal(Marshal(%T)) (-want +got):\n%s", v, diff)
	}
	var viaCodec T
	if err := Unmarshal(b, &viaCodec); err != nil {
		t.Errorf("Unmarshal(%x) into %T: %v", b, v, err)
	} else if diff := cmp.Diff(v, viaCodec, opts...); diff != "" {
		t.Errorf("Unmarshal(Marshal(%T)) (-want +got):\n%s", v, diff)
	}
}

type everything struct {
	I     int
	I8    int8
	U64   uint64
	F32   float32
	F64   float64
	B     bool
	S     string
	Bytes []byte
	Arr   [3]int16
	BArr  [4]byte
	Sl    []string
	M     map[string]int
	MI    map[int][]string
	MS    map[inner]bool
	P     *int
	PS    *inner
	T     time.Time
	D     time.Duration
	Any   any
	E     error
	Addr  netip.Addr
	Text  textOnly
	C     custom
	Named tagged
	inner
}

func TestRoundTrip(t *testing.T) {
	five := 5
	roundTrip(t, 0)
	roundTrip(t, -1<<63)
	roundTrip(t, uint64(math.MaxUint64))
	roundTrip(t, int8(-128))
	roundTrip(t, float32(1.25))
	roundTrip(t, math.Inf(-1))
	roundTrip(t, "héllo")
	roundTrip(t, []byte(nil))
	roundTrip(t, []byte{})
	roundTrip(t, []byte{0, 1, 255})
	roundTrip(t, []int(nil))
	roundTrip(t, []int{})
	roundTrip(t, map[string]int(nil))
	roundTrip(t, map[string]int{})
	roundTrip(t, map[string]map[string][]int{"a": {"b": {1, 2}}, "c": nil})
	roundTrip(t, map[[2]int]string{{1, 2}: "x", {0, 0}: "y"})
	roundTrip(t, map[float64]int{math.Inf(1): 1, -2.5: 2})
	roundTrip(t, struct{}{})
	roundTrip(t, time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC))
	roundTrip(t, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))
	roundTrip(t, time.Date(2500, 1, 1, 0, 0, 0, 1, time.UTC))
	roundTrip(t, &five)
	roundTrip(t, withEmbedded{inner: inner{X: 1, Y: "y"}, Z: true})
	roundTrip(t, withEmbeddedPtr{Embedded: &Embedded{X: 1}, Z: true})
	roundTrip(t, everything{
		I: -1, I8: 8, U64: 1 << 63, F32: 0.5, F64: 1e300, B: true, S: "s", Bytes: []byte("b"),
		Arr: [3]int16{1, -2, 3}, BArr: [4]byte{1, 2, 3, 4}, Sl: []string{"x", ""},
		M: map[string]int{"a": 1}, MI: map[int][]string{-5: {"q"}}, MS: map[inner]bool{{X: 1}: true},
		P: &five, PS: &inner{Y: "p"}, T: time.Unix(1e9, 1).UTC(), D: time.Hour, Any: "dyn",
		E: errors.New("failed"), Addr: netip.MustParseAddr("::1"), Text: textOnly{s: "t"},
		C: custom{s: "c", n: -3}, Named: tagged{B: 2, A: "a"}, inner: inner{X: 9},
	})
	roundTrip(t, everything{})
}

// mapsInOrders builds the same maps with entries inserted in three orders.
func mapsInOrders(n int, order func([]int)) []any {
	keys := make([]int, n)
	for i := range keys {
		keys[i] = i*7919%1000 - 500
	}
	order(keys)
	type key struct {
		A int
		B string
	}
	m1 := map[string]int{}
	m2 := map[int]string{}
	m3 := map[key]string{}
	m4 := map[string]map[string][]int{}
	m5 := map[any]any{}
	m6 := map[float64]bool{}
	m7 := map[[2]int]int{}
	m8 := map[string]any{}
	for _, k := range keys {
		s := fmt.Sprint("k", k)
		m1[s] = k
		m2[k] = s
		m3[key{A: k % 10, B: s}] = s
		if m4[s[:2]] == nil {
			m4[s[:2]] = map[string][]int{}
		}
		m4[s[:2]][s] = []int{k, -k}
		m5[k] = s
		m5[s] = []any{k, float64(k) / 3}
		m6[float64(k)/7] = k%2 == 0
		m7[[2]int{k, k % 3}] = k
		m8[s] = map[int]string{k: s, -k: s}
	}
	m6[math.NaN()] = true
	m6[math.NaN()] = false
	return []any{m1, m2, m3, m4, m5, m6, m7, m8}
}

func encodeAll(t testing.TB, vs []any) []string {
	var out []string
	for _, v := range vs {
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%T): %v", v, err)
		}
		out = append(out, hex.EncodeToString(b))
	}
	return out
}

func TestMarshalMapOrder(t *testing.T) {
	want := encodeAll(t, mapsInOrders(300, func([]int) {}))
	orders := map[string]func([]int){
		"reversed": func(k []int) {
			for i, j := 0, len(k)-1; i < j; i, j = i+1, j-1 {
				k[i], k[j] = k[j], k[i]
			}
		},
		"shuffled": func(k []int) {
			r := rand.New(rand.NewPCG(1, 2))
			r.Shuffle(len(k), func(i, j int) { k[i], k[j] = k[j], k[i] })
		},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			for range 3 {
				if diff := cmp.Diff(want, encodeAll(t, mapsInOrders(300, order))); diff != "" {
					t.Errorf("maps inserted in another order encode differently (-want +got):\n%s", diff)
				}
			}
		})
	}
}

const childEnv = "CODEC_DETERMINISM_CHILD"

// TestMarshalAcrossProcesses re-runs itself in child processes (each with
// its own map hash seeds and iteration orders) and compares their bytes.
func TestMarshalAcrossProcesses(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		for _, h := range encodeAll(t, mapsInOrders(300, func([]int) {})) {
			fmt.Println("enc:" + h)
		}
		return
	}
	want := encodeAll(t, mapsInOrders(300, func([]int) {}))
	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMarshalAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, out)
		}
		var got []string
		for line := range strings.Lines(string(out)) {
			if h, ok := strings.CutPrefix(strings.TrimSpace(line), "enc:"); ok {
				got = append(got, h)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("child %d encodes differently (-want +got):\n%s", i, diff)
		}
	}
}
