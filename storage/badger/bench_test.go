package badger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bdb "github.com/dgraph-io/badger/v4"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
)

// Benchmarks. go test ./storage/badger -run '^$' -bench . -benchtime 2s
// Set GECASO_BENCH_LARGE=1 to add 1e6 and 1e7 resident entries (the 1e7
// fill writes about 3 GB and takes minutes).

const benchValueSize = 256

func benchKey(i int) string { return fmt.Sprintf("bench.fn@1:%043d", i) } // as long as a gecaso key

func benchValue() []byte {
	v := make([]byte, benchValueSize)
	for i := range v {
		v[i] = byte(i)
	}
	return v
}

func residentSizes() []int {
	n := []int{1e4, 1e5}
	if os.Getenv("GECASO_BENCH_LARGE") != "" {
		n = append(n, 1e6, 1e7)
	}
	return n
}

// fill writes n entries from 16 goroutines.
func fill(b testing.TB, s *Storage, n int) {
	b.Helper()
	v := benchValue()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := s.Set(context.Background(), benchKey(i), v, storage.Params{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkBadger measures reads at several numbers of resident entries,
// the time to open a directory holding them, and the disk bytes per entry.
func BenchmarkBadger(b *testing.B) {
	ctx := context.Background()
	for _, n := range residentSizes() {
		b.Run(fmt.Sprintf("%.0e", float64(n)), func(b *testing.B) {
			dir := b.TempDir()
			s, err := Open(dir, WithGCInterval(-1))
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			fill(b, s, n)
			b.Logf("filled %d entries in %v", n, time.Since(start))
			keys := make([]string, n)
			for i := range keys {
				keys[i] = benchKey(i)
			}

			b.Run("get-hit", func(b *testing.B) {
				b.ReportAllocs()
				rng := rand.New(rand.NewPCG(1, 2))
				for b.Loop() {
					if _, err := s.Get(ctx, keys[rng.IntN(n)]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("get-hit-parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
					for pb.Next() {
						if _, err := s.Get(ctx, keys[rng.IntN(n)]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("view-hit", func(b *testing.B) {
				b.ReportAllocs()
				rng := rand.New(rand.NewPCG(1, 2))
				var sum int
				fn := func(v []byte) error { sum += len(v); return nil }
				for b.Loop() {
					if err := s.View(ctx, keys[rng.IntN(n)], fn); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("get-miss", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Get(ctx, "bench.fn@1:absent"); err != storage.ErrNotFound {
						b.Fatal(err)
					}
				}
			})
			b.Run("open", func(b *testing.B) {
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					s, err := Open(dir, WithGCInterval(-1))
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					s.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(diskUsage(b, dir))/float64(n), "disk-B/entry")
			})
			// Open with an LRU layer on top, which indexes every key at
			// start so that its bound holds across restarts.
			b.Run("open-lru", func(b *testing.B) {
				for b.Loop() {
					s, err := Open(dir, WithGCInterval(-1))
					if err != nil {
						b.Fatal(err)
					}
					l := lru.New(s, n)
					b.StopTimer()
					if got := l.Len(); got != n {
						b.Fatalf("the LRU indexed %d of %d entries", got, n)
					}
					s.Close()
					b.StartTimer()
				}
			})
			s.Close()
		})
	}
}

// BenchmarkSet compares writes with and without group commit, serial and
// from 8 goroutines per core, with and without sync writes.
func BenchmarkSet(b *testing.B) {
	ctx := context.Background()
	v := benchValue()
	for _, syncWrites := range []bool{false, true} {
		for _, batching := range []bool{true, false} {
			name := map[bool]string{true: "batch", false: "nobatch"}[batching]
			if syncWrites {
				name += "-sync"
			}
			b.Run(name, func(b *testing.B) {
				s := openT(b, WithGCInterval(-1), WithSyncWrites(syncWrites), withBatching(batching))
				var next atomic.Int64
				b.Run("serial", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if err := s.Set(ctx, benchKey(int(next.Add(1))), v, storage.Params{}); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run("parallel", func(b *testing.B) {
					b.ReportAllocs()
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := s.Set(ctx, benchKey(int(next.Add(1))), v, storage.Params{}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
				b.Run("miss-fill-parallel", func(b *testing.B) {
					b.ReportAllocs()
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							k := benchKey(int(next.Add(1)))
							if _, err := s.Get(ctx, k); err != storage.ErrNotFound {
								b.Errorf("Get of a new key: %v", err)
								return
							}
							if err := s.Set(ctx, k, v, storage.Params{}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			})
		}
	}
}

// BenchmarkGroupCommit compares, in one process, 16 goroutines doing a miss
// and a fill (Get then Set of a new key) on a Storage with group commit and
// on one without, in alternating rounds so that load from elsewhere on the
// machine weighs on both alike. It reports each one's time per Set; ns/op is
// per pair of rounds.
func BenchmarkGroupCommit(b *testing.B) {
	for _, syncWrites := range []bool{false, true} {
		b.Run(map[bool]string{false: "nosync", true: "sync"}[syncWrites], func(b *testing.B) {
			ctx := context.Background()
			v := benchValue()
			batched := openT(b, WithGCInterval(-1), WithSyncWrites(syncWrites), withBatching(true))
			plain := openT(b, WithGCInterval(-1), WithSyncWrites(syncWrites), withBatching(false))
			var next atomic.Int64
			round := func(s *Storage) time.Duration {
				start := time.Now()
				var wg sync.WaitGroup
				for range 16 {
					wg.Go(func() {
						for range 100 {
							k := benchKey(int(next.Add(1)))
							if _, err := s.Get(ctx, k); err != storage.ErrNotFound {
								b.Errorf("Get of a new key: %v", err)
								return
							}
							if err := s.Set(ctx, k, v, storage.Params{}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return time.Since(start)
			}
			var tb, tp time.Duration
			sets := 0
			for b.Loop() {
				tb += round(batched)
				tp += round(plain)
				sets += 1600
			}
			b.ReportMetric(float64(tb.Nanoseconds())/float64(sets), "batched-ns/set")
			b.ReportMetric(float64(tp.Nanoseconds())/float64(sets), "plain-ns/set")
			b.ReportMetric(float64(tp)/float64(tb), "speedup")
		})
	}
}

// BenchmarkVsRaw compares the Storage with the raw Badger calls a
// hand-written memo makes, on two databases with the same options and keys
// of the same length, in alternating blocks so that load from elsewhere
// weighs on both alike. It reports each one's time per call and their ratio
// (ns/op is per block pair):
//
//   - set/g1, set/g16: Set of new keys against db.Update with one entry,
//     serially and from 16 goroutines (where group commit shows);
//   - view-hit, view-miss: View against db.View, txn.Get and item.Value,
//     among 100k entries compacted into one level, the missing keys among
//     the stored ones.
func BenchmarkVsRaw(b *testing.B) {
	ctx := context.Background()
	v := benchValue()
	open := func(b *testing.B) (*bdb.DB, *Storage) {
		cfg := defaultConfig()
		o, err := cfg.badgerOptions(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		db, err := bdb.Open(o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db, openT(b, WithGCInterval(-1))
	}
	compare := func(b *testing.B, g, block int, raw, ours func(i int) error) {
		var next atomic.Int64
		run := func(call func(int) error) time.Duration {
			start := time.Now()
			var wg sync.WaitGroup
			for range g {
				wg.Go(func() {
					for range block {
						if err := call(int(next.Add(1))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			return time.Since(start)
		}
		var rawT, oursT time.Duration
		calls := 0
		for b.Loop() {
			rawT += run(raw)
			oursT += run(ours)
			calls += g * block
		}
		b.ReportMetric(float64(rawT.Nanoseconds())/float64(calls), "raw-ns/call")
		b.ReportMetric(float64(oursT.Nanoseconds())/float64(calls), "storage-ns/call")
		b.ReportMetric(float64(oursT)/float64(rawT), "storage/raw")
	}
	for _, g := range []int{1, 16} {
		b.Run(fmt.Sprintf("set/g%d", g), func(b *testing.B) {
			db, s := open(b)
			raw := func(i int) error {
				return db.Update(func(txn *bdb.Txn) error {
					e := bdb.NewEntry(dbKey(benchKey(i)), v)
					e.ExpiresAt = expiresAt(time.Now(), time.Hour)
					return txn.SetEntry(e)
				})
			}
			ours := func(i int) error { return s.Set(ctx, benchKey(i), v, storage.Params{TTL: time.Hour}) }
			compare(b, g, 64, raw, ours)
		})
	}
	const n = 100_000 // even keys stored, odd keys missing: misses fall among the stored keys
	db, s := open(b)
	for i := range n {
		if err := db.Update(func(txn *bdb.Txn) error { return txn.Set(dbKey(benchKey(2*i)), v) }); err != nil {
			b.Fatal(err)
		}
		if err := s.Set(ctx, benchKey(2*i), v, storage.Params{}); err != nil {
			b.Fatal(err)
		}
	}
	compactAll(b, db)
	compactAll(b, s.db)
	for _, hit := range []bool{true, false} {
		b.Run(map[bool]string{true: "view-hit", false: "view-miss"}[hit], func(b *testing.B) {
			key := func(i int) int {
				k := 2 * int(uint64(i)*0x9e3779b97f4a7c15%n)
				if !hit {
					k++
				}
				return k
			}
			fn := func([]byte) error { return nil }
			raw := func(i int) error {
				err := db.View(func(txn *bdb.Txn) error {
					item, err := txn.Get(dbKey(benchKey(key(i))))
					if err != nil {
						return err
					}
					return item.Value(fn)
				})
				if !hit && errors.Is(err, bdb.ErrKeyNotFound) {
					return nil
				}
				return err
			}
			ours := func(i int) error {
				err := s.View(ctx, benchKey(key(i)), fn)
				if !hit && err == storage.ErrNotFound {
					return nil
				}
				return err
			}
			compare(b, 1, 256, raw, ours)
		})
	}
}
