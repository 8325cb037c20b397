package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/codec"
)

type (
	verifyJSON struct {
		Target  string `json:"target"`
		Checked int64  `json:"checked"`
		Corrupt []struct {
			Key   string `json:"key"`
			Error string `json:"error"`
		} `json:"corrupt"`
		Removed int64 `json:"removed"`
	}
	purgeJSON struct {
		Target    string `json:"target"`
		Namespace string `json:"namespace"`
		Removed   int64  `json:"removed"`
	}
	gcJSON struct {
		Target       string      `json:"target"`
		Removed      int64       `json:"removed"`
		RemovedBytes int64       `json:"removed_bytes"`
		Before       gcSpaceJSON `json:"before"`
		After        gcSpaceJSON `json:"after"`
	}
	gcSpaceJSON struct {
		Entries int64     `json:"entries"`
		Bytes   int64     `json:"bytes"`
		Disk    *diskJSON `json:"disk"`
	}
)

var sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func corruptKeys(v verifyJSON) []string {
	var keys []string
	for _, c := range v.Corrupt {
		keys = append(keys, c.Key)
	}
	return keys
}

// TestVerifyFindsAndFixesCorruptEntries writes garbage and a flipped byte
// through the storage API, then checks that verify lists exactly those,
// that -fix removes exactly those, and that the good entries still hit.
func TestVerifyFindsAndFixesCorruptEntries(t *testing.T) {
	t.Parallel()
	dir, f := seededBadger(t)

	var got verifyJSON
	runJSON(t, 1, &got, "verify", dir)
	if diff := cmp.Diff(f.corrupt, corruptKeys(got), sortStrings); diff != "" {
		t.Errorf("corrupt keys (-want +got):\n%s", diff)
	}
	if got.Checked != 13 || got.Removed != 0 {
		t.Errorf("checked %d, removed %d; want 13, 0", got.Checked, got.Removed)
	}
	for _, c := range got.Corrupt {
		if !strings.Contains(c.Error, "codec: corrupt entry") {
			t.Errorf("%s: error %q does not say why", c.Key, c.Error)
		}
	}
	text := runCmd(t, nil, "verify", dir)
	if text.code != 1 || !strings.Contains(text.stdout, "corrupt "+f.corrupt[0]+": ") ||
		!strings.Contains(text.stdout, "checked 13 entries: 2 corrupt") {
		t.Errorf("verify: exit %d\n%s%s", text.code, text.stdout, text.stderr)
	}

	runJSON(t, 1, &got, "verify", "-fix", dir)
	if got.Removed != 2 || len(got.Corrupt) != 2 {
		t.Errorf("verify -fix: removed %d of %d corrupt, want 2 of 2", got.Removed, len(got.Corrupt))
	}
	runJSON(t, 0, &got, "verify", dir)
	if len(got.Corrupt) != 0 || got.Checked != 11 {
		t.Errorf("after -fix: %d corrupt of %d checked, want 0 of 11", len(got.Corrupt), got.Checked)
	}

	s := openTestBadger(t, dir)
	if diff := cmp.Diff(slices.Concat(f.live, f.expired), keysOf(t, s), sortStrings); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
	var runs atomic.Int64
	fn := gecaso.Cached(s, func(ctx context.Context, id int) (user, error) {
		runs.Add(1)
		return fetchUser(ctx, id)
	}, gecaso.WithName("app.users"), gecaso.WithVersion("2"), gecaso.WithTTL(time.Hour))
	for id := 1; id <= 5; id++ {
		if _, err := fn.Call(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if n := runs.Load(); n != 0 {
		t.Errorf("%d of the 5 good entries were lost (the function ran)", n)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give     string
		wantGone []string // namespaces removed
	}{
		{nsUsers, []string{nsUsers, nsUsers2}}, // every version, never app.users2
		{nsUsers2, []string{nsUsers2}},
		{nsUsers22, []string{nsUsers22}},
		{"app.users@9", nil},
		{"app", nil}, // a whole name only
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			dir, f := seededBadger(t)
			var want []string
			var wantRemoved int64
			for _, k := range slices.Concat(f.live, f.expired, f.corrupt) {
				if slices.Contains(tt.wantGone, namespace(k)) {
					wantRemoved++
				} else {
					want = append(want, k)
				}
			}
			var got purgeJSON
			runJSON(t, 0, &got, "purge", dir, tt.give)
			if got.Removed != wantRemoved || got.Namespace != tt.give {
				t.Errorf("removed %d of %q, want %d", got.Removed, got.Namespace, wantRemoved)
			}
			s := openTestBadger(t, dir)
			if diff := cmp.Diff(want, keysOf(t, s), sortStrings, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("keys left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGCRemovesExpiredAndReclaimsDisk fills a directory with expired
// entries big enough for their space to show, then checks that gc removes
// exactly the expired ones and that the directory shrinks.
func TestGCRemovesExpiredAndReclaimsDisk(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cache")
	s := openTestBadger(t, dir)
	f := seed(t, s)
	big := make([]byte, 4<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	const n = 5000 // 20 MB of expired values
	for i := range n {
		b, err := codec.AppendEnvelope(nil, &codec.Envelope{
			WrittenAt: time.Now().Add(-time.Hour),
			ExpiresAt: time.Now().Add(-time.Minute),
			Data:      mustMarshal(t, big),
		})
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("bulk:%05d", i)
		set(t, s, k, b, 0)
	}
	s.Close()

	var got gcJSON
	runJSON(t, 0, &got, "gc", dir)
	wantRemoved := int64(n + len(f.expired))
	if got.Removed != wantRemoved || got.Before.Entries != wantRemoved+int64(len(f.live)+len(f.corrupt)) ||
		got.After.Entries != got.Before.Entries-wantRemoved || got.After.Bytes != got.Before.Bytes-got.RemovedBytes {
		t.Errorf("gc report %+v: want %d removed", got, wantRemoved)
	}
	if got.Before.Disk == nil || got.After.Disk == nil {
		t.Fatalf("no disk usage: %+v", got)
	}
	if got.Before.Disk.Total < n*4<<10 || got.After.Disk.Total > got.Before.Disk.Total/4 {
		t.Errorf("disk %d bytes before, %d after: want at least %d before and a quarter after",
			got.Before.Disk.Total, got.After.Disk.Total, n*4<<10)
	}
	s = openTestBadger(t, dir)
	if diff := cmp.Diff(slices.Concat(f.live, f.corrupt), keysOf(t, s), sortStrings); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
	s.Close()

	text := mustRun(t, "gc", dir).stdout
	if !strings.Contains(text, "removed 0 expired entries") || !strings.Contains(text, "disk: ") {
		t.Errorf("second gc:\n%s", text)
	}
}
