package badger

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
)

// TestLRUBoundAcrossRestarts: an lru.Storage over Badger keeps the directory
// to its bound across restarts, because New indexes what Badger holds, in
// write order (Seq is Badger's commit version, which keeps growing across
// restarts), and evicts down to the bound.
func TestLRUBoundAcrossRestarts(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	dir := t.TempDir()
	ctx := context.Background()
	const bound = 1000
	keys := func(s *Storage) []string {
		var ks []string
		if err := s.Scan(ctx, "", func(ki storage.KeyInfo) error { ks = append(ks, ki.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	for round := range 4 {
		b, err := Open(dir, WithGCInterval(-1))
		if err != nil {
			t.Fatal(err)
		}
		l := lru.New(b, bound, lru.WithErrorHandler(func(err error) { t.Errorf("round %d: lru: %v", round, err) }))
		if n := len(keys(b)); n > bound {
			t.Errorf("round %d: %d keys on disk right after lru.New, want at most %d", round, n, bound)
		}
		// Written in descending key order, so that write order and the
		// scan's byte order disagree.
		for i := range 3 * bound {
			if err := l.Set(ctx, fmt.Sprintf("r%d/%05d", round, 3*bound-i), []byte("v"), storage.Params{}); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(keys(b)); n > bound {
			t.Errorf("round %d: %d keys on disk after writing %d, want at most %d", round, n, 3*bound, bound)
		}
		l.Close()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Reopened with a smaller bound, the lru keeps the most recent writes.
	b := openDirT(t, dir, WithGCInterval(-1))
	l := lru.New(b, bound/2)
	defer l.Close()
	var want []string // the last bound/2 written, in byte order
	for i := 1; i <= bound/2; i++ {
		want = append(want, fmt.Sprintf("r3/%05d", i))
	}
	if diff := cmp.Diff(want, keys(b)); diff != "" {
		t.Errorf("keys kept under a halved bound (-want +got):\n%s", diff)
	}
}
