package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso/codec"
)

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return out.String()
}

func TestGetRendersValuesAsJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give any
		want string
	}{
		{"struct", user{Name: "ann", Age: 7, Tags: []string{"x"}}, `{"Age":7,"Name":"ann","Tags":["x"]}`},
		{"nil", nil, `null`},
		{"string with html", "<a&b>", `"<a&b>"`},
		{"big unsigned", uint64(math.MaxUint64), `18446744073709551615`},
		{"negative", -42, `-42`},
		{"float32", float32(1.5), `1.5`},
		{"float64 exponent", 1e300, `1e+300`},
		{"NaN", math.NaN(), `{"$float":"NaN"}`},
		{"infinities", []float64{math.Inf(1), math.Inf(-1)}, `[{"$float":"+Inf"},{"$float":"-Inf"}]`},
		{"binary", []byte{1, 2, 3, 250}, `{"$bin":"AQID+g=="}`},
		{"timestamp", time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), `{"$time":"2024-01-02T02:04:05.000000006Z"}`},
		{"map with integer keys", map[int]string{2: "b", 1: "a", -1: "z"}, `{"$map":[[-1,"z"],[1,"a"],[2,"b"]]}`},
		{"map with mixed keys", map[any]any{"s": 1, 2: true}, `{"$map":[["s",1],[2,true]]}`},
		{"member starting with $", map[string]any{"$bin": "not binary", "a": []any{}}, `{"$$bin":"not binary","a":[]}`},
	}
	dir := filepath.Join(t.TempDir(), "cache")
	s := openTestBadger(t, dir)
	written := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		b, err := codec.AppendEnvelope(nil, &codec.Envelope{
			WrittenAt: written,
			Params:    map[string]any{"p": []byte{0}},
			Data:      mustMarshal(t, tt.give),
		})
		if err != nil {
			t.Fatal(err)
		}
		set(t, s, "vals:"+tt.name, b, 0)
	}
	s.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got getJSON
			runJSON(t, 0, &got, "get", dir, "vals:"+tt.name)
			if diff := cmp.Diff(tt.want, compactJSON(t, got.Value)); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(`{"p":{"$bin":"AA=="}}`, compactJSON(t, got.Params)); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if got.Written == nil || !got.Written.Equal(written) || got.Expires != nil || got.Expired {
				t.Errorf("written %v, expires %v, expired %v; want %v, never, false", got.Written, got.Expires, got.Expired, written)
			}
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cache")
	s := openTestBadger(t, dir)
	f := seed(t, s)
	// A value with an extension type that has no Go type: fixext 1, type 5.
	ext, err := codec.AppendEnvelope(nil, &codec.Envelope{Data: []byte{0xd4, 5, 1}})
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "ext:1", ext, 0)
	s.Close()

	t.Run("live entry", func(t *testing.T) {
		var got getJSON
		runJSON(t, 0, &got, "get", dir, f.live[0])
		if got.Key != f.live[0] || got.Expires == nil || time.Until(*got.Expires) < 50*time.Minute || got.Expired {
			t.Errorf("got key %q, expires %v, expired %v", got.Key, got.Expires, got.Expired)
		}
		if diff := cmp.Diff(`{"source":"db"}`, compactJSON(t, got.Params)); diff != "" {
			t.Errorf("params (-want +got):\n%s", diff)
		}
		text := mustRun(t, "get", dir, f.live[0]).stdout
		for _, want := range []string{"expires", "(in ", `params   {"source":"db"}`, `"Name": "user1"`} {
			if !strings.Contains(text, want) {
				t.Errorf("get text does not show %q:\n%s", want, text)
			}
		}
	})
	t.Run("expired entry", func(t *testing.T) {
		var got getJSON
		runJSON(t, 0, &got, "get", dir, f.expired[0])
		if !got.Expired || string(got.Params) != "null" {
			t.Errorf("expired %v, params %s; want true, null", got.Expired, got.Params)
		}
	})
	t.Run("extension type", func(t *testing.T) {
		var got getJSON
		runJSON(t, 0, &got, "get", dir, "ext:1")
		if got.Value != nil || got.ValueText != "ext(5):AQ" || !strings.Contains(got.ValueError, "extension type 5") {
			t.Errorf("value %s, value_text %q, value_error %q", got.Value, got.ValueText, got.ValueError)
		}
	})

	errs := []struct {
		name, key, want string
	}{
		{"absent", "app.users@2:nothing", "no entry under app.users@2:nothing"},
		{"corrupt", f.corrupt[0], "is corrupt: codec: corrupt entry: envelope checksum"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, nil, "get", dir, tt.key)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want 1 and %q", r.code, r.stderr, r.stdout, tt.want)
			}
		})
	}
}
