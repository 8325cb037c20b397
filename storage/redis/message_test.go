package redis

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gecaso/gecaso/storage"
)

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		give storage.Invalidation
	}{
		{name: "nothing", give: storage.Invalidation{}},
		{name: "one key", give: storage.Invalidation{Keys: []string{"fetchUser:abc"}}},
		{name: "keys of any bytes", give: storage.Invalidation{Keys: []string{"", "\x00", "\xff\xfe", strings.Repeat("k", 300)}}},
		{name: "prefixes", give: storage.Invalidation{Prefixes: []string{"fetchUser:", ""}}},
		{name: "both", give: storage.Invalidation{Keys: []string{"a", "b"}, Prefixes: []string{"p"}}},
		{name: "many keys", give: storage.Invalidation{Keys: strings.Split(strings.Repeat("key,", 1000), ",")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := appendMessage(nil, tt.give)
			got, err := decodeMessage(string(msg))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(tt.give, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMessageIsCompact pins the format: a version byte, then counts and
// lengths as uvarints.
func TestMessageIsCompact(t *testing.T) {
	got := appendMessage(nil, storage.Invalidation{Keys: []string{"ab"}, Prefixes: []string{""}})
	want := []byte{1, 1, 2, 'a', 'b', 1, 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

func TestDecodeRefusesMalformed(t *testing.T) {
	tests := []struct {
		name string
		give string
		want error
	}{
		{name: "empty", give: "", want: errMalformed},
		{name: "version 0", give: "\x00\x00\x00", want: errMalformed},
		{name: "text", give: "hello", want: errNewerFormat}, // 'h' > 1: a version to come
		{name: "newer version", give: "\x02anything", want: errNewerFormat},
		{name: "no lists", give: "\x01", want: errMalformed},
		{name: "no prefixes", give: "\x01\x00", want: errMalformed},
		{name: "trailing byte", give: "\x01\x00\x00\x00", want: errMalformed},
		{name: "count beyond the bytes", give: "\x01\x05\x00", want: errMalformed},
		{name: "length beyond the bytes", give: "\x01\x01\x09ab\x00", want: errMalformed},
		{name: "huge count", give: "\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x00", want: errMalformed},
		{name: "varint over 64 bits", give: "\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02\x00", want: errMalformed},
		{name: "varint cut short", give: "\x01\x80", want: errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeMessage(tt.give)
			if !errors.Is(err, tt.want) {
				t.Errorf("decode(%q) = %v, %v; want %v", tt.give, got, err, tt.want)
			}
		})
	}
}

// FuzzDecodeMessage feeds arbitrary bytes to the decoder, as anyone who can
// publish on the channel may: it must never panic, and what it accepts must
// encode back to a message that decodes to the same invalidation.
func FuzzDecodeMessage(f *testing.F) {
	for _, inv := range []storage.Invalidation{
		{},
		{Keys: []string{"fetchUser:abc", "x"}},
		{Prefixes: []string{""}},
		{Keys: []string{"k"}, Prefixes: []string{"p", "q"}},
	} {
		f.Add(appendMessage(nil, inv))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0x80})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := decodeMessage(string(b))
		if err != nil {
			if !errors.Is(err, errMalformed) && !errors.Is(err, errNewerFormat) {
				t.Fatalf("decode error %v matches neither errMalformed nor errNewerFormat", err)
			}
			return
		}
		again, err := decodeMessage(string(appendMessage(nil, inv)))
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if diff := cmp.Diff(inv, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip of an accepted message (-first +again):\n%s", diff)
		}
	})
}
