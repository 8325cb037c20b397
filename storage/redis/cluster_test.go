package redis_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/redis"
)

// keysPerMaster counts, for every master, the keys it holds that start
// with prefix.
func keysPerMaster(t *testing.T, cc *goredis.ClusterClient, prefix string) []int {
	t.Helper()
	var (
		mu     sync.Mutex // guards counts
		counts []int
	)
	err := cc.ForEachMaster(context.Background(), func(ctx context.Context, node *goredis.Client) error {
		keys, err := node.Keys(ctx, prefix+"*").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		counts = append(counts, len(keys))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t) // about two seconds: shared by the subtests
	ctx := context.Background()
	raw := c.Client()

	t.Run("keys spread over every master", func(t *testing.T) {
		prefix := uniquePrefix(t)
		s := redis.New(c.Client(), redis.WithPrefix(prefix))
		for i := range 300 {
			if err := s.Set(ctx, fmt.Sprint(i), []byte("v"), storage.Params{}); err != nil {
				t.Fatal(err)
			}
		}
		counts := keysPerMaster(t, raw, prefix)
		if len(counts) != 3 {
			t.Fatalf("keys on %d masters, want 3", len(counts))
		}
		for _, n := range counts {
			if n == 0 {
				t.Fatalf("keys per master: %v; want every master to hold some", counts)
			}
		}
		if got := scanKeys(t, s, ""); len(got) != 300 {
			t.Errorf("Scan found %d keys over the cluster, want 300", len(got))
		}
	})

	t.Run("Remove across slots", func(t *testing.T) {
		prefix := uniquePrefix(t)
		s := redis.New(c.Client(), redis.WithPrefix(prefix))
		var keys []string
		for i := range 1100 { // more than one batch
			k := fmt.Sprint(i)
			keys = append(keys, k)
			if err := s.Set(ctx, k, []byte("v"), storage.Params{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Remove(ctx, keys[:1000]...); err != nil {
			t.Fatalf("Remove of keys in many slots: %v", err)
		}
		want := slices.Sorted(slices.Values(keys[1000:]))
		if diff := cmp.Diff(want, scanKeys(t, s, "")); diff != "" {
			t.Errorf("keys left after Remove (-want +got):\n%s", diff)
		}
	})

	t.Run("DeletePrefix across slots", func(t *testing.T) {
		prefix := uniquePrefix(t)
		s := redis.New(c.Client(), redis.WithPrefix(prefix))
		for i := range 1100 {
			for _, p := range []string{"a:", "b:"} {
				if err := s.Set(ctx, fmt.Sprint(p, i), []byte("v"), storage.Params{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.DeletePrefix(ctx, "a:"); err != nil {
			t.Fatalf("DeletePrefix over the cluster: %v", err)
		}
		if got := scanKeys(t, s, "a:"); len(got) != 0 {
			t.Errorf("%d keys \"a:\" left after DeletePrefix, e.g. %q", len(got), got[0])
		}
		if got := scanKeys(t, s, "b:"); len(got) != 1100 {
			t.Errorf("%d keys \"b:\" left after DeletePrefix(\"a:\"), want 1100", len(got))
		}
	})

	t.Run("lock", func(t *testing.T) {
		testLocking(t, func(t *testing.T) *redis.Storage { return newStorage(t, c.Client()) })
	})

	t.Run("invalidation", func(t *testing.T) {
		testInvalidation(t, func(t *testing.T, prefix string) *redis.Storage {
			return newStorage(t, c.Client(), redis.WithPrefix(prefix))
		})
	})

	t.Run("sharded pub/sub", func(t *testing.T) {
		prefix := uniquePrefix(t)
		channel := prefix + redis.ReservedPrefix + "invalidate"
		s := newStorage(t, c.Client(), redis.WithPrefix(prefix))
		r := subscribe(t, s)
		// Every node answers PUBSUB SHARDNUMSUB for the slots it owns:
		// the subscription is sharded, on one master, and no plain
		// SUBSCRIBE is made anywhere.
		var shard, plain int64
		for _, srv := range c.Servers {
			node := srv.Client()
			n, err := node.PubSubShardNumSub(ctx, channel).Result()
			if err != nil {
				t.Fatal(err)
			}
			shard += n[channel]
			m, err := node.PubSubNumSub(ctx, channel).Result()
			if err != nil {
				t.Fatal(err)
			}
			plain += m[channel]
		}
		if shard != 1 || plain != 0 {
			t.Errorf("subscriptions on the cluster: %d sharded, %d plain; want 1 sharded", shard, plain)
		}
		if err := s.Remove(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the removal", func() bool { return r.heard("k") })
	})

	t.Run("conformance", func(t *testing.T) {
		conformance(t, func(t *testing.T) storage.Storage { return newStorage(t, c.Client()) })
	})
}
