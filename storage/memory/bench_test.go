package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
)

const (
	benchKeys  = 1 << 14 // a power of two, to pick keys with a mask
	benchValue = 128     // bytes, about a small encoded result
)

// benchKeyList returns keys shaped like gecaso's: a namespace and a hex
// digest, about 80 bytes.
func benchKeyList(prefix string) []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("%sgithub.com/acme/app.fetchUser@v1:%064x", prefix, uint64(i)*2654435761)
	}
	return keys
}

func newFilled(b *testing.B) (*memory.Storage, []string) {
	s := memory.New()
	b.Cleanup(func() { s.Close() })
	keys := benchKeyList("")
	v := make([]byte, benchValue)
	for _, k := range keys {
		if err := s.Set(context.Background(), k, v, storage.Params{}); err != nil {
			b.Fatal(err)
		}
	}
	return s, keys
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

func BenchmarkStorage(b *testing.B) {
	ctx := context.Background()
	s, keys := newFilled(b)
	missing := benchKeyList("absent/")
	value := make([]byte, benchValue)

	run(b, "memory/get-hit", func(i int) {
		if _, err := s.Get(ctx, keys[i]); err != nil {
			b.Fatal(err)
		}
	})
	ttl := memory.New()
	b.Cleanup(func() { ttl.Close() })
	for _, k := range keys {
		if err := ttl.Set(ctx, k, value, storage.Params{TTL: 1 << 40}); err != nil {
			b.Fatal(err)
		}
	}
	run(b, "memory/get-hit-ttl", func(i int) { // reads the clock to check the expiry
		if _, err := ttl.Get(ctx, keys[i]); err != nil {
			b.Fatal(err)
		}
	})
	run(b, "memory/get-miss", func(i int) {
		if _, err := s.Get(ctx, missing[i]); !errors.Is(err, storage.ErrNotFound) {
			b.Fatal(err)
		}
	})
	errSize := errors.New("wrong size")
	view := func(v []byte) error { // touches no shared memory, so it does not limit the parallel run
		if len(v) != benchValue {
			return errSize
		}
		return nil
	}
	run(b, "memory/view-hit", func(i int) {
		if err := s.View(ctx, keys[i], view); err != nil {
			b.Fatal(err)
		}
	})
	run(b, "memory/set", func(i int) {
		if err := s.Set(ctx, keys[i], value, storage.Params{}); err != nil {
			b.Fatal(err)
		}
	})
	run(b, "memory/set-ttl", func(i int) {
		if err := s.Set(ctx, keys[i], value, storage.Params{TTL: 1 << 40}); err != nil {
			b.Fatal(err)
		}
	})
}
