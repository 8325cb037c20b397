//go:build !race && !gecaso_nostats

package gecaso

import "sync/atomic"

// The hot counters (see hot) have one writer at a time, the goroutine that
// holds their call state, which sync.Pool hands over with the
// happens-before edges it needs; Stats reads them from other goroutines.
// Writes are plain, a word each, which costs a hit about a nanosecond where a
// locked add costs six; a concurrent read observes some value written, never
// a torn one (the Go memory model's rule for word-sized locations), so a
// snapshot is exact up to the calls in progress. The race detector cannot
// know the single-writer discipline: under -race, counter_race.go makes the
// writes atomic.
//
// The build tag gecaso_nostats (counter_nostats.go) turns the writes into
// nothing, so that benchmarks can measure what counting costs a hit:
//
//	go test -run '^$' -bench 'Call/(memory|near)/hit-int' -tags gecaso_nostats

func inc(p *uint64)           { *p++ }
func add(p *uint64, n uint64) { *p += n }
func load(p *uint64) uint64   { return atomic.LoadUint64(p) }
