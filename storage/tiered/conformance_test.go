package tiered_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
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
	// Badger keeps expiry in whole seconds.
	coarse := storagetest.WithTTLGranularity(time.Second)

	t.Run("redis/badger", func(t *testing.T) {
		newRedis := redisStorages(t)
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			return tiered.New(newRedis(), openBadger(t), tiered.WithClose())
		}, coarse)
	})
	t.Run("badger/redis", func(t *testing.T) {
		newRedis := redisStorages(t)
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			return tiered.New(openBadger(t), newRedis(), tiered.WithClose())
		}, coarse)
	})
}

// newL1 returns a first tier for the tests, closed by tiered's WithClose.
func newL1(t *testing.T) storage.Storage { return openBadger(t) }
