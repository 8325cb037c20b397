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
// -stores also accepts the stores docs/BENCH.md charts against resident
// entries (bench.ResidentPeers: gecaso-memory-near, gecaso-badger,
// ristretto besides the above). A store whose fill at one size took so long
// that its fill at the next would pass -fillcap (extrapolated linearly) is
// skipped at the sizes beyond, and the table says so. -tsv also writes the
// figures, with the CPU time per hit and the share of calls that hit, as
// tab-separated values for cmd/report.
//
// Run it inside bench/:
//
//	go run ./cmd/memgc                          # 1e5, 1e6 and 1e7 entries
//	go run ./cmd/memgc -n 1e5,1e6 -stores gecaso-memory,freecache
//	go run ./cmd/memgc -n 1e3,1e4,1e5,1e6,1e7 -stores gecaso-memory,gecaso-memory-near,gecaso-badger,freecache,otter,ristretto -tsv resident.tsv
//
// Ten million entries take about 3 GB per store, one store at a time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gecaso/gecaso/bench"
)

func main() {
	sizes := flag.String("n", "1e5,1e6,1e7", "comma-separated numbers of resident entries")
	stores := flag.String("stores", "", "comma-separated stores to measure (default: all)")
	cycles := flag.Uint64("cycles", 3, "GC cycles to wait for during the hits")
	minDur := flag.Duration("min", 5*time.Second, "shortest run of hits")
	maxDur := flag.Duration("max", 3*time.Minute, "longest run of hits, even with fewer cycles")
	fillCap := flag.Duration("fillcap", 0, "skip a store at sizes whose fill would take longer than this, extrapolated from its last fill (0: never skip)")
	tsvPath := flag.String("tsv", "", "also write the results as tab-separated values to this file")
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
	peers := bench.MemoryPeers[bench.Small]()
	if want != nil {
		peers = nil
		all := append(bench.MemoryPeers[bench.Small](), bench.ResidentPeers[bench.Small]()...)
		for _, name := range want {
			i := slices.IndexFunc(all, func(p bench.Peer[int, bench.Small]) bool { return p.Name == name })
			if i < 0 {
				fmt.Fprintf(os.Stderr, "memgc: no store %q\n", name)
				os.Exit(2)
			}
			peers = append(peers, all[i])
		}
	}
	var tsv *os.File
	if *tsvPath != "" {
		var err error
		if tsv, err = os.Create(*tsvPath); err != nil {
			fmt.Fprintln(os.Stderr, "memgc:", err)
			os.Exit(1)
		}
		defer tsv.Close()
		fmt.Fprintln(tsv, "entries\tstore\theap_B_per_entry\tfull_gc_ms\thit_ns\thit_cpu_ns\tcycles\tgc_share\tfill_s\thit_ratio\tskipped")
	}
	fmt.Printf("GOMAXPROCS %d, %s, %s\n\n", runtime.GOMAXPROCS(0), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Println("| entries | store | heap B/entry | full GC ms | hit ns | cycles | GC CPU % | fill s |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|")
	type last struct {
		n    int
		fill time.Duration
	}
	lastFill := map[string]last{}
	for _, n := range ns {
		for _, p := range peers {
			if l, ok := lastFill[p.Name]; ok && *fillCap > 0 {
				if guess := time.Duration(float64(l.fill) * float64(n) / float64(l.n)); guess > *fillCap {
					fmt.Printf("| %.0e | %s | skipped: its fill of %.0e took %.1f s, so this one would take about %.0f s |  |  |  |  |  |\n",
						float64(n), p.Name, float64(l.n), l.fill.Seconds(), guess.Seconds())
					if tsv != nil {
						fmt.Fprintf(tsv, "%d\t%s\t\t\t\t\t\t\t%.1f\t\tfill of %d took %.1f s\n", n, p.Name, guess.Seconds(), l.n, l.fill.Seconds())
					}
					continue
				}
			}
			r, err := measure(p, n, *cycles, *minDur, *maxDur)
			if err != nil {
				fmt.Fprintf(os.Stderr, "memgc: %s at %d: %v\n", p.Name, n, err)
				os.Exit(1)
			}
			lastFill[p.Name] = last{n, r.fill}
			fmt.Printf("| %.0e | %s | %.0f | %.1f | %.0f | %d | %.2f | %.1f |\n",
				float64(n), p.Name, r.heapPerEntry, r.fullGC.Seconds()*1e3, r.hitNs, r.cycles, 100*r.share, r.fill.Seconds())
			if tsv != nil {
				fmt.Fprintf(tsv, "%d\t%s\t%.1f\t%.2f\t%.1f\t%.1f\t%d\t%.6f\t%.2f\t%.4f\t\n",
					n, p.Name, r.heapPerEntry, r.fullGC.Seconds()*1e3, r.hitNs, r.hitCPUNs, r.cycles, r.share, r.fill.Seconds(), r.hitRatio)
			}
		}
	}
}

// cpuTime returns the CPU time the process has used, in user and system
// mode, on all its threads (the GC's included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type result struct {
	heapPerEntry float64
	fullGC       time.Duration
	hitNs        float64
	hitCPUNs     float64 // the process's CPU time per hit, the GC's included
	hitRatio     float64 // the share of calls answered without running fn
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
	var runs atomic.Int64
	fn := func(_ context.Context, a int) (bench.Small, error) {
		runs.Add(1)
		return gen(seed(a)), nil
	}
	dir, err := os.MkdirTemp("", "memgc-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	cfg := bench.Config{Capacity: n + n/4, ValueSize: 64, Namespace: "memgc", Dir: dir}
	m, err := p.Open(cfg, fn)
	if err != nil {
		return r, err
	}
	defer m.Close()
	ctx := context.Background()
	start := time.Now()
	// Fill from every core, each goroutine a stripe of the arguments: ten
	// million misses take minutes.
	g := runtime.GOMAXPROCS(0)
	errs := make([]error, g)
	var wg sync.WaitGroup
	for w := range g {
		wg.Go(func() {
			for i := w; i < n; i += g {
				if _, err := m.Call(ctx, i); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	bench.Settle(m)
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
	runs0, cpu0 := runs.Load(), cpuTime()
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
			r.hitCPUNs = float64(cpuTime()-cpu0) / float64(hits)
			r.hitRatio = 1 - float64(runs.Load()-runs0)/float64(hits)
			r.share, r.cycles = bench.GCShare(g1, g)
			return r, nil
		}
	}
}
