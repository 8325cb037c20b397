package badger

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestFootprint measures the resident memory of a process holding a
// Storage: empty, after writing 1M entries of 256 bytes and reading them at
// random, and after reopening those 1M entries and reading them again. Each
// case runs in a fresh child process. It only reports; set
// GECASO_BENCH_LARGE=1 to run it.
func TestFootprint(t *testing.T) {
	if os.Getenv("GECASO_BENCH_LARGE") == "" {
		t.Skip("set GECASO_BENCH_LARGE=1 to measure memory")
	}
	dir := t.TempDir()
	for _, c := range []string{"baseline", "empty", "fill-1e6", "reopen-1e6"} {
		d := dir
		if c == "empty" {
			d = t.TempDir()
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestFootprintChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "GECASO_FOOTPRINT="+c, "GECASO_FOOTPRINT_DIR="+d)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
		for l := range strings.Lines(string(out)) {
			if strings.HasPrefix(l, "footprint") {
				t.Log(strings.TrimSpace(l))
			}
		}
	}
}

func TestFootprintChild(t *testing.T) {
	c := os.Getenv("GECASO_FOOTPRINT")
	if c == "" {
		t.Skip("run by TestFootprint")
	}
	dir := os.Getenv("GECASO_FOOTPRINT_DIR")
	const n = 1_000_000
	var s *Storage
	if c != "baseline" {
		var err error
		if s, err = Open(dir, WithGCInterval(-1)); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	if c == "fill-1e6" {
		fill(t, s, n)
	}
	if strings.HasSuffix(c, "1e6") {
		rng := rand.New(rand.NewPCG(1, 2))
		ctx := context.Background()
		for range n {
			if _, err := s.Get(ctx, benchKey(rng.IntN(n))); err != nil {
				t.Fatal(err)
			}
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := procStatus(t)
	fmt.Printf("footprint %-10s VmRSS %4d MB (anon %4d MB, file %4d MB)  Go heap in use %4d MB, Go sys %4d MB\n",
		c, st["VmRSS"]>>10, st["RssAnon"]>>10, st["RssFile"]>>10, ms.HeapInuse>>20, ms.Sys>>20)
}

// procStatus returns the kB figures of /proc/self/status.
func procStatus(t *testing.T) map[string]int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var k string
		var v int64
		if _, err := fmt.Sscanf(strings.Replace(sc.Text(), ":", " ", 1), "%s %d kB", &k, &v); err == nil {
			m[k] = v
		}
	}
	return m
}
