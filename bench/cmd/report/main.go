// Command report runs the benchmark suite of the bench module, summarises
// it with benchstat, and writes docs/BENCH.md with its charts
// (docs/bench-throughput.svg, docs/bench-scaling.svg,
// docs/bench-resident.svg).
//
// Run it inside bench/:
//
//	go run ./cmd/report                 # everything, -count 6: about half an hour on 2 cores
//	go run ./cmd/report -quick          # a few minutes, for CI
//	go run ./cmd/report -count 10 -benchtime 1s
//	go run ./cmd/report -bench 'Hit$' -count 3 -resident '' -interleaved 0
//	go run ./cmd/report -from results.txt -resident-from resident.tsv   # rewrite the docs from a saved run
//
// A full run has three parts: the suite (go test -bench; -count, -benchtime
// and -bench are passed to it, -large adds a million resident entries to
// BenchmarkScale); the resident-entries chart (-resident sizes, measured by
// cmd/memgc, each store skipped at the sizes whose fill would take longer
// than -fillcap); and -interleaved rounds that alternate the library built
// with and without its hit counters (the build tag gecaso_nostats), with
// the near cache and otter, and gecaso over Badger with the raw Badger
// memo on misses, for what counting costs, the near cache's gap to otter
// and the miss target, followed by the library's Redis benchmark that
// alternates gecaso and a go-redis memo call by call, for the Redis
// target. -raw keeps the go test output, -resident-raw the resident
// figures; -profile lists hit benchmarks of gecaso whose CPU and
// allocation profiles are summarised in the report.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

func main() {
	var o options
	flag.IntVar(&o.count, "count", 6, "runs of each benchmark (go test -count)")
	flag.StringVar(&o.benchtime, "benchtime", "100ms", "time or iterations per run (go test -benchtime)")
	flag.StringVar(&o.bench, "bench", suiteBench, "benchmarks to run (go test -bench)")
	flag.BoolVar(&o.large, "large", false, "also measure a million resident entries in BenchmarkScale (the resident chart goes further)")
	flag.StringVar(&o.resident, "resident", "1e3,1e4,1e5,1e6,1e7", "comma-separated numbers of resident entries for the resident chart; empty for none")
	flag.StringVar(&o.residentFrom, "resident-from", "", "read the resident figures (cmd/memgc -tsv) from this file instead of measuring them")
	flag.StringVar(&o.residentRaw, "resident-raw", "", "also write the resident figures to this file")
	flag.DurationVar(&o.residentMin, "resident-min", 2*time.Second, "shortest run of hits per store and size")
	flag.DurationVar(&o.residentMax, "resident-max", 5*time.Second, "longest run of hits per store and size, even with fewer than 3 GC cycles")
	flag.DurationVar(&o.fillCap, "fillcap", 5*time.Minute, "skip a store at the sizes whose fill would take longer than this, extrapolated from its fill at the size before (Badger fills 1e7 entries in about 450 s, estimated from 1e6 at 220 to 250 s)")
	flag.IntVar(&o.interleaved, "interleaved", 10, "rounds of the interleaved runs (counters on and off, near cache and otter, Badger misses; then the Redis hits call by call, up to 3 times); 0 for none")
	quick := flag.Bool("quick", false, "a few minutes: the hit benchmarks, -count 2, 100ms, resident 1e3 and 1e4, 2 interleaved rounds, no profiles")
	flag.StringVar(&o.out, "out", "../docs", "directory that receives BENCH.md and the SVG charts")
	flag.StringVar(&o.from, "from", "", "read go test output from this file instead of running the suite")
	flag.StringVar(&o.raw, "raw", "", "also write the raw go test output to this file")
	flag.StringVar(&o.profile, "profile", "Hit/int/small/gecaso-memory,HitParallel/int/small/gecaso-memory,Hit/int/small/gecaso-memory-near,Hit/int/small/gecaso-badger",
		"comma-separated benchmarks whose CPU and allocation profiles go into the report; empty for none")
	flag.Parse()
	if *quick {
		o.bench, o.count, o.benchtime = "^BenchmarkHit$", 2, "100ms"
		o.resident, o.residentMin, o.residentMax = "1e3,1e4", time.Second, 2*time.Second
		o.interleaved, o.profile, o.large = 2, "", false
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

type options struct {
	count     int
	benchtime string
	bench     string
	large     bool
	out       string
	from      string
	raw       string
	profile   string

	resident     string
	residentFrom string
	residentRaw  string
	residentMin  time.Duration
	residentMax  time.Duration
	fillCap      time.Duration
	interleaved  int
}

// suiteBench is the suite a full run measures: the memory-at-scale
// benchmarks (BenchmarkMemory*) have their own page, BENCH-memory.md.
const suiteBench = "^Benchmark(Hit|HitParallel|Miss|MissParallel|Zipf|ZipfParallel|Scale)$"

// timing is how long each part of the run took.
type timing struct{ suite, resident, interleaved, total time.Duration }

func run(o options) error {
	if b, err := os.ReadFile("go.mod"); err != nil || !bytes.Contains(b, []byte("module github.com/gecaso/gecaso/bench")) {
		return errors.New("run inside the bench directory: go run ./cmd/report")
	}
	m := describeMachine()
	began := time.Now()
	var raw []byte
	if o.from != "" {
		var err error
		if raw, err = os.ReadFile(o.from); err != nil {
			return err
		}
		m.source = o.from
	} else {
		var err error
		if raw, err = runSuite(o); err != nil {
			return err
		}
	}
	m.took.suite = time.Since(began)
	var resident []residentRow
	var memhit map[string]float64
	if o.residentFrom != "" || (o.resident != "" && o.from == "") {
		t0 := time.Now()
		var tsv []byte
		var err error
		if o.residentFrom != "" {
			tsv, err = os.ReadFile(o.residentFrom)
		} else {
			tsv, err = runResident(o)
		}
		if err != nil {
			return err
		}
		if o.residentRaw != "" {
			if err := os.WriteFile(o.residentRaw, tsv, 0o644); err != nil {
				return err
			}
		}
		if resident, err = parseResident(tsv); err != nil {
			return err
		}
		if o.residentFrom == "" {
			memhit = residentPairs(resident)
		}
		m.took.resident = time.Since(t0)
	}
	var counted, bare, redis *resultSet
	if o.interleaved > 0 && o.from == "" {
		t0 := time.Now()
		c, b, err := runInterleaved(o)
		if err != nil {
			return err
		}
		if counted, err = parse(c); err != nil {
			return err
		}
		if bare, err = parse(b); err != nil {
			return err
		}
		// The Redis pair, call by call: a failure leaves the target to the
		// suite's figures rather than losing the run.
		if out, err := runRedisPair(min(3, o.interleaved)); err != nil {
			fmt.Fprintln(os.Stderr, "report: Redis hits call by call:", err)
		} else if redis, err = redisPairSet(out); err != nil {
			return err
		}
		m.took.interleaved = time.Since(t0)
	}
	if o.from == "" {
		m.loadAfter = loadAverage()
	}
	if o.raw != "" {
		if err := os.WriteFile(o.raw, raw, 0o644); err != nil {
			return err
		}
	}
	set, err := parse(raw)
	if err != nil {
		return err
	}
	if len(set.names) == 0 {
		return errors.New("no benchmark results in the output")
	}
	stat, err := benchstat(raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report: benchstat:", err)
		stat = "benchstat failed: " + err.Error()
	}
	var profiles []profile
	if o.profile != "" && o.from == "" {
		profiles, err = captureProfiles(strings.Split(o.profile, ","))
		if err != nil {
			fmt.Fprintln(os.Stderr, "report: profiles:", err)
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	charts := map[string]string{
		"bench-throughput.svg": throughputChart(set),
		"bench-scaling.svg":    scalingChart(set),
		"bench-resident.svg":   residentChart(resident),
	}
	for name, svg := range charts {
		if svg == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(o.out, name), []byte(svg), 0o644); err != nil {
			return err
		}
	}
	m.took.total = time.Since(began)
	md := markdown(o, m, set, stat, profiles, charts, extras{resident: resident, counted: counted, bare: bare, redis: redis, memhit: memhit, chase: chase})
	path := filepath.Join(o.out, "BENCH.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "report: wrote", path)
	return nil
}

// goCommand returns the go command with args, its standard error the
// report's, having said on it what runs.
func goCommand(args ...string) *exec.Cmd {
	fmt.Fprintln(os.Stderr, "report: go", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	return cmd
}

// runSuite runs go test over the bench package, echoing its output.
func runSuite(o options) ([]byte, error) {
	args := []string{"test", "-run", "^$", "-bench", o.bench, "-benchtime", o.benchtime,
		"-count", fmt.Sprint(o.count), "-timeout", "0", "."}
	cmd := goCommand(args...)
	if o.large {
		cmd.Env = append(os.Environ(), "GECASO_BENCH_LARGE=1")
	}
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
	if err := cmd.Run(); err != nil {
		return buf.Bytes(), fmt.Errorf("go test: %w", err)
	}
	return buf.Bytes(), nil
}

// benchstat summarises raw with the benchstat tool the module declares.
func benchstat(raw []byte) (string, error) {
	f, err := os.CreateTemp("", "bench-*.txt")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	out, err := exec.Command("go", "tool", "benchstat", f.Name()).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	return string(out), nil
}

// machine describes where the figures come from.
type machine struct {
	cpu        string
	cores      int
	memory     string
	goVersion  string
	date       string
	loadBefore string
	loadAfter  string
	source     string // the file read with -from, if any
	took       timing
}

func describeMachine() machine {
	m := machine{
		cpu:        "unknown",
		cores:      runtime.NumCPU(),
		memory:     "unknown",
		date:       time.Now().UTC().Format("2006-01-02 15:04 MST"),
		loadBefore: loadAverage(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if s := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); s != nil {
			m.cpu = strings.TrimSpace(string(s[1]))
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if s := regexp.MustCompile(`(?m)^MemTotal:\s*(\d+) kB`).FindSubmatch(b); s != nil {
			fmt.Sscan(string(s[1]), &kb)
			m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(out))
	} else {
		m.goVersion = runtime.Version()
	}
	return m
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
