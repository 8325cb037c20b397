package badger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/gecaso/gecaso"
)

// BenchmarkMemo compares a memoized function over Badger written by hand
// (db.View, txn.Get, item.ValueCopy, msgpack.Unmarshal; on a miss
// msgpack.Marshal and db.Update; no envelope, no hashing) with the same
// function through gecaso.Cached over a Storage, with the same Badger
// options, in one run:
//
//   - miss: a new argument every call, serial, from GOMAXPROCS goroutines
//     and from 16 (where group commit shows), the arguments ascending;
//   - miss-random: the same with the arguments in no order (see scramble),
//     as a memo's callers ask for them; the -readable variants give gecaso
//     keys that carry the argument (WithHashKey(false)) instead of a
//     digest;
//   - hit: 100k resident entries (and 1M with GECASO_BENCH_LARGE=1), both
//     directories filled, compacted into one level, closed and reopened, so
//     that their trees have the same shape; gecaso called with
//     context.Background and, in interleaved-cancellable, with a context
//     that can be cancelled; in interleaved-cancellable-leavable, over the
//     Storage as WithNonblocking(false) makes it, whose reads gecaso then
//     runs in goroutines of their own so that the caller can leave at once.
//
// The interleaved sub-benchmarks run blocks of calls through each in turn, so
// that load from elsewhere on the machine weighs on both alike, and report
// each one's time per call and their ratio (gecaso/raw); ns/op is per block
// pair. Compare ratios, not absolute times.

// memoResult is the memoized function's result: a record of five fields, one
// a slice of strings.
type memoResult struct {
	ID    int
	Name  string
	Email string
	Tags  []string
	Score float64
}

func memoFn(_ context.Context, arg int) (memoResult, error) {
	s := strconv.Itoa(arg)
	return memoResult{
		ID:    arg,
		Name:  "user " + s,
		Email: "user" + s + "@example.com",
		Tags:  []string{"a", "bb", "t" + s},
		Score: float64(arg) / 3,
	}, nil
}

// memoTTL is given to both memos: caches in front of functions nearly always
// carry one.
const memoTTL = time.Hour

// rawMemo is the hand-written memo.
type rawMemo struct{ db *bdb.DB }

func (m rawMemo) call(ctx context.Context, arg int) (memoResult, error) {
	key := strconv.AppendInt([]byte("bench.fn:"), int64(arg), 10)
	var v memoResult
	err := m.db.View(func(txn *bdb.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		b, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return msgpack.Unmarshal(b, &v)
	})
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, bdb.ErrKeyNotFound) {
		return v, err
	}
	if v, err = memoFn(ctx, arg); err != nil {
		return v, err
	}
	b, err := msgpack.Marshal(v)
	if err != nil {
		return v, err
	}
	return v, m.db.Update(func(txn *bdb.Txn) error {
		return txn.SetEntry(bdb.NewEntry(key, b).WithTTL(memoTTL))
	})
}

type memoFunc = func(context.Context, int) (memoResult, error)

// memoPair opens a raw memo and a gecaso memo in fresh directories, with
// the same Badger options, filled with n entries (arguments 0 to n-1), and
// closes them when b ends. With n > 0 both are filled, flattened, closed and
// reopened.
func memoPair(b *testing.B, n int) memos {
	b.Helper()
	cfg := defaultConfig()
	o, err := cfg.badgerOptions(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	db, err := bdb.Open(o)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	s, err := Open(dir, WithGCInterval(-1))
	if err != nil {
		b.Fatal(err)
	}
	newCached := func(s *Storage) memoFunc {
		return gecaso.Cached(s, memoFn, gecaso.WithName("bench.fn"), gecaso.WithTTL(memoTTL)).Call
	}
	if n > 0 {
		fillMemo(b, rawMemo{db}.call, n)
		compactAll(b, db)
		db.Close()
		if db, err = bdb.Open(o); err != nil {
			b.Fatal(err)
		}
		fillMemo(b, newCached(s), n)
		compactAll(b, s.db)
		s.Close()
		if s, err = Open(dir, WithGCInterval(-1)); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		db.Close()
		s.Close()
	})
	return memos{
		raw:      rawMemo{db}.call,
		cached:   newCached(s),
		leavable: gecaso.Cached(leavableReads{s}, memoFn, gecaso.WithName("bench.fn"), gecaso.WithTTL(memoTTL)).Call,
		readable: gecaso.Cached(s, memoFn, gecaso.WithName("bench.fn"), gecaso.WithTTL(memoTTL), gecaso.WithHashKey(false)).Call,
	}
}

// memos are the memos memoPair opens.
type memos struct {
	raw    memoFunc // the hand-written memo, in a directory of its own
	cached memoFunc // gecaso over a Storage
	// leavable is gecaso over the same Storage as if opened with
	// WithNonblocking(false).
	leavable memoFunc
	// readable is gecaso over the same Storage with WithHashKey(false):
	// keys that carry the argument, as the raw memo's do, instead of a
	// digest.
	readable memoFunc
}

// leavableReads is a Storage that reports its reads may block, as
// WithNonblocking(false) makes it, over an open Storage.
type leavableReads struct{ *Storage }

func (leavableReads) Nonblocking() bool { return false }

// compactAll flushes db's memtable and compacts every table into one level,
// so that two databases filled alike have trees of the same shape. (Flatten
// alone leaves a tree that is all level 0 as it is; DropPrefix flushes and
// compacts level 0 down.)
func compactAll(b *testing.B, db *bdb.DB) {
	k := []byte("\x01compact")
	if err := db.Update(func(txn *bdb.Txn) error { return txn.Set(k, nil) }); err != nil {
		b.Fatal(err)
	}
	if err := db.DropPrefix(k); err != nil {
		b.Fatal(err)
	}
	if err := db.Flatten(2); err != nil {
		b.Fatal(err)
	}
}

// fillMemo calls fn for every argument below n from 16 goroutines.
func fillMemo(b *testing.B, fn memoFunc, n int) {
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := fn(context.Background(), i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func memoResidentSizes() []int {
	n := []int{100_000}
	if os.Getenv("GECASO_BENCH_LARGE") != "" {
		n = append(n, 1_000_000)
	}
	return n
}

// scramble maps the counter n to an argument: a bijection of the 32-bit
// integers, so that arguments never repeat yet come in no order, as a
// memo's arguments do. Sequential arguments would give the raw memo, whose
// keys hold the argument, keys in ascending order, which Badger's memtable
// inserts and looks up in cached nodes; gecaso's keys are hashes.
func scramble(n int64) int { return int(uint32(n) * 0x9e3779b1) }

func BenchmarkMemo(b *testing.B) {
	for _, order := range []struct {
		name string
		arg  func(int64) int
	}{
		{"miss", func(n int64) int { return int(n) }},
		{"miss-random", scramble},
	} {
		b.Run(order.name, func(b *testing.B) { benchmarkMisses(b, order.arg) })
	}
	benchmarkHits(b)
}

// benchmarkMisses measures misses, the arguments being argOf(1), argOf(2)...
func benchmarkMisses(b *testing.B, argOf func(int64) int) {
	m := memoPair(b, 0)
	var next atomic.Int64 // arguments never used, shared by both memos
	benchmarkSides(b, m, func() func() int {
		return func() int { return argOf(next.Add(1)) }
	})
	for _, g := range []int{1, 0, 16} { // 0: GOMAXPROCS
		name := "interleaved"
		if g != 1 {
			name = fmt.Sprintf("interleaved-g%d", g)
			if g == 0 {
				name = "interleaved-parallel"
			}
		}
		b.Run(name, func(b *testing.B) { interleave(b, m.raw, m.cached, g, &next, argOf) })
		// The same with keys that carry the argument (WithHashKey(false)),
		// which with ascending arguments ascend as the raw memo's do: what
		// the digest's cost is made of.
		b.Run(name+"-readable", func(b *testing.B) { interleave(b, m.raw, m.readable, g, &next, argOf) })
	}
}

func benchmarkHits(b *testing.B) {
	for _, n := range memoResidentSizes() {
		b.Run(fmt.Sprintf("hit-%.0e", float64(n)), func(b *testing.B) {
			m := memoPair(b, n)
			benchmarkSides(b, m, func() func() int {
				rng := rand.New(rand.NewPCG(1, 2))
				return func() int { return rng.IntN(n) }
			})
			b.Run("interleaved", func(b *testing.B) { interleaveHits(b, m.raw, m.cached, n) })
			b.Run("interleaved-cancellable", func(b *testing.B) { interleaveHits(b, m.raw, cancellable(b, m.cached), n) })
			b.Run("interleaved-cancellable-leavable", func(b *testing.B) { interleaveHits(b, m.raw, cancellable(b, m.leavable), n) })
		})
	}
}

// benchmarkSides runs the raw memo and gecaso, each in a sub-benchmark of
// its own, on the arguments a function from args gives (args is called once
// per sub-benchmark run), and checks every result.
func benchmarkSides(b *testing.B, m memos, args func() func() int) {
	for _, side := range []struct {
		name string
		fn   memoFunc
	}{{"raw-badger", m.raw}, {"gecaso-badger", m.cached}} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			next := args()
			for b.Loop() {
				arg := next()
				if v, err := side.fn(ctx, arg); err != nil || v.ID != arg {
					b.Fatal(v, err)
				}
			}
		})
	}
}

// interleave runs blocks of misses through raw and cached in turn, from g
// goroutines at once (GOMAXPROCS when g is 0), and reports each one's time
// per call and their ratio.
func interleave(b *testing.B, raw, cached memoFunc, g int, next *atomic.Int64, argOf func(int64) int) {
	if g == 0 {
		g = runtime.GOMAXPROCS(0)
	}
	const block = 64 // calls per goroutine per block
	ctx := context.Background()
	run := func(fn memoFunc) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range g {
			wg.Go(func() {
				for range block {
					arg := argOf(next.Add(1))
					if v, err := fn(ctx, arg); err != nil || v.ID != arg {
						b.Error(v, err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	var rawT, cachedT time.Duration
	calls := 0
	for b.Loop() {
		rawT += run(raw)
		cachedT += run(cached)
		calls += g * block
	}
	reportRatio(b, rawT, cachedT, calls)
}

func interleaveHits(b *testing.B, raw, cached memoFunc, n int) {
	const block = 256
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	var rawT, cachedT time.Duration
	calls := 0
	for b.Loop() {
		for _, side := range []struct {
			fn  memoFunc
			sum *time.Duration
		}{{raw, &rawT}, {cached, &cachedT}} {
			start := time.Now()
			for range block {
				arg := rng.IntN(n)
				if v, err := side.fn(ctx, arg); err != nil || v.ID != arg {
					b.Fatal(v, err)
				}
			}
			*side.sum += time.Since(start)
		}
		calls += block
	}
	reportRatio(b, rawT, cachedT, calls)
}

func reportRatio(b *testing.B, rawT, cachedT time.Duration, calls int) {
	if calls == 0 {
		return
	}
	b.ReportMetric(float64(rawT.Nanoseconds())/float64(calls), "raw-ns/call")
	b.ReportMetric(float64(cachedT.Nanoseconds())/float64(calls), "gecaso-ns/call")
	b.ReportMetric(float64(cachedT)/float64(rawT), "gecaso/raw")
}
