package badger

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/gecaso/gecaso"
)

// BenchmarkMemo compares a memoized function over Badger written by hand
// (db.View, txn.Get, item.ValueCopy, msgpack.Unmarshal; no TTL, no envelope,
// no hashing) with the same function through gecaso.Cached over a Storage,
// both with 100k resident entries and the same Badger options, on hits.
// Both directories are filled, closed and reopened, so that their trees have
// the same shape (nothing left in a memtable).

type memoResult struct {
	Name   string
	Count  int
	Scores []float64
}

func memoFn(_ context.Context, arg int) (memoResult, error) {
	return memoResult{Name: "result " + strconv.Itoa(arg), Count: arg, Scores: []float64{1.5, 2.5, float64(arg)}}, nil
}

const memoResident = 100_000

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
	return v, m.db.Update(func(txn *bdb.Txn) error { return txn.Set(key, b) })
}

// fillMemo calls fn for every argument below memoResident from 16 goroutines.
func fillMemo(b *testing.B, fn func(context.Context, int) (memoResult, error)) {
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < memoResident; i += 16 {
				if _, err := fn(context.Background(), i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func benchHits(b *testing.B, fn func(context.Context, int) (memoResult, error)) {
	ctx := context.Background()
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		rng := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			arg := rng.IntN(memoResident)
			if v, err := fn(ctx, arg); err != nil || v.Count != arg {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
			for pb.Next() {
				arg := rng.IntN(memoResident)
				if v, err := fn(ctx, arg); err != nil || v.Count != arg {
					b.Error(v, err)
					return
				}
			}
		})
	})
}

func BenchmarkMemo(b *testing.B) {
	// The raw memo.
	cfg := defaultConfig()
	o, err := cfg.badgerOptions(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	db, err := bdb.Open(o)
	if err != nil {
		b.Fatal(err)
	}
	fillMemo(b, rawMemo{db}.call)
	db.Flatten(2)
	db.Close()
	if db, err = bdb.Open(o); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	raw := rawMemo{db}.call

	// The same through gecaso.
	dir := b.TempDir()
	s, err := Open(dir, WithGCInterval(-1))
	if err != nil {
		b.Fatal(err)
	}
	fillMemo(b, gecaso.Cached(s, memoFn, gecaso.WithName("bench.fn")).Call)
	s.db.Flatten(2)
	s.Close()
	if s, err = Open(dir, WithGCInterval(-1)); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cached := gecaso.Cached(s, memoFn, gecaso.WithName("bench.fn")).Call

	b.Run("raw-badger", func(b *testing.B) { benchHits(b, raw) })
	b.Run("gecaso-badger", func(b *testing.B) { benchHits(b, cached) })

	// Interleaved: blocks of hits through each in turn, so that load from
	// elsewhere on the machine weighs on both alike. Reports each one's time
	// per hit and their ratio; ns/op is per block pair.
	b.Run("interleaved", func(b *testing.B) {
		const block = 256
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(3, 4))
		var rawT, cachedT time.Duration
		var calls int
		for b.Loop() {
			for _, side := range []struct {
				fn  func(context.Context, int) (memoResult, error)
				sum *time.Duration
			}{{raw, &rawT}, {cached, &cachedT}} {
				start := time.Now()
				for range block {
					arg := rng.IntN(memoResident)
					if v, err := side.fn(ctx, arg); err != nil || v.Count != arg {
						b.Fatal(v, err)
					}
				}
				*side.sum += time.Since(start)
			}
			calls += block
		}
		b.ReportMetric(float64(rawT.Nanoseconds())/float64(calls), "raw-ns/hit")
		b.ReportMetric(float64(cachedT.Nanoseconds())/float64(calls), "gecaso-ns/hit")
		b.ReportMetric(float64(cachedT)/float64(rawT), "gecaso/raw")
	})
}
