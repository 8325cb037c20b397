package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"slices"
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
BenchmarkMiss/int/small/gecaso-badger-2  	 1000	     14000 ns/op	         0 hit/op	    2400 B/op	      47 allocs/op
BenchmarkMiss/int/small/badger-memo-2    	 1000	     10000 ns/op	         0 hit/op	    2100 B/op	      54 allocs/op
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
	if diff := cmp.Diff([]string{"Hit/int/small", "Miss/int/small", "Scale/n=1e3", "Scale/n=1e5"}, set.workloads()); diff != "" {
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
	// The interleaved rounds measured go-redis-cache against gecaso-memory
	// serially, and nothing else: that pair is judged on them, the others
	// on the suite.
	inter, err := parse([]byte(`goos: linux
BenchmarkHit/int/small/gecaso-memory-2   	 1000	       300 ns/op
BenchmarkHit/int/small/gecaso-memory-2   	 1000	       300 ns/op
BenchmarkHit/int/small/go-redis-cache-2  	 1000	       200 ns/op
BenchmarkHit/int/small/go-redis-cache-2  	 1000	       200 ns/op
BenchmarkHit/int/small/otter-2           	 1000	       100 ns/op
BenchmarkMissSteady/int/small/gecaso-badger-2         	 20000	     18000 ns/op
BenchmarkMissSteady/int/small/badger-memo-2           	 20000	     10000 ns/op
BenchmarkMissSteadyParallel/int/small/gecaso-badger-2 	 20000	     12000 ns/op
BenchmarkMissSteadyParallel/int/small/badger-memo-2   	 20000	     10000 ns/op
`))
	if err != nil {
		t.Fatal(err)
	}
	redis, err := redisPairSet([]byte(`goos: linux
BenchmarkHit/redis/interleaved-2         	    8557	    138581 ns/op	     70000 gecaso-ns/hit	     50000 goredis-ns/hit	         1.400 ratio
BenchmarkHit/redis/interleaved-parallel-2         	   16773	     66827 ns/op	     33000 gecaso-ns/hit	     30000 goredis-ns/hit	         1.100 ratio
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		pairs []pairSource
		want  []string
	}{
		{"suite only", nil, []string{
			"| gecaso over memory hit faster than a loadable cache with a marshaler (go-redis-cache) | 310, 610 ns: **0.51** | not measured | not measured | 1 of 1 |",
			"| gecaso over Badger miss ≤ 1.3 × raw Badger memo | 14,000, 10,000 ns: **1.40** | not measured | not measured | 0 of 1 |",
			"| gecaso-memory hit cost flat within 1.5× from 1e3 to 1e6 entries | n=1e3: 100 ns, n=1e5: 200 ns: **2.00** | | **not met** (only up to n=1e5) | |",
		}},
		{"interleaved rounds", []pairSource{{inter, " (interleaved)"}}, []string{
			"| gecaso over memory hit faster than a loadable cache with a marshaler (go-redis-cache) | 300, 200 ns: **1.50** (interleaved) | not measured | not measured | 1 of 1 |",
			"| gecaso over Badger miss ≤ 1.3 × raw Badger memo | 14,000, 10,000 ns: **1.40** | not measured | not measured | 0 of 1 |",
			// Judged on its own workloads, which the suite does not run,
			// and not counted in the miss row's workloads.
			"| the same, each store past its first 50,000 misses (MissSteady) | 18,000, 10,000 ns: **1.80** (interleaved) | 12,000, 10,000 ns: **1.20** (interleaved) | **not met** |  |",
		}},
		// The Redis pair call by call: both workloads measured, where the
		// suite has neither.
		{"Redis call by call", []pairSource{{inter, " (interleaved)"}, {redis, " (call by call)"}}, []string{
			"| gecaso over Redis hit ≤ 1.1 × go-redis memo | 70,000, 50,000 ns: **1.40** (call by call) | 33,000, 30,000 ns: **1.10** (call by call) | **not met** |",
			"| gecaso over memory hit faster than a loadable cache with a marshaler (go-redis-cache) | 300, 200 ns: **1.50** (interleaved) |",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := targetsTable(set, tt.pairs, nil, nil)
			for _, want := range tt.want {
				if !strings.Contains(table, want) {
					t.Errorf("targets table lacks\n%s\nin\n%s", want, table)
				}
			}
		})
	}
}

func TestChartsAreXML(t *testing.T) {
	set, err := parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseResident([]byte(residentSample))
	if err != nil {
		t.Fatal(err)
	}
	for name, svg := range map[string]string{"throughput": throughputChart(set), "scaling": scalingChart(set), "resident": residentChart(rows)} {
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

// residentSample is cmd/memgc -tsv output: two sizes, a store without GC
// cycles and one skipped at the larger size.
const residentSample = `entries	store	heap_B_per_entry	full_gc_ms	hit_ns	hit_cpu_ns	cycles	gc_share	fill_s	hit_ratio	skipped
1000	gecaso-memory	523.8	1.51	1319.9	1102.0	39	0.045508	0.02	1.0000	
1000	otter	244.1	0.69	161.5	187.9	0	0.000000	0.00	1.0000	
1000	gecaso-badger	15128.8	1.82	2554.9	2572.7	19	0.025226	0.03	1.0000	
10000000	gecaso-memory	202.0	30.5	2492.0	2400.0	2	0.000700	95.00	1.0000	
10000000	otter	217.0	15434	2100.0	2000.0	1	0.033400	60.00	1.0000	
10000000	gecaso-badger							3000.0		fill of 1000000 took 300.0 s
`

func TestResident(t *testing.T) {
	rows, err := parseResident([]byte(residentSample))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{1e3, 1e7}, residentSizes(rows)); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
	want := residentRow{n: 1e7, store: "gecaso-badger", fillS: 3000, skipped: "fill of 1000000 took 300.0 s"}
	if diff := cmp.Diff(want, rows[5], cmp.AllowUnexported(residentRow{})); diff != "" {
		t.Errorf("skipped row (-want +got):\n%s", diff)
	}
	caption := residentCaption(rows)
	if !strings.Contains(caption, "gecaso-badger stops at fewer entries") || !strings.Contains(caption, "about 3000 s") {
		t.Errorf("the caption does not say where Badger stops and why:\n%s", caption)
	}
	if _, err := parseResident([]byte("header\n1000\tgecaso-memory\n")); err == nil {
		t.Error("a short line parsed")
	}
}

// residentTargetSample has what the resident targets are judged on.
const residentTargetSample = `entries	store	heap_B_per_entry	full_gc_ms	hit_ns	hit_cpu_ns	cycles	gc_share	fill_s	hit_ratio	skipped
100000	gecaso-memory	210.0	2.1	1000.0	1000.0	11	0.010000	0.4	1.0000	
100000	freecache	225.0	1.0	1500.0	1500.0	21	0.009800	0.1	1.0000	
1000000	gecaso-memory	220.0	6.0	1800.0	1800.0	1	0.001300	3.0	1.0000	
1000000	freecache	170.0	1.4	2000.0	2000.0	3	0.002100	1.4	1.0000	
10000000	gecaso-memory	208.0	6.4	1600.0	1600.0	0	0.000000	33.3	1.0000	
10000000	freecache	164.0	2.8	3000.0	3000.0	0	0.000000	18.7	1.0000	
`

func TestResidentTargets(t *testing.T) {
	rows, err := parseResident([]byte(residentTargetSample))
	if err != nil {
		t.Fatal(err)
	}
	slower := slices.Clone(rows)
	slower[4].hitNs, slower[4].cycles, slower[4].share = 1600*1.25, 4, 0.06 // 1e7: 2.00x, 6 % GC
	slower[2].hitNs = 2100                                                  // 1e6: slower than freecache
	tests := []struct {
		name string
		rows []residentRow
		mh   map[string]float64
		want []string
	}{
		{"memgc", rows, nil, []string{
			"| gecaso-memory hit among 1e6 resident entries ≤ freecache + msgpack among 1e6 | 1,800, 2,000 ns: **0.90** (memgc) | | met | |",
			"| the same, the function returning a five-field record with a string slice (bench.Record) | not measured | | not measured | |",
			"| the same, the function returning bench.Record | not measured | | not measured | |",
			"| gecaso-memory hit among 1e7 resident entries ≤ 1.5 × among 1e5 | 1e5: 1,000 ns, 1e7: 1,600 ns: **1.60** (memgc); memgc, each store's own ratio: gecaso-memory 1.60, freecache 2.00 | | **not met** | |",
			"| GC share of a steady hit workload over 1e7 resident entries < 5 % (gecaso-memory, memgc) | **0 %**: no GC cycle came due during the hits; a full cycle costs 6.4 ms of CPU | | met | |",
		}},
		{"memgc, not met", slower, nil, []string{
			"ns: **1.05** (memgc) | | **not met** | |",
			"1e7: 2,000 ns: **2.00** (memgc)",
			"| **6.00 %** over 4 GC cycles | | **not met** | |",
		}},
		// memhit's pairs, alternated in one process, overrule memgc's runs
		// minutes apart; a store it did not measure keeps memgc's figure.
		{"memhit", rows, map[string]float64{"gecaso-memory@1e5": 1200, "gecaso-memory@1e7": 1700, "gecaso-memory@1e6": 2100,
			"gecaso-memory@1e6/record": 2500, "freecache@1e6/record": 2600,
			"gecaso-memory@1e5/record": 1400, "gecaso-memory@1e7/record": 2170}, []string{
			"| gecaso-memory hit among 1e6 resident entries ≤ freecache + msgpack among 1e6 | 2,100, 2,000 ns: **1.05** (memgc) | | **not met** | |",
			"| the same, the function returning a five-field record with a string slice (bench.Record) | 2,500, 2,600 ns: **0.96** (interleaved, memhit) | | met | |",
			"| the same, the function returning bench.Record | 1e5: 1,400 ns, 1e7: 2,170 ns: **1.55** (interleaved, memhit) | | **not met** | |",
			"1e5: 1,200 ns, 1e7: 1,700 ns: **1.42** (interleaved, memhit); memgc, each store's own ratio: gecaso-memory 1.60, freecache 2.00 | | met | |",
		}},
		{"not measured", rows[:2], nil, []string{
			"| gecaso-memory hit among 1e6 resident entries ≤ freecache + msgpack among 1e6 | not measured | | not measured | |",
			"| gecaso-memory hit among 1e7 resident entries ≤ 1.5 × among 1e5 | not measured | | not measured | |",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := residentTargets(tt.rows, tt.mh)
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("resident targets lack\n%s\nin\n%s", want, got)
				}
			}
		})
	}
	if table := targetsTable(&resultSet{}, nil, rows, nil); !strings.Contains(table, residentTargets(rows, nil)) {
		t.Errorf("the targets table leaves out the resident targets:\n%s", table)
	}
}

func TestParseMemhit(t *testing.T) {
	out := `GOMAXPROCS 2, go1.26.8, 2026-12-02 04:51 UTC

150 rounds of 2000 hits per store, interleaved

| store | median ns/hit | quartiles | ratio to the first |
|---|---:|---:|---:|
| gecaso-memory@1e5 | 1450 | 1302 to 1521 | 1.00 |
| gecaso-memory@1e7 | 2278 | 2176 to 2399 | 1.57 |
`
	got, err := parseMemhit([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"gecaso-memory@1e5": 1450, "gecaso-memory@1e7": 2278}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("medians (-want +got):\n%s", diff)
	}
	if _, err := parseMemhit([]byte("memhit: give -stores or -parallel\n")); err == nil {
		t.Error("output without a table parsed")
	}
}

func TestLatencyParagraph(t *testing.T) {
	rows, err := parseResident([]byte(residentTargetSample))
	if err != nil {
		t.Fatal(err)
	}
	// A made-up machine: 10 ns up to 4 MiB, 100 ns up to 64 MiB, 300 ns
	// beyond.
	var sizes []int
	chase := func(size int) float64 {
		sizes = append(sizes, size)
		switch {
		case size <= 4<<20:
			return 10
		case size <= 64<<20:
			return 100
		}
		return 300
	}
	got := latencyParagraph(rows, nil, chase)
	// 1e5: index 1.6 MB (10 ns), entries 21 MB (100 ns); 1e7: index 160 MB
	// and entries 2.08 GB (300 ns each): 490 ns more, against 600 measured.
	want := []int{16 * 1e5, 210 * 1e5, 16 * 1e7, 208 * 1e7}
	if diff := cmp.Diff(want, sizes); diff != "" {
		t.Errorf("regions chased (-want +got):\n%s", diff)
	}
	for _, s := range []string{
		"| 100k | 1.5 MiB | 10.0 ns | 20.0 MiB | 100 ns | 110 ns |",
		"| 10M | 153 MiB | 300 ns | 1,984 MiB | 300 ns | 600 ns |",
		"The two reads cost 490 ns more among 1e7 entries than among 1e5; the hit costs 600 ns more",
		"(memgc's, in the table above, 1,600 against 1,000 ns): the two reads make 82 % of the difference.",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("paragraph lacks %q:\n%s", s, got)
		}
	}
	// With memhit's figures; a difference smaller than the reads' gets no
	// share (the hits were measured at a bad moment).
	got = latencyParagraph(rows, map[string]float64{"gecaso-memory@1e5": 1300, "gecaso-memory@1e7": 1500}, chase)
	if want := "the hit costs 200 ns more\n(memhit's, alternating batches of hits on both sizes in one process, 1,500 against 1,300 ns).\nThe rest"; !strings.Contains(got, want) {
		t.Errorf("paragraph with memhit's figures lacks %q:\n%s", want, got)
	}
	if got := latencyParagraph(rows[:4], nil, chase); got != "" {
		t.Errorf("paragraph without a 1e7 row:\n%s", got)
	}
}

func TestChase(t *testing.T) {
	// A cycle through every line: the chase ends, and reports a time.
	if ns := chase(1 << 20); !(ns > 0) {
		t.Errorf("chase(1 MiB) = %v ns", ns)
	}
}
