package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gecaso/gecaso/storage"
)

var purgeCommand = &command{
	name:     "purge",
	synopsis: "TARGET NAMESPACE",
	summary:  "remove a function's entries",
	nargs:    [2]int{2, 2},
	details: `
Purge removes every entry of NAMESPACE from TARGET and reports how many it
found. NAMESPACE is a function's name (gecaso.WithName) or its name and
version, name@version (gecaso.WithVersion):

  purge TARGET app.fetchUser      removes app.fetchUser:... and every
                                  version, app.fetchUser@1:..., @2:...
  purge TARGET app.fetchUser@2    removes app.fetchUser@2:... only

It matches whole names: "app.fetchUser" never removes "app.fetchUser2". Like
gecaso's Func.Purge, it removes by prefix (on Badger with a prefix drop,
which also frees the space; on Redis with SCAN and UNLINK). Entries written
while purge runs may survive it.

With -json, purge writes one JSON document:
  {"target": "...", "namespace": "...", "removed": 12}`,
	run: runPurge,
}

type purgeReport struct {
	Target    string `json:"target"`
	Namespace string `json:"namespace"`
	Removed   int64  `json:"removed"`
}

// purgePrefixes returns the key prefixes of ns: "name:" and "name@" for a
// bare name, "name@version:" for a versioned one.
func purgePrefixes(ns string) ([]string, error) {
	name, version, versioned := strings.Cut(ns, "@")
	switch {
	case name == "":
		return nil, usagef("namespace %q has no name", ns)
	case strings.Contains(ns, ":"):
		return nil, usagef("namespace %q contains ':'; a namespace is the part of a key before its first ':'", ns)
	case versioned && version == "":
		return nil, usagef("namespace %q has an empty version; write %q for every version", ns, name)
	case versioned:
		return []string{ns + ":"}, nil
	}
	return []string{ns + ":", ns + "@"}, nil
}

func runPurge(ctx context.Context, o *options, args []string) error {
	prefixes, err := purgePrefixes(args[1])
	if err != nil {
		return err
	}
	t, err := openTarget(ctx, args[0], o, readWrite)
	if err != nil {
		return err
	}
	defer t.Close()
	r := purgeReport{Target: t.spec, Namespace: args[1]}
	for _, prefix := range prefixes {
		n, err := purgePrefix(ctx, t, prefix)
		r.Removed += n
		if err != nil {
			return fmt.Errorf("purge %s %s: %w (removed %d entries before the error)", t.spec, args[1], err, r.Removed)
		}
	}
	if o.json {
		return writeJSON(o.stdout, r)
	}
	_, err = fmt.Fprintf(o.stdout, "removed %d entries of %s\n", r.Removed, textKey(args[1]))
	return err
}

// purgePrefix removes every entry under prefix and returns how many there
// were: it counts them with a key scan, then drops the prefix when the
// storage can, else removes the keys it listed.
func purgePrefix(ctx context.Context, t *target, prefix string) (int64, error) {
	var n int64
	err := t.scan.Scan(ctx, prefix, func(storage.KeyInfo) error {
		n++
		return nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	if pd, ok := t.s.(storage.PrefixDeleter); ok {
		err := pd.DeletePrefix(ctx, prefix)
		if !errors.Is(err, storage.ErrNotSupported) {
			if err != nil {
				return 0, err
			}
			return n, nil
		}
	}
	rm := &remover{t: t, ctx: ctx}
	err = t.scan.Scan(ctx, prefix, func(ki storage.KeyInfo) error {
		return rm.add(ki.Key)
	})
	if err == nil {
		err = rm.flush()
	}
	return rm.removed, err
}
