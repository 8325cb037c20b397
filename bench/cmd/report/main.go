// Command report runs the benchmark suite of the bench module, summarises
// it with benchstat, and writes docs/BENCH.md with its charts
// (docs/bench-throughput.svg, docs/bench-scaling.svg).
//
// Run it inside bench/:
//
//	go run ./cmd/report                 # the full suite, -count 6
//	go run ./cmd/report -count 10 -benchtime 1s
//	go run ./cmd/report -bench 'Hit$' -count 3 -large=false
//	go run ./cmd/report -from results.txt   # rewrite the docs from a saved run
//
// Flags: -count, -benchtime and -bench are passed to go test; -large also
// measures a million resident entries (GECASO_BENCH_LARGE=1); -raw keeps the
// go test output; -profile lists hit benchmarks of gecaso whose CPU and
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
	flag.StringVar(&o.benchtime, "benchtime", "300ms", "time or iterations per run (go test -benchtime)")
	flag.StringVar(&o.bench, "bench", ".", "benchmarks to run (go test -bench)")
	flag.BoolVar(&o.large, "large", true, "also measure a million resident entries (slow to fill)")
	flag.StringVar(&o.out, "out", "../docs", "directory that receives BENCH.md and the SVG charts")
	flag.StringVar(&o.from, "from", "", "read go test output from this file instead of running the suite")
	flag.StringVar(&o.raw, "raw", "", "also write the raw go test output to this file")
	flag.StringVar(&o.profile, "profile", "Hit/int/small/gecaso-memory,HitParallel/int/small/gecaso-memory,Hit/int/small/gecaso-memory-near,Hit/int/small/gecaso-badger",
		"comma-separated benchmarks whose CPU and allocation profiles go into the report; empty for none")
	flag.Parse()
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
}

func run(o options) error {
	if b, err := os.ReadFile("go.mod"); err != nil || !bytes.Contains(b, []byte("module github.com/gecaso/gecaso/bench")) {
		return errors.New("run inside the bench directory: go run ./cmd/report")
	}
	m := describeMachine()
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
	}
	for name, svg := range charts {
		if svg == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(o.out, name), []byte(svg), 0o644); err != nil {
			return err
		}
	}
	md := markdown(o, m, set, stat, profiles, charts)
	path := filepath.Join(o.out, "BENCH.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "report: wrote", path)
	return nil
}

// runSuite runs go test over the bench package, echoing its output.
func runSuite(o options) ([]byte, error) {
	args := []string{"test", "-run", "^$", "-bench", o.bench, "-benchtime", o.benchtime,
		"-count", fmt.Sprint(o.count), "-timeout", "0", "."}
	fmt.Fprintln(os.Stderr, "report: go", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Env = os.Environ()
	if o.large {
		cmd.Env = append(cmd.Env, "GECASO_BENCH_LARGE=1")
	}
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
	cmd.Stderr = os.Stderr
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
