package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// redisAddr is the address of the throwaway redis-server TestMain started,
// or empty when there is none: Redis peers then skip.
var redisAddr string

func TestMain(m *testing.M) {
	addr, stop, err := startRedis()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: Redis peers skipped: %v\n", err)
	}
	redisAddr = addr
	code := m.Run()
	releaseFixture()
	if n := StorageErrors.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "bench: gecaso reported %d storage errors; its figures include failed cache reads or writes\n", n)
	}
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// startRedis starts redis-server on a free loopback port with persistence off
// and waits until it answers.
func startRedis() (addr string, stop func(), err error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("redis-server not found in PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "bench-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := NewRedisClient(addr)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server on %s did not answer: %w", addr, err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval while the server starts
	}
}

// namespaces makes each opening's namespace unique.
var namespaces atomic.Int64

// config returns the Config every peer of one benchmark is opened with, with
// a fresh directory that release removes.
func config(tb testing.TB, capacity, valueSize int) (Config, func()) {
	tb.Helper()
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{
		Capacity:  capacity,
		ValueSize: valueSize,
		Dir:       dir,
		RedisAddr: redisAddr,
		Namespace: "bench-" + strconv.FormatInt(namespaces.Add(1), 10),
	}
	return cfg, func() { os.RemoveAll(dir) }
}

// fixture is an opened memo with its counter of fn executions.
type fixture[A comparable, V any] struct {
	m     Memo[A, V]
	runs  *atomic.Int64 // executions of fn
	cfg   Config
	extra map[string]float64 // metrics measured at setup, reported on every run

	// cursor is where a workload that walks a sequence (the next unused
	// argument, the position in a trace) stopped, so that a rerun goes on
	// from there.
	cursor atomic.Int64
}

// current is the fixture of the benchmark that runs now. Benchmarks without
// b.Loop (those using b.RunParallel) run their function several times while
// b.N grows; they reuse one fixture instead of opening and filling a store
// each time. It is closed when another benchmark starts, and by TestMain.
var current struct {
	name    string
	val     any
	release func()
}

func releaseFixture() {
	if current.release != nil {
		current.release()
	}
	current.name, current.val, current.release = "", nil, nil
}

// open returns the fixture of this benchmark, opening p over a function
// generating values of valueSize bytes and running setup on it the first time.
// It skips the benchmark when p is unavailable.
func open[A comparable, V any](b *testing.B, p Peer[A, V], capacity, valueSize int, setup func(*fixture[A, V])) *fixture[A, V] {
	b.Helper()
	if current.name == b.Name() {
		return current.val.(*fixture[A, V])
	}
	releaseFixture()
	fx, release, err := newFixture(b, p, capacity, valueSize)
	if errors.Is(err, ErrUnavailable) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	current.name, current.val, current.release = b.Name(), fx, release
	if setup != nil {
		setup(fx)
	}
	settle(fx.m)
	// A benchmark that uses b.RunParallel rather than b.Loop is timed from
	// its first call, which opens the fixture: without the reset its first
	// run (b.N = 1) took the opening and filling as its one call, and when
	// that took longer than -benchtime the run stopped there and reported
	// it, 100 to 200 ms per call.
	b.ResetTimer()
	return fx
}

func newFixture[A comparable, V any](tb testing.TB, p Peer[A, V], capacity, valueSize int) (*fixture[A, V], func(), error) {
	tb.Helper()
	cfg, removeDir := config(tb, capacity, valueSize)
	runs := new(atomic.Int64)
	seed, gen := Seed[A](), Value[V](valueSize)
	fn := func(_ context.Context, a A) (V, error) {
		runs.Add(1)
		return gen(seed(a)), nil
	}
	m, err := p.Open(cfg, fn)
	if err != nil {
		removeDir()
		return nil, nil, err
	}
	release := func() {
		if err := m.Close(); err != nil {
			tb.Errorf("%s: close: %v", p.Name, err)
		}
		removeDir()
	}
	return &fixture[A, V]{m: m, runs: runs, cfg: cfg, extra: map[string]float64{}}, release, nil
}

// Warm-up bounds: see warm.
const (
	warmRound = 10 * time.Millisecond
	warmLimit = 5 * time.Second
	// warmSlack is the bytes allocated in a round under which a workload
	// counts as allocating too little for warm to matter: 64 pages. A first
	// touch of a page costs 12-16 us on this project's virtual machine, so
	// even all fresh they would weigh under a tenth of a round; the
	// workloads that allocate this little are the slow ones (Redis round
	// trips), whose runs move by more than that from one to the next.
	warmSlack = 256 << 10
)

// warm calls round, a batch of a workload's calls, until the heap it
// allocates from has grown to its steady size, or for warmLimit at most,
// so that measured runs do not pay for the kernel's first touch of memory.
// With freecache sized for a roomy 65,536 values of 16 KiB (a 1 GiB live
// heap) and 34 KB allocated per hit, the first three 100 ms runs read 75 to
// 120 us per hit against 5 in the runs after, and the median of six runs
// read eight times the steady cost; the heap reaches its size at the first
// garbage collection, about 3 s of hits in.
//
// The heap counts as grown once a round allocates too little to matter,
// or once a collection has run since the warm-up began and the memory the
// process holds has reached the heap's goal: the size up to which the heap
// grows before the next collection, which a measured run, started after a
// forced collection, allocates within.
func warm(round func()) {
	deadline := time.Now().Add(warmLimit)
	start := readHeap()
	prev := start
	for time.Now().Before(deadline) {
		for t := time.Now(); time.Since(t) < warmRound; {
			round()
		}
		now := readHeap()
		if now.allocs-prev.allocs < warmSlack || now.cycles > start.cycles && now.held >= now.goal {
			return
		}
		prev = now
	}
}

// heapState is what warm reads of the runtime after each round.
type heapState struct {
	allocs uint64 // bytes allocated since the program started
	cycles uint64 // garbage collections completed
	goal   uint64 // the heap's size at which the next collection is due
	// held is the memory the runtime holds from the operating system and
	// has not returned: what an allocation can use without a page fault.
	held uint64
}

func readHeap() heapState {
	s := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(s)
	return heapState{
		allocs: s[0].Value.Uint64(),
		cycles: s[1].Value.Uint64(),
		goal:   s[2].Value.Uint64(),
		held:   s[3].Value.Uint64() - s[4].Value.Uint64(),
	}
}

// settle waits until asynchronous writes (ristretto's buffers) are applied.
func settle(m any) { Settle(m) }

// fill calls m once for each of args, so that they are resident.
func fill[A comparable, V any](tb testing.TB, m Memo[A, V], args []A) {
	tb.Helper()
	ctx := context.Background()
	for _, a := range args {
		if _, err := m.Call(ctx, a); err != nil {
			tb.Fatal(err)
		}
	}
}

// measure runs body, a loop of b.N calls, and reports the fraction of calls
// answered without running fn as hit/op, the CPU time per call as cpu-ns/op
// (see reportCPU), plus the fixture's setup metrics.
func measure[A comparable, V any](b *testing.B, fx *fixture[A, V], body func()) {
	b.Helper()
	b.ReportAllocs()
	before, cpu0 := fx.runs.Load(), cpuTime()
	body()
	reportCPU(b, cpu0)
	ran := fx.runs.Load() - before
	if b.N > 0 {
		b.ReportMetric(1-float64(ran)/float64(b.N), "hit/op")
	}
	for unit, v := range fx.extra {
		b.ReportMetric(v, unit)
	}
}

// xorshift is a tiny per-goroutine generator for picking keys in a loop.
type xorshift uint64

func (x *xorshift) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

var goroutineSeeds atomic.Uint64

func newXorshift() xorshift {
	return xorshift(0x9e3779b97f4a7c15 * (goroutineSeeds.Add(1) | 1))
}
