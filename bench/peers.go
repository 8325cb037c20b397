package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coocood/freecache"
	"github.com/dgraph-io/ristretto/v2"
	rediscache "github.com/go-redis/cache/v9"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"
	"github.com/viccon/sturdyc"
	"github.com/vmihailenco/msgpack/v5"
)

// This file holds the in-process peers. Each is the few lines a user of that
// library writes to memoize a function: get; on a miss compute and set.

// otterMemo keeps decoded values in otter, keyed by the argument itself.
type otterMemo[A comparable, V any] struct {
	c  *otter.Cache[A, V]
	fn Fn[A, V]
}

func openOtter[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	c, err := otter.New(&otter.Options[A, V]{
		MaximumSize:      cfg.Capacity,
		ExpiryCalculator: otter.ExpiryWriting[A, V](TTL),
	})
	if err != nil {
		return nil, fmt.Errorf("bench: otter: %w", err)
	}
	return &otterMemo[A, V]{c: c, fn: fn}, nil
}

// openOtterNoExpiry is otter without an expiry: its hits skip reading the
// clock, which every cache that expires entries on read pays. The hit
// benchmarks list it to show that cost; it is not a memoization with a TTL
// like the others.
func openOtterNoExpiry[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	c, err := otter.New(&otter.Options[A, V]{MaximumSize: cfg.Capacity})
	if err != nil {
		return nil, fmt.Errorf("bench: otter: %w", err)
	}
	return &otterMemo[A, V]{c: c, fn: fn}, nil
}

func (m *otterMemo[A, V]) Call(ctx context.Context, arg A) (V, error) {
	if v, ok := m.c.GetIfPresent(arg); ok {
		return v, nil
	}
	v, err := m.fn(ctx, arg)
	if err != nil {
		return v, err
	}
	m.c.Set(arg, v)
	return v, nil
}

func (m *otterMemo[A, V]) Close() error {
	m.c.StopAllGoroutines()
	return nil
}

// ristrettoMemo keeps decoded values in ristretto. Ristretto hashes only
// integers, strings and byte slices, so a struct argument becomes a string.
type ristrettoMemo[K ristretto.Key, A comparable, V any] struct {
	c   *ristretto.Cache[K, V]
	key func(A) K
	fn  Fn[A, V]
}

func openRistretto[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	var zero A
	if _, ok := any(zero).(int); ok {
		key := any(func(a int) int { return a }).(func(A) int)
		return newRistretto[int](cfg, key, fn)
	}
	return newRistretto[string](cfg, stringKey[A](), fn)
}

func newRistretto[K ristretto.Key, A comparable, V any](cfg Config, key func(A) K, fn Fn[A, V]) (Memo[A, V], error) {
	c, err := ristretto.NewCache(&ristretto.Config[K, V]{
		NumCounters: int64(cfg.Capacity) * 10,
		MaxCost:     int64(cfg.Capacity),
		BufferItems: 64,
		// Count entries: otherwise ristretto adds its own bookkeeping
		// to each entry's cost of 1 and holds far fewer than Capacity.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("bench: ristretto: %w", err)
	}
	return &ristrettoMemo[K, A, V]{c: c, key: key, fn: fn}, nil
}

func (m *ristrettoMemo[K, A, V]) Call(ctx context.Context, arg A) (V, error) {
	k := m.key(arg)
	if v, ok := m.c.Get(k); ok {
		return v, nil
	}
	v, err := m.fn(ctx, arg)
	if err != nil {
		return v, err
	}
	m.c.SetWithTTL(k, v, 1, TTL)
	return v, nil
}

func (m *ristrettoMemo[K, A, V]) Close() error {
	m.c.Close()
	return nil
}

// Settle waits until the writes ristretto buffers have been applied, so
// that a filled cache answers from what was filled.
func (m *ristrettoMemo[K, A, V]) Settle() { m.c.Wait() }

// golangLRUMemo keeps decoded values in hashicorp's exact LRU. Plain
// golang-lru has no expiry; its expirable variant runs a janitor goroutine.
type golangLRUMemo[A comparable, V any] struct {
	c  *lru.Cache[A, V]
	fn Fn[A, V]
}

func openGolangLRU[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	c, err := lru.New[A, V](cfg.Capacity)
	if err != nil {
		return nil, fmt.Errorf("bench: golang-lru: %w", err)
	}
	return &golangLRUMemo[A, V]{c: c, fn: fn}, nil
}

func (m *golangLRUMemo[A, V]) Call(ctx context.Context, arg A) (V, error) {
	if v, ok := m.c.Get(arg); ok {
		return v, nil
	}
	v, err := m.fn(ctx, arg)
	if err != nil {
		return v, err
	}
	m.c.Add(arg, v)
	return v, nil
}

func (m *golangLRUMemo[A, V]) Close() error { return nil }

// freecacheMemo keeps msgpack-encoded values in freecache, which stores only
// bytes and is sized in bytes.
type freecacheMemo[A comparable, V any] struct {
	c   *freecache.Cache
	key func(A) string
	fn  Fn[A, V]
}

func openFreecache[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	// freecache refuses an entry larger than 1/1024 of its size, and
	// spends about 24 bytes of header plus the key on each entry.
	per := cfg.ValueSize + 48
	size := max(cfg.Capacity*per, 1024*per, 512<<10)
	return &freecacheMemo[A, V]{c: freecache.NewCache(size), key: stringKey[A](), fn: fn}, nil
}

func (m *freecacheMemo[A, V]) Call(ctx context.Context, arg A) (V, error) {
	k := []byte(m.key(arg))
	var v V
	if b, err := m.c.Get(k); err == nil {
		if err := msgpack.Unmarshal(b, &v); err == nil {
			return v, nil
		}
	}
	v, err := m.fn(ctx, arg)
	if err != nil {
		return v, err
	}
	if b, err := msgpack.Marshal(v); err == nil {
		_ = m.c.Set(k, b, int(TTL/time.Second)) // a value too large is simply not cached
	}
	return v, nil
}

func (m *freecacheMemo[A, V]) Close() error { return nil }

// sturdycMemo uses sturdyc's own GetOrFetch, which also deduplicates
// concurrent misses of one key.
type sturdycMemo[A comparable, V any] struct {
	c   *sturdyc.Client[V]
	key func(A) string
	fn  Fn[A, V]
}

func openSturdyc[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	const shards = 10
	capacity := max(cfg.Capacity, shards)
	// The continuous eviction goroutine never exits; evictions then run
	// on writes to a full shard instead, as sturdyc documents.
	c := sturdyc.New[V](capacity, shards, TTL, 10, sturdyc.WithNoContinuousEvictions())
	return &sturdycMemo[A, V]{c: c, key: stringKey[A](), fn: fn}, nil
}

func (m *sturdycMemo[A, V]) Call(ctx context.Context, arg A) (V, error) {
	return m.c.GetOrFetch(ctx, m.key(arg), func(ctx context.Context) (V, error) {
		return m.fn(ctx, arg)
	})
}

func (m *sturdycMemo[A, V]) Close() error { return nil }

// goRedisCacheMemo uses go-redis/cache with only its local TinyLFU: a
// loadable cache (Once) that keeps values msgpack-marshalled and decodes
// them on every hit, as eko/gocache does with a marshaler.
type goRedisCacheMemo[A comparable, V any] struct {
	c   *rediscache.Cache
	key func(A) string
	fn  Fn[A, V]
}

func openGoRedisCache[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	c := rediscache.New(&rediscache.Options{
		LocalCache: rediscache.NewTinyLFU(cfg.Capacity, TTL),
	})
	return &goRedisCacheMemo[A, V]{c: c, key: stringKey[A](), fn: fn}, nil
}

func (m *goRedisCacheMemo[A, V]) Call(ctx context.Context, arg A) (V, error) {
	var v V
	err := m.c.Once(&rediscache.Item{
		Ctx:   ctx,
		Key:   m.key(arg),
		Value: &v,
		TTL:   TTL,
		Do: func(it *rediscache.Item) (any, error) {
			return m.fn(it.Ctx, arg)
		},
	})
	if err != nil && !errors.Is(err, rediscache.ErrCacheMiss) {
		return v, err
	}
	return v, nil
}

func (m *goRedisCacheMemo[A, V]) Close() error { return nil }
