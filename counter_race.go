//go:build race

package gecaso

import "sync/atomic"

// Under the race detector the hot counters are written atomically; see
// counter.go.

func inc(p *uint64)           { atomic.AddUint64(p, 1) }
func add(p *uint64, n uint64) { atomic.AddUint64(p, n) }
func load(p *uint64) uint64   { return atomic.LoadUint64(p) }
