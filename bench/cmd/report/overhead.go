package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The interleaved runs measure three things whose differences are smaller
// than the noise between benchmarks run minutes apart on a shared machine:
// what Func.Stats's counters cost a hit (the library built with and
// without the gecaso_nostats tag, which removes them), a near-cache hit
// against otter with and without an expiry, and a Badger miss against the
// raw Badger memo, from empty and past the first 50,000 misses. Each round
// runs every benchmark once, in both builds, so that a change of load
// weighs on both sides alike.

// The benchmarks of the rounds: the hits both builds run, the clock, and
// the Badger misses, which the counted build runs.
const (
	interleavedCounted = `^Benchmark(Hit|HitParallel)$/^int$/^small$/^(gecaso-memory|gecaso-memory-near|otter|otter-noexpiry)$`
	interleavedClock   = `^BenchmarkClock$`
	interleavedBare    = `^Benchmark(Hit|HitParallel)$/^int$/^small$/^(gecaso-memory|gecaso-memory-near)$`
	interleavedMiss    = `^Benchmark(Miss|MissParallel|MissSteady|MissSteadyParallel)$/^int$/^small$/^(gecaso-badger|badger-memo)$`
)

// missRounds is the benchtime of a Badger miss in a round: a fixed number of
// misses on a new directory (a few tenths of a second, about 3 MB: within
// the first memtable), so that every round measures the same stretch of
// the store's life: from empty (Miss) and past its first 50,000 misses
// (MissSteady).
const missRounds = "20000x"

// runInterleaved builds the bench tests with and without counting and runs
// them in turn, rounds times; it returns the output of each build.
func runInterleaved(o options) (counted, bare []byte, err error) {
	dir, err := os.MkdirTemp("", "report-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	withBin, withoutBin := filepath.Join(dir, "counted.test"), filepath.Join(dir, "bare.test")
	for _, b := range []struct{ bin, tags string }{{withBin, ""}, {withoutBin, "gecaso_nostats"}} {
		args := []string{"test", "-c", "-o", b.bin}
		if b.tags != "" {
			args = append(args, "-tags", b.tags)
		}
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
	}
	var w, wo bytes.Buffer
	for r := range o.interleaved {
		fmt.Fprintf(os.Stderr, "report: interleaved round %d of %d\n", r+1, o.interleaved)
		for _, run := range []struct {
			bin, pattern, benchtime string
			out                     *bytes.Buffer
		}{
			{withBin, interleavedCounted, o.benchtime, &w},
			{withoutBin, interleavedBare, o.benchtime, &wo},
			{withBin, interleavedClock, o.benchtime, &w},
			{withBin, interleavedMiss, missRounds, &w},
		} {
			cmd := exec.Command(run.bin, "-test.run", "^$", "-test.bench", run.pattern,
				"-test.benchtime", run.benchtime, "-test.count", "1", "-test.benchmem")
			cmd.Dir = "."
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, os.Stderr
			if err := cmd.Run(); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", filepath.Base(run.bin), err)
			}
			for _, line := range strings.Split(out.String(), "\n") {
				// benchfmt needs the configuration lines once, then results.
				if strings.HasPrefix(line, "Benchmark") || (r == 0 && strings.Contains(line, ": ")) {
					run.out.WriteString(line + "\n")
				}
			}
		}
	}
	return w.Bytes(), wo.Bytes(), nil
}

// overheadTable compares each hit with and without counting.
func overheadTable(counted, bare *resultSet) string {
	var b strings.Builder
	b.WriteString("| hit | counted: ns/op | cpu-ns/op | not counted: ns/op | cpu-ns/op | counting costs, cpu-ns | share |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, w := range []string{"Hit/int/small", "HitParallel/int/small"} {
		for _, p := range []string{"gecaso-memory", "gecaso-memory-near"} {
			name := w + "/" + p
			c, ok1 := counted.get(name, "cpu-ns/op")
			n, ok2 := bare.get(name, "cpu-ns/op")
			cw, _ := counted.ns(name)
			nw, _ := bare.ns(name)
			if !ok1 || !ok2 {
				fmt.Fprintf(&b, "| %s | not measured | | | | | |\n", name)
				continue
			}
			d := c.center - n.center
			fmt.Fprintf(&b, "| %s | %s | %s ± %s | %s | %s ± %s | %+.1f | %+.1f %% |\n", name,
				fmtNs(cw), fmtNs(c.center), halfWidth(c), fmtNs(nw), fmtNs(n.center), halfWidth(n), d, 100*d/n.center)
		}
	}
	return b.String()
}

// halfWidth formats the half-width of s's confidence interval.
func halfWidth(s summary) string {
	sp := s.spread()
	if sp < 0 {
		return "?"
	}
	return fmtNs(sp * s.center)
}

// nearParagraph explains where a near hit's time goes against otter, from
// the interleaved runs.
func nearParagraph(counted *resultSet) string {
	get := func(name, unit string) float64 {
		s, ok := counted.get(name, unit)
		if !ok {
			return math.NaN()
		}
		return s.center
	}
	clock := get("Clock", "ns/op")
	var b strings.Builder
	b.WriteString("| workload | near, cpu-ns/op | otter | otter without expiry | near ÷ otter | near ÷ otter without expiry |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, w := range []string{"Hit/int/small", "HitParallel/int/small"} {
		near := get(w+"/gecaso-memory-near", "cpu-ns/op")
		otter := get(w+"/otter", "cpu-ns/op")
		bare := get(w+"/otter-noexpiry", "cpu-ns/op")
		fmt.Fprintf(&b, "| %s | %s | %s | %s | **%.2f** | %.2f |\n", w, fmtNs(near), fmtNs(otter), fmtNs(bare), near/otter, near/bare)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "A read of the monotonic clock (`BenchmarkClock`, `time.Since`) costs **%s ns** on this machine", fmtNs(clock))
	b.WriteString(" (a virtual machine whose\n")
	b.WriteString("clock source is kvm-clock; on bare metal it is nearer 15 to 20 ns). Both the near cache and otter with an expiry\n")
	b.WriteString("read it once per hit, to check the expiry on read; otter without an expiry reads no clock. So most of\n")
	b.WriteString("the gap between a near hit and otter without expiry is that read, which the documented guarantee (an\n")
	b.WriteString("entry past its maxAge or TTL is never returned) needs: a coarse clock, updated by a goroutine, would\n")
	b.WriteString("let an entry outlive its expiry by up to its period. The rest (see the profile of\n")
	b.WriteString("`Hit/int/small/gecaso-memory-near` below) is what the memoization adds to a typed map lookup: the\n")
	b.WriteString("context check, the canonical encoding of the argument (a few instructions for integers and strings,\n")
	b.WriteString("reflection for structs), its hash, taking and returning the pooled call state that holds the\n")
	b.WriteString("encoding buffer and the per-goroutine hit counters, and copying the value out. otter hashes the\n")
	b.WriteString("argument itself, and in parallel runs drops part of its read bookkeeping when its buffers are\n")
	b.WriteString("contended, which is why its parallel hit costs less CPU than its serial one.\n")
	return b.String()
}
