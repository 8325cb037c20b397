package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// marshalJSON returns the JSON of v without HTML escaping, indented by
// indent (compact when empty), without a final newline.
func marshalJSON(v any, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// jsonTime is a time in JSON: RFC 3339 in UTC with nanoseconds, or null for
// the zero time (unknown, or never for an expiry).
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return []byte(strconv.Quote(time.Time(t).UTC().Format(time.RFC3339Nano))), nil
}

// optTime is a jsonTime left out of the document when zero (with
// omitempty).
func optTime(t time.Time) *jsonTime {
	if t.IsZero() {
		return nil
	}
	jt := jsonTime(t)
	return &jt
}

// textTime formats t for people: UTC, to the second; "-" for the zero time.
func textTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// relative says how far t is from now: "in 5m0s", "3h0m0s ago".
func relative(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return "in " + d.String()
	case d < 0:
		return (-d).String() + " ago"
	}
	return "now"
}

// size formats n bytes for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// textKey shows a key on one line: as is when it is printable, else quoted
// as Go quotes strings.
func textKey(k string) string {
	if k == "" || strings.ContainsFunc(k, func(r rune) bool {
		return r == unicode.ReplacementChar || unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"'
	}) {
		return strconv.Quote(k)
	}
	return k
}
