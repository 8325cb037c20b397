package tiered_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
	"github.com/gecaso/gecaso/storage/redis"
	"github.com/gecaso/gecaso/storage/storagetest"
	"github.com/gecaso/gecaso/storage/tiered"
)

// openBadger opens a Badger storage in a fresh directory; tiered's
// WithClose closes it.
func openBadger(t *testing.T) storage.Storage {
	t.Helper()
	b, err := badger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// redisStorages returns a factory of Redis storages on one server, each
// under a prefix of its own, so each starts empty.
func redisStorages(t *testing.T) func() storage.Storage {
	srv := redistest.Start(t)
	var seq atomic.Int64
	return func() storage.Storage {
		return redis.New(srv.Client(), redis.WithPrefix(fmt.Sprintf("c%d:", seq.Add(1))))
	}
}

func TestConformance(t *testing.T) {
	t.Run("lru-memory/memory", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			return tiered.New(newL1(t), memory.New(), tiered.WithClose())
		})
	})
	t.Run("lru-memory/badger", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			return tiered.New(newL1(t), openBadger(t), tiered.WithClose())
		}, storagetest.WithTTLGranularity(time.Second)) // Badger keeps whole seconds
	})
	t.Run("lru-memory/redis", func(t *testing.T) {
		newRedis := redisStorages(t)
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			return tiered.New(newL1(t), newRedis(), tiered.WithClose())
		})
	})
}

// newL1 returns the usual first tier, an LRU over memory, which tiered's
// WithClose closes.
func newL1(t *testing.T) storage.Storage { return lru.New(nil, 10_000) }
