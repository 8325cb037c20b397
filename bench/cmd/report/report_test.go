package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/gecaso/gecaso/bench
BenchmarkHit/int/small/gecaso-memory-2   	 1000	       300 ns/op	         1.000 hit/op	     100 B/op	       2 allocs/op
BenchmarkHit/int/small/gecaso-memory-2   	 1000	       320 ns/op	         1.000 hit/op	     100 B/op	       2 allocs/op
BenchmarkHit/int/small/gecaso-memory-2   	 1000	       310 ns/op	         1.000 hit/op	     100 B/op	       2 allocs/op
BenchmarkHit/int/small/go-redis-cache-2  	 1000	       600 ns/op	         1.000 hit/op	     400 B/op	      10 allocs/op
BenchmarkHit/int/small/go-redis-cache-2  	 1000	       620 ns/op	         1.000 hit/op	     400 B/op	      10 allocs/op
BenchmarkHit/int/small/go-redis-cache-2  	 1000	       610 ns/op	         1.000 hit/op	     400 B/op	      10 allocs/op
BenchmarkScale/n=1e3/gecaso-memory-2     	 1000	       100 ns/op	       200.0 heap-B/entry	         1.000 hit/op	     100 B/op	       2 allocs/op
BenchmarkScale/n=1e5/gecaso-memory-2     	 1000	       200 ns/op	       210.0 heap-B/entry	         1.000 hit/op	     100 B/op	       2 allocs/op
PASS
`

func TestParse(t *testing.T) {
	set, err := parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		give       string
		giveUnit   string
		wantCenter float64
		wantN      int
	}{
		{give: "Hit/int/small/gecaso-memory", giveUnit: "ns/op", wantCenter: 310, wantN: 3},
		{give: "Hit/int/small/go-redis-cache", giveUnit: "allocs/op", wantCenter: 10, wantN: 3},
		{give: "Scale/n=1e5/gecaso-memory", giveUnit: "heap-B/entry", wantCenter: 210, wantN: 1},
	}
	for _, tt := range tests {
		got, ok := set.get(tt.give, tt.giveUnit)
		if !ok {
			t.Errorf("%s %s: missing", tt.give, tt.giveUnit)
			continue
		}
		if got.center != tt.wantCenter || got.n != tt.wantN {
			t.Errorf("%s %s: median %v over %d runs, want %v over %d", tt.give, tt.giveUnit, got.center, got.n, tt.wantCenter, tt.wantN)
		}
	}
	if diff := cmp.Diff([]string{"Hit/int/small", "Scale/n=1e3", "Scale/n=1e5"}, set.workloads()); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
	if set.procs != "2" {
		t.Errorf("procs %q, want 2", set.procs)
	}
}

func TestTargets(t *testing.T) {
	set, err := parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	table := targetsTable(set)
	for _, want := range []string{
		"| gecaso over memory hit faster than a loadable cache with a marshaler (go-redis-cache) | 310, 610 ns: **0.51** | not measured | not measured | 1 of 1 |",
		"| gecaso-memory hit cost flat within 1.5× from 1e3 to 1e6 entries | n=1e3: 100 ns, n=1e5: 200 ns: **2.00** | | **not met** (only up to n=1e5) | |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("targets table lacks\n%s\nin\n%s", want, table)
		}
	}
}

func TestChartsAreXML(t *testing.T) {
	set, err := parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	for name, svg := range map[string]string{"throughput": throughputChart(set), "scaling": scalingChart(set)} {
		if svg == "" {
			t.Errorf("%s: empty chart", name)
			continue
		}
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s: not well-formed XML: %v", name, err)
				break
			}
		}
	}
}

func TestBadgerSection(t *testing.T) {
	dir := t.TempDir()
	if got := badgerSection(dir); got != "" {
		t.Fatalf("without the file: %q, want nothing", got)
	}
	in := "# storage/badger: measurements\n\nIntro.\n\n## Reads\n\n```\n# a shell comment\ngo test\n```\n\n### Detail\n"
	if err := os.WriteFile(filepath.Join(dir, "BENCH-badger.md"), []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "## storage/badger from 1e4 to 1e7 entries\n\n" +
		"Copied from [BENCH-badger.md](BENCH-badger.md), measured with storage/badger's own benchmarks.\n" +
		"\nIntro.\n\n### Reads\n\n```\n# a shell comment\ngo test\n```\n\n#### Detail\n"
	if diff := cmp.Diff(want, badgerSection(dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
