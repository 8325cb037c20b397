package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gecaso/gecaso/cmd/gecaso/internal/dump"
	"github.com/gecaso/gecaso/storage"
)

var exportCommand = &command{
	name:     "export",
	synopsis: "TARGET FILE",
	summary:  "write live entries to a dump (- is stdout)",
	nargs:    [2]int{2, 2},
	details: `
Export writes every entry of TARGET that has not expired to FILE, a
portable dump that import reads into any target: a Badger directory or
Redis. Each record holds the key (without the Redis -prefix), the stored
bytes as they are (the envelope with its params and value), and the
entry's deadline: the end of its stale window or else its expiry, exact to
the nanosecond, or the storage's own expiry for an entry whose envelope has
none. Expired entries are left out, and so are entries that do not decode
(verify lists them).

The dump is streamed: export holds a few entries in memory at a time. It is
written to a temporary file beside FILE, renamed to FILE once complete, so
FILE is never left half written. FILE gets mode 0600: a cache may hold
private data. With FILE "-" the dump goes to stdout and
the report to stderr.

The format (version 1: a header, one checksummed record per entry, and an
end record with the count and a checksum of the whole file) is described in
the package documentation ('go doc github.com/gecaso/gecaso/cmd/gecaso').

With -json, export writes one JSON document:
  {"target": "...", "file": "...", "exported": 100, "bytes": 12345,
   "skipped_expired": 2, "skipped_corrupt": 0}
with "bytes" the size of the dump.

It never modifies TARGET.`,
	run: runExport,
}

var importCommand = &command{
	name:     "import",
	synopsis: "FILE TARGET",
	summary:  "write a dump's entries into TARGET (- is stdin)",
	nargs:    [2]int{2, 2},
	details: `
Import reads a dump written by export (FILE "-" is stdin) and writes each
entry into TARGET, replacing an entry under the same key, with the time it
has left: its deadline in the dump minus now (the envelope inside keeps the
exact expiry, which gecaso checks on every read). Entries whose deadline
has passed since the export are skipped, and so are entries whose envelope
this gecaso cannot decode (a newer format: they would be misses anyway).
A Badger TARGET must exist; an empty directory becomes a new Badger
directory.

Import streams: it reads, checks and writes one record after another, on a
few writers at once. A file that is truncated or corrupt (a checksum that
does not match, a count that disagrees) stops it with an error that says
where, and how many entries it imported before. Those entries stay in
TARGET: each is whole and valid, and importing a complete file again
overwrites them. An import that is killed leaves TARGET just as usable.

With -json, import writes one JSON document, also when it fails:
  {"file": "...", "target": "...", "imported": 100, "skipped_expired": 2,
   "skipped_invalid": 0, "error": "..."}
("error" only on failure; the exit status is then 1).`,
	run: runImport,
}

type exportReport struct {
	Target         string `json:"target"`
	File           string `json:"file"`
	Exported       uint64 `json:"exported"`
	Bytes          int64  `json:"bytes"`
	SkippedExpired int64  `json:"skipped_expired"`
	SkippedCorrupt int64  `json:"skipped_corrupt"`
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func runExport(ctx context.Context, o *options, args []string) (err error) {
	file := args[1]
	t, err := openTarget(ctx, args[0], o, readOnly)
	if err != nil {
		return err
	}
	defer t.Close()
	if t.dir != "" && file != "-" && sameDir(filepath.Dir(file), t.dir) {
		return usagef("the dump %s would be written inside the Badger directory %s", file, t.dir)
	}

	report := o.stdout
	cw := &countingWriter{w: o.stdout}
	var tmp *os.File
	if file == "-" {
		report = o.stderr
	} else {
		tmp, err = os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.tmp")
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer func() {
			if tmp != nil { // not renamed: an error
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		cw.w = tmp
	}
	w, err := dump.NewWriter(cw, time.Now())
	if err != nil {
		return fmt.Errorf("export %s: %w", file, err)
	}
	r := exportReport{Target: t.spec, File: file}
	now := time.Now()
	p := newProgress(o.stderr, "export", 0, false)
	err = t.walk(ctx, "", func(e *entry) error {
		p.add(1)
		in := inspect(e.Value, true)
		switch {
		case in.err != nil:
			r.SkippedCorrupt++
			return nil
		case in.expired(now):
			r.SkippedExpired++
			return nil
		}
		deadline := in.horizon()
		if deadline.IsZero() {
			deadline = e.Info.ExpiresAt
		}
		return w.Write(&dump.Record{Key: e.Info.Key, Deadline: deadline, Value: e.Value})
	})
	p.done()
	if err == nil {
		err = w.Close()
	}
	if err == nil && tmp != nil {
		err = tmp.Sync()
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), file)
		}
		if err == nil {
			tmp = nil
		}
	}
	if err != nil {
		return fmt.Errorf("export %s to %s: %w", t.spec, file, err)
	}
	r.Exported, r.Bytes = w.Count(), cw.n
	if o.json {
		return writeJSON(report, r)
	}
	_, err = fmt.Fprintf(report, "exported %d entries (%s) to %s; skipped %d expired and %d corrupt\n",
		r.Exported, size(r.Bytes), file, r.SkippedExpired, r.SkippedCorrupt)
	return err
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

type importReport struct {
	File           string `json:"file"`
	Target         string `json:"target"`
	Imported       int64  `json:"imported"`
	SkippedExpired int64  `json:"skipped_expired"`
	SkippedInvalid int64  `json:"skipped_invalid"`
	Error          string `json:"error,omitempty"`
}

// How many Sets import runs at once. Redis answers each in a round trip,
// so more of them in flight hide the latency; Badger commits concurrent
// Sets together, and a few suffice.
const (
	importWorkersRedis  = 32
	importWorkersBadger = 8
)

func runImport(ctx context.Context, o *options, args []string) error {
	r := &importReport{File: args[0], Target: redact(args[1])}
	err := importFile(ctx, o, args[0], args[1], r)
	var ue *usageError
	if err != nil && !errors.As(err, &ue) {
		r.Error = err.Error()
	}
	if o.json && r.Error == "" && err != nil {
		return err // a usage mistake: no report
	}
	if o.json {
		if jerr := writeJSON(o.stdout, r); err == nil {
			err = jerr
		}
	} else if err == nil {
		fmt.Fprintf(o.stdout, "imported %d entries from %s; skipped %d expired and %d invalid\n",
			r.Imported, r.File, r.SkippedExpired, r.SkippedInvalid)
	}
	return err
}

func importFile(ctx context.Context, o *options, file, spec string, r *importReport) error {
	var in io.Reader = o.stdin
	var total int64
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			total = fi.Size()
		}
		in = f
	}
	d, err := dump.NewReader(in)
	if err != nil {
		return fmt.Errorf("import %s: %w (nothing imported)", file, err)
	}
	t, err := openTarget(ctx, spec, o, importing)
	if err != nil {
		return err
	}
	defer t.Close()
	r.Target = t.spec

	var imported atomic.Int64
	err = importRecords(ctx, d, t, r, &imported, newProgress(o.stderr, "import", total, true))
	r.Imported = imported.Load()
	if err == nil {
		err = t.Close() // Badger: everything written and the directory released
	}
	if err != nil {
		return fmt.Errorf("import %s into %s: %w: imported %d entries before the error "+
			"(they stay in the target; importing a complete file again overwrites them)",
			file, t.spec, err, r.Imported)
	}
	return nil
}

// importRecords reads d to its end and writes every live record into t on
// a few goroutines, counting the writes done in imported. It
// returns the first read or write error; every record read before it has
// been written (or failed) when it returns.
func importRecords(ctx context.Context, d *dump.Reader, t *target, r *importReport, imported *atomic.Int64, p *progress) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		rec *dump.Record
		p   storage.Params
	}
	jobs := make(chan job)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		writeErr error
		late     atomic.Int64 // records whose deadline passed while they waited
	)
	workers := importWorkersBadger
	if t.kind == "redis" {
		workers = importWorkersRedis
	}
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					continue // drain after a failure
				}
				// The TTL is taken at the last moment, so that time spent
				// waiting for a writer does not lengthen the entry's life.
				if !j.rec.Deadline.IsZero() {
					if j.p.TTL = time.Until(j.rec.Deadline); j.p.TTL <= 0 {
						late.Add(1)
						continue
					}
				}
				if err := t.s.Set(ctx, j.rec.Key, j.rec.Value, j.p); err != nil {
					errOnce.Do(func() { writeErr = fmt.Errorf("set %s: %w", textKey(j.rec.Key), err) })
					cancel()
					continue
				}
				imported.Add(1)
			}
		})
	}
	var readErr error
	last := int64(0)
loop:
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		p.add(d.Offset() - last)
		last = d.Offset()
		in := inspect(rec.Value, true)
		if in.err != nil {
			r.SkippedInvalid++
			continue
		}
		if !rec.Deadline.IsZero() && !time.Now().Before(rec.Deadline) {
			r.SkippedExpired++
			continue
		}
		var params storage.Params
		params.Extra, _ = in.env.DecodeParams() // inspect checked that they decode
		select {
		case jobs <- job{rec, params}:
		case <-ctx.Done():
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	r.SkippedExpired += late.Load()
	p.done()
	switch {
	case parent.Err() != nil:
		return parent.Err() // interrupted: the Sets it cut short say no more
	case writeErr != nil:
		return writeErr
	case readErr != nil:
		return readErr
	}
	return nil
}
