package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// extras are the measurements made outside the suite.
type extras struct {
	resident []residentRow
	counted  *resultSet         // the interleaved runs with the hit counters
	bare     *resultSet         // and without (nil when not run)
	redis    *resultSet         // the Redis hit pair call by call (redisPairSet; nil when not run)
	memhit   map[string]float64 // memhit's median hit by store@size (nil when not run)

	// chase measures the latency of a random read among size bytes (nil:
	// not measured).
	chase func(size int) float64
}

// markdown assembles docs/BENCH.md.
func markdown(o options, m machine, set *resultSet, stat string, profiles []profile, charts map[string]string, ex extras) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Benchmarks\n\n")
	p("gecaso against the libraries Go programs use to memoize a function. This file and its charts are\n")
	p("written by `go run ./cmd/report` in `bench/`; run it again rather than editing them. A quick run for\n")
	p("CI is `bench/ci.sh`.\n\n")

	p("## Machine\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s |\n| cores | %d |\n| memory | %s |\n| Go | %s |\n| date | %s |\n", m.cpu, m.cores, m.memory, m.goVersion, m.date)
	if m.source != "" {
		p("| results | read from `%s` |\n", m.source)
	} else {
		large := ""
		if o.large {
			large = "GECASO_BENCH_LARGE=1 "
		}
		// A | inside a table cell ends it, even in code: escape it.
		p("| suite | `%sgo test -run '^$' -bench '%s' -benchtime %s -count %d` |\n", large, strings.ReplaceAll(o.bench, "|", `\|`), o.benchtime, o.count)
		if ex.resident != nil && o.residentFrom == "" {
			p("| resident entries | `go run ./cmd/memgc -n %s -min %v -max %v -fillcap %v` |\n", o.resident, o.residentMin, o.residentMax, o.fillCap)
		}
		if ex.counted != nil {
			p("| interleaved | %d rounds: hits -benchtime %s, with and without `-tags gecaso_nostats`; Badger misses -benchtime %s, from empty (Miss) and past 50,000 misses (MissSteady) |\n", o.interleaved, o.benchtime, missRounds)
		}
		p("| load average (1, 5, 15 min) | %s before, %s after |\n", m.loadBefore, m.loadAfter)
		p("| run time | %s: suite %s, resident entries %s, interleaved %s, profiles and the rest %s |\n",
			mins(m.took.total), mins(m.took.suite), mins(m.took.resident), mins(m.took.interleaved),
			mins(m.took.total-m.took.suite-m.took.resident-m.took.interleaved))
	}
	p("\n")
	if busy(m.loadBefore) || busy(m.loadAfter) {
		p("**Other work was running on this %d-core machine during the run** (see the load average): the\n", m.cores)
		p("figures are noisy. The ratios between libraries measured in the same run are more trustworthy\n")
		p("than the absolute times; the ± columns give each median's 95%% confidence interval.\n\n")
	}

	p("## What is measured\n\n")
	p("Each library memoizes the same function the way its users write it: look the argument up; on a\n")
	p("miss run the function and store its result, with a one-hour TTL where the library has one.\n\n")
	p("| library | how it memoizes |\n|---|---|\n")
	for _, row := range [][2]string{
		{"gecaso-memory", "`gecaso.Cached` over `memory.New()`: key digest, msgpack envelope, decode on every hit"},
		{"gecaso-lru", "`gecaso.Cached` over `lru.New(nil, capacity)`"},
		{"gecaso-badger", "`gecaso.Cached` over `badger.Open(dir)` on disk"},
		{"gecaso-redis", "`gecaso.Cached` over `redis.New(client)`, a local redis-server"},
		{"gecaso-*-near", "the same with `gecaso.WithNearCache(capacity, time.Hour)`: decoded results kept in the process"},
		{"otter", "otter/v2 `GetIfPresent`, on a miss `Set`; decoded values, keyed by the argument; `ExpiryWriting(time.Hour)`"},
		{"otter-noexpiry", "the same without an expiry (hit workloads only): its hits read no clock"},
		{"ristretto", "ristretto/v2 `Get`, on a miss `SetWithTTL` (cost 1, `IgnoreInternalCost`); struct arguments become strings"},
		{"golang-lru", "hashicorp golang-lru/v2 `Get`/`Add`, exact LRU, decoded values, no TTL"},
		{"freecache", "freecache `Get` + `msgpack.Unmarshal`; on a miss `msgpack.Marshal` + `Set`; sized in bytes (at least 512 KiB)"},
		{"sturdyc", "sturdyc `GetOrFetch` (its own loader and in-flight deduplication)"},
		{"go-redis-cache", "go-redis/cache/v9 `Once` with only its local TinyLFU: a loadable cache that keeps msgpack bytes and unmarshals every hit"},
		{"badger-memo", "raw badger/v4: `View` + `txn.Get` + `ValueCopy` + `msgpack.Unmarshal`; on a miss `Update` with `WithTTL`; `DefaultOptions`"},
		{"redis-memo", "raw go-redis/v9: `GET` + `msgpack.Unmarshal`; on a miss `SET` with an expiry"},
	} {
		p("| %s | %s |\n", row[0], row[1])
	}
	p("\neko/gocache (a loadable cache with a marshaler) is not served by the module proxy this project\n")
	p("uses; go-redis/cache's `Once` over its local TinyLFU is the same design (bytes in the cache, a\n")
	p("marshaler on every hit, a loader on a miss) and stands in for it.\n\n")
	p("Workloads (each also `Parallel`, from GOMAXPROCS goroutines):\n\n")
	p("- **Hit**: 1024 arguments, all cached, called in turn. Values: `small` is a struct with a string and\n")
	p("  eight ints; `record` a user record of five fields, one a slice of three strings (about 105 bytes\n")
	p("  once encoded); `1k` and `16k` are byte slices. Arguments: `int`, or `struct {ID int; Lang string}`.\n")
	p("  Before its first measured run each library hits until its heap has grown to its steady size (at\n")
	p("  most 5 s), so that no run pays for memory the kernel hands out for the first time.\n")
	p("- **Miss**: a new argument every call: lookup, function, store. Bounded caches hold 65,536 entries.\n")
	p("  **MissSteady** (in the interleaved rounds): the same on gecaso-badger and badger-memo once each\n")
	p("  has taken 50,000 misses.\n")
	p("- **Zipf**: a fixed trace of a million accesses drawn from a million keys (Zipf, s = 1.01),\n")
	p("  replayed through bounded caches of 1k, 10k and 100k entries after 262,144 warm-up accesses.\n")
	p("  `hit/op` is the fraction of calls answered without running the function.\n")
	p("- **Scale**: n entries resident, a hit on a random one. `heap-B/entry` is the growth of the Go heap\n")
	p("  while filling, divided by n (it includes the decoded values a cache of values keeps);\n")
	p("  `disk-B/entry` is the space Badger's files take.\n\n")
	p("Ratios are gecaso's median ns/op divided by the peer's (below 1: gecaso is faster), each peer\n")
	p("against the gecaso variant that keeps the same thing: otter, ristretto, golang-lru and sturdyc\n")
	p("against gecaso-memory-near; freecache and go-redis-cache against gecaso-memory; badger-memo against\n")
	p("gecaso-badger; redis-memo against gecaso-redis; in the Zipf workloads, every cache against gecaso-lru.\n\n")

	p("## Targets\n\n")
	p("%s\n", targetsTable(set, pairSources(ex), ex.resident, ex.memhit))

	p("## Charts\n\n")
	if charts["bench-throughput.svg"] != "" {
		p("![Throughput of a memoized hit per library](bench-throughput.svg)\n\n")
	}
	if charts["bench-scaling.svg"] != "" {
		p("![Cost of a hit and memory per entry against resident entries](bench-scaling.svg)\n\n")
	}

	if len(ex.resident) > 0 {
		p("## Hit cost and GC share against resident entries\n\n")
		if charts["bench-resident.svg"] != "" {
			p("![Hit cost and GC share against resident entries, %s to %s](bench-resident.svg)\n\n",
				si(residentSizes(ex.resident)[0]), si(slices.Max(residentSizes(ex.resident))))
		}
		p("%s\n%s\n", residentCaption(ex.resident), residentTable(ex.resident))
		if para := latencyParagraph(ex.resident, ex.memhit, ex.chase); para != "" {
			p("%s\n", para)
		}
	}

	if ex.counted != nil {
		p("## Near cache against otter\n\n")
		p("Measured in the interleaved rounds (CPU time per call, steadier than wall time on a shared machine;\n")
		p("medians of %d rounds).\n\n", o.interleaved)
		p("%s\n", nearParagraph(ex.counted))
		if ex.bare != nil {
			p("## What Stats costs a hit\n\n")
			p("`Func.Stats` counts hits in per-call-state shards with plain increments (`counter.go`). The library\n")
			p("built with `-tags gecaso_nostats` does not count; the interleaved rounds run both builds in turn.\n")
			p("The budget is 3 ns or 3 %%; a difference inside the ± of either side is noise.\n\n")
			p("%s\n", overheadTable(ex.counted, ex.bare))
		}
	}

	p("## Ratios: gecaso ÷ peer, ns/op\n\n")
	p("%s\n", ratioTable(set))

	p("## Results per workload\n\n")
	p("Medians of %s runs; ± is the half-width of the 95%% confidence interval.\n\n", runsLabel(set))
	for _, w := range set.workloads() {
		p("### %s\n\n%s\n", w, workloadTable(set, w))
	}

	if len(profiles) > 0 {
		p("## Where gecaso's hit time goes\n\n")
		p("CPU and allocation profiles of single benchmarks (`-cpuprofile`, `-memprofile`, `go tool pprof -top`).\n\n")
		for _, pr := range profiles {
			p("### %s\n\n", pr.bench)
			p("CPU:\n\n```text\n%s```\n\nAllocated space:\n\n```text\n%s```\n\n", pr.cpu, pr.mem)
		}
	}

	if badger := badgerSection(o.out); badger != "" {
		p("%s\n", badger)
	}

	p("## benchstat\n\n<details><summary>Full benchstat output</summary>\n\n```text\n%s```\n\n</details>\n", stat)
	return b.String()
}

// badgerSection returns BENCH-badger.md from dir (storage/badger's own
// measurements, from 1e4 to 1e7 resident entries, written by hand from its
// benchmarks) as a section of this report: its title dropped, its headings
// one level deeper. It returns "" when the file is missing.
func badgerSection(dir string) string {
	raw, err := os.ReadFile(filepath.Join(dir, "BENCH-badger.md"))
	if err != nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("## storage/badger from 1e4 to 1e7 entries\n\n")
	b.WriteString("Copied from [BENCH-badger.md](BENCH-badger.md), measured with storage/badger's own benchmarks.\n")
	inCode := false
	for i, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inCode = !inCode
		case i == 0 && strings.HasPrefix(line, "# "):
			continue
		case !inCode && strings.HasPrefix(line, "#"):
			line = "#" + line
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// mins formats a duration in minutes and seconds.
func mins(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return d.String()
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// busy reports whether a 1-minute load average shows other work running.
func busy(load string) bool {
	f := strings.Fields(load)
	if len(f) == 0 {
		return false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return err == nil && v >= 0.5
}

func runsLabel(set *resultSet) string {
	n := 0
	for _, units := range set.metrics {
		if s, ok := units["ns/op"]; ok {
			n = max(n, s.n)
		}
	}
	return strconv.Itoa(n)
}

// target is one of the goals gecaso is measured against.
type target struct {
	desc   string
	kind   string // the workloads it is judged on: "Hit" (the default), "Miss" or "MissSteady"
	gecaso string
	peer   string
	limit  float64 // gecaso/peer must be below (strict) or at most limit
	strict bool
}

func (t target) workloads() string {
	if t.kind == "" {
		return "Hit"
	}
	return t.kind
}

var targets = []target{
	{desc: "gecaso over memory hit faster than a loadable cache with a marshaler (go-redis-cache)", gecaso: "gecaso-memory", peer: "go-redis-cache", limit: 1, strict: true},
	{desc: "gecaso over memory hit faster than freecache + msgpack", gecaso: "gecaso-memory", peer: "freecache", limit: 1, strict: true},
	{desc: "gecaso with the near cache hit ≤ otter memoization with an expiry", gecaso: "gecaso-memory-near", peer: "otter", limit: 1},
	{desc: "gecaso with the near cache hit ≤ sturdyc", gecaso: "gecaso-memory-near", peer: "sturdyc", limit: 1},
	{desc: "gecaso over Badger hit ≤ 1.1 × raw Badger memo (1,024 entries; at 100k and 1M: docs/BENCH-badger.md)", gecaso: "gecaso-badger", peer: "badger-memo", limit: 1.1},
	{desc: "gecaso over Badger miss ≤ 1.3 × raw Badger memo", kind: "Miss", gecaso: "gecaso-badger", peer: "badger-memo", limit: 1.3},
	{desc: "the same, each store past its first 50,000 misses (MissSteady)", kind: "MissSteady", gecaso: "gecaso-badger", peer: "badger-memo", limit: 1.3},
	{desc: "gecaso over Redis hit ≤ 1.1 × go-redis memo", gecaso: "gecaso-redis", peer: "redis-memo", limit: 1.1},
}

func (t target) holds(r float64) bool {
	if t.strict {
		return r < t.limit
	}
	return r <= t.limit
}

// targetsNote follows the targets table.
const targetsNote = "Redis hits are loopback round trips, and on a 2-core machine redis-server shares the cores with the\n" +
	"benchmark, so the suite's figures move by a third from run to run. `go test ./storage/redis -run '^$'\n" +
	"-bench 'Hit/redis/interleaved'` alternates gecaso (over the Redis storage, a five-field user struct)\n" +
	"and a hand-written go-redis GET + msgpack memo call by call, serially and from every core, so that both\n" +
	"see the server at the same moment; the report runs it up to three times and judges the Redis target\n" +
	"on it (\"call by call\") when a redis-server is installed.\n\n" +
	"A hit on a random key among a million misses the CPU caches several times whatever the library\n" +
	"(otter's own ratio is beside gecaso's); gecaso's memory and lru storages miss more often than a typed\n" +
	"cache, because the key, the stored bytes and the LRU's index are separate places in memory.\n"

// pairSource is a measurement of pairs of libraries closer in time than
// the suite's, with the mark its figures carry in the targets table.
type pairSource struct {
	set  *resultSet
	mark string
}

// pairSources lists the measurements of pairs the report has, in the order
// the targets table prefers them.
func pairSources(ex extras) []pairSource {
	var ps []pairSource
	if ex.counted != nil {
		ps = append(ps, pairSource{ex.counted, " (interleaved)"})
	}
	if ex.redis != nil {
		ps = append(ps, pairSource{ex.redis, " (call by call)"})
	}
	return ps
}

// targetsTable judges every target on the int/small hit workloads, serial
// and parallel, and counts in how many hit workloads it holds. A pair that
// one of pairs measured (the interleaved rounds, the Redis hits call by
// call) is judged on the first that did: the suite measures two libraries
// minutes apart, those in turn, so a change of the machine's speed weighs
// on both alike. The targets on resident entries follow, judged on
// resident (none: left out).
func targetsTable(set *resultSet, pairs []pairSource, resident []residentRow, memhit map[string]float64) string {
	var b strings.Builder
	b.WriteString("Judged on `Hit/int/small` and `HitParallel/int/small` (the miss targets on `Miss` and `MissSteady`,\n")
	b.WriteString("`/int/small`, serial and parallel), on the medians of the interleaved rounds for a pair they measured\n")
	b.WriteString("(marked so) or, for Redis, of the library's benchmark that alternates the two call by call (marked so),\n")
	b.WriteString("else of the suite; the last column counts every workload of the target's kind in the\n")
	b.WriteString("suite (hit: both argument kinds, every value, serial and parallel; miss: every miss workload, serial\n")
	b.WriteString("and parallel). The resident-entry rows are judged on cmd/memhit, which alternates batches of hits on\n")
	b.WriteString("the two stores in one process, when it ran, else on cmd/memgc's table below (marked which).\n\n")
	b.WriteString("| target | serial: gecaso, peer, ratio | parallel: gecaso, peer, ratio | verdict | holds in |\n|---|---|---|---|---|\n")
	for _, t := range targets {
		cells := []string{}
		verdict := "met"
		missing := false
		for _, w := range []string{t.workloads() + "/int/small", t.workloads() + "Parallel/int/small"} {
			from, mark := set, ""
			for _, ps := range pairs {
				_, ok1 := ps.set.ns(w + "/" + t.gecaso)
				_, ok2 := ps.set.ns(w + "/" + t.peer)
				if ok1 && ok2 {
					from, mark = ps.set, ps.mark
					break
				}
			}
			g, ok1 := from.ns(w + "/" + t.gecaso)
			q, ok2 := from.ns(w + "/" + t.peer)
			if !ok1 || !ok2 {
				cells = append(cells, "not measured")
				missing = true
				continue
			}
			cells = append(cells, fmt.Sprintf("%s, %s ns: **%.2f**%s", fmtNs(g), fmtNs(q), g/q, mark))
			if !t.holds(g / q) {
				verdict = "**not met**"
			}
		}
		if missing {
			verdict = "not measured"
		}
		held, total := 0, 0
		for _, w := range set.workloads() {
			if kind, _, _ := strings.Cut(w, "/"); kind != t.workloads() && kind != t.workloads()+"Parallel" {
				continue
			}
			g, ok1 := set.ns(w + "/" + t.gecaso)
			q, ok2 := set.ns(w + "/" + t.peer)
			if ok1 && ok2 {
				total++
				if t.holds(g / q) {
					held++
				}
			}
		}
		holdsIn := ""
		if total > 0 {
			holdsIn = fmt.Sprintf("%d of %d", held, total)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", t.desc, cells[0], cells[1], verdict, holdsIn)
	}
	for _, g := range []string{"gecaso-memory", "gecaso-lru"} {
		first, last, lastName := 0.0, 0.0, ""
		for _, w := range set.workloads() {
			if !strings.HasPrefix(w, "Scale/") {
				continue
			}
			ns, ok := set.ns(w + "/" + g)
			if !ok {
				continue
			}
			if first == 0 {
				first = ns
			}
			last, lastName = ns, strings.TrimPrefix(w, "Scale/")
		}
		desc := fmt.Sprintf("%s hit cost flat within 1.5× from 1e3 to 1e6 entries", g)
		if first == 0 || lastName == "n=1e3" {
			fmt.Fprintf(&b, "| %s | not measured | | not measured | |\n", desc)
			continue
		}
		r := last / first
		verdict := "met"
		if r > 1.5 {
			verdict = "**not met**"
		}
		if lastName != "n=1e6" {
			verdict += fmt.Sprintf(" (only up to %s)", lastName)
		}
		peer := ""
		if o1, ok := set.ns("Scale/n=1e3/otter"); ok {
			if o2, ok := set.ns("Scale/" + lastName + "/otter"); ok {
				peer = fmt.Sprintf("; otter for comparison: %.2f", o2/o1)
			}
		}
		fmt.Fprintf(&b, "| %s | n=1e3: %s ns, %s: %s ns: **%.2f**%s | | %s | |\n", desc, fmtNs(first), lastName, fmtNs(last), r, peer, verdict)
	}
	if len(resident) > 0 {
		b.WriteString(residentTargets(resident, memhit))
	}
	b.WriteString("\n" + targetsNote)
	return b.String()
}

// ratioTable has a row per workload and a column per peer.
func ratioTable(set *resultSet) string {
	var peers []string
	for _, w := range set.workloads() {
		for _, p := range set.peers(w) {
			if !isGecaso(p) && !slices.Contains(peers, p) {
				peers = append(peers, p)
			}
		}
	}
	var b strings.Builder
	b.WriteString("| workload |")
	for _, p := range peers {
		fmt.Fprintf(&b, " %s |", p)
	}
	b.WriteString("\n|---|")
	for range peers {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, w := range set.workloads() {
		fmt.Fprintf(&b, "| %s |", w)
		for _, p := range peers {
			cell := ""
			if q, ok := set.ns(w + "/" + p); ok {
				if g, ok := set.ns(w + "/" + reference(w, p)); ok {
					cell = fmt.Sprintf("%.2f", g/q)
				}
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// workloadTable has a row per library and a column per metric.
func workloadTable(set *resultSet, w string) string {
	units := set.units(w)
	var b strings.Builder
	b.WriteString("| library |")
	for _, u := range units {
		fmt.Fprintf(&b, " %s |", u)
		if u == "ns/op" {
			b.WriteString(" ± |")
		}
	}
	b.WriteString(" gecaso ÷ this |\n|---|")
	for _, u := range units {
		b.WriteString("---:|")
		if u == "ns/op" {
			b.WriteString("---:|")
		}
	}
	b.WriteString("---|\n")
	for _, p := range set.peers(w) {
		name := w + "/" + p
		if isGecaso(p) {
			fmt.Fprintf(&b, "| **%s** |", p)
		} else {
			fmt.Fprintf(&b, "| %s |", p)
		}
		for _, u := range units {
			s, ok := set.get(name, u)
			switch {
			case !ok:
				b.WriteString(" |")
			case u == "ns/op":
				fmt.Fprintf(&b, " %s |", fmtNs(s.center))
			case u == "hit/op":
				fmt.Fprintf(&b, " %.3f |", s.center)
			default:
				fmt.Fprintf(&b, " %s |", fmtNum(s.center))
			}
			if u == "ns/op" {
				if sp := s.spread(); ok && sp >= 0 {
					fmt.Fprintf(&b, " %.0f%% |", 100*sp)
				} else {
					b.WriteString(" |")
				}
			}
		}
		cell := ""
		if ref := reference(w, p); ref != "" && !isGecaso(p) {
			g, ok1 := set.ns(w + "/" + ref)
			q, ok2 := set.ns(name)
			if ok1 && ok2 {
				cell = fmt.Sprintf("%.2f (%s)", g/q, ref)
			}
		}
		fmt.Fprintf(&b, " %s |\n", cell)
	}
	return b.String()
}

// fmtNs formats nanoseconds with three significant figures.
func fmtNs(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return groupThousands(fmt.Sprintf("%.0f", v))
	}
}

// fmtNum formats a count or a size.
func fmtNum(v float64) string {
	if v != float64(int64(v)) && v < 100 {
		return fmt.Sprintf("%.1f", v)
	}
	return groupThousands(fmt.Sprintf("%.0f", v))
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
