package codec

//lint:file-ignore U1000 unexported and _msgpack fields are here for the encoder to skip, not to be read

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vmihailenco/msgpack/v5"
)

// fuzzStruct is a decoding target with a field of most kinds.
type fuzzStruct struct {
	I   int8
	U   uint16
	N   int
	F   float32
	D   float64
	S   string
	B   []byte
	A   [2]int
	BA  [3]byte
	M   map[string]int
	MI  map[int]string
	L   []fuzzStruct
	P   *fuzzStruct
	T   time.Time
	Any any
	OK  bool
}

// fuzzRow is much larger in memory than on the wire: its scratch space is
// unexported and its cache skipped, so not encoded.
type fuzzRow struct {
	ID      int
	Next    *fuzzRow
	Cache   [64]int64 `msgpack:"-"`
	scratch [1024]byte
}

func seedEnvelopes(f *testing.F) {
	f.Helper()
	expires := time.Unix(1700003600, 0)
	for _, v := range []struct {
		value  any
		params map[string]any
		stale  time.Time
		error  bool
	}{
		{42, nil, time.Time{}, false},
		{"hello", map[string]any{"source": "db"}, expires.Add(time.Hour), false},
		{map[string][]int{"a": {1, 2}}, map[string]any{"n": 1, "f": 1.5}, expires, false},
		{fuzzStruct{I: -1, S: "s", M: map[string]int{"k": 1}, T: time.Unix(1, 2), P: &fuzzStruct{OK: true}}, nil, time.Time{}, false},
		{[]any{nil, true, []byte{1}, float32(2), time.Unix(1e10, 0)}, map[string]any{"t": time.Unix(3, 0)}, time.Time{}, false},
		{"connection refused", nil, time.Time{}, true},
		{map[string]any{"msg": "not found", "code": 404}, map[string]any{"source": "db"}, expires.Add(time.Minute), true},
	} {
		b, err := AppendEnvelope(nil, &Envelope{
			WrittenAt:  time.Unix(1700000000, 0),
			ExpiresAt:  expires,
			StaleUntil: v.stale,
			Error:      v.error,
			Params:     v.params,
			Data:       mustMarshal(f, v.value),
		})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Frames of format version 1, which readers keep decoding.
	v1, err := filepath.Glob(filepath.Join("testdata", "envelope-v1", "*.bin"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range v1 {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 4<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte("gc\x01"))
	f.Add([]byte("gc\x02"))
}

// FuzzUnpack checks that Unpack and DecodeEnvelope never panic, that every
// error wraps ErrCorrupt, and that every success round-trips: reframing
// what was decoded decodes to the same header, params and data, and
// repacking the decoded value to the same value. Each input is also
// tried with its checksum fixed, so that the fuzzer reaches past it.
func FuzzUnpack(f *testing.F) {
	seedEnvelopes(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkUnpack(t, b)
		if len(b) >= 4 {
			checkUnpack(t, reseal(bytes.Clone(b)))
		}
	})
}

func checkUnpack(t *testing.T, b []byte) {
	t.Helper()
	checkEnvelope(t, b)
	var v any
	params, err := Unpack(b, &v)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Unpack(%x): error %v does not wrap ErrCorrupt", b, err)
		}
		return
	}
	var e Envelope
	if err := DecodeEnvelope(b, &e); err != nil {
		t.Fatalf("Unpack succeeded but DecodeEnvelope fails: %v", err)
	}
	if e.Error {
		t.Fatalf("Unpack(%x) decoded a cached error as a value", b)
	}
	repack := func(v any, params map[string]any) []byte {
		t.Helper()
		data, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal of a decoded %T: %v", v, err)
		}
		out, err := AppendEnvelope(nil, &Envelope{WrittenAt: e.WrittenAt, ExpiresAt: e.ExpiresAt, StaleUntil: e.StaleUntil, Params: params, Data: data})
		if err != nil {
			t.Fatalf("AppendEnvelope of a decoded envelope: %v", err)
		}
		return out
	}
	b2 := repack(v, params)
	var v2 any
	params2, err := Unpack(b2, &v2)
	if err != nil {
		t.Fatalf("Unpack of the repacked %x: %v", b2, err)
	}
	var e2 Envelope
	if err := DecodeEnvelope(b2, &e2); err != nil {
		t.Fatal(err)
	}
	if !sameHeader(&e, &e2) {
		t.Errorf("times changed: %+v -> %+v", e, e2)
	}
	if b3 := repack(v2, params2); !bytes.Equal(b2, b3) {
		t.Errorf("repacking is not stable:\n%x\n%x", b2, b3)
	}
	if !bytes.Equal(mustMarshal(t, params), mustMarshal(t, params2)) {
		t.Errorf("params changed: %v -> %v", params, params2)
	}
}

// checkEnvelope checks that a frame DecodeEnvelope accepts is one
// AppendEnvelope writes: the decoded fields frame again, the new frame
// decodes to the same fields, and a frame of the current version comes
// back byte for byte (older versions are rewritten in the current one).
func checkEnvelope(t *testing.T, b []byte) {
	t.Helper()
	var e Envelope
	if err := DecodeEnvelope(b, &e); err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeEnvelope(%x): error %v does not wrap ErrCorrupt", b, err)
		}
		return
	}
	b2, err := AppendEnvelope(nil, &e)
	if err != nil {
		t.Fatalf("AppendEnvelope of what DecodeEnvelope(%x) gave: %v", b, err)
	}
	if b[2] == envVersion && !bytes.Equal(b, b2) {
		t.Fatalf("DecodeEnvelope then AppendEnvelope changed the frame:\n%x\n%x", b, b2)
	}
	var e2 Envelope
	if err := DecodeEnvelope(b2, &e2); err != nil {
		t.Fatalf("DecodeEnvelope of the reframed %x: %v", b2, err)
	}
	if !sameHeader(&e, &e2) || !bytes.Equal(e.RawParams, e2.RawParams) || !bytes.Equal(e.Data, e2.Data) {
		t.Fatalf("reframing changed the envelope:\n%+v\n%+v", e, e2)
	}
}

// sameHeader reports whether a and b have the same times, zero or not, and
// the same Error flag.
func sameHeader(a, b *Envelope) bool {
	same := func(x, y time.Time) bool { return x.Equal(y) && x.IsZero() == y.IsZero() }
	return same(a.WrittenAt, b.WrittenAt) && same(a.ExpiresAt, b.ExpiresAt) &&
		same(a.StaleUntil, b.StaleUntil) && a.Error == b.Error
}

// checkUnmarshal decodes b into a T and, on success, checks that the value
// re-encodes, that the encoding decodes to a value encoding to the same
// bytes, and that it renders as text.
func checkUnmarshal[T any](t *testing.T, b []byte) {
	t.Helper()
	var v T
	err := Unmarshal(b, &v)
	dec, derr := NewDecoder[T]()
	if derr != nil {
		t.Fatalf("NewDecoder[%T]: %v", v, derr)
	}
	var fromDecoder T
	if derr = dec.Decode(b, &fromDecoder); (derr == nil) != (err == nil) {
		t.Fatalf("%x into %T: Unmarshal says %v, Decoder says %v", b, v, err, derr)
	}
	if err == nil && !bytes.Equal(mustMarshal(t, v), mustMarshal(t, fromDecoder)) {
		t.Fatalf("%x into %T: Unmarshal and Decoder disagree: %v, %v", b, v, v, fromDecoder)
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Unmarshal(%x) into %T: error %v does not wrap ErrCorrupt", b, v, err)
		}
		return
	}
	enc, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal of %T decoded from %x: %v", v, b, err)
	}
	var v2 T
	if err := Unmarshal(enc, &v2); err != nil {
		t.Fatalf("Unmarshal(Marshal(%T)) = %x: %v", v, enc, err)
	}
	if enc2 := mustMarshal(t, v2); !bytes.Equal(enc, enc2) {
		t.Errorf("%T does not round-trip:\n%x\n%x", v, enc, enc2)
	}
	if _, err := AppendText(nil, enc); err != nil {
		t.Errorf("AppendText(Marshal(%T)): %v", v, err)
	}
}

// FuzzUnmarshal feeds arbitrary bytes to Unmarshal with several targets.
func FuzzUnmarshal(f *testing.F) {
	for _, v := range []any{
		nil, 1, -1, 300, uint64(math.MaxUint64), 1.5, float32(2.5), "s", []byte{1}, []int{1, 2},
		map[string]int{"a": 1}, map[int]string{1: "a"}, time.Unix(1, 2),
		fuzzStruct{I: 1, S: "x", A: [2]int{1, 2}, L: []fuzzStruct{{N: 2}}, P: &fuzzStruct{Any: []any{1}}},
		map[any]any{1: []any{"a", map[string]any{"b": nil}}},
		[]fuzzRow{{ID: 1}, {ID: 2, Next: &fuzzRow{ID: 3}}},
		map[int8]fuzzRow{-1: {ID: 1}, 2: {}},
		make([]fuzzRow, 300),
	} {
		f.Add(mustMarshal(f, v))
	}
	f.Add(append([]byte{0xdc, 0x01, 0x00}, bytes.Repeat([]byte{0xc0}, 256)...)) // nils where rows go
	f.Add(append([]byte{0xdc, 0x01, 0x00}, bytes.Repeat([]byte{0x80}, 256)...)) // empty maps where rows go
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{0x91}, 200))
	f.Add([]byte{0xc7, 0x0c, 0xff, 0x3b, 0x9a, 0xca, 0x00, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkUnmarshal[any](t, b)
		checkUnmarshal[fuzzStruct](t, b)
		checkUnmarshal[map[string]int](t, b)
		checkUnmarshal[[]int8](t, b)
		checkUnmarshal[uint8](t, b)
		checkUnmarshal[float32](t, b)
		checkUnmarshal[string](t, b)
		checkUnmarshal[time.Time](t, b)
		checkUnmarshal[[]fuzzRow](t, b)
		checkUnmarshal[map[int8]fuzzRow](t, b)
		if _, err := AppendText(nil, b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("AppendText(%x): error %v does not wrap ErrCorrupt", b, err)
		}
	})
}

type fuzzKey struct {
	A int8
	B string
}

// keyMaps builds maps of several types from data, inserting entries in the
// order perm gives. Every value is a function of its key, so the maps are
// equal whatever the order.
func keyMaps(data []byte, perm []int) []any {
	m1 := map[string]int{}
	m2 := map[int]string{}
	m3 := map[fuzzKey]string{}
	m4 := map[string]map[string][]int{}
	m5 := map[any]any{}
	m6 := map[float64]int{}
	m7 := map[[2]int8]bool{}
	m8 := map[string]any{}
	for _, i := range perm {
		k := data[i:min(i+3, len(data))]
		s := string(k)
		n := int(int8(k[0])) * int(k[len(k)-1])
		m1[s] = n
		m2[n] = strconv.Itoa(n)
		m3[fuzzKey{A: int8(n), B: s}] = s
		if m4[s[:1]] == nil {
			m4[s[:1]] = map[string][]int{}
		}
		m4[s[:1]][s] = []int{n, -n}
		m5[n] = strconv.Itoa(n)
		m5[s] = []any{n, k}
		var fb [8]byte
		copy(fb[:], data[i:])
		bits := binary.LittleEndian.Uint64(fb[:])
		m6[math.Float64frombits(bits)] = int(bits % 1000) // NaNs: one entry each, told apart by value
		m7[[2]int8{int8(n), int8(len(s))}] = n%2 == 0
		m8[s] = map[int]float32{n: float32(n) / 3}
	}
	return []any{m1, m2, m3, m4, m5, m6, m7, m8}
}

// FuzzKey checks that equal values give equal bytes, whatever the order the
// maps were filled in, and that Marshal's output validates and decodes.
func FuzzKey(f *testing.F) {
	f.Add([]byte("abcdefgh"), uint64(1))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 1, 0, 0, 0, 0, 0, 0xf8, 0x7f}, uint64(2)) // NaN keys
	f.Add([]byte{0xff, 0x80, 0x00, 0x7f, 0x01}, uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		if len(data) == 0 || len(data) > 512 {
			return
		}
		order := make([]int, len(data))
		for i := range order {
			order[i] = i
		}
		shuffled := append([]int(nil), order...)
		rand.New(rand.NewPCG(seed, 0)).Shuffle(len(shuffled), func(i, j int) {
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		})
		a, b := keyMaps(data, order), keyMaps(data, shuffled)
		for i := range a {
			ea, err := Marshal(a[i])
			if err != nil {
				t.Fatalf("Marshal(%T): %v", a[i], err)
			}
			if eb := mustMarshal(t, b[i]); !bytes.Equal(ea, eb) {
				t.Fatalf("%T filled in two orders encodes differently:\n%x\n%x", a[i], ea, eb)
			}
			ptr := reflect.New(reflect.TypeOf(a[i]))
			ptr.Elem().Set(reflect.ValueOf(a[i]))
			if ep := mustMarshal(t, ptr.Interface()); !bytes.Equal(ea, ep) {
				t.Fatalf("a pointer to %T encodes differently", a[i])
			}
			if err := validate(ea); err != nil {
				t.Fatalf("Marshal(%T) does not validate: %v", a[i], err)
			}
			if _, err := AppendText(nil, ea); err != nil {
				t.Fatalf("AppendText(Marshal(%T)): %v", a[i], err)
			}
			// Decode back into the same type with both decoders.
			back := reflect.New(reflect.TypeOf(a[i]))
			if err := Unmarshal(ea, back.Interface()); err != nil {
				t.Fatalf("Unmarshal(Marshal(%T)): %v", a[i], err)
			}
			if eb := mustMarshal(t, back.Elem().Interface()); !bytes.Equal(ea, eb) {
				t.Fatalf("%T does not round-trip through Unmarshal:\n%x\n%x", a[i], ea, eb)
			}
			// msgpack decodes maps inside interfaces as map[string]any only,
			// and NaN keys cannot be compared: check the other types.
			switch a[i].(type) {
			case map[any]any, map[string]any, map[float64]int:
				continue
			}
			viaMsgpack := reflect.New(reflect.TypeOf(a[i]))
			if err := msgpack.Unmarshal(ea, viaMsgpack.Interface()); err != nil {
				t.Fatalf("msgpack.Unmarshal(Marshal(%T)): %v", a[i], err)
			}
			if diff := cmp.Diff(a[i], viaMsgpack.Elem().Interface(), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("msgpack.Unmarshal(Marshal(%T)) (-want +got):\n%s", a[i], diff)
			}
		}
		e, err := NewEncoder[map[string]int]()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := e.Append(nil, a[0].(map[string]int)); !bytes.Equal(got, mustMarshal(t, a[0])) {
			t.Fatalf("Encoder and Marshal differ")
		}
	})
}
