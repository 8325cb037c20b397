package codec

import (
	"bytes"
	"encoding/hex"
	"math"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type (
	plainInt    int
	plainString string
	// textInt encodes itself as text: the fast path must leave it alone.
	textInt int
	// ptrTextString encodes itself through a pointer receiver.
	ptrTextString string
)

func (n textInt) MarshalText() ([]byte, error) {
	return []byte("n" + hex.EncodeToString([]byte{byte(n)})), nil
}

func (s *ptrTextString) MarshalText() ([]byte, error) { return []byte("s:" + string(*s)), nil }

// reflectAppend encodes v with the compiled reflective encoder of T, the
// path Append takes for every type but scalars.
func reflectAppend[T any](tb testing.TB, e *Encoder[T], v T) []byte {
	tb.Helper()
	b, err := e.enc.fn(&encState{}, nil, reflect.ValueOf(&v).Elem())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// checkScalar asserts that Append, through its fast path when wantFast,
// writes the bytes of the reflective encoder and of AppendMarshal.
func checkScalar[T any](t *testing.T, wantFast bool, values ...T) {
	t.Helper()
	e, err := NewEncoder[T]()
	if err != nil {
		t.Fatal(err)
	}
	if got := e.scalar != notScalar; got != wantFast {
		t.Fatalf("%T: fast path %v, want %v", *new(T), got, wantFast)
	}
	for _, v := range values {
		got, err := e.Append([]byte{0xc1}, v)
		if err != nil {
			t.Fatalf("Append(%v): %v", v, err)
		}
		want := append([]byte{0xc1}, reflectAppend(t, e, v)...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Append(%T %v) differs from the reflective encoder (-want +got):\n%s", v, v, diff)
		}
		viaAny, err := AppendMarshal([]byte{0xc1}, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(viaAny, got) {
			t.Errorf("Append(%T %v) = %x, AppendMarshal = %x", v, v, got, viaAny)
		}
	}
}

var edgeInts = []int64{
	0, 1, 31, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
	-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64,
}

func edges[T int | int8 | int16 | int32 | int64 | uint | uint8 | uint16 | uint32 | uint64 | plainInt | textInt]() []T {
	var vs []T
	for _, n := range edgeInts {
		vs = append(vs, T(n)) // wraps around for narrow types: more edges
	}
	return vs
}

func TestEncoderScalarMatchesReflection(t *testing.T) {
	checkScalar(t, true, false, true)
	checkScalar(t, true, edges[int]()...)
	checkScalar(t, true, edges[int8]()...)
	checkScalar(t, true, edges[int16]()...)
	checkScalar(t, true, edges[int32]()...)
	checkScalar(t, true, edges[int64]()...)
	checkScalar(t, true, edges[uint]()...)
	checkScalar(t, true, edges[uint8]()...)
	checkScalar(t, true, edges[uint16]()...)
	checkScalar(t, true, edges[uint32]()...)
	checkScalar(t, true, edges[uint64]()...)
	checkScalar(t, true, edges[plainInt]()...)
	long := string(bytes.Repeat([]byte("x"), 70000))
	checkScalar(t, true, "", "a", "ünïcode", long[:31], long[:32], long[:255], long[:256], long[:65535], long)
	checkScalar(t, true, plainString("en"))
	checkScalar(t, false, edges[textInt]()...)
	checkScalar(t, false, ptrTextString("x"))
	checkScalar(t, false, 1.5)
}

// FuzzEncoderScalar checks that the fast path of Append writes the bytes of
// the reflective encoder, for every integer width and for strings.
func FuzzEncoderScalar(f *testing.F) {
	for _, n := range edgeInts {
		f.Add(n, "", false)
	}
	f.Add(int64(42), "en", true)
	f.Fuzz(func(t *testing.T, n int64, s string, b bool) {
		checkScalar(t, true, int(n))
		checkScalar(t, true, int8(n))
		checkScalar(t, true, int16(n))
		checkScalar(t, true, int32(n))
		checkScalar(t, true, n)
		checkScalar(t, true, uint(n))
		checkScalar(t, true, uint8(n))
		checkScalar(t, true, uint16(n))
		checkScalar(t, true, uint32(n))
		checkScalar(t, true, uint64(n))
		checkScalar(t, true, s)
		checkScalar(t, true, b)
	})
}
