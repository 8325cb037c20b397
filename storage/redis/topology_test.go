package redis_test

import (
	"context"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/redis"
)

// testSpread writes keys through s and checks that Remove, Scan and
// DeletePrefix see all of them, wherever the client put them.
func testSpread(t *testing.T, s *redis.Storage) {
	ctx := context.Background()
	for i := range 600 {
		for _, p := range []string{"a:", "b:"} {
			if err := s.Set(ctx, fmt.Sprint(p, i), []byte("v"), storage.Params{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := scanKeys(t, s, ""); len(got) != 1200 {
		t.Errorf("Scan found %d keys, want 1200", len(got))
	}
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprint("b:", i))
	}
	if err := s.Remove(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePrefix(ctx, "a:"); err != nil {
		t.Fatal(err)
	}
	if got := scanKeys(t, s, ""); len(got) != 300 {
		t.Errorf("%d keys left after Remove and DeletePrefix, want 300", len(got))
	}
}

func TestSentinel(t *testing.T) {
	sen := redistest.StartSentinel(t)
	newS := func(t *testing.T) *redis.Storage { return newStorage(t, sen.Client()) }
	t.Run("spread", func(t *testing.T) { testSpread(t, newS(t)) })
	t.Run("lock", func(t *testing.T) { testLocking(t, newS) })
	t.Run("invalidation", func(t *testing.T) {
		testInvalidation(t, func(t *testing.T, prefix string) *redis.Storage {
			return newStorage(t, sen.Client(), redis.WithPrefix(prefix))
		})
	})
	t.Run("conformance", func(t *testing.T) {
		conformance(t, func(t *testing.T) storage.Storage { return newS(t) })
	})
}

func TestRing(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	newRing := func(t *testing.T) *goredis.Ring {
		ring := goredis.NewRing(&goredis.RingOptions{
			Addrs:                 map[string]string{"a": a.Addr, "b": b.Addr},
			ContextTimeoutEnabled: true,
			MaxRetries:            -1,
			DisableIdentity:       true,
		})
		t.Cleanup(func() { _ = ring.Close() })
		return ring
	}
	newS := func(t *testing.T) *redis.Storage { return newStorage(t, newRing(t)) }
	t.Run("spread", func(t *testing.T) {
		s := newS(t)
		testSpread(t, s)
		for _, srv := range []*redistest.Server{a, b} {
			n, err := srv.Client().DBSize(context.Background()).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Errorf("shard %s holds no key: the test did not spread keys", srv.Addr)
			}
		}
	})
	t.Run("lock", func(t *testing.T) { testLocking(t, newS) })
	t.Run("invalidation", func(t *testing.T) {
		testInvalidation(t, func(t *testing.T, prefix string) *redis.Storage {
			return newStorage(t, newRing(t), redis.WithPrefix(prefix))
		})
	})
	t.Run("conformance", func(t *testing.T) {
		conformance(t, func(t *testing.T) storage.Storage { return newS(t) })
	})
}
