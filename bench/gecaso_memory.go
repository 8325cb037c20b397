package bench

import (
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
)

func init() {
	registerGecaso(gecasoBackend{
		name:  "memory",
		order: 0,
		near:  true,
		open: func(Config) (storage.Storage, func() error, error) {
			// The background sweep is off: with entries of 16 KiB its
			// compaction can loop without end on a shard whose live-byte
			// count no slot of the index accounts for, holding the
			// shard's lock in steps and keeping Close from returning.
			// Expiry does not depend on it, and these workloads expire
			// nothing.
			s := memory.New(memory.WithSweepInterval(-1))
			return s, closerOf(s), nil
		},
	})
}
