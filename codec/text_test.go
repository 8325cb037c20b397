package codec

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendText(t *testing.T) {
	tests := []struct {
		name string
		give any // encoded with Marshal
		want string
	}{
		{"int", 42, "42"},
		{"negative", -7, "-7"},
		{"uint64 max", uint64(math.MaxUint64), "18446744073709551615"},
		{"string", "abc", `"abc"`},
		{"quoted string", "a\"b\n\xff", `"a\"b\n\xff"`},
		{"array", []int{1, 2}, "[1,2]"},
		{"map", map[string]int{"b": 2, "a": 1}, `{"a":1,"b":2}`},
		{"int keys", map[int]bool{2: true, 1: false}, "{1:false,2:true}"},
		{"struct", struct {
			A int
			B []string
		}{1, nil}, `{"A":1,"B":null}`},
		{"time", time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), "2024-01-02T02:04:05.000000006Z"},
		{"binary", []byte{0, 1, 2, 0xff}, "b64:AAEC_w"},
		{"empty binary", []byte{}, "b64:"},
		{"float64", 1.5, "1.5"},
		{"integral float64", 2.0, "2.0"},
		{"large float64", 1e300, "1e+300"},
		{"NaN", math.NaN(), "NaN"},
		{"infinity", math.Inf(-1), "-Inf"},
		{"float32", float32(0.1), "float32(0.1)"},
		{"bools and nil", []any{true, false, nil}, "[true,false,null]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendText([]byte("k="), mustMarshal(t, tt.give))
			if err != nil {
				t.Fatalf("AppendText: %v", err)
			}
			if diff := cmp.Diff("k="+tt.want, string(got)); diff != "" {
				t.Errorf("AppendText(Marshal(%#v)) (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestAppendTextExtension(t *testing.T) {
	got, err := AppendText(nil, unhex(t, "d5050102"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("ext(5):AQI", string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestAppendTextDistinct checks that values that differ render differently,
// since a rendering stands in for the value in readable keys.
func TestAppendTextDistinct(t *testing.T) {
	values := []any{
		1, -1, 1.0, float32(1), "1", []byte("1"), []int{1}, map[int]int{1: 1}, true, nil,
		"", []byte{}, []int{}, map[string]int{}, time.Unix(1, 0), "1970-01-01T00:00:01.000000000Z",
		`"1"`, "null", []any{"a,b"}, []any{"a", "b"}, map[string]string{"a:b": "c"}, map[string]string{"a": "b:c"},
		math.Copysign(0, -1) + 1e-300, 0.0,
	}
	seen := make(map[string]any)
	for _, v := range values {
		got, err := AppendText(nil, mustMarshal(t, v))
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[string(got)]; ok {
			t.Errorf("%#v and %#v both render as %s", prev, v, got)
		}
		seen[string(got)] = v
	}
}

func TestAppendTextCorrupt(t *testing.T) {
	for _, give := range []string{"", "c1", "92", "0101", "dbffffffff"} {
		got, err := AppendText([]byte("k"), unhex(t, give))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("AppendText(%s): %v, want ErrCorrupt", give, err)
		}
		if !strings.EqualFold(string(got), "k") {
			t.Errorf("AppendText(%s) returned %q on error, want dst unchanged", give, got)
		}
	}
}
