package dump

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var created = time.Unix(1700000000, 123).UTC()

func encode(t testing.TB, recs []Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, created)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads every record of b; err is the first error other than io.EOF.
func readAll(b []byte, noChecksums bool) (recs []Record, err error) {
	r, err := newReader(bytes.NewReader(b), noChecksums)
	if err != nil {
		return nil, err
	}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, *rec)
	}
}

func sampleRecords() []Record {
	return []Record{
		{Key: "app.users@2:AAAA", Deadline: time.Unix(1700003600, 5).UTC(), Value: []byte("gc\x01 not really an envelope")},
		{Key: "", Value: nil},
		{Key: "big", Value: bytes.Repeat([]byte{0xab}, 3<<20)}, // several read chunks
		{Key: strings.Repeat("k", 200), Deadline: time.Unix(0, 1).UTC(), Value: []byte{0}},
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		give []Record
	}{
		{"none", nil},
		{"one", sampleRecords()[:1]},
		{"several", sampleRecords()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encode(t, tt.give)
			r, err := NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if !r.Created().Equal(created) {
				t.Errorf("Created() = %v, want %v", r.Created(), created)
			}
			var got []Record
			for {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Next after %d records: %v", len(got), err)
				}
				got = append(got, *rec)
			}
			if diff := cmp.Diff(tt.give, got, cmp.Comparer(bytes.Equal)); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if r.Count() != uint64(len(tt.give)) || r.Offset() != int64(len(b))-17 {
				t.Errorf("Count, Offset = %d, %d; want %d, %d", r.Count(), r.Offset(), len(tt.give), len(b)-17)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after the end = %v, want io.EOF", err)
			}
		})
	}
}

func TestWriterRefusesOversizedRecords(t *testing.T) {
	w, err := NewWriter(io.Discard, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&Record{Key: strings.Repeat("k", MaxKeySize+1)}); err == nil {
		t.Error("Write accepted a key over MaxKeySize")
	}
	if w.Count() != 0 {
		t.Errorf("Count() = %d after a refused write", w.Count())
	}
}

// TestTruncatedAtEveryByte cuts a dump at every length: the reader must
// report truncation (never a panic or a silent success) and return exactly
// the records that were whole before the cut.
func TestTruncatedAtEveryByte(t *testing.T) {
	recs := []Record{
		{Key: "a:1", Value: []byte("one")},
		{Key: "a:2", Deadline: created, Value: []byte("two")},
		{Key: "b:3", Value: []byte("three")},
	}
	b := encode(t, recs)
	var ends []int // where each record ends
	for i := range recs {
		ends = append(ends, len(encode(t, recs[:i+1]))-17)
	}
	for n := range len(b) {
		got, err := readAll(b[:n], false)
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: err = %v, want ErrCorrupt and io.ErrUnexpectedEOF", n, err)
		}
		whole := 0
		for _, e := range ends {
			if n >= e {
				whole++
			}
		}
		if diff := cmp.Diff(recs[:whole], got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("cut at %d: records (-want +got):\n%s", n, diff)
		}
	}
}

func TestCorrupt(t *testing.T) {
	good := encode(t, sampleRecords()[:2])
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		give []byte
		want string // in the error
	}{
		{"empty", nil, "inside the header"},
		{"not a dump", []byte("SQLite format 3\x00 and more bytes"), "not a gecaso dump"},
		{"newer version", mutate(func(b []byte) []byte { b[len(magic)] = 2; return b }), "version 2"},
		{"header flipped", mutate(func(b []byte) []byte { b[14] ^= 1; return b }), "checksum of the header"},
		{"key flipped", mutate(func(b []byte) []byte { b[headerSize+3] ^= 1; return b }), "checksum of the record 1"},
		{"unknown record type", mutate(func(b []byte) []byte { b[headerSize] = 'x'; return b }), "unknown record type"},
		{"count changed", mutate(func(b []byte) []byte {
			b[len(b)-9] ^= 1
			return b
		}), "end record counts"},
		{"end checksum", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "checksum of the end record"},
		{"record removed", func() []byte {
			one := encode(t, sampleRecords()[:1])
			two := encode(t, sampleRecords()[:2])
			// The second record spliced out, the end record of two kept.
			return append(bytes.Clone(one[:len(one)-17]), two[len(two)-17:]...)
		}(), "end record counts"},
		{"trailing bytes", append(bytes.Clone(good), 0), "after the end record"},
		{"huge key length", func() []byte {
			b := bytes.Clone(good[:headerSize])
			b = append(b, tagRecord, 0xff, 0xff, 0xff, 0xff, 0x0f)
			return b
		}(), "over the limit"},
		{"non-minimal length", func() []byte {
			b := bytes.Clone(good[:headerSize])
			return append(b, tagRecord, 0x80, 0x00)
		}(), "not minimal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(tt.give, false)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestHugeLengthAllocatesLittle guards against a length field alone making
// the reader allocate: a value that claims 512 MiB in a short file.
func TestHugeLengthAllocatesLittle(t *testing.T) {
	b := encode(t, nil)[:headerSize]
	b = append(b, tagRecord, 1, 'k')
	b = append(b, make([]byte, 8)...)
	b = append(b, 0x80, 0x80, 0x80, 0x80, 0x02) // 512 MiB
	b = append(b, "only a few bytes"...)
	before := totalAlloc()
	_, err := readAll(b, false)
	grew := totalAlloc() - before
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want truncation", err)
	}
	if grew > 16<<20 {
		t.Errorf("reading a short file that claims 512 MiB allocated %d bytes", grew)
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}
