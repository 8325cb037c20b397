package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/storage"
)

var getCommand = &command{
	name:     "get",
	synopsis: "TARGET KEY",
	summary:  "one entry's envelope, and its value as JSON",
	nargs:    [2]int{2, 2},
	details: `
Get shows the entry stored under KEY: when it was written, when it expires,
the end of its stale window and whether it holds an error result (when the
envelope records them), its params, and its value rendered as JSON. The
value is decoded without knowing its Go type; what JSON cannot say directly
is written as an object with one '$' member:

  binary (msgpack bin)          {"$bin": "base64, standard, padded"}
  timestamps                    {"$time": "RFC 3339 in UTC, with nanoseconds"}
  maps whose keys are not all   {"$map": [[key, value], ...]}, pairs sorted
  strings                       by the JSON of their key
  NaN and infinities            {"$float": "NaN"}, "+Inf", "-Inf"
  a map key starting with '$'   gets one more '$' in front ("$x" is "$$x")

Integers stay exact in the output (beyond 2^53 a JavaScript reader may
round them). Strings that are not valid UTF-8 have their bad bytes replaced
by U+FFFD. A value holding an extension type other than timestamps cannot
be decoded into JSON: get then shows the value in codec's text rendering.

With -json, get writes one JSON document:
  {"key": "...", "size": 123, "written": "...", "expires": null or "...",
   "stale_until": "...", "error": true, "expired": false,
   "params": {...} or null, "value": ...}
("stale_until" and "error" only when the envelope has them; "value_text"
and "value_error" instead of "value" when the value has no JSON form).

Get exits with status 1 when KEY is absent or its entry does not decode. It
never modifies TARGET.`,
	run: runGet,
}

type getReport struct {
	Key        string    `json:"key"`
	Size       int       `json:"size"`
	Written    *jsonTime `json:"written"`
	Expires    *jsonTime `json:"expires"`
	StaleUntil *jsonTime `json:"stale_until,omitempty"`
	Error      bool      `json:"error,omitempty"`
	Expired    bool      `json:"expired"`
	Params     any       `json:"params"`
	Value      any       `json:"value,omitempty"`
	ValueText  string    `json:"value_text,omitempty"`
	ValueError string    `json:"value_error,omitempty"`
}

func runGet(ctx context.Context, o *options, args []string) error {
	t, err := openTarget(ctx, args[0], o, readOnly)
	if err != nil {
		return err
	}
	defer t.Close()
	key := args[1]
	v, err := t.s.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("get %s: no entry under %s", t.spec, textKey(key))
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", t.spec, err)
	}
	in := inspect(v, false)
	if in.err != nil {
		return fmt.Errorf("get %s: the entry under %s is corrupt: %w", t.spec, textKey(key), in.err)
	}
	r := getReport{
		Key:        key,
		Size:       len(v),
		Written:    optTime(in.env.WrittenAt),
		Expires:    optTime(in.env.ExpiresAt),
		StaleUntil: optTime(in.staleUntil),
		Error:      in.isError,
		Expired:    in.expired(time.Now()),
	}
	params, err := in.env.DecodeParams()
	if err != nil {
		return fmt.Errorf("get %s: the params of %s are corrupt: %w", t.spec, textKey(key), err)
	}
	if params != nil {
		r.Params = jsonValue(params)
	}
	value, err := decodeValue(in.env.Data)
	if err != nil {
		// An extension type without a Go type, most likely: show codec's
		// rendering, which also says whether the bytes are valid at all.
		text, terr := codec.AppendText(nil, in.env.Data)
		if terr != nil {
			return fmt.Errorf("get %s: the value of %s is corrupt: %w", t.spec, textKey(key), terr)
		}
		r.ValueText, r.ValueError = string(text), err.Error()
	} else if value == nil {
		value = json.RawMessage("null")
	}
	r.Value = value
	if o.json {
		return writeJSON(o.stdout, r)
	}
	return printGet(o, &r, in)
}

func printGet(o *options, r *getReport, in inspected) error {
	now := time.Now()
	w := tabwriter.NewWriter(o.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "key\t%s\n", textKey(r.Key))
	fmt.Fprintf(w, "size\t%s\n", size(int64(r.Size)))
	written := "unknown"
	if wt := in.env.WrittenAt; !wt.IsZero() {
		written = fmt.Sprintf("%s (%s)", wt.UTC().Format(time.RFC3339Nano), relative(wt, now))
	}
	fmt.Fprintf(w, "written\t%s\n", written)
	expires := "never"
	if et := in.env.ExpiresAt; !et.IsZero() {
		expires = fmt.Sprintf("%s (%s)", et.UTC().Format(time.RFC3339Nano), relative(et, now))
	}
	fmt.Fprintf(w, "expires\t%s\n", expires)
	if st := in.staleUntil; !st.IsZero() {
		fmt.Fprintf(w, "stale until\t%s (%s)\n", st.UTC().Format(time.RFC3339Nano), relative(st, now))
	}
	if r.Expired {
		fmt.Fprintf(w, "expired\tyes: still stored, never returned by gecaso (gc removes it)\n")
	}
	if r.Error {
		fmt.Fprintf(w, "error\tyes: the entry holds an error result\n")
	}
	if r.Params != nil {
		b, err := marshalJSON(r.Params, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "params\t%s\n", b)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if r.ValueError != "" {
		_, err := fmt.Fprintf(o.stdout, "value (no JSON form: %s)\n%s\n", r.ValueError, r.ValueText)
		return err
	}
	b, err := marshalJSON(r.Value, "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.stdout, "value\n%s\n", b)
	return err
}
