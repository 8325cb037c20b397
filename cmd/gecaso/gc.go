package main

import (
	"context"
	"fmt"
	"time"
)

var gcCommand = &command{
	name:     "gc",
	synopsis: "TARGET",
	summary:  "remove expired entries, reclaim disk space",
	nargs:    [2]int{1, 1},
	details: `
Gc removes the entries of TARGET that have expired (past their envelope's
expiry, and past the end of their stale window when they have one) but are
still stored, then, on a Badger directory, has Badger return the space of
every removed and expired entry to the file system (badger.Storage's
Reclaim: it rewrites the live data once). It reports the entries and bytes
of values before and after, and for Badger the disk space before and after
(allocated bytes, as du counts them).

Corrupt entries are left alone: verify -fix removes them.

With -json, gc writes one JSON document:
  {"target": "...", "removed": 3, "removed_bytes": 300,
   "before": {"entries": 10, "bytes": 1000, "disk": {...}},
   "after": {"entries": 7, "bytes": 700, "disk": {...}}}
with "disk" (as in stats -json) only for Badger.`,
	run: runGC,
}

type gcReport struct {
	Target       string  `json:"target"`
	Removed      int64   `json:"removed"`
	RemovedBytes int64   `json:"removed_bytes"`
	Before       gcSpace `json:"before"`
	After        gcSpace `json:"after"`
}

type gcSpace struct {
	Entries int64      `json:"entries"`
	Bytes   int64      `json:"bytes"`
	Disk    *diskUsage `json:"disk,omitempty"`
}

func runGC(ctx context.Context, o *options, args []string) error {
	t, err := openTarget(ctx, args[0], o, readWrite)
	if err != nil {
		return err
	}
	defer t.Close()
	r := gcReport{Target: t.spec}
	if t.bs != nil {
		du, err := badgerDiskUsage(t.dir)
		if err != nil {
			return fmt.Errorf("gc %s: %w", t.spec, err)
		}
		r.Before.Disk = &du
	}
	rm := &remover{t: t, ctx: ctx}
	now := time.Now()
	p := newProgress(o.stderr, "gc", 0, false)
	err = t.walk(ctx, "", func(e *entry) error {
		p.add(1)
		n := int64(len(e.Value))
		r.Before.Entries++
		r.Before.Bytes += n
		in := inspect(e.Value, false)
		if !in.expired(now) {
			return nil
		}
		r.RemovedBytes += n
		return rm.add(e.Info.Key)
	})
	if err == nil {
		err = rm.flush()
	}
	p.done()
	r.Removed = rm.removed
	if err != nil {
		return fmt.Errorf("gc %s: %w (removed %d expired entries before the error)", t.spec, err, r.Removed)
	}
	r.After.Entries = r.Before.Entries - rm.removed
	r.After.Bytes = r.Before.Bytes - r.RemovedBytes
	if t.bs != nil {
		if err := t.bs.Reclaim(ctx); err != nil {
			return fmt.Errorf("gc %s: removed %d expired entries, then: %w", t.spec, r.Removed, err)
		}
		// Closing truncates the files Badger keeps preallocated.
		if err := t.Close(); err != nil {
			return fmt.Errorf("gc %s: %w", t.spec, err)
		}
		du, err := badgerDiskUsage(t.dir)
		if err != nil {
			return fmt.Errorf("gc %s: %w", t.spec, err)
		}
		r.After.Disk = &du
	}
	if o.json {
		return writeJSON(o.stdout, r)
	}
	fmt.Fprintf(o.stdout, "removed %d expired entries (%s)\n", r.Removed, size(r.RemovedBytes))
	fmt.Fprintf(o.stdout, "entries: %d (%s) before, %d (%s) after\n",
		r.Before.Entries, size(r.Before.Bytes), r.After.Entries, size(r.After.Bytes))
	if r.Before.Disk != nil {
		fmt.Fprintf(o.stdout, "disk: %s before, %s after\n", size(r.Before.Disk.Total), size(r.After.Disk.Total))
	}
	return nil
}
