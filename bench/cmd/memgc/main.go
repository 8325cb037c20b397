// Command memgc measures what the garbage collector costs each in-process
// store as it grows: gecaso over storage/memory, gecaso over the map layout
// storage/memory replaced, freecache + msgpack and otter. For each number
// of resident entries and each store it fills the store through a memoized
// function, then runs hits on random entries from one goroutine until
// several GC cycles have completed, and prints a Markdown table:
//
//   - heap B/entry: growth of the Go heap from before the store opened to
//     after the fill and a GC, divided by the entries;
//   - full GC ms: the CPU time of one forced GC cycle with the store
//     resident (what every cycle costs, whoever triggers it);
//   - hit ns: the mean time of a hit during the run;
//   - cycles: GC cycles that completed during the hits;
//   - GC CPU %: the GC's share of the CPU the process used (idle time
//     excluded) over those cycles, from runtime/metrics.
//
// A store whose hits allocate nothing (otter) triggers no cycle by itself;
// its full GC column shows what each cycle the application triggers costs.
//
// Run it inside bench/:
//
//	go run ./cmd/memgc                          # 1e5, 1e6 and 1e7 entries
//	go run ./cmd/memgc -n 1e5,1e6 -stores gecaso-memory,freecache
//
// Ten million entries take about 3 GB per store, one store at a time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gecaso/gecaso/bench"
)

func main() {
	sizes := flag.String("n", "1e5,1e6,1e7", "comma-separated numbers of resident entries")
	stores := flag.String("stores", "", "comma-separated stores to measure (default: all)")
	cycles := flag.Uint64("cycles", 3, "GC cycles to wait for during the hits")
	minDur := flag.Duration("min", 5*time.Second, "shortest run of hits")
	maxDur := flag.Duration("max", 3*time.Minute, "longest run of hits, even with fewer cycles")
	flag.Parse()

	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.ParseFloat(f, 64)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "memgc: bad size %q\n", f)
			os.Exit(2)
		}
		ns = append(ns, int(n))
	}
	var want []string
	if *stores != "" {
		want = strings.Split(*stores, ",")
	}
	fmt.Printf("GOMAXPROCS %d, %s, %s\n\n", runtime.GOMAXPROCS(0), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Println("| entries | store | heap B/entry | full GC ms | hit ns | cycles | GC CPU % | fill s |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, n := range ns {
		for _, p := range bench.MemoryPeers[bench.Small]() {
			if want != nil && !slices.Contains(want, p.Name) {
				continue
			}
			r, err := measure(p, n, *cycles, *minDur, *maxDur)
			if err != nil {
				fmt.Fprintf(os.Stderr, "memgc: %s at %d: %v\n", p.Name, n, err)
				os.Exit(1)
			}
			fmt.Printf("| %.0e | %s | %.0f | %.1f | %.0f | %d | %.2f | %.1f |\n",
				float64(n), p.Name, r.heapPerEntry, r.fullGC.Seconds()*1e3, r.hitNs, r.cycles, 100*r.share, r.fill.Seconds())
		}
	}
}

type result struct {
	heapPerEntry float64
	fullGC       time.Duration
	hitNs        float64
	cycles       uint64
	share        float64
	fill         time.Duration
}

func measure(p bench.Peer[int, bench.Small], n int, wantCycles uint64, minDur, maxDur time.Duration) (result, error) {
	var r result
	runtime.GC()
	debug.FreeOSMemory()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	gen, seed := bench.Value[bench.Small](64), bench.Seed[int]()
	fn := func(_ context.Context, a int) (bench.Small, error) { return gen(seed(a)), nil }
	cfg := bench.Config{Capacity: n + n/4, ValueSize: 64, Namespace: "memgc"}
	m, err := p.Open(cfg, fn)
	if err != nil {
		return r, err
	}
	defer m.Close()
	ctx := context.Background()
	start := time.Now()
	for i := range n {
		if _, err := m.Call(ctx, i); err != nil {
			return r, err
		}
	}
	r.fill = time.Since(start)

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	r.heapPerEntry = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	g0 := bench.ReadGC()
	runtime.GC()
	g1 := bench.ReadGC()
	r.fullGC = time.Duration((g1.GC - g0.GC) * 1e9)

	x := uint64(0x9e3779b97f4a7c15)
	hits := 0
	start = time.Now()
	for {
		for range 4096 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			if _, err := m.Call(ctx, int(x%uint64(n))); err != nil {
				return r, err
			}
		}
		hits += 4096
		el := time.Since(start)
		if g := bench.ReadGC(); (g.Cycles-g1.Cycles >= wantCycles && el >= minDur) || el >= maxDur {
			r.hitNs = float64(el.Nanoseconds()) / float64(hits)
			r.share, r.cycles = bench.GCShare(g1, g)
			return r, nil
		}
	}
}
