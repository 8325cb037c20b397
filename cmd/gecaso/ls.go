package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

var lsCommand = &command{
	name:     "ls",
	synopsis: "TARGET [PREFIX]",
	summary:  "one line per entry",
	nargs:    [2]int{1, 2},
	details: `
Ls lists the entries of TARGET whose key starts with PREFIX (every entry
without one): one line each with the size of the stored value in bytes, when
it was written and when it expires (UTC), and its key. An expiry marked with
'*' has passed while the entry is still stored (gc removes it); an entry
whose bytes do not decode shows "corrupt" (verify lists why). Keys that are
not printable on one line are quoted as Go quotes strings.

Entries come in the storage's order: key order on Badger, none on Redis.

With -json, ls writes one JSON object per line:
  {"key": "...", "size": 123, "written": "2025-01-02T03:04:05.123456789Z",
   "expires": null, "expired": false}
with "expires" null when the entry never expires ("written" null when the
time is unknown), "stale_until" and "error": true when the envelope has
them, and "corrupt": "why" for an entry that does not decode (its times are
then null).

It never modifies TARGET.`,
	run: runLs,
}

// lsLine is one line of ls -json.
type lsLine struct {
	Key        string    `json:"key"`
	Size       int       `json:"size"`
	Written    *jsonTime `json:"written"`
	Expires    *jsonTime `json:"expires"`
	StaleUntil *jsonTime `json:"stale_until,omitempty"`
	Expired    bool      `json:"expired"`
	Error      bool      `json:"error,omitempty"`
	Corrupt    string    `json:"corrupt,omitempty"`
}

func runLs(ctx context.Context, o *options, args []string) error {
	t, err := openTarget(ctx, args[0], o, readOnly)
	if err != nil {
		return err
	}
	defer t.Close()
	prefix := ""
	if len(args) > 1 {
		prefix = args[1]
	}
	w := bufio.NewWriter(o.stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if !o.json {
		fmt.Fprintf(w, "%10s  %-20s  %-21s  %s\n", "SIZE", "WRITTEN", "EXPIRES", "KEY")
	}
	now := time.Now()
	anyExpired := false
	err = t.walk(ctx, prefix, func(e *entry) error {
		in := inspect(e.Value, true)
		if o.json {
			l := lsLine{Key: e.Info.Key, Size: len(e.Value)}
			if in.err != nil {
				l.Corrupt = in.err.Error()
			} else {
				l.Written = optTime(in.env.WrittenAt)
				l.Expires = optTime(in.env.ExpiresAt)
				l.StaleUntil = optTime(in.staleUntil)
				l.Expired = in.expired(now)
				l.Error = in.isError
			}
			return enc.Encode(l)
		}
		written, expires := "corrupt", "-"
		if in.err == nil {
			written = textTime(in.env.WrittenAt)
			expires = "never"
			if !in.env.ExpiresAt.IsZero() {
				expires = textTime(in.env.ExpiresAt)
			}
			if in.expired(now) {
				expires += "*"
				anyExpired = true
			}
		}
		_, err := fmt.Fprintf(w, "%10d  %-20s  %-21s  %s\n", len(e.Value), written, expires, textKey(e.Info.Key))
		return err
	})
	if err != nil {
		w.Flush()
		return fmt.Errorf("ls %s: %w", t.spec, err)
	}
	if anyExpired {
		fmt.Fprintln(w, "* expired, still stored: gecaso gc removes it")
	}
	return w.Flush()
}
