package main

import (
	"context"
	"flag"
	"fmt"
)

var verifyCommand = &command{
	name:     "verify",
	synopsis: "TARGET",
	summary:  "find corrupt entries (-fix removes them)",
	nargs:    [2]int{1, 1},
	details: `
Verify decodes every entry of TARGET: the envelope's frame and format
version, its checksum, and that its params and data are valid msgpack
within codec's bounds. It lists each entry that fails, with the reason, and
exits with status 1 when there is any (with -fix too, so that a script
notices). gecaso itself treats such entries as misses and overwrites them
on the next call; verify finds them all at once. Expired entries are not
corrupt.

With -fix, verify removes the corrupt entries. Without it, verify never
modifies TARGET.

WARNING: every entry under TARGET is checked, and on Redis every string
key under -prefix: with -fix, keys that some other program keeps there are
removed too. Give Redis caches a prefix of their own.

With -json, verify writes one JSON document:
  {"target": "...", "checked": 1000, "corrupt": [{"key": "...", "error": "..."}],
   "removed": 0}`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.BoolVar(&o.fix, "fix", false, "remove the corrupt entries")
	},
	run: runVerify,
}

type verifyReport struct {
	Target  string          `json:"target"`
	Checked int64           `json:"checked"`
	Corrupt []corruptReport `json:"corrupt"`
	Removed int64           `json:"removed"`
}

type corruptReport struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

func runVerify(ctx context.Context, o *options, args []string) error {
	a := readOnly
	if o.fix {
		a = readWrite
	}
	t, err := openTarget(ctx, args[0], o, a)
	if err != nil {
		return err
	}
	defer t.Close()
	r := verifyReport{Target: t.spec, Corrupt: []corruptReport{}}
	rm := &remover{t: t, ctx: ctx}
	p := newProgress(o.stderr, "verify", 0, false)
	err = t.walk(ctx, "", func(e *entry) error {
		p.add(1)
		r.Checked++
		in := inspect(e.Value, true)
		if in.err == nil {
			return nil
		}
		c := corruptReport{Key: e.Info.Key, Error: in.err.Error()}
		r.Corrupt = append(r.Corrupt, c)
		if !o.json {
			p.clear()
			fmt.Fprintf(o.stdout, "corrupt %s: %s\n", textKey(c.Key), c.Error)
		}
		if o.fix {
			return rm.add(e.Info.Key)
		}
		return nil
	})
	if err == nil {
		err = rm.flush()
	}
	p.done()
	r.Removed = rm.removed
	if err != nil {
		return fmt.Errorf("verify %s: %w (checked %d entries, found %d corrupt, removed %d)",
			t.spec, err, r.Checked, len(r.Corrupt), r.Removed)
	}
	if o.json {
		if err := writeJSON(o.stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.stdout, "checked %d entries: %d corrupt", r.Checked, len(r.Corrupt))
		if o.fix {
			fmt.Fprintf(o.stdout, ", %d removed", r.Removed)
		}
		fmt.Fprintln(o.stdout)
	}
	if len(r.Corrupt) > 0 {
		return errReported
	}
	return nil
}
