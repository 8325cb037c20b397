// Command memhit compares the cost of hits in several stores on a machine
// shared with other work. It opens and fills every store first, then runs
// short batches of hits on each in turn, round after round, and prints
// each store's median time per hit over its batches with the quartiles,
// and its ratio to the first store. A slow change in the machine's load
// then weighs on every store alike, which running the stores one after the
// other (as go test -bench does) cannot promise.
//
// With -stores, a store is a gecaso memoized function (or a peer's
// memoization) from bench.MemoryPeers with its number of entries, and a
// hit is a call on a random resident argument. The function returns a
// bench.Small, or with -value record a bench.Record:
//
//	go run ./cmd/memhit -stores gecaso-memory@1e6,freecache@1e6
//	go run ./cmd/memhit -stores gecaso-memory@1e5,gecaso-memory@1e7
//	go run ./cmd/memhit -value record -stores gecaso-memory@1e5,gecaso-memory@1e7
//
// With -parallel, a store is a storage (bench.MemStorages: memory,
// memory-map) with its number of entries, and each round runs a batch of
// View hits on random keys from one goroutine, then one from two; memhit
// prints the median over the rounds of the two-goroutine throughput
// divided by the one-goroutine throughput:
//
//	go run ./cmd/memhit -parallel memory@1e5,memory-map@1e5
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gecaso/gecaso/bench"
	"github.com/gecaso/gecaso/storage"
)

func main() {
	stores := flag.String("stores", "", "comma-separated memoizations to compare, each name@entries")
	value := flag.String("value", "small", "the memoized function's result with -stores: small (bench.Small) or record (bench.Record)")
	parallel := flag.String("parallel", "", "comma-separated storages whose parallel speed-up to measure, each name@entries")
	rounds := flag.Int("rounds", 400, "rounds of batches")
	batch := flag.Int("batch", 2000, "hits per batch (per goroutine with -parallel)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the hits (not of the fill) to this file")
	flag.Parse()
	profile = *cpuprofile
	fmt.Printf("GOMAXPROCS %d, %s, %s\n\n", runtime.GOMAXPROCS(0), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	var err error
	switch {
	case *stores != "":
		err = compareValue(*value, *stores, *rounds, *batch)
	case *parallel != "":
		err = speedup(*parallel, *rounds, *batch)
	default:
		err = errors.New("give -stores or -parallel")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "memhit:", err)
		os.Exit(1)
	}
}

// profile is the file to write a CPU profile to, or empty.
var profile string

// startProfile starts the CPU profile when one was asked for, and returns
// what stops it.
func startProfile() (stop func(), err error) {
	if profile == "" {
		return func() {}, nil
	}
	f, err := os.Create(profile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// parse splits "name@1e6" into its parts.
func parse(spec string) (string, int, error) {
	name, n, ok := strings.Cut(spec, "@")
	f, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || f < 1 {
		return "", 0, fmt.Errorf("bad store %q: want name@entries", spec)
	}
	return name, int(f), nil
}

// rng is a xorshift generator for picking keys.
type rng uint64

func (x *rng) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

// quartiles returns the 25th, 50th and 75th percentiles of xs.
func quartiles(xs []float64) (q1, med, q3 float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(p float64) float64 { return s[int(p*float64(len(s)-1))] }
	return at(0.25), at(0.5), at(0.75)
}

type memo[V any] struct {
	label string
	n     int
	m     bench.Memo[int, V]
	ns    []float64 // per batch: time per hit
}

// compareValue runs compare with the value type value names.
func compareValue(value, specs string, rounds, batch int) error {
	switch value {
	case "small":
		return compare[bench.Small](specs, 64, rounds, batch)
	case "record":
		return compare[bench.Record](specs, bench.RecordSize, rounds, batch)
	}
	return fmt.Errorf("no value %q: give small or record", value)
}

// compare fills every memoization of specs with values of V (about size
// bytes each once encoded), then times rounds of batches of hits on each.
func compare[V any](specs string, size, rounds, batch int) error {
	var ms []*memo[V]
	defer func() {
		for _, m := range ms {
			m.m.Close()
		}
	}()
	ctx := context.Background()
	for _, spec := range strings.Split(specs, ",") {
		name, n, err := parse(spec)
		if err != nil {
			return err
		}
		peers := bench.MemoryPeers[V]()
		i := slices.IndexFunc(peers, func(p bench.Peer[int, V]) bool { return p.Name == name })
		if i < 0 {
			return fmt.Errorf("no store %q", name)
		}
		gen, seed := bench.Value[V](size), bench.Seed[int]()
		fn := func(_ context.Context, a int) (V, error) { return gen(seed(a)), nil }
		m, err := peers[i].Open(bench.Config{Capacity: n + n/4, ValueSize: size, Namespace: fmt.Sprintf("memhit-%d", len(ms))}, fn)
		if err != nil {
			return err
		}
		ms = append(ms, &memo[V]{label: spec, n: n, m: m})
		start := time.Now()
		for a := range n {
			if _, err := m.Call(ctx, a); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "filled %s in %v\n", spec, time.Since(start).Round(time.Millisecond))
	}
	runtime.GC()
	stop, err := startProfile()
	if err != nil {
		return err
	}
	defer stop()
	x := rng(0x9e3779b97f4a7c15)
	for r := range rounds {
		for j := range ms {
			m := ms[(r+j)%len(ms)] // each store goes first in turn
			start := time.Now()
			for range batch {
				if _, err := m.m.Call(ctx, int(x.next()%uint64(m.n))); err != nil {
					return err
				}
			}
			m.ns = append(m.ns, float64(time.Since(start).Nanoseconds())/float64(batch))
		}
	}
	fmt.Printf("%d rounds of %d hits per store, interleaved\n\n", rounds, batch)
	fmt.Println("| store | median ns/hit | quartiles | ratio to the first |")
	fmt.Println("|---|---:|---:|---:|")
	_, base, _ := quartiles(ms[0].ns)
	for _, m := range ms {
		q1, med, q3 := quartiles(m.ns)
		fmt.Printf("| %s | %.0f | %.0f to %.0f | %.2f |\n", m.label, med, q1, q3, med/base)
	}
	return nil
}

func speedup(specs string, rounds, batch int) error {
	if runtime.GOMAXPROCS(0) < 2 {
		return errors.New("-parallel needs GOMAXPROCS of 2 or more")
	}
	fmt.Printf("%d rounds of a batch of %d View hits from 1 goroutine, then from 2\n\n", rounds, batch)
	fmt.Println("| storage | ns/hit, 1 goroutine | ns/hit, 2 goroutines | speed-up, median | quartiles |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, spec := range strings.Split(specs, ",") {
		name, n, err := parse(spec)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(bench.MemStorages, func(s struct {
			Name string
			Open func() bench.MemStorage
		}) bool {
			return s.Name == name
		})
		if i < 0 {
			return fmt.Errorf("no storage %q", name)
		}
		s := bench.MemStorages[i].Open()
		if err := fill(s, n); err != nil {
			s.Close()
			return err
		}
		one, two, ratios, err := alternate(s, n, rounds, batch)
		s.Close()
		if err != nil {
			return err
		}
		_, m1, _ := quartiles(one)
		_, m2, _ := quartiles(two)
		q1, med, q3 := quartiles(ratios)
		fmt.Printf("| %s | %.0f | %.0f | %.2f | %.2f to %.2f |\n", spec, m1, m2, med, q1, q3)
		runtime.GC()
	}
	return nil
}

func fill(s bench.MemStorage, n int) error {
	var k bench.MemKeys
	v := make([]byte, 100)
	ctx := context.Background()
	for i := range n {
		if err := s.Set(ctx, string(k.Key(i)), v, storage.Params{TTL: time.Hour}); err != nil {
			return err
		}
	}
	runtime.GC()
	return nil
}

var errSize = errors.New("wrong size")

// alternate runs rounds of a batch from one goroutine then from two, and
// returns the time per hit of each batch and the speed-up of each round.
func alternate(s bench.MemStorage, n, rounds, batch int) (one, two, ratios []float64, err error) {
	ctx := context.Background()
	view := func(v []byte) error {
		if len(v) != 100 {
			return errSize
		}
		return nil
	}
	run := func(g int, seed uint64) (time.Duration, error) {
		var wg sync.WaitGroup
		errs := make([]error, g)
		start := time.Now()
		for w := range g {
			wg.Go(func() {
				var k bench.MemKeys
				x := rng(seed*0x9e3779b97f4a7c15 + uint64(w)*0xbf58476d1ce4e5b9 + 1)
				for range batch {
					if err := s.View(ctx, k.Str(int(x.next()%uint64(n))), view); err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start), errors.Join(errs...)
	}
	for r := range rounds {
		d1, err := run(1, uint64(2*r))
		if err != nil {
			return nil, nil, nil, err
		}
		d2, err := run(2, uint64(2*r+1))
		if err != nil {
			return nil, nil, nil, err
		}
		ns1 := float64(d1.Nanoseconds()) / float64(batch)
		ns2 := float64(d2.Nanoseconds()) / float64(2*batch)
		one, two = append(one, ns1), append(two, ns2)
		ratios = append(ratios, ns1/ns2)
	}
	return one, two, ratios, nil
}
