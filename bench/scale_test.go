package bench

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// scaleSizes are the numbers of resident entries BenchmarkScale measures.
// A million takes a while to fill (most of all on Badger), so it runs only
// with GECASO_BENCH_LARGE=1.
func scaleSizes() []struct {
	name string
	n    int
} {
	sizes := []struct {
		name string
		n    int
	}{{"n=1e3", 1_000}, {"n=1e5", 100_000}}
	if os.Getenv("GECASO_BENCH_LARGE") == "1" {
		sizes = append(sizes, struct {
			name string
			n    int
		}{"n=1e6", 1_000_000})
	}
	return sizes
}

// BenchmarkScale measures the cost of a hit on a random resident key as the
// number of resident entries grows, and reports the memory each entry takes
// (Go heap, and disk for on-disk stores). Peers behind Redis are left out:
// their entries live in another process.
func BenchmarkScale(b *testing.B) {
	for _, s := range scaleSizes() {
		b.Run(s.name, func(b *testing.B) { scale(b, s.n) })
	}
}

func scale(b *testing.B, n int) {
	for _, p := range Peers[int, Small]() {
		if p.Remote {
			continue
		}
		b.Run(p.Name, func(b *testing.B) {
			// The heap is measured from before the store opens, so that
			// what a store allocates up front (freecache's ring buffer,
			// Badger's memtable) counts against its entries.
			var before runtime.MemStats
			if current.name != b.Name() {
				releaseFixture()
				runtime.GC()
				runtime.ReadMemStats(&before)
			}
			// Room for every entry (a quarter more, for caches that are
			// sharded or approximate): the workload measures size, not
			// eviction.
			fx := open(b, p, n+n/4, smallSize, func(fx *fixture[int, Small]) {
				ctx := context.Background()
				for i := range n {
					if _, err := fx.m.Call(ctx, i); err != nil {
						b.Fatal(err)
					}
				}
				settle(fx.m)
				var after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&after)
				fx.extra["heap-B/entry"] = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
				if d := diskBytes(fx.cfg.Dir); d > 0 {
					fx.extra["disk-B/entry"] = float64(d) / float64(n)
				}
			})
			ctx := context.Background()
			measure(b, fx, func() {
				x := newXorshift()
				for b.Loop() {
					if _, err := fx.m.Call(ctx, int(x.next()%uint64(n))); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// diskBytes returns the space the files under dir occupy on disk (allocated
// blocks, so that sparse preallocated files count for what they hold).
func diskBytes(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total
}
