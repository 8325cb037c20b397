package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/cmd/gecaso/internal/dump"
	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/storage"
)

type (
	exportJSON struct {
		Target         string `json:"target"`
		File           string `json:"file"`
		Exported       uint64 `json:"exported"`
		Bytes          int64  `json:"bytes"`
		SkippedExpired int64  `json:"skipped_expired"`
		SkippedCorrupt int64  `json:"skipped_corrupt"`
	}
	importJSON struct {
		File           string `json:"file"`
		Target         string `json:"target"`
		Imported       int64  `json:"imported"`
		SkippedExpired int64  `json:"skipped_expired"`
		SkippedInvalid int64  `json:"skipped_invalid"`
		Error          string `json:"error"`
	}
)

// values reads the value of every key of s.
func values(t *testing.T, s storage.Storage) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, k := range keysOf(t, s.(storage.Scanner)) {
		v, err := s.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// deadlines returns the envelope expiry of every entry in vals that has one.
func deadlines(t *testing.T, vals map[string][]byte) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for k, v := range vals {
		var e codec.Envelope
		if codec.DecodeEnvelope(v, &e) == nil && !e.ExpiresAt.IsZero() {
			out[k] = e.ExpiresAt
		}
	}
	return out
}

// assertHits checks that every live entry of the fixture is a hit in s.
func assertHits(t *testing.T, s storage.Storage) {
	t.Helper()
	var runs atomic.Int64
	fn := func(ctx context.Context, id int) (user, error) {
		runs.Add(1)
		return fetchUser(ctx, id)
	}
	funcs := []struct {
		f   *gecaso.Func[int, user]
		ids []int
	}{
		{gecaso.Cached(s, fn, gecaso.WithName("app.users"), gecaso.WithVersion("2"), gecaso.WithTTL(time.Hour)), []int{1, 2, 3, 4, 5}},
		{gecaso.Cached(s, fn, gecaso.WithName("app.users")), []int{1, 2}},
		{gecaso.Cached(s, fn, gecaso.WithName("app.users2")), []int{1}},
	}
	for _, f := range funcs {
		for _, id := range f.ids {
			got, err := f.f.Call(context.Background(), id)
			want, _ := fetchUser(context.Background(), id)
			if err != nil || !cmp.Equal(want, got) {
				t.Errorf("%s(%d) = %+v, %v; want %+v", f.f.Namespace(), id, got, err, want)
			}
		}
	}
	if n := runs.Load(); n != 0 {
		t.Errorf("%d of 8 live entries were missing: the function ran", n)
	}
}

// TestExportImportBadgerRedisAndBack moves the fixture from Badger to Redis
// and back into a new Badger directory, and checks that the live entries
// arrive byte for byte with their TTLs, and nothing else.
func TestExportImportBadgerRedisAndBack(t *testing.T) {
	t.Parallel()
	src, f := seededBadger(t)
	rt := startRedis(t, "cache:")
	ctx := context.Background()
	// A key outside the prefix, which must stay out of it all.
	if err := rt.client.Set(ctx, "outside", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ro := openTestBadger(t, src)
	want := values(t, ro)
	ro.Close()
	for _, k := range slices.Concat(f.expired, f.corrupt) {
		delete(want, k)
	}

	dump1 := filepath.Join(t.TempDir(), "badger.dump")
	var ex exportJSON
	runJSON(t, 0, &ex, "export", src, dump1)
	if ex.Exported != uint64(len(f.live)) || ex.SkippedExpired != 2 || ex.SkippedCorrupt != 2 || ex.File != dump1 {
		t.Errorf("export report %+v: want %d exported, 2 expired and 2 corrupt skipped", ex, len(f.live))
	}
	if fi, err := os.Stat(dump1); err != nil || fi.Size() != ex.Bytes {
		t.Errorf("dump of %v bytes (%v), report says %d", fi.Size(), err, ex.Bytes)
	}

	var im importJSON
	runJSON(t, 0, &im, "import", "-prefix", "cache:", dump1, rt.url)
	if im.Imported != int64(len(f.live)) || im.SkippedExpired != 0 || im.Error != "" {
		t.Errorf("import report %+v: want %d imported", im, len(f.live))
	}
	if diff := cmp.Diff(want, values(t, rt.s)); diff != "" {
		t.Errorf("Redis holds (-want +got):\n%s", diff)
	}
	for k, d := range deadlines(t, want) {
		ttl, err := rt.client.PTTL(ctx, "cache:"+k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Now().Add(ttl); got.Sub(d).Abs() > 5*time.Second {
			t.Errorf("%s expires on Redis at %v, the entry at %v", k, got, d)
		}
	}
	if ttl := rt.client.PTTL(ctx, "cache:"+f.live[5]).Val(); ttl != -1 {
		t.Errorf("an entry without expiry has a TTL of %v on Redis", ttl)
	}
	assertHits(t, rt.s)

	// And back, through a pipe.
	dst := filepath.Join(t.TempDir(), "back")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	exp := gecasoCmd("export", "-prefix", "cache:", rt.url, "-")
	imp := gecasoCmd("import", "-", dst)
	pipe, err := exp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	var expErr, impOut bytes.Buffer
	exp.Stderr, imp.Stdout, imp.Stderr = &expErr, &impOut, &impOut
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	if err := imp.Run(); err != nil {
		t.Fatalf("import: %v\n%s", err, impOut.String())
	}
	if err := exp.Wait(); err != nil {
		t.Fatalf("export: %v\n%s", err, expErr.String())
	}
	if !strings.Contains(expErr.String(), fmt.Sprintf("exported %d entries", len(f.live))) {
		t.Errorf("export to stdout reported on stderr: %q", expErr.String())
	}
	back := openTestBadger(t, dst)
	if diff := cmp.Diff(want, values(t, back)); diff != "" {
		t.Errorf("the new Badger directory holds (-want +got):\n%s", diff)
	}
	d := deadlines(t, want)
	err = back.Scan(ctx, "", func(ki storage.KeyInfo) error {
		// Badger keeps whole seconds, rounded up.
		if dl, ok := d[ki.Key]; ok && (ki.ExpiresAt.Before(dl.Truncate(time.Second)) || ki.ExpiresAt.After(dl.Add(5*time.Second))) {
			t.Errorf("%s expires on Badger at %v, the entry at %v", ki.Key, ki.ExpiresAt, dl)
		}
		if _, ok := d[ki.Key]; !ok && !ki.ExpiresAt.IsZero() {
			t.Errorf("%s has no expiry but expires on Badger at %v", ki.Key, ki.ExpiresAt)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	assertHits(t, back)
	if v := rt.client.Get(ctx, "outside").Val(); v != "x" {
		t.Errorf("the key outside the prefix holds %q", v)
	}
}

// writeDump writes recs to a dump file.
func writeDump(t *testing.T, recs []dump.Record) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.dump")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := dump.NewWriter(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// dumpRecords returns n records of valid entries, "r:0000" and on.
func dumpRecords(t *testing.T, n int, deadline time.Time) []dump.Record {
	t.Helper()
	recs := make([]dump.Record, n)
	for i := range recs {
		b, err := codec.AppendEnvelope(nil, &codec.Envelope{WrittenAt: time.Now(), ExpiresAt: deadline, Data: mustMarshal(t, i)})
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = dump.Record{Key: fmt.Sprintf("r:%04d", i), Deadline: deadline, Value: b}
	}
	return recs
}

func TestImportSkipsWhatExpiredAndWhatIsInvalid(t *testing.T) {
	t.Parallel()
	recs := slices.Concat(
		dumpRecords(t, 3, time.Now().Add(time.Hour)),
		[]dump.Record{
			{Key: "late:1", Deadline: time.Now().Add(-time.Second), Value: dumpRecords(t, 1, time.Now().Add(-time.Second))[0].Value},
			{Key: "bad:1", Value: []byte("not an envelope")},
		},
	)
	dir := t.TempDir() // empty: becomes a Badger directory
	var got importJSON
	runJSON(t, 0, &got, "import", writeDump(t, recs), dir)
	if got.Imported != 3 || got.SkippedExpired != 1 || got.SkippedInvalid != 1 {
		t.Errorf("import report %+v: want 3 imported, 1 expired and 1 invalid skipped", got)
	}
	s := openTestBadger(t, dir)
	if diff := cmp.Diff([]string{"r:0000", "r:0001", "r:0002"}, keysOf(t, s)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

// TestImportTruncatedOrCorruptDump cuts or damages a dump at several
// places: import must fail with a message saying what and where and how
// many entries it imported, exactly those entries must be there, and the
// whole file imported afterwards must complete.
func TestImportTruncatedOrCorruptDump(t *testing.T) {
	t.Parallel()
	const n = 50
	recs := dumpRecords(t, n, time.Now().Add(time.Hour))
	whole, err := os.ReadFile(writeDump(t, recs))
	if err != nil {
		t.Fatal(err)
	}
	// Where each record ends: ends[i] is the offset past record i (the
	// first is 1), ends[0] the end of the header.
	ends := []int{25}
	d, err := dump.NewReader(bytes.NewReader(whole))
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, int(d.Offset()))
	}
	tests := []struct {
		name         string
		give         []byte
		wantImported int
		wantErr      string
	}{
		{"in the header", whole[:10], -1, "inside the header"},
		{"before the first record", whole[:25], 0, "after 0 whole records, without its end record"},
		{"inside record 21", whole[:ends[20]+7], 20, "after 20 whole records, inside the"},
		{"without its end record", whole[:ends[n]], n, "without its end record"},
		{"inside the end record", whole[:len(whole)-3], n, "inside the end record"},
		{"record 31 damaged", func() []byte {
			b := bytes.Clone(whole)
			b[ends[30]+10] ^= 1
			return b
		}(), 30, "checksum of the record 31"},
		{"not a dump", []byte("hello, this is not a dump at all"), -1, "not a gecaso dump"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "broken.dump")
			if err := os.WriteFile(p, tt.give, 0o644); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var got importJSON
			r := runJSON(t, 1, &got, "import", p, dir)
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr does not say %q:\n%s", tt.wantErr, r.stderr)
			}
			if tt.wantImported < 0 {
				if !strings.Contains(r.stderr, "nothing imported") {
					t.Errorf("stderr does not say nothing was imported:\n%s", r.stderr)
				}
				return
			}
			if want := fmt.Sprintf("imported %d entries before the error", tt.wantImported); !strings.Contains(r.stderr, want) || got.Imported != int64(tt.wantImported) || !strings.Contains(got.Error, tt.wantErr) {
				t.Errorf("want %q; stderr:\n%s\nJSON: %+v", want, r.stderr, got)
			}
			s := openTestBadger(t, dir)
			var want []string
			for _, rec := range recs[:tt.wantImported] {
				want = append(want, rec.Key)
			}
			if diff := cmp.Diff(want, keysOf(t, s)); diff != "" {
				t.Errorf("keys after the failed import (-want +got):\n%s", diff)
			}
			s.Close()
			mustRun(t, "import", writeDump(t, recs), dir)
			if got := len(keysOf(t, openTestBadger(t, dir))); got != n {
				t.Errorf("%d entries after importing the whole file, want %d", got, n)
			}
		})
	}
}

// TestImportKilledMidway kills an import with SIGKILL while it writes into
// a Badger directory, then checks that the directory opens, that what it
// holds is valid, and that importing the file again completes.
func TestImportKilledMidway(t *testing.T) {
	t.Parallel()
	const n = 50000
	recs := dumpRecords(t, n, time.Now().Add(time.Hour))
	whole, err := os.ReadFile(writeDump(t, recs))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := gecasoCmd("import", "-", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Half the file: more than the pipe and the command's read buffer
	// hold, so the command has opened the directory and taken records
	// when this write returns. The command then waits for the rest.
	half := len(whole) / 2
	if half < 1<<20 {
		t.Fatalf("the dump is only %d bytes: too small to fill the pipe", len(whole))
	}
	if _, err := stdin.Write(whole[:half]); err != nil {
		t.Fatalf("writing half the dump: %v\n%s", err, out.String())
	}
	waitLocked(t, dir, cmd.Process.Pid)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the import finished before the kill:\n%s", out.String())
	}

	// The application can open it, and what is there is whole.
	s := openTestBadger(t, dir)
	got := values(t, s)
	if len(got) >= n {
		t.Fatalf("%d entries after the kill: the import was not killed midway", len(got))
	}
	byKey := map[string][]byte{}
	for _, r := range recs {
		byKey[r.Key] = r.Value
	}
	for k, v := range got {
		if !bytes.Equal(byKey[k], v) {
			t.Errorf("%s holds %x after the kill, not what was imported", k, v)
		}
	}
	s.Close()
	t.Logf("%d of %d entries were written before the kill", len(got), n)

	var rep importJSON
	runJSON(t, 0, &rep, "import", writeDump(t, recs), dir)
	if rep.Imported != n {
		t.Errorf("imported %d on the second run, want %d", rep.Imported, n)
	}
	var v verifyJSON
	runJSON(t, 0, &v, "verify", dir)
	if v.Checked != n || len(v.Corrupt) != 0 {
		t.Errorf("verify after the second import: %d checked, %d corrupt; want %d, 0", v.Checked, len(v.Corrupt), n)
	}
}
