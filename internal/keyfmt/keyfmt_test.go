package keyfmt_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso/internal/keyfmt"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string
	}{
		{name: "empty", give: "", want: `""`},
		{name: "short", give: "fetchUser:abc", want: `"fetchUser:abc"`},
		{name: "control bytes", give: "a\x00\xff\n", want: `"a\x00\xff\n"`},
		{name: "exactly the limit", give: strings.Repeat("k", keyfmt.MaxBytes), want: `"` + strings.Repeat("k", keyfmt.MaxBytes) + `"`},
		{name: "one over", give: strings.Repeat("k", keyfmt.MaxBytes+1), want: `"` + strings.Repeat("k", keyfmt.MaxBytes) + `"... (65 bytes)`},
		{name: "10 MiB", give: strings.Repeat("x", 10<<20), want: `"` + strings.Repeat("x", keyfmt.MaxBytes) + `"... (10485760 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, keyfmt.Quote(tt.give)); diff != "" {
				t.Errorf("Quote (-want +got):\n%s", diff)
			}
		})
	}
}

// TestQuoteBounded checks the bound the doc promises for keys of the worst
// bytes (each quoted as \xNN).
func TestQuoteBounded(t *testing.T) {
	key := strings.Repeat("\xff", 1<<20)
	if got := len(keyfmt.Quote(key)); got > 4*keyfmt.MaxBytes+30 {
		t.Errorf("Quote of a 1 MiB key is %d bytes, want at most %d", got, 4*keyfmt.MaxBytes+30)
	}
}
