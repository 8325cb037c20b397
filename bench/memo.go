// Package bench compares gecaso with the libraries Go programs use to memoize
// a function: otter, ristretto, golang-lru, freecache, sturdyc, go-redis/cache,
// and hand-written memoization over raw Badger and raw go-redis.
//
// Every library sits behind [Memo], written the way that library's users
// write it: look the argument up, and on a miss run the function and store
// its result. The benchmarks in this package drive every [Memo] with the
// same workloads; cmd/report runs them and writes docs/BENCH.md.
//
// The package is its own module so that none of these libraries ever enters
// gecaso's go.mod.
package bench

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Fn is the memoized function: it computes V from A.
type Fn[A, V any] func(context.Context, A) (V, error)

// Memo is one library's memoization of a function. Implementations are safe
// for concurrent use. Call answers from the cache when it can and otherwise
// runs the function and stores its result; a cache error never hides the
// function's result. Close releases what Open acquired; Call must not be used
// after Close.
type Memo[A comparable, V any] interface {
	Call(ctx context.Context, arg A) (V, error)
	Close() error
}

// Config is what every [Peer] is opened with.
type Config struct {
	// Capacity is the number of entries a bounded cache may hold.
	// Unbounded stores (gecaso's memory, Badger, Redis) ignore it.
	Capacity int

	// ValueSize is about how many bytes one encoded value takes, so that
	// caches sized in bytes (freecache) can be given room for Capacity
	// entries.
	ValueSize int

	// Dir is an empty directory that on-disk stores may use.
	Dir string

	// RedisAddr is the address of a throwaway Redis server; empty when
	// none runs, and Redis-backed peers then return ErrUnavailable.
	RedisAddr string

	// Namespace is unique to one opening, so that stores shared between
	// openings (Redis) never see each other's entries.
	Namespace string
}

// TTL is the expiry every library that supports one is given: long enough
// that nothing expires during a benchmark, but still set, since caches in
// front of functions nearly always carry one.
const TTL = time.Hour

// ErrUnavailable is returned by a [Peer]'s Open when what it needs (a Redis
// server, a gecaso package still missing) is not there. Benchmarks skip it.
var ErrUnavailable = errors.New("bench: unavailable")

// Peer names a library and opens a [Memo] of a function over it.
type Peer[A comparable, V any] struct {
	// Name is the last element of every benchmark name, e.g. "otter".
	Name string
	// Bounded is true when the library honours Config.Capacity in entries,
	// so that hit ratios at a given capacity mean something.
	Bounded bool
	// Gecaso is true for gecaso's own variants.
	Gecaso bool
	// Remote is true when the entries live in another process (Redis).
	Remote bool
	// Open memoizes fn.
	Open func(cfg Config, fn Fn[A, V]) (Memo[A, V], error)
}

// Peers lists every library, gecaso's variants first.
func Peers[A comparable, V any]() []Peer[A, V] {
	var ps []Peer[A, V]
	ps = append(ps, gecasoPeers[A, V]()...)
	ps = append(ps,
		Peer[A, V]{Name: "otter", Bounded: true, Open: openOtter[A, V]},
		Peer[A, V]{Name: "ristretto", Bounded: true, Open: openRistretto[A, V]},
		Peer[A, V]{Name: "golang-lru", Bounded: true, Open: openGolangLRU[A, V]},
		Peer[A, V]{Name: "freecache", Bounded: true, Open: openFreecache[A, V]},
		Peer[A, V]{Name: "sturdyc", Bounded: true, Open: openSturdyc[A, V]},
		Peer[A, V]{Name: "go-redis-cache", Bounded: true, Open: openGoRedisCache[A, V]},
		Peer[A, V]{Name: "badger-memo", Open: openBadgerMemo[A, V]},
		Peer[A, V]{Name: "redis-memo", Remote: true, Open: openRedisMemo[A, V]},
	)
	return ps
}

// Pair is the struct argument of the benchmarks: a function of two
// parameters takes them as one comparable struct.
type Pair struct {
	ID   int
	Lang string
}

// Small is the small value: what a lookup of a user record might return.
type Small struct {
	Name string
	Tags []int
}

// Record is the record value: a user record of five fields, one of them a
// slice of strings, as a lookup in a service's database returns it. It
// encodes to about [RecordSize] bytes.
type Record struct {
	ID    int64
	Name  string
	Email string
	Roles []string
	Score float64
}

// RecordSize is about how many bytes a [Record] takes once encoded.
const RecordSize = 105

// stringKey returns the function a hand-written memo uses to turn an argument
// into a cache key: strconv for an int, and ID:Lang for a [Pair].
func stringKey[A comparable]() func(A) string {
	var zero A
	switch any(zero).(type) {
	case int:
		return any(func(a int) string { return strconv.Itoa(a) }).(func(A) string)
	case Pair:
		return any(func(p Pair) string { return strconv.Itoa(p.ID) + ":" + p.Lang }).(func(A) string)
	}
	panic("bench: no key for this argument type")
}

// Seed returns the integer a value is generated from.
func Seed[A comparable]() func(A) int {
	var zero A
	switch any(zero).(type) {
	case int:
		return any(func(a int) int { return a }).(func(A) int)
	case Pair:
		return any(func(p Pair) int { return p.ID }).(func(A) int)
	}
	panic("bench: no seed for this argument type")
}

// Arg returns the function that makes the i-th argument.
func Arg[A comparable]() func(i int) A {
	var zero A
	switch any(zero).(type) {
	case int:
		return any(func(i int) int { return i }).(func(int) A)
	case Pair:
		langs := [...]string{"en", "fr", "de", "ja"}
		return any(func(i int) Pair { return Pair{ID: i, Lang: langs[i%len(langs)]} }).(func(int) A)
	}
	panic("bench: no argument maker for this type")
}

// Value returns a generator of values of type V for a seed: a [Small] with a
// name and eight tags, or a []byte of size bytes.
func Value[V any](size int) func(seed int) V {
	var zero V
	switch any(zero).(type) {
	case Small:
		return any(func(seed int) Small {
			tags := make([]int, 8)
			for i := range tags {
				tags[i] = seed + i
			}
			return Small{Name: "user-" + strconv.Itoa(seed), Tags: tags}
		}).(func(int) V)
	case Record:
		return any(func(seed int) Record {
			id := strconv.Itoa(seed)
			return Record{
				ID:    int64(seed),
				Name:  "user-" + id,
				Email: "user-" + id + "@example.com",
				Roles: []string{"reader", "writer", "group-" + strconv.Itoa(seed%97)},
				Score: float64(seed) / 7,
			}
		}).(func(int) V)
	case []byte:
		return any(func(seed int) []byte {
			b := make([]byte, size)
			for i := range b {
				b[i] = byte(seed + i)
			}
			return b
		}).(func(int) V)
	}
	panic("bench: no value generator for this type")
}
