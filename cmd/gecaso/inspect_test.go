package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
)

// The JSON documents as documented, decoded with unknown fields refused.
type (
	statsJSON struct {
		Target     string `json:"target"`
		Kind       string `json:"kind"`
		Entries    int64  `json:"entries"`
		Bytes      int64  `json:"bytes"`
		Expired    int64  `json:"expired"`
		Corrupt    int64  `json:"corrupt"`
		Namespaces []nsJSON
		Sizes      distJSON  `json:"sizes"`
		Ages       distJSON  `json:"ages"`
		Disk       *diskJSON `json:"disk"`
	}
	nsJSON struct {
		Name    string `json:"name"`
		Entries int64  `json:"entries"`
		Bytes   int64  `json:"bytes"`
		Expired int64  `json:"expired"`
		Corrupt int64  `json:"corrupt"`
	}
	distJSON struct {
		Count   int64   `json:"count"`
		Min     float64 `json:"min"`
		Mean    float64 `json:"mean"`
		Max     float64 `json:"max"`
		Buckets []struct {
			LE      *float64 `json:"le"`
			Entries int64    `json:"entries"`
		} `json:"buckets"`
	}
	diskJSON struct {
		LSMBytes   int64 `json:"lsm_bytes"`
		LSMFiles   int   `json:"lsm_files"`
		VlogBytes  int64 `json:"vlog_bytes"`
		VlogFiles  int   `json:"vlog_files"`
		OtherBytes int64 `json:"other_bytes"`
		Total      int64 `json:"total_bytes"`
	}
	lsJSON struct {
		Key        string     `json:"key"`
		Size       int        `json:"size"`
		Written    *time.Time `json:"written"`
		Expires    *time.Time `json:"expires"`
		StaleUntil *time.Time `json:"stale_until"`
		Expired    bool       `json:"expired"`
		Error      bool       `json:"error"`
		Corrupt    string     `json:"corrupt"`
	}
	getJSON struct {
		Key        string          `json:"key"`
		Size       int             `json:"size"`
		Written    *time.Time      `json:"written"`
		Expires    *time.Time      `json:"expires"`
		StaleUntil *time.Time      `json:"stale_until"`
		Error      bool            `json:"error"`
		Expired    bool            `json:"expired"`
		Params     json.RawMessage `json:"params"`
		Value      json.RawMessage `json:"value"`
		ValueText  string          `json:"value_text"`
		ValueError string          `json:"value_error"`
	}
)

// valueSizes returns the size of every value in s by namespace.
func valueSizes(t *testing.T, s storage.Storage) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, k := range keysOf(t, s.(storage.Scanner)) {
		v, err := s.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		out[namespace(k)] += int64(len(v))
	}
	return out
}

func TestStats(t *testing.T) {
	t.Parallel()
	dir, _ := seededBadger(t)
	ro, err := badger.Open(dir, badger.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	sizes := valueSizes(t, ro)
	ro.Close()

	var got statsJSON
	runJSON(t, 0, &got, "stats", dir)
	want := []nsJSON{
		{Name: "(other)", Entries: 1},
		{Name: nsOld, Entries: 2, Expired: 2},
		{Name: nsUsers, Entries: 2},
		{Name: nsUsers22, Entries: 1},
		{Name: nsUsers2, Entries: 7, Corrupt: 2},
	}
	var total int64
	for i := range want {
		want[i].Bytes = sizes[want[i].Name]
		total += want[i].Bytes
	}
	if diff := cmp.Diff(want, got.Namespaces); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	if got.Entries != 13 || got.Expired != 2 || got.Corrupt != 2 || got.Bytes != total {
		t.Errorf("totals: entries %d, expired %d, corrupt %d, bytes %d; want 13, 2, 2, %d",
			got.Entries, got.Expired, got.Corrupt, got.Bytes, total)
	}
	if got.Kind != "badger" || got.Target != dir {
		t.Errorf("target %q kind %q, want %q badger", got.Target, got.Kind, dir)
	}
	// Every entry has a size; only the 11 that decode have an age.
	if got.Sizes.Count != 13 || got.Ages.Count != 11 {
		t.Errorf("sizes measured %d entries, ages %d; want 13 and 11", got.Sizes.Count, got.Ages.Count)
	}
	for _, d := range []distJSON{got.Sizes, got.Ages} {
		var n int64
		for _, b := range d.Buckets {
			n += b.Entries
		}
		if n != d.Count || d.Buckets[len(d.Buckets)-1].LE != nil || d.Min > d.Mean || d.Mean > d.Max {
			t.Errorf("inconsistent distribution: %+v", d)
		}
	}
	// The expired entries were written two hours ago, the rest just now.
	if got.Ages.Max < 2*3600-60 || got.Ages.Min > 600 {
		t.Errorf("ages from %vs to %vs, want about 0 and 7200", got.Ages.Min, got.Ages.Max)
	}
	if got.Disk == nil || got.Disk.LSMFiles < 1 || got.Disk.LSMBytes <= 0 ||
		got.Disk.Total != got.Disk.LSMBytes+got.Disk.VlogBytes+got.Disk.OtherBytes {
		t.Errorf("disk usage %+v, want tables and a consistent total", got.Disk)
	}

	text := mustRun(t, "stats", dir).stdout
	for _, want := range []string{"entries  13", "expired  2", "corrupt  2", nsUsers2, "(other)", "LSM"} {
		if !strings.Contains(text, want) {
			t.Errorf("stats text does not mention %q:\n%s", want, text)
		}
	}
}

func TestLs(t *testing.T) {
	t.Parallel()
	dir, f := seededBadger(t)
	tests := []struct {
		name   string
		prefix []string
		want   []string
	}{
		{"all", nil, slices.Concat(f.live, f.expired, f.corrupt)},
		{"prefix", []string{nsUsers2 + ":"}, append(slices.Clone(f.live[:5]), f.corrupt...)},
		{"prefix matching nothing", []string{"nothing"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, append([]string{"ls", "-json", dir}, tt.prefix...)...)
			var keys []string
			var lines []lsJSON
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			for dec.More() {
				var l lsJSON
				if err := dec.Decode(&l); err != nil {
					t.Fatalf("ls -json line: %v\n%s", err, r.stdout)
				}
				keys = append(keys, l.Key)
				lines = append(lines, l)
			}
			if strings.Count(r.stdout, "\n") != len(lines) {
				t.Errorf("ls -json wrote %d lines for %d objects", strings.Count(r.stdout, "\n"), len(lines))
			}
			if diff := cmp.Diff(tt.want, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			for _, l := range lines {
				corrupt := slices.Contains(f.corrupt, l.Key)
				expired := slices.Contains(f.expired, l.Key)
				switch {
				case corrupt != (l.Corrupt != ""):
					t.Errorf("%s: corrupt %q", l.Key, l.Corrupt)
				case expired != l.Expired:
					t.Errorf("%s: expired %v, want %v", l.Key, l.Expired, expired)
				case !corrupt && (l.Written == nil || l.Size == 0):
					t.Errorf("%s: written %v, size %d", l.Key, l.Written, l.Size)
				case strings.HasPrefix(l.Key, nsUsers2+":") && !corrupt && (l.Expires == nil || time.Until(*l.Expires) < 50*time.Minute):
					t.Errorf("%s: expires %v, want in an hour", l.Key, l.Expires)
				case strings.HasPrefix(l.Key, nsUsers+":") && l.Expires != nil:
					t.Errorf("%s: expires %v, want never (null)", l.Key, l.Expires)
				}
			}
		})
	}

	text := mustRun(t, "ls", dir, nsOld).stdout
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 4 || !strings.HasPrefix(strings.TrimSpace(lines[0]), "SIZE") ||
		!strings.Contains(lines[1], "*") || !strings.Contains(lines[3], "gc removes") {
		t.Errorf("ls of the expired namespace:\n%s", text)
	}
}
