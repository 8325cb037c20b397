package lru_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
)

const (
	benchKeys  = 1 << 14 // a power of two, to pick keys with a mask
	benchValue = 128     // bytes, about a small encoded result
)

// benchKeyList returns keys shaped like gecaso's: a namespace and a hex
// digest, about 80 bytes.
func benchKeyList() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("github.com/acme/app.fetchUser@v1:%064x", i*2654435761)
	}
	return keys
}

// run runs op serially and in parallel, as sub-benchmarks name/serial and
// name/parallel; op gets the index of the key to use.
func run(b *testing.B, name string, op func(i int)) {
	b.Run(name+"/serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			op(i & (benchKeys - 1))
			i++
		}
	})
	b.Run(name+"/parallel", func(b *testing.B) {
		b.ReportAllocs()
		var start atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(7919)) // goroutines start apart in the key list
			for pb.Next() {
				op(i & (benchKeys - 1))
				i++
			}
		})
	})
}

// BenchmarkStorage measures the lru over a memory storage against that
// memory storage alone, on the same keys, so that lru/get-hit over
// memory/get-hit is what the lru layer costs a hit.
func BenchmarkStorage(b *testing.B) {
	ctx := context.Background()
	keys := benchKeyList()
	value := make([]byte, benchValue)
	mem := memory.New()
	b.Cleanup(func() { mem.Close() })
	own := lru.New(nil, benchKeys) // keeps the values itself
	b.Cleanup(func() { own.Close() })
	over := lru.New(memory.New(), benchKeys, lru.WithCloseInner())
	b.Cleanup(func() { over.Close() })
	for _, k := range keys {
		for _, s := range []storage.Storage{mem, own, over} {
			if err := s.Set(ctx, k, value, storage.Params{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	errSize := errors.New("wrong size")
	view := func(v []byte) error { // touches no shared memory
		if len(v) != benchValue {
			return errSize
		}
		return nil
	}

	for _, st := range []struct {
		name string
		s    interface {
			storage.Storage
			storage.Viewer
		}
	}{{"memory", mem}, {"lru", own}, {"lru-over-memory", over}} {
		run(b, st.name+"/get-hit", func(i int) {
			if _, err := st.s.Get(ctx, keys[i]); err != nil {
				b.Fatal(err)
			}
		})
		run(b, st.name+"/view-hit", func(i int) {
			if err := st.s.View(ctx, keys[i], view); err != nil {
				b.Fatal(err)
			}
		})
	}

	// Half the keys fit: every Set of a key not held evicts one.
	small := lru.New(nil, benchKeys/2)
	b.Cleanup(func() { small.Close() })
	run(b, "lru/set", func(i int) {
		if err := small.Set(ctx, keys[i], value, storage.Params{}); err != nil {
			b.Fatal(err)
		}
	})
}
