package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// reseal recomputes the checksum of an envelope changed by a test.
func reseal(b []byte) []byte {
	end := len(b) - 4
	binary.BigEndian.PutUint32(b[end:], crc32.Checksum(b[:end], castagnoli))
	return b
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sampleEnvelope(t testing.TB) []byte {
	t.Helper()
	b, err := AppendEnvelope(nil, &Envelope{
		WrittenAt:  time.Unix(1700000000, 123),
		ExpiresAt:  time.Unix(1700003600, 0),
		StaleUntil: time.Unix(1700007200, 0),
		Error:      true,
		Params:     map[string]any{"source": "db", "n": 3},
		Data:       mustMarshal(t, map[string][]int{"a": {1, 2, 3}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEnvelopeRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 8<<20)
	bigData := append(appendBinHeader(nil, len(big)), big...)
	written := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	tests := []struct {
		name       string
		give       Envelope
		wantParams map[string]any
	}{
		{"no params, no expiry", Envelope{WrittenAt: written, Data: []byte{0x05}}, nil},
		{"params and expiry", Envelope{
			WrittenAt: written, ExpiresAt: written.Add(time.Hour),
			Params: map[string]any{"a": 1, "b": []string{"x"}}, Data: []byte{0xc3},
		}, map[string]any{"a": int64(1), "b": []any{"x"}}},
		{"empty params map", Envelope{WrittenAt: written, Params: map[string]any{}, Data: []byte{1}}, nil},
		{"raw params", Envelope{WrittenAt: written, RawParams: mustMarshal(t, map[string]int{"r": 2}), Data: []byte{1}},
			map[string]any{"r": int64(2)}},
		{"zero-length data", Envelope{WrittenAt: written}, nil},
		{"zero times", Envelope{Data: []byte{1}}, nil},
		{"Unix epoch", Envelope{WrittenAt: time.Unix(0, 0), Data: []byte{1}}, nil},
		{"8 MiB data", Envelope{WrittenAt: written, ExpiresAt: written.Add(time.Second), Data: bigData}, nil},
		{"200 bytes of params", Envelope{WrittenAt: written, Params: map[string]any{"p": strings.Repeat("x", 200)}, Data: []byte{1}},
			map[string]any{"p": strings.Repeat("x", 200)}},
		{"stale window", Envelope{WrittenAt: written, ExpiresAt: written.Add(time.Hour), StaleUntil: written.Add(2 * time.Hour), Data: []byte{1}}, nil},
		{"stale until the expiry", Envelope{WrittenAt: written, ExpiresAt: written.Add(time.Hour), StaleUntil: written.Add(time.Hour), Data: []byte{1}}, nil},
		{"stale window at the epoch", Envelope{ExpiresAt: time.Unix(0, 0), StaleUntil: time.Unix(0, 0), Data: []byte{1}}, nil},
		{"cached error", Envelope{WrittenAt: written, ExpiresAt: written.Add(time.Minute), Error: true, Data: mustMarshal(t, "boom")}, nil},
		{"cached error, stale window, params", Envelope{
			WrittenAt: written, ExpiresAt: written.Add(time.Minute), StaleUntil: written.Add(time.Hour), Error: true,
			Params: map[string]any{"a": 1}, Data: mustMarshal(t, map[string]string{"msg": "boom"}),
		}, map[string]any{"a": int64(1)}},
		{"cached error without data", Envelope{Error: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendEnvelope([]byte("prefix"), &tt.give)
			if err != nil {
				t.Fatalf("AppendEnvelope: %v", err)
			}
			b, ok := bytes.CutPrefix(b, []byte("prefix"))
			if !ok {
				t.Fatal("AppendEnvelope lost the prefix")
			}
			var got Envelope
			if err := DecodeEnvelope(b, &got); err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			stored := func(t time.Time) time.Time {
				if t.Equal(time.Unix(0, 0)) {
					return time.Unix(0, 1) // the epoch is stored 1ns later
				}
				return t
			}
			checkTime(t, "WrittenAt", stored(tt.give.WrittenAt), got.WrittenAt)
			checkTime(t, "ExpiresAt", stored(tt.give.ExpiresAt), got.ExpiresAt)
			checkTime(t, "StaleUntil", stored(tt.give.StaleUntil), got.StaleUntil)
			if got.Error != tt.give.Error {
				t.Errorf("Error = %v, want %v", got.Error, tt.give.Error)
			}
			if len(b) > 2 && b[2] != envVersion {
				t.Errorf("AppendEnvelope wrote format version %d, want %d", b[2], envVersion)
			}
			if !bytes.Equal(got.Data, tt.give.Data) {
				t.Errorf("Data = %d bytes, want %d", len(got.Data), len(tt.give.Data))
			}
			if len(got.Data) > 0 && cap(got.Data) != len(got.Data) {
				t.Errorf("Data has capacity %d past its length %d: appending to it would overwrite the checksum", cap(got.Data), len(got.Data))
			}
			params, err := got.DecodeParams()
			if err != nil {
				t.Fatalf("DecodeParams: %v", err)
			}
			if diff := cmp.Diff(tt.wantParams, params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEnvelopeLayout pins the bytes of a version 2 frame: storages and
// tools read the times at fixed offsets, and older readers must keep
// finding the expiry where version 1 put it.
func TestEnvelopeLayout(t *testing.T) {
	b, err := AppendEnvelope(nil, &Envelope{
		WrittenAt:  time.Unix(0, 0x0102030405060708),
		ExpiresAt:  time.Unix(0, 0x1112131415161718),
		StaleUntil: time.Unix(0, 0x2122232425262728),
		Error:      true,
		RawParams:  []byte{0x80},
		Data:       []byte{0xc3},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "6763" + "02" + // magic, version
		"0102030405060708" + // written at, offset 3
		"1112131415161718" + // expires at, offset 11
		"2122232425262728" + // stale until, offset 19
		"01" + // flags: error, offset 27
		"0180" + "01c3" + // params and data, length-prefixed
		"2e625e32" // CRC-32C
	if diff := cmp.Diff(want, hex.EncodeToString(b)); diff != "" {
		t.Errorf("frame (-want +got):\n%s", diff)
	}
	exp := time.Unix(1800000000, 42)
	b, err = AppendEnvelope(nil, &Envelope{ExpiresAt: exp, StaleUntil: exp.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(binary.BigEndian.Uint64(b[envExpiresAtAt:])); envExpiresAtAt != 11 || got != exp.UnixNano() {
		t.Errorf("expiry at offset %d = %d, want offset 11 and %d", envExpiresAtAt, got, exp.UnixNano())
	}
}

func TestAppendEnvelopeRefuses(t *testing.T) {
	tests := []struct {
		name string
		give Envelope
	}{
		{"time before 1677", Envelope{WrittenAt: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"expiry after 2262", Envelope{ExpiresAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"unencodable param", Envelope{Params: map[string]any{"f": func() {}}}},
		{"stale-until without expiry", Envelope{StaleUntil: time.Unix(1800000000, 0)}},
		{"stale-until before the expiry", Envelope{ExpiresAt: time.Unix(1800000000, 1), StaleUntil: time.Unix(1800000000, 0)}},
		{"stale-until 1ns before the expiry at the epoch", Envelope{ExpiresAt: time.Unix(0, 1), StaleUntil: time.Unix(0, 0)}},
		{"stale-until after 2262", Envelope{ExpiresAt: time.Unix(1800000000, 0), StaleUntil: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendEnvelope([]byte("x"), &tt.give)
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("AppendEnvelope: %v, want ErrUnsupported", err)
			}
			if string(b) != "x" {
				t.Errorf("AppendEnvelope returned %q on error, want dst unchanged", b)
			}
		})
	}
}

func TestDecodeEnvelopeCorrupt(t *testing.T) {
	valid := sampleEnvelope(t)
	var e Envelope
	if err := DecodeEnvelope(valid, &e); err != nil {
		t.Fatalf("the sample does not decode: %v", err)
	}
	check := func(t *testing.T, b []byte, want string) {
		t.Helper()
		var e Envelope
		err := DecodeEnvelope(b, &e)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeEnvelope(%x): %v, want ErrCorrupt", b, err)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
		if e.Data != nil || !e.WrittenAt.IsZero() {
			t.Errorf("DecodeEnvelope changed e on error: %+v", e)
		}
	}
	t.Run("truncated at every offset", func(t *testing.T) {
		for i := range len(valid) {
			check(t, valid[:i], "")
		}
	})
	t.Run("every single bit flipped", func(t *testing.T) {
		for i := range len(valid) * 8 {
			b := bytes.Clone(valid)
			b[i/8] ^= 1 << (i % 8)
			check(t, b, "")
		}
	})
	t.Run("trailing junk", func(t *testing.T) {
		check(t, append(bytes.Clone(valid), 0), "checksum")
		// Junk inside the checksummed part.
		b := bytes.Clone(valid)
		b = append(b[:len(b)-4], 0, 0, 0, 0, 0)
		check(t, reseal(b), "junk")
	})
	mutate := func(f func(b []byte) []byte) []byte { return reseal(f(bytes.Clone(valid))) }
	tests := []struct {
		name string
		give []byte
		want string
	}{
		{"future version", mutate(func(b []byte) []byte { b[2] = envVersion + 1; return b }), "newer than 2"},
		{"version 255", mutate(func(b []byte) []byte { b[2] = 255; return b }), "newer than 2"},
		{"unknown flag", mutate(func(b []byte) []byte { b[envFlagsAt] |= 0x80; return b }), "unknown bits"},
		{"stale-until without expiry", mutate(func(b []byte) []byte {
			copy(b[envExpiresAtAt:], make([]byte, 8))
			return b
		}), "no expiry"},
		{"stale-until before the expiry", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[envStaleUntilAt:], binary.BigEndian.Uint64(b[envExpiresAtAt:])-1)
			return b
		}), "before its expiry"},
		{"version 2 frame of version 1 size", reseal(append([]byte("gc\x02"), make([]byte, envMinSizeV1-3)...)), "shorter than 34"},
		{"version 0", mutate(func(b []byte) []byte { b[2] = 0; return b }), "unknown envelope format version 0"},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'x'; return b }), "magic"},
		{"params claiming 4 GiB", mutate(func(b []byte) []byte {
			return append(append(b[:envHeaderSize:envHeaderSize], 0xff, 0xff, 0xff, 0xff, 0x0f), b[envHeaderSize+1:]...)
		}), "exceeds"},
		{"length overflowing 64 bits", mutate(func(b []byte) []byte {
			return append(append(b[:envHeaderSize:envHeaderSize], bytes.Repeat([]byte{0xff}, 10)...), 1, 0, 0, 0, 0)
		}), "malformed"},
		{"non-minimal length", mutate(func(b []byte) []byte {
			n := b[envHeaderSize]
			return append(append(b[:envHeaderSize:envHeaderSize], n|0x80, 0), b[envHeaderSize+1:]...)
		}), "not minimal"},
		{"wrong checksum", func() []byte { b := bytes.Clone(valid); b[len(b)-1]++; return b }(), "checksum"},
		{"short", valid[:envMinSize-1], "shorter"},
		{"empty", nil, "shorter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, tt.give, tt.want) })
	}
}

func TestDecodeEnvelopeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	b := sampleEnvelope(t)
	var e Envelope
	if got := testing.AllocsPerRun(100, func() { _ = DecodeEnvelope(b, &e) }); got != 0 {
		t.Errorf("DecodeEnvelope allocates %v times, want 0", got)
	}
}

func TestEnvelopeFreshness(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		give         Envelope
		wantExpired  bool
		wantServable bool
		wantUntil    time.Time
	}{
		{"never expires", Envelope{}, false, true, time.Time{}},
		{"fresh", Envelope{ExpiresAt: now.Add(time.Nanosecond)}, false, true, now.Add(time.Nanosecond)},
		{"expires now", Envelope{ExpiresAt: now}, true, false, now},
		{"expired", Envelope{ExpiresAt: now.Add(-time.Hour)}, true, false, now.Add(-time.Hour)},
		{"fresh with a stale window", Envelope{ExpiresAt: now.Add(time.Minute), StaleUntil: now.Add(time.Hour)}, false, true, now.Add(time.Hour)},
		{"stale", Envelope{ExpiresAt: now.Add(-time.Minute), StaleUntil: now.Add(time.Minute)}, true, true, now.Add(time.Minute)},
		{"expired at the start of the window", Envelope{ExpiresAt: now, StaleUntil: now.Add(time.Nanosecond)}, true, true, now.Add(time.Nanosecond)},
		{"window ends now", Envelope{ExpiresAt: now.Add(-time.Minute), StaleUntil: now}, true, false, now},
		{"past the window", Envelope{ExpiresAt: now.Add(-time.Hour), StaleUntil: now.Add(-time.Minute)}, true, false, now.Add(-time.Minute)},
		{"empty window", Envelope{ExpiresAt: now, StaleUntil: now}, true, false, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.give.Expired(now); got != tt.wantExpired {
				t.Errorf("Expired = %v, want %v", got, tt.wantExpired)
			}
			if got := tt.give.Servable(now); got != tt.wantServable {
				t.Errorf("Servable = %v, want %v", got, tt.wantServable)
			}
			if got := tt.give.ServableUntil(); !got.Equal(tt.wantUntil) || got.IsZero() != tt.wantUntil.IsZero() {
				t.Errorf("ServableUntil = %v, want %v", got, tt.wantUntil)
			}
		})
	}
}

func TestPackUnpack(t *testing.T) {
	give := everything{I: 5, S: "s", M: map[string]int{"a": 1}, T: time.Unix(9, 9).UTC()}
	b, err := Pack(give, map[string]any{"source": "db", "n": 2})
	if err != nil {
		t.Fatal(err)
	}
	var got everything
	params, err := Unpack(b, &got)
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	opts := []cmp.Option{cmpopts.IgnoreUnexported(everything{}, textOnly{}, custom{}, tagged{}), cmpopts.EquateComparable(netip.Addr{})}
	if diff := cmp.Diff(give, got, opts...); diff != "" {
		t.Errorf("value (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"source": "db", "n": int64(2)}, params); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
	var e Envelope
	if err := DecodeEnvelope(b, &e); err != nil {
		t.Fatal(err)
	}
	if !e.ExpiresAt.IsZero() || time.Since(e.WrittenAt) > time.Hour || time.Since(e.WrittenAt) < 0 {
		t.Errorf("Pack wrote WrittenAt %v, ExpiresAt %v; want about now and never", e.WrittenAt, e.ExpiresAt)
	}
	if _, err := Unpack(b, nil); err != nil {
		t.Errorf("Unpack with a nil value: %v", err)
	}
}

func TestUnpackCorrupt(t *testing.T) {
	envelope := func(e Envelope) []byte {
		b, err := AppendEnvelope(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		give []byte
		into any
	}{
		{"corrupt data", envelope(Envelope{Data: []byte{0xc1}}), new(int)},
		{"corrupt data, nil value", envelope(Envelope{Data: []byte{0xc1}}), nil},
		{"no data", envelope(Envelope{}), new(int)},
		{"data of another type", envelope(Envelope{Data: []byte{0xa1, 'x'}}), new(int)},
		{"params not a map", envelope(Envelope{RawParams: []byte{0x01}, Data: []byte{1}}), new(int)},
		{"params with int keys", envelope(Envelope{RawParams: []byte{0x81, 0x01, 0x01}, Data: []byte{1}}), new(int)},
		{"params truncated", envelope(Envelope{RawParams: []byte{0x81, 0xa1}, Data: []byte{1}}), new(int)},
		{"not an envelope", []byte{0x01}, new(int)},
		{"cached error", envelope(Envelope{Error: true, Data: []byte{0x01}}), new(int)},
		{"cached error, nil value", envelope(Envelope{Error: true, Data: []byte{0x01}}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, err := Unpack(tt.give, tt.into)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Unpack: %v, want ErrCorrupt", err)
			}
			if params != nil {
				t.Errorf("Unpack returned params %v with an error", params)
			}
		})
	}
}
