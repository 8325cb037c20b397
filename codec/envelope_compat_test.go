package codec

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// v1Record is the value stored in testdata/envelope-v1/params-and-expiry.bin.
type v1Record struct {
	ID   int
	Name string
	Tags []string
}

// v1LargeData is the value stored in testdata/envelope-v1/large-data.bin.
func v1LargeData() []byte {
	b := make([]byte, 100_000)
	for i := range b {
		b[i] = byte(i * 7 % 251)
	}
	return b
}

// TestEnvelopeVersion1Frames reads frames written by the version 1 writer
// (the first released format). They are committed under
// testdata/envelope-v1 and must never be regenerated: they are the promise
// that entries already stored keep reading back after the format changes.
func TestEnvelopeVersion1Frames(t *testing.T) {
	tests := []struct {
		file       string
		wantWrite  time.Time // zero: unknown
		wantExpiry time.Time // zero: never
		wantParams map[string]any
		wantData   string // hex of the raw data; "" for none
		into       any    // a pointer to decode the data into
		want       any    // what it decodes to
	}{
		{
			file:     "zero-times.bin",
			wantData: "01", into: new(int), want: 1,
		},
		{
			file:      "no-params-no-expiry.bin",
			wantWrite: time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC),
			wantData:  "a568656c6c6f", into: new(string), want: "hello",
		},
		{
			file:       "params-and-expiry.bin",
			wantWrite:  time.Unix(1700000000, 123456789),
			wantExpiry: time.Unix(1700003600, 0),
			wantParams: map[string]any{"source": "db", "n": int64(3)},
			wantData:   "83a2494407" + "a44e616d65a3616461" + "a45461677392a178a179",
			into:       new(v1Record), want: v1Record{ID: 7, Name: "ada", Tags: []string{"x", "y"}},
		},
		{
			file:       "empty-data.bin",
			wantWrite:  time.Unix(1700000000, 0),
			wantExpiry: time.Unix(1700000060, 0),
		},
		{
			file:       "large-data.bin",
			wantWrite:  time.Unix(1700000000, 5),
			wantExpiry: time.Unix(1800000000, 0),
			wantParams: map[string]any{"p": strings.Repeat("x", 200)},
			wantData:   "c6000186a0" + hex.EncodeToString(v1LargeData()),
			into:       new([]byte), want: v1LargeData(),
		},
		{
			file:       "epoch-and-limits.bin",
			wantWrite:  time.Unix(0, 1), // the epoch itself is stored 1ns later
			wantExpiry: time.Unix(0, 1<<63-1),
			wantData:   "93c0c3cb3ff8000000000000", into: new([]any), want: []any{nil, true, 1.5},
		},
		{
			file:       "before-1970.bin",
			wantWrite:  time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC),
			wantExpiry: time.Date(1969, 7, 21, 2, 56, 0, 0, time.UTC),
			wantData:   "82a16101a16202", into: new(map[string]int), want: map[string]int{"a": 1, "b": 2},
		},
		{
			file:       "pack.bin", // written by Pack
			wantWrite:  time.Unix(0, 1796150702989975991),
			wantParams: map[string]any{"source": "db"},
			wantData:   "81a16193010203", into: new(map[string][]int), want: map[string][]int{"a": {1, 2, 3}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "envelope-v1", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if b[2] != 1 {
				t.Fatalf("%s is format version %d: these frames must stay as the version 1 writer wrote them", tt.file, b[2])
			}
			var e Envelope
			if err := DecodeEnvelope(b, &e); err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			checkTime(t, "WrittenAt", tt.wantWrite, e.WrittenAt)
			checkTime(t, "ExpiresAt", tt.wantExpiry, e.ExpiresAt)
			if !e.StaleUntil.IsZero() || e.Error {
				t.Errorf("a version 1 entry decoded with StaleUntil %v and Error %v, want none and false", e.StaleUntil, e.Error)
			}
			params, err := e.DecodeParams()
			if err != nil {
				t.Fatalf("DecodeParams: %v", err)
			}
			if diff := cmp.Diff(tt.wantParams, params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if got := hex.EncodeToString(e.Data); got != tt.wantData {
				t.Errorf("Data = %.80s, want %.80s", got, tt.wantData)
			}
			if tt.into == nil {
				return
			}
			unpacked, err := Unpack(b, tt.into)
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if diff := cmp.Diff(tt.wantParams, unpacked); diff != "" {
				t.Errorf("Unpack params (-want +got):\n%s", diff)
			}
			got := reflect.ValueOf(tt.into).Elem().Interface()
			if gb, ok := got.([]byte); ok {
				if !bytes.Equal(gb, tt.want.([]byte)) {
					t.Errorf("Unpack value: %d bytes differ from the %d expected", len(gb), len(tt.want.([]byte)))
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unpack value (-want +got):\n%s", diff)
			}
		})
	}
}

// checkTime compares instants, and that the zero time (none) stays zero.
func checkTime(t *testing.T, what string, want, got time.Time) {
	t.Helper()
	if !got.Equal(want) || got.IsZero() != want.IsZero() {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
