package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"strconv"
	"strings"
)

// residentStores are the stores charted against resident entries, in the
// order of the legend (bench.ResidentPeers).
var residentStores = []string{"gecaso-memory", "gecaso-memory-near", "gecaso-badger", "freecache", "otter", "ristretto"}

// residentRow is one store at one number of resident entries, as
// cmd/memgc -tsv writes it.
type residentRow struct {
	n        float64
	store    string
	heap     float64 // bytes per entry
	fullGCms float64
	hitNs    float64
	hitCPUNs float64
	cycles   int
	share    float64 // GC share of the CPU, 0..1
	fillS    float64 // for a skipped row: the extrapolated fill
	hitRatio float64
	skipped  string // why the size was skipped, or ""
}

// runResident runs cmd/memgc over sizes (comma-separated) and returns its
// tab-separated output.
func runResident(o options) ([]byte, error) {
	f, err := os.CreateTemp("", "resident-*.tsv")
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(f.Name())
	args := []string{"run", "./cmd/memgc", "-n", o.resident, "-stores", strings.Join(residentStores, ","),
		"-cycles", "3", "-min", o.residentMin.String(), "-max", o.residentMax.String(),
		"-fillcap", o.fillCap.String(), "-tsv", f.Name()}
	cmd := goCommand(args...)
	cmd.Stdout = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("memgc: %w", err)
	}
	return os.ReadFile(f.Name())
}

// parseResident reads cmd/memgc -tsv output.
func parseResident(tsv []byte) ([]residentRow, error) {
	var rows []residentRow
	for i, line := range strings.Split(string(tsv), "\n") {
		line = strings.TrimRight(line, "\r")
		if i == 0 || line == "" {
			continue // the header, the end
		}
		f := strings.Split(line, "\t")
		if len(f) != 11 {
			return nil, fmt.Errorf("resident line %d: %d fields, want 11", i+1, len(f))
		}
		num := func(s string) float64 {
			v, _ := strconv.ParseFloat(s, 64)
			return v
		}
		r := residentRow{
			n: num(f[0]), store: f[1], heap: num(f[2]), fullGCms: num(f[3]), hitNs: num(f[4]),
			hitCPUNs: num(f[5]), cycles: int(num(f[6])), share: num(f[7]), fillS: num(f[8]),
			hitRatio: num(f[9]), skipped: f[10],
		}
		if r.n <= 0 || r.store == "" {
			return nil, fmt.Errorf("resident line %d: no size or store", i+1)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// residentSizes returns the sizes measured, in increasing order.
func residentSizes(rows []residentRow) []float64 {
	var ns []float64
	for _, r := range rows {
		if !containsF(ns, r.n) {
			ns = append(ns, r.n)
		}
	}
	return ns
}

func containsF(xs []float64, x float64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// gcFloor is where a GC share of zero (no cycle completed during the hits)
// is drawn on the chart's log scale.
const gcFloor = 1e-4

// residentChart draws, against resident entries, the time of a hit (left)
// and the GC's share of the CPU during the hits (right).
func residentChart(rows []residentRow) string {
	sizes := residentSizes(rows)
	if len(sizes) == 0 {
		return ""
	}
	var stores []string
	for _, s := range residentStores {
		for _, r := range rows {
			if r.store == s && !contains(stores, s) {
				stores = append(stores, s)
			}
		}
	}
	nLo, nHi := decades(sizes)
	const width, height = 1000.0, 470.0
	const top, bottom, panelW, gap, left = 50.0, 360.0, 360.0, 90.0, 70.0
	d := newSVG(int(width), int(height))
	d.text(width/2, 22, "middle", `font-size="15" font-weight="bold"`, "Hit cost and GC share against resident entries (int argument, small struct value; log scales)")
	panels := []struct {
		title string
		x     float64
		value func(residentRow) float64
		label func(float64) string
	}{
		{"hit, ns (lower is better)", left, func(r residentRow) float64 { return r.hitNs }, si},
		{"GC share of the CPU during the hits", left + panelW + gap, func(r residentRow) float64 { return math.Max(r.share, gcFloor) },
			func(v float64) string {
				if v <= gcFloor {
					return "0"
				}
				return strconv.FormatFloat(100*v, 'g', 3, 64) + "%"
			}},
	}
	for _, pn := range panels {
		var vals []float64
		for _, r := range rows {
			if r.skipped == "" {
				vals = append(vals, pn.value(r))
			}
		}
		lo, hi := decades(vals)
		x0, x1 := pn.x, pn.x+panelW
		d.residentPanel(pn.title, x0, x1, top, bottom, lo, hi, nLo, nHi, pn.label)
		for _, s := range stores {
			var pts []string
			for _, r := range rows {
				if r.store != s || r.skipped != "" {
					continue
				}
				x := logPos(r.n, nLo, nHi, x0, x1)
				y := logPos(pn.value(r), lo, hi, bottom, top)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
				d.f(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s at %s: %s</title></circle>`+"\n",
					x, y, colour(s), html.EscapeString(s), si(r.n), pn.label(pn.value(r)))
			}
			d.polyline(pts, s)
		}
	}
	d.legend(stores, left, bottom+60, width)
	return d.String()
}

// residentCaption says what the chart leaves out and how to read its
// zeros.
func residentCaption(rows []residentRow) string {
	var b strings.Builder
	b.WriteString("Each store is filled through its memoized function from every core, then hit on random\n")
	b.WriteString("resident arguments from one goroutine until three GC cycles complete or the time runs out. The\n")
	b.WriteString("GC share is the collector's CPU over the CPU the process used (runtime/metrics), over the cycles\n")
	b.WriteString("that completed during the hits. A store that completed none is drawn at the bottom of that panel\n")
	b.WriteString("as 0: its hits allocate nothing (otter, the near cache), or too little to bring the next cycle\n")
	b.WriteString("within the run over a large heap; it then costs what each cycle the application triggers costs\n")
	b.WriteString("(the full GC column below). A heap per entry of about 0 means the store keeps its data outside the\n")
	b.WriteString("Go heap (Badger's tables) and the heap shrank by more than it grew.\n")
	for _, r := range rows {
		if r.skipped != "" {
			fmt.Fprintf(&b, "\n**%s stops at fewer entries:** at %s entries it was not measured, because its %s, so this\n", r.store, si(r.n), r.skipped)
			fmt.Fprintf(&b, "fill would take about %.0f s on this machine.\n", r.fillS)
		}
	}
	return b.String()
}

// residentTable lists every row.
func residentTable(rows []residentRow) string {
	var b bytes.Buffer
	b.WriteString("| entries | store | hit ns | hit CPU ns | hits | GC cycles | GC share | full GC, CPU ms | heap B/entry | fill s |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if r.skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | not measured: %s | | | | | | | ~%.0f |\n", si(r.n), r.store, r.skipped, r.fillS)
			continue
		}
		heap := fmtNum(r.heap)
		if r.heap < 0 {
			// The heap shrank while the store filled: garbage of the
			// store measured before it was collected, and the store's
			// own data live outside the Go heap (Badger's tables).
			heap = "≈ 0"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.3f | %d | %.2f %% | %s | %s | %.1f |\n", si(r.n), r.store, fmtNs(r.hitNs), fmtNs(r.hitCPUNs),
			r.hitRatio, r.cycles, 100*r.share, fmtNum(r.fullGCms), heap, r.fillS)
	}
	return b.String()
}

// residentAt returns the measured row of store at n entries.
func residentAt(rows []residentRow, n float64, store string) (residentRow, bool) {
	for _, r := range rows {
		if r.n == n && r.store == store && r.skipped == "" {
			return r, true
		}
	}
	return residentRow{}, false
}

// residentHit is a hit's time in store among n entries: memhit's median
// (mh, by name@1eK) when it measured the store at that size, marked so,
// else memgc's.
func residentHit(rows []residentRow, mh map[string]float64, n float64, store string) (ns float64, fromMemhit, ok bool) {
	if v, ok := mh[fmt.Sprintf("%s@%s", store, expName(n))]; ok && v > 0 {
		return v, true, true
	}
	r, ok := residentAt(rows, n, store)
	return r.hitNs, false, ok
}

// expName writes a power of ten as 1eK.
func expName(n float64) string { return fmt.Sprintf("1e%.0f", math.Log10(n)) }

// residentTargets judges the targets on resident entries, measured by
// cmd/memgc and, for the pairs it ran, cmd/memhit (mh), as rows of the
// targets table: a memory hit among a million entries against freecache's,
// a memory hit among ten million against its cost among 1e5, and the GC's
// share of hits over ten million.
func residentTargets(rows []residentRow, mh map[string]float64) string {
	var b strings.Builder
	row := func(desc, cell, verdict string) {
		fmt.Fprintf(&b, "| %s | %s | | %s | |\n", desc, cell, verdict)
	}
	judge := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	mark := func(a, b bool) string {
		if a && b {
			return " (interleaved, memhit)"
		}
		return " (memgc)"
	}

	desc := "gecaso-memory hit among 1e6 resident entries ≤ freecache + msgpack among 1e6"
	g, gm, ok1 := residentHit(rows, mh, 1e6, "gecaso-memory")
	f, fm, ok2 := residentHit(rows, mh, 1e6, "freecache")
	if ok1 && ok2 {
		row(desc, fmt.Sprintf("%s, %s ns: **%.2f**%s", fmtNs(g), fmtNs(f), g/f, mark(gm, fm)), judge(g <= f))
	} else {
		row(desc, "not measured", "not measured")
	}
	// memgc memoizes one value; memhit alone measures the record.
	desc = "the same, the function returning a five-field record with a string slice (bench.Record)"
	g, ok1 = mh[memhitKey("gecaso-memory@1e6", "record")]
	f, ok2 = mh[memhitKey("freecache@1e6", "record")]
	if ok1 && ok2 {
		row(desc, fmt.Sprintf("%s, %s ns: **%.2f** (interleaved, memhit)", fmtNs(g), fmtNs(f), g/f), judge(g <= f))
	} else {
		row(desc, "not measured", "not measured")
	}

	desc = "gecaso-memory hit among 1e7 resident entries ≤ 1.5 × among 1e5"
	small, sm, ok1 := residentHit(rows, mh, 1e5, "gecaso-memory")
	large, lm, ok2 := residentHit(rows, mh, 1e7, "gecaso-memory")
	if ok1 && ok2 {
		r := large / small
		cell := fmt.Sprintf("1e5: %s ns, 1e7: %s ns: **%.2f**%s", fmtNs(small), fmtNs(large), r, mark(sm, lm))
		if g := memgcGrowth(rows); g != "" {
			cell += "; memgc, each store's own ratio: " + g
		}
		row(desc, cell, judge(r <= 1.5))
	} else {
		row(desc, "not measured", "not measured")
	}
	desc = "the same, the function returning bench.Record"
	small, ok1 = mh[memhitKey("gecaso-memory@1e5", "record")]
	large, ok2 = mh[memhitKey("gecaso-memory@1e7", "record")]
	if ok1 && ok2 {
		r := large / small
		row(desc, fmt.Sprintf("1e5: %s ns, 1e7: %s ns: **%.2f** (interleaved, memhit)", fmtNs(small), fmtNs(large), r), judge(r <= 1.5))
	} else {
		row(desc, "not measured", "not measured")
	}

	desc = "GC share of a steady hit workload over 1e7 resident entries < 5 % (gecaso-memory, memgc)"
	if large, ok := residentAt(rows, 1e7, "gecaso-memory"); ok {
		cell := fmt.Sprintf("**%.2f %%** over %d GC cycles", 100*large.share, large.cycles)
		if large.cycles == 0 {
			cell = fmt.Sprintf("**0 %%**: no GC cycle came due during the hits; a full cycle costs %s ms of CPU", fmtNum(large.fullGCms))
		}
		row(desc, cell, judge(large.share < 0.05))
	} else {
		row(desc, "not measured", "not measured")
	}
	return b.String()
}

// latencyParagraph explains, from memory latencies measured on this
// machine (chase, by region size in bytes), what makes a memory-storage
// hit among 1e7 entries cost more than among 1e5: it is empty unless both
// were measured. A hit makes two reads that depend on each other, the
// index slot and then the entry, each at a random place: in an index of
// about 16 bytes per entry (8-byte slots, kept a quarter to three
// quarters full) and in segments of the heap's bytes per entry.
//
// The hits' times are memhit's (mh) when it measured both sizes, else
// memgc's.
func latencyParagraph(rows []residentRow, mh map[string]float64, chase func(size int) float64) string {
	small, ok1 := residentAt(rows, 1e5, "gecaso-memory")
	large, ok2 := residentAt(rows, 1e7, "gecaso-memory")
	if !ok1 || !ok2 || chase == nil {
		return ""
	}
	smallNs, sm, _ := residentHit(rows, mh, 1e5, "gecaso-memory")
	largeNs, lm, _ := residentHit(rows, mh, 1e7, "gecaso-memory")
	if !sm || !lm {
		smallNs, largeNs = small.hitNs, large.hitNs
	}
	source := "memgc's, in the table above"
	if sm && lm {
		source = "memhit's, alternating batches of hits on both sizes in one process"
	}
	type region struct {
		size int
		ns   float64
	}
	regions := func(r residentRow) [2]region { // the index, the entries
		return [2]region{{size: int(16 * r.n)}, {size: int(max(r.heap, 64) * r.n)}}
	}
	at := [2][2]region{regions(small), regions(large)}
	for i := range at {
		for j := range at[i] {
			at[i][j].ns = chase(at[i][j].size)
		}
	}
	mib := func(n int) string { return fmtNum(float64(n)/(1<<20)) + " MiB" }
	expect := at[1][0].ns + at[1][1].ns - at[0][0].ns - at[0][1].ns
	var b strings.Builder
	b.WriteString("**What a hit among ten million entries pays for.** A memory-storage hit reads two places that\n")
	b.WriteString("depend on each other, at random: the key's index slot, then its entry (header, key and value) in a\n")
	b.WriteString("segment. A random read's latency depends on how much memory the reads spread over; measured on this\n")
	b.WriteString("machine when this file was written (a pointer chase through one cache line per step):\n\n")
	b.WriteString("| entries | index, region | random read | entries, region | random read | both |\n|---:|---:|---:|---:|---:|---:|\n")
	for i, n := range []float64{1e5, 1e7} {
		fmt.Fprintf(&b, "| %s | %s | %s ns | %s | %s ns | %s ns |\n", si(n), mib(at[i][0].size), fmtNs(at[i][0].ns),
			mib(at[i][1].size), fmtNs(at[i][1].ns), fmtNs(at[i][0].ns+at[i][1].ns))
	}
	grew := largeNs - smallNs
	fmt.Fprintf(&b, "\nThe two reads cost %s ns more among 1e7 entries than among 1e5; the hit costs %s ns more\n",
		fmtNs(expect), fmtNs(grew))
	fmt.Fprintf(&b, "(%s, %s against %s ns)", source, fmtNs(largeNs), fmtNs(smallNs))
	if grew > 0 && expect <= grew {
		fmt.Fprintf(&b, ": the two reads make %.0f %% of the difference", 100*expect/grew)
	}
	b.WriteString(".\nThe rest of a hit (hashing the argument,\n")
	b.WriteString("decoding the value) works on memory that does not grow with the entries; what the chase leaves\n")
	b.WriteString("unexplained is most likely the entry's further cache lines and page tables colder than a chase's. So the\n")
	b.WriteString("ratio of the two rows is set by the machine's memory latency against the rest of the hit: at the\n")
	b.WriteString("same memory latency, a faster decoder would raise it. Large pages would shorten each read's page\n")
	b.WriteString("walk; this machine is a virtual machine on 4 KiB pages. The targets table gives each store's own\n")
	b.WriteString("ratio in memgc.\n")
	return b.String()
}

// memgcGrowth lists, for gecaso-memory and the peers memgc measured at
// both 1e5 and 1e7 entries, a hit's cost among 1e7 over its cost among 1e5.
func memgcGrowth(rows []residentRow) string {
	var peers []string
	for _, p := range []string{"gecaso-memory", "freecache", "otter", "ristretto"} {
		a, ok1 := residentAt(rows, 1e5, p)
		z, ok2 := residentAt(rows, 1e7, p)
		if ok1 && ok2 {
			peers = append(peers, fmt.Sprintf("%s %.2f", p, z.hitNs/a.hitNs))
		}
	}
	return strings.Join(peers, ", ")
}
