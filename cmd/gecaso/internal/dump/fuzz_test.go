package dump

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzReader checks that the reader never panics on any input, that every
// error wraps ErrCorrupt, and that whatever it accepts round-trips: writing
// the records again gives the same bytes. Each input is also read with the
// checksums ignored, so that the fuzzer reaches the length fields and the
// end record behind them.
func FuzzReader(f *testing.F) {
	f.Add(encode(f, nil))
	f.Add(encode(f, []Record{{Key: "a:1", Value: []byte("x")}}))
	f.Add(encode(f, []Record{
		{Key: "ns@v:k", Deadline: time.Unix(1, 0), Value: []byte{1, 2, 3}},
		{Key: "", Value: nil},
	}))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, noChecksums := range []bool{false, true} {
			recs, err := readAll(b, noChecksums)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error does not wrap ErrCorrupt: %v", err)
				}
				continue
			}
			if noChecksums {
				continue // the checksums in b may be anything
			}
			r, _ := NewReader(bytes.NewReader(b))
			var again bytes.Buffer
			w, err := NewWriter(&again, r.Created())
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
			if !bytes.Equal(again.Bytes(), b) {
				t.Fatalf("accepted %x, which writes back as %x", b, again.Bytes())
			}
			back, err := readAll(again.Bytes(), false)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(recs, back, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("records (-first +second):\n%s", diff)
			}
		}
	})
}
