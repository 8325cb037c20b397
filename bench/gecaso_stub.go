package bench

import "sync/atomic"

// StorageErrors counts storage errors gecaso reported during the benchmarks.
var StorageErrors atomic.Int64

// gecasoPeers lists gecaso's variants; empty until the adapters in
// gecaso*.go are built in, which needs the core and its storages.
func gecasoPeers[A comparable, V any]() []Peer[A, V] { return nil }
