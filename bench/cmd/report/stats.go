package main

import (
	"bytes"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// summary is one metric of one benchmark over its runs: the median and its
// 95% confidence interval, as benchstat computes them.
type summary struct {
	center, lo, hi float64
	n              int
}

// spread returns the half-width of the confidence interval relative to the
// median, or -1 when there are too few runs to have one.
func (s summary) spread() float64 {
	if s.n < 2 || s.center == 0 || s.lo != s.lo || s.hi != s.hi {
		return -1
	}
	d := max(s.center-s.lo, s.hi-s.center)
	if d > 1e300 { // ±Inf: too few runs
		return -1
	}
	return d / s.center
}

// resultSet holds every benchmark of a run by name ("Hit/int/small/otter",
// without the Benchmark prefix or the GOMAXPROCS suffix).
type resultSet struct {
	names   []string                      // in the order of the run
	metrics map[string]map[string]summary // name → unit → summary
	procs   string                        // GOMAXPROCS suffix seen, e.g. "2"
}

// get returns the summary of unit for name.
func (s *resultSet) get(name, unit string) (summary, bool) {
	v, ok := s.metrics[name][unit]
	return v, ok
}

// ns returns the median ns/op of name.
func (s *resultSet) ns(name string) (float64, bool) {
	v, ok := s.get(name, "ns/op")
	return v.center, ok && v.center > 0
}

// workloads returns the workloads (names without their last element) in the
// order of the run.
func (s *resultSet) workloads() []string {
	var ws []string
	for _, n := range s.names {
		w, _ := split(n)
		if !slices.Contains(ws, w) {
			ws = append(ws, w)
		}
	}
	return ws
}

// peers returns the libraries measured in workload w, in the order of the run.
func (s *resultSet) peers(w string) []string {
	var ps []string
	for _, n := range s.names {
		if ww, p := split(n); ww == w {
			ps = append(ps, p)
		}
	}
	return ps
}

// units returns every unit reported for workload w, the standard ones first.
func (s *resultSet) units(w string) []string {
	seen := map[string]bool{}
	for _, p := range s.peers(w) {
		for u := range s.metrics[w+"/"+p] {
			seen[u] = true
		}
	}
	var us []string
	for _, u := range []string{"ns/op", "B/op", "allocs/op", "hit/op", "heap-B/entry", "disk-B/entry"} {
		if seen[u] {
			us = append(us, u)
			delete(seen, u)
		}
	}
	var rest []string
	for u := range seen {
		rest = append(rest, u)
	}
	slices.Sort(rest)
	return append(us, rest...)
}

// split returns the workload and the library of a benchmark name.
func split(name string) (workload, peer string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:]
}

var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// parse reads go test output and summarises every metric of every benchmark.
func parse(raw []byte) (*resultSet, error) {
	values := map[string]map[string][]float64{}
	set := &resultSet{metrics: map[string]map[string]summary{}}
	r := benchfmt.NewReader(bytes.NewReader(raw), "go test")
	for r.Scan() {
		res, ok := r.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		name := strings.TrimPrefix(res.Name.String(), "Benchmark")
		if m := procsSuffix.FindStringSubmatch(name); m != nil {
			set.procs = m[1]
			name = name[:len(name)-len(m[0])]
		}
		if _, ok := values[name]; !ok {
			values[name] = map[string][]float64{}
			set.names = append(set.names, name)
		}
		for _, v := range res.Values {
			unit, val := v.Unit, v.Value
			if v.OrigUnit != "" {
				unit, val = v.OrigUnit, v.OrigValue
			}
			values[name][unit] = append(values[name][unit], val)
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	for name, units := range values {
		set.metrics[name] = map[string]summary{}
		for unit, vs := range units {
			sample := benchmath.NewSample(vs, &benchmath.DefaultThresholds)
			sum := benchmath.AssumeNothing.Summary(sample, 0.95)
			set.metrics[name][unit] = summary{center: sum.Center, lo: sum.Lo, hi: sum.Hi, n: len(vs)}
		}
	}
	return set, nil
}

// reference returns the gecaso variant a peer is compared with: the one
// that keeps what the peer keeps. Decoded values in the process go against
// gecaso with its near cache, encoded bytes in the process against gecaso
// over memory, the raw engines against gecaso over the same engine, and in
// the Zipf workloads every bounded cache against gecaso's LRU layer.
func reference(workload, peer string) string {
	if strings.HasPrefix(workload, "Zipf") {
		return "gecaso-lru"
	}
	switch peer {
	case "otter", "otter-noexpiry", "ristretto", "golang-lru", "sturdyc":
		return "gecaso-memory-near"
	case "freecache", "go-redis-cache":
		return "gecaso-memory"
	case "badger-memo":
		return "gecaso-badger"
	case "redis-memo":
		return "gecaso-redis"
	}
	return ""
}

// isGecaso reports whether peer is one of gecaso's variants.
func isGecaso(peer string) bool { return strings.HasPrefix(peer, "gecaso-") }
