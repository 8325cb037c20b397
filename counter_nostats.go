//go:build gecaso_nostats && !race

package gecaso

import "sync/atomic"

// With the build tag gecaso_nostats the hot counters are not written, so
// that a benchmark built with it measures a hit without counting; see
// counter.go. Stats then reports no hits, and the tag is for benchmarks
// only.

func inc(*uint64)           {}
func add(*uint64, uint64)   {}
func load(p *uint64) uint64 { return atomic.LoadUint64(p) }
