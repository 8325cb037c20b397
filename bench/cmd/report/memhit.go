package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The resident targets compare two stores, or one store at two sizes, that
// cmd/memgc measures minutes apart: a change of the machine's speed in
// between moves their ratio by a third. cmd/memhit fills both in one
// process and alternates short batches of hits on each, round after round;
// the report judges those targets on its medians when it ran.

// memhitPair is one run of memhit: its stores and the memoized function's
// result (memhit's -value).
type memhitPair struct{ stores, value string }

// memhitPairs are the runs of memhit. Each pair runs on both values:
// bench.Small, and bench.Record, a five-field struct with a string slice,
// whose decoding weighs more in a hit.
var memhitPairs = []memhitPair{
	{"gecaso-memory@1e5,gecaso-memory@1e7", "small"},
	{"gecaso-memory@1e5,gecaso-memory@1e7", "record"},
	{"gecaso-memory@1e6,freecache@1e6", "small"},
	{"gecaso-memory@1e6,freecache@1e6", "record"},
}

// memhitKey is the key of a median memhit measured: store@size, followed
// by /value for a value other than small.
func memhitKey(spec, value string) string {
	if value == "small" {
		return spec
	}
	return spec + "/" + value
}

// memhitRounds is the number of rounds of each run.
const memhitRounds = 200

// runMemhit runs cmd/memhit over stores with value and returns the median
// time of a hit of each, by store name as given (name@entries).
func runMemhit(stores, value string) (map[string]float64, error) {
	args := []string{"run", "./cmd/memhit", "-stores", stores, "-value", value, "-rounds", strconv.Itoa(memhitRounds)}
	out, err := goCommand(args...).Output()
	if err != nil {
		return nil, fmt.Errorf("memhit: %w", err)
	}
	return parseMemhit(out)
}

// parseMemhit reads memhit's table: | store | median ns/hit | quartiles | ratio |.
func parseMemhit(out []byte) (map[string]float64, error) {
	med := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(f) != 4 || !strings.Contains(f[0], "@") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("memhit line %q: %v", line, err)
		}
		med[strings.TrimSpace(f[0])] = v
	}
	if len(med) == 0 {
		return nil, fmt.Errorf("memhit printed no result")
	}
	return med, nil
}

// residentPairs runs memhit over the pairs whose stores memgc measured at
// both sizes, and returns every median it printed. A pair that fails is
// left to memgc's figures. The medians are keyed by memhitKey.
func residentPairs(rows []residentRow) map[string]float64 {
	med := map[string]float64{}
	for _, pair := range memhitPairs {
		measured := true
		for _, spec := range strings.Split(pair.stores, ",") {
			store, size, _ := strings.Cut(spec, "@")
			n, err := strconv.ParseFloat(size, 64)
			if _, ok := residentAt(rows, n, store); err != nil || !ok {
				measured = false
			}
		}
		if !measured {
			continue
		}
		got, err := runMemhit(pair.stores, pair.value)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			continue
		}
		for k, v := range got {
			med[memhitKey(k, pair.value)] = v
		}
	}
	return med
}
