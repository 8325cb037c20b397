package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// profile is the top of the CPU and allocation profiles of one benchmark.
type profile struct {
	bench    string
	cpu, mem string
}

// captureProfiles runs each named benchmark alone with -cpuprofile and
// -memprofile and keeps the top of `go tool pprof -top` for each.
func captureProfiles(benches []string) ([]profile, error) {
	dir, err := os.MkdirTemp("", "bench-profile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bench.test")
	if out, err := exec.Command("go", "test", "-c", "-o", bin, ".").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go test -c: %w: %s", err, out)
	}
	var ps []profile
	for _, name := range benches {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		fmt.Fprintln(os.Stderr, "report: profiling", name)
		cpu, mem := filepath.Join(dir, "cpu.out"), filepath.Join(dir, "mem.out")
		out, err := exec.Command(bin, "-test.run", "^$", "-test.bench", benchPattern(name),
			"-test.benchtime", "2s", "-test.cpuprofile", cpu, "-test.memprofile", mem).CombinedOutput()
		if err != nil {
			return ps, fmt.Errorf("%s: %w: %s", name, err, out)
		}
		if !strings.Contains(string(out), "ns/op") {
			fmt.Fprintf(os.Stderr, "report: %s did not run (skipped?)\n", name)
			continue
		}
		p := profile{bench: name}
		if p.cpu, err = pprofTop(bin, cpu, "-nodecount=25"); err != nil {
			return ps, err
		}
		if p.mem, err = pprofTop(bin, mem, "-sample_index=alloc_space", "-nodecount=15"); err != nil {
			return ps, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// benchPattern anchors every element of a benchmark name.
func benchPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if i == 0 {
			p = "Benchmark" + p
		}
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func pprofTop(bin, prof string, flags ...string) (string, error) {
	args := append([]string{"tool", "pprof", "-top"}, flags...)
	args = append(args, bin, prof)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		return "", fmt.Errorf("pprof %s: %w", prof, err)
	}
	// Drop the header lines that name the binary and the time.
	var keep []string
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, ""), nil
}
