package badger

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/storage"
)

// BenchmarkMemoParts splits the cost of a gecaso miss over a Storage
// against the hand-written raw memo of BenchmarkMemo, by adding what gecaso
// does one part at a time, in hand-written memos run in alternating blocks
// in one process (serial misses, a new argument every call, the arguments
// in no order: see scramble):
//
//   - raw: the hand-written memo of BenchmarkMemo;
//   - +key: its key replaced by gecaso's (the namespace and the base64
//     SHA-256 of the argument's canonical encoding);
//   - +envelope: its value framed in gecaso's envelope, checked and its
//     expiry read on the way back;
//   - storage: the same memo over the Storage's View and Set instead of
//     Badger's calls;
//   - gecaso: gecaso.Cached over the Storage;
//   - gecaso-cancellable: the same called with a context that can be
//     cancelled (as a request's is), for which gecaso runs fn in a
//     goroutine of its own, so that the caller can leave at once;
//   - gecaso-cancellable-leavable: the same over the Storage as
//     WithNonblocking(false) makes it, whose reads then run in goroutines
//     of their own too.
//
// Each part reports its time per call and its ratio to raw.
func BenchmarkMemoParts(b *testing.B) {
	m := memoPair(b, 0)
	raw, cached, leavable := m.raw, m.cached, m.leavable
	cfg := defaultConfig()
	o, err := cfg.badgerOptions(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var dbs []*bdb.DB
	for range 2 {
		dir := b.TempDir()
		db, err := bdb.Open(o.WithDir(dir).WithValueDir(dir))
		if err != nil {
			b.Fatal(err)
		}
		dbs = append(dbs, db)
	}
	s, err := Open(b.TempDir(), WithGCInterval(-1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for _, db := range dbs {
			db.Close()
		}
		s.Close()
	})
	keyed := keyedMemo{db: dbs[0]}
	framed := keyedMemo{db: dbs[1], envelope: true}
	over := storageMemo{s: s}
	parts := []struct {
		name string
		fn   memoFunc
	}{
		{"raw", raw},
		{"+key", keyed.call},
		{"+envelope", framed.call},
		{"storage", over.call},
		{"gecaso", cached},
		{"gecaso-cancellable", cancellable(b, cached)},
		{"gecaso-cancellable-leavable", cancellable(b, leavable)},
	}
	var next atomic.Int64
	const block = 64
	ctx := context.Background()
	sums := make([]time.Duration, len(parts))
	calls := 0
	for b.Loop() {
		for i, p := range parts {
			start := time.Now()
			for range block {
				arg := scramble(next.Add(1))
				if v, err := p.fn(ctx, arg); err != nil || v.ID != arg {
					b.Fatal(p.name, v, err)
				}
			}
			sums[i] += time.Since(start)
		}
		calls += block
	}
	if calls == 0 {
		return
	}
	for i, p := range parts {
		b.ReportMetric(float64(sums[i].Nanoseconds())/float64(calls), p.name+"-ns/call")
		if i > 0 {
			b.ReportMetric(float64(sums[i])/float64(sums[0]), p.name+"/raw")
		}
	}
}

// memoKey returns gecaso's key for arg under the namespace "bench.fn".
func memoKey(arg int) string {
	a, err := codec.Marshal(arg)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(a)
	return "bench.fn:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// frame wraps v's msgpack in an envelope written now that expires after
// memoTTL.
func frame(v memoResult) ([]byte, error) {
	data, err := msgpack.Marshal(v)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return codec.AppendEnvelope(nil, &codec.Envelope{WrittenAt: now, ExpiresAt: now.Add(memoTTL), Data: data})
}

// unframe decodes an envelope into v, unless it has expired.
func unframe(b []byte, v *memoResult) error {
	var env codec.Envelope
	if err := codec.DecodeEnvelope(b, &env); err != nil {
		return err
	}
	if env.Expired(time.Now()) {
		return storage.ErrNotFound
	}
	return msgpack.Unmarshal(env.Data, v)
}

// keyedMemo is the raw memo with gecaso's key and, optionally, its
// envelope.
type keyedMemo struct {
	db       *bdb.DB
	envelope bool
}

func (m keyedMemo) call(ctx context.Context, arg int) (memoResult, error) {
	key := []byte(memoKey(arg))
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
		if m.envelope {
			return unframe(b, &v)
		}
		return msgpack.Unmarshal(b, &v)
	})
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, bdb.ErrKeyNotFound) && !errors.Is(err, storage.ErrNotFound) {
		return v, err
	}
	if v, err = memoFn(ctx, arg); err != nil {
		return v, err
	}
	var b []byte
	if m.envelope {
		b, err = frame(v)
	} else {
		b, err = msgpack.Marshal(v)
	}
	if err != nil {
		return v, err
	}
	return v, m.db.Update(func(txn *bdb.Txn) error {
		return txn.SetEntry(bdb.NewEntry(key, b).WithTTL(memoTTL))
	})
}

// storageMemo is the memo with gecaso's key and envelope over a Storage.
type storageMemo struct{ s *Storage }

func (m storageMemo) call(ctx context.Context, arg int) (memoResult, error) {
	key := memoKey(arg)
	var v memoResult
	err := m.s.View(ctx, key, func(b []byte) error { return unframe(b, &v) })
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return v, err
	}
	if v, err = memoFn(ctx, arg); err != nil {
		return v, err
	}
	b, err := frame(v)
	if err != nil {
		return v, err
	}
	return v, m.s.Set(ctx, key, b, storage.Params{TTL: memoTTL})
}

// cancellable calls fn with a context that can be cancelled, and is only
// when b ends.
func cancellable(b *testing.B, fn memoFunc) memoFunc {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return func(_ context.Context, arg int) (memoResult, error) { return fn(ctx, arg) }
}
