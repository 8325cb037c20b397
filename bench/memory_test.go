package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
)

// memorySize is a number of resident entries.
type memorySize struct {
	name string
	n    int
}

// memorySizes are the numbers of resident entries the memory benchmarks
// measure: a million and ten million only with GECASO_BENCH_LARGE=1, as
// they take long to fill (ten million need about 3 GB per store).
func memorySizes() []memorySize {
	sizes := []memorySize{{"n=1e3", 1_000}, {"n=1e5", 100_000}}
	if os.Getenv("GECASO_BENCH_LARGE") == "1" {
		sizes = append(sizes, memorySize{"n=1e6", 1_000_000}, memorySize{"n=1e7", 10_000_000})
	}
	return sizes
}

// BenchmarkMemoryScale measures a gecaso hit on a random one of n resident
// entries over storage/memory and over the map layout it replaced, beside
// freecache + msgpack and otter, as BenchmarkScale does. It also reports
// the Go heap each entry takes, and the GC's share of the CPU during the
// loop (gc-%, over the GC cycles that completed in it, gc-cycles; 0 when
// none did: cmd/memgc runs long enough for several).
func BenchmarkMemoryScale(b *testing.B) {
	for _, s := range memorySizes() {
		b.Run(s.name, func(b *testing.B) {
			for _, p := range MemoryPeers[Small]() {
				b.Run(p.Name, func(b *testing.B) { memoryScale(b, p, s.n) })
			}
		})
	}
}

func memoryScale(b *testing.B, p Peer[int, Small], n int) {
	var before runtime.MemStats
	if current.name != b.Name() {
		releaseFixture()
		runtime.GC()
		runtime.ReadMemStats(&before)
	}
	fx := open(b, p, n+n/4, smallSize, func(fx *fixture[int, Small]) {
		ctx := context.Background()
		for i := range n {
			if _, err := fx.m.Call(ctx, i); err != nil {
				b.Fatal(err)
			}
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		fx.extra["heap-B/entry"] = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	})
	ctx := context.Background()
	measure(b, fx, func() {
		gc0 := ReadGC()
		x := newXorshift()
		for b.Loop() {
			if _, err := fx.m.Call(ctx, int(x.next()%uint64(n))); err != nil {
				b.Fatal(err)
			}
		}
		share, cycles := GCShare(gc0, ReadGC())
		b.ReportMetric(100*share, "gc-%")
		b.ReportMetric(float64(cycles), "gc-cycles")
	})
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

// reportCPU reports the CPU time per op since cpu0 as cpu-ns/op. On a
// machine shared with other work, a benchmark loses wall time when it is
// not scheduled; its CPU time per op is steadier.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

const memValueSize = 100 // bytes: a small encoded result

// filledStorage returns a storage holding n entries, opened and filled
// the first time and kept as the current fixture, so that the
// sub-benchmarks of one size reuse it.
func filledStorage(b *testing.B, name string, open func() MemStorage, n int) MemStorage {
	id := fmt.Sprintf("storage %s %d", name, n)
	if current.name == id {
		return current.val.(MemStorage)
	}
	releaseFixture()
	s := open()
	var k MemKeys
	v := make([]byte, memValueSize)
	ctx := context.Background()
	for i := range n {
		if err := s.Set(ctx, string(k.Key(i)), v, storage.Params{TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	current.name, current.val = id, s
	current.release = func() { s.Close() }
	return s
}

// BenchmarkMemoryHit measures storage-level hits (Get, which copies, and
// View, which lends) on random keys among n resident entries, from one
// goroutine and from GOMAXPROCS goroutines: run it with -cpu 1,2 and
// divide the parallel ns/op at -cpu 1 by the one at -cpu 2 for the
// speed-up of two cores.
func BenchmarkMemoryHit(b *testing.B) {
	errSize := fmt.Errorf("wrong size")
	view := func(v []byte) error {
		if len(v) != memValueSize {
			return errSize
		}
		return nil
	}
	for _, sz := range memorySizes() {
		for _, st := range MemStorages {
			b.Run(sz.name+"/"+st.Name, func(b *testing.B) {
				s := filledStorage(b, st.Name, st.Open, sz.n)
				ctx := context.Background()
				ops := map[string]func(key string) error{
					"get": func(key string) error {
						_, err := s.Get(ctx, key)
						return err
					},
					"view": func(key string) error { return s.View(ctx, key, view) },
				}
				for _, name := range []string{"get", "view"} {
					op := ops[name]
					b.Run(name+"/serial", func(b *testing.B) {
						b.ReportAllocs()
						var k MemKeys
						x := newXorshift()
						cpu0 := cpuTime()
						for b.Loop() {
							if err := op(k.Str(int(x.next() % uint64(sz.n)))); err != nil {
								b.Fatal(err)
							}
						}
						reportCPU(b, cpu0)
					})
					b.Run(name+"/parallel", func(b *testing.B) {
						b.ReportAllocs()
						b.RunParallel(func(pb *testing.PB) {
							var k MemKeys
							x := newXorshift()
							for pb.Next() {
								if err := op(k.Str(int(x.next() % uint64(sz.n)))); err != nil {
									b.Error(err)
									return
								}
							}
						})
					})
				}
			})
		}
	}
}

// BenchmarkMemorySetLatency measures every Set's latency while a storage
// of n entries is overwritten at random, which keeps compaction busy in
// storage/memory, and reports its percentiles and maximum (p50-ns,
// p99-ns, p999-ns, max-ns) beside the mean; fill-max-ns is the slowest Set
// while the storage was filled (index growth, new segments). With
// storage/memory it also reports the segments compacted per million
// Sets and the arena's garbage at the end, in percent.
func BenchmarkMemorySetLatency(b *testing.B) {
	sizes := []memorySize{{"n=1e5", 100_000}}
	if os.Getenv("GECASO_BENCH_LARGE") == "1" {
		sizes = append(sizes, memorySize{"n=1e6", 1_000_000}, memorySize{"n=1e7", 10_000_000})
	}
	for _, sz := range sizes {
		for _, st := range MemStorages {
			b.Run(sz.name+"/"+st.Name, func(b *testing.B) { setLatency(b, st.Open, sz.n) })
		}
	}
}

func setLatency(b *testing.B, open func() MemStorage, n int) {
	releaseFixture()
	s := open()
	defer s.Close()
	ctx := context.Background()
	var k MemKeys
	// Values of 50 to 250 bytes, so that entries of different sizes mix
	// in the segments.
	v := make([]byte, 250)
	x := newXorshift()
	var fillMax time.Duration
	for i := range n {
		key := string(k.Key(i))
		t0 := time.Now()
		if err := s.Set(ctx, key, v[:50+x.next()%200], storage.Params{}); err != nil {
			b.Fatal(err)
		}
		fillMax = max(fillMax, time.Since(t0))
	}
	runtime.GC()
	var st0 memory.Stats
	mem, _ := s.(*memory.Storage)
	if mem != nil {
		st0 = mem.Stats()
	}
	lat := make([]time.Duration, 0, 1<<20)
	keyBuf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		// The key is copied outside the timed part, as a caller's key
		// already exists; the map layout keeps the string it is given.
		kb := k.Key(int(x.next() % uint64(n)))
		keyBuf = append(keyBuf[:0], kb...)
		key := string(keyBuf)
		val := v[:50+x.next()%200]
		t0 := time.Now()
		if err := s.Set(ctx, key, val, storage.Params{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	b.ReportMetric(pct(0.5), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(pct(0.999), "p999-ns")
	b.ReportMetric(float64(lat[len(lat)-1]), "max-ns")
	b.ReportMetric(float64(fillMax), "fill-max-ns")
	if mem != nil {
		st := mem.Stats()
		b.ReportMetric(float64(st.Compactions-st0.Compactions)/float64(len(lat))*1e6, "compactions/Mop")
		b.ReportMetric(100*float64(st.GarbageBytes)/float64(st.ArenaBytes), "garbage-%")
	}
}
