package bench

import (
	"encoding/base64"
	"runtime/metrics"
	"unsafe"

	"github.com/gecaso/gecaso/bench/internal/mapmemory"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
)

// The memory benchmarks (memory_test.go, cmd/memgc) compare gecaso's
// storage/memory with the layout it replaced, kept in internal/mapmemory,
// and with the two in-process peers that bound the comparison: freecache
// (bytes in GC-free ring buffers, decoded with msgpack on every hit) and
// otter (decoded values on the Go heap).

// MemoryPeers returns gecaso over storage/memory, gecaso over the map
// layout it replaced, freecache and otter, in that order.
func MemoryPeers[V any]() []Peer[int, V] {
	var ps []Peer[int, V]
	for _, p := range Peers[int, V]() {
		if p.Name == "gecaso-memory" {
			ps = append(ps, p)
		}
	}
	mapBackend := gecasoBackend{
		name: "memory-map",
		open: func(Config) (storage.Storage, func() error, error) {
			s := mapmemory.New()
			return s, s.Close, nil
		},
	}
	ps = append(ps, Peer[int, V]{
		Name:   "gecaso-memory-map",
		Gecaso: true,
		Open: func(cfg Config, fn Fn[int, V]) (Memo[int, V], error) {
			return openGecaso(mapBackend, cfg, fn)
		},
	})
	for _, p := range Peers[int, V]() {
		if p.Name == "freecache" || p.Name == "otter" {
			ps = append(ps, p)
		}
	}
	return ps
}

// ResidentPeers returns the memoizations whose hit cost and GC share
// docs/BENCH.md charts against the number of resident entries (cmd/memgc
// -stores): gecaso over storage/memory, the same with the near cache,
// gecaso over Badger, freecache, otter and ristretto.
func ResidentPeers[V any]() []Peer[int, V] {
	var ps []Peer[int, V]
	for _, name := range []string{"gecaso-memory", "gecaso-memory-near", "gecaso-badger", "freecache", "otter", "ristretto"} {
		for _, p := range Peers[int, V]() {
			if p.Name == name {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// Settle waits until m's asynchronous writes (ristretto's buffers) are
// applied, when it has any.
func Settle(m any) {
	if s, ok := m.(interface{ Settle() }); ok {
		s.Settle()
	}
}

// GCSample is a reading of the runtime's CPU accounting. The runtime
// updates it at the end of each GC cycle only, so that the difference of
// two samples covers whole cycles: from the end of the cycle before the
// first to the end of the last cycle before the second.
type GCSample struct {
	GC     float64 // CPU seconds spent in the GC (/cpu/classes/gc/total)
	Total  float64 // GOMAXPROCS times wall seconds (/cpu/classes/total)
	Idle   float64 // CPU seconds no goroutine ran (/cpu/classes/idle)
	Cycles uint64  // GC cycles completed (/gc/cycles/total)
}

var gcMetrics = []string{
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
	"/gc/cycles/total:gc-cycles",
}

// ReadGC samples the runtime's GC accounting.
func ReadGC() GCSample {
	s := make([]metrics.Sample, len(gcMetrics))
	for i, name := range gcMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	return GCSample{
		GC:     s[0].Value.Float64(),
		Total:  s[1].Value.Float64(),
		Idle:   s[2].Value.Float64(),
		Cycles: s[3].Value.Uint64(),
	}
}

// GCShare returns the GC's share of the CPU the process used (idle time
// excluded) between two samples, and the GC cycles completed in between.
// The share is 0 when no cycle completed.
func GCShare(before, after GCSample) (share float64, cycles uint64) {
	cycles = after.Cycles - before.Cycles
	used := (after.Total - before.Total) - (after.Idle - before.Idle)
	if cycles == 0 || used <= 0 {
		return 0, cycles
	}
	return (after.GC - before.GC) / used, cycles
}

// MemKeys makes storage keys shaped like gecaso's (a namespace and the
// base64 of a SHA-256 digest, 76 bytes) from an index, into a buffer, so
// that a benchmark over ten million entries does not keep ten million
// strings on the heap.
type MemKeys struct{ buf []byte }

const memKeyPrefix = "github.com/acme/app.fetchUser@v1:"

// Key returns the i-th key, in k's buffer: valid until the next call.
func (k *MemKeys) Key(i int) []byte {
	var d [32]byte
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	for j := 0; j < len(d); j += 8 {
		x ^= x >> 29
		x *= 0xbf58476d1ce4e5b9
		for b := range 8 {
			d[j+b] = byte(x >> (8 * b))
		}
	}
	k.buf = base64.RawURLEncoding.AppendEncode(append(k.buf[:0], memKeyPrefix...), d[:])
	return k.buf
}

// Str returns the i-th key as a string over k's buffer, without a copy:
// for reads only, which keep nothing of the key.
func (k *MemKeys) Str(i int) string {
	b := k.Key(i)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// MemStorage is a storage measured at the storage level, without gecaso.
type MemStorage interface {
	storage.Storage
	storage.Viewer
	Close() error
}

// MemStorages are storage/memory and the map layout it replaced.
var MemStorages = []struct {
	Name string
	Open func() MemStorage
}{
	{"memory", func() MemStorage { return memory.New() }},
	{"memory-map", func() MemStorage { return mapmemory.New() }},
}
