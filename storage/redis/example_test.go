package redis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage/redis"
)

// This example needs a Redis server at 127.0.0.1:6379, so it is compiled
// but not run by go test. Every process that runs it shares the results.
func Example() {
	client := goredis.NewUniversalClient(redis.DefaultOptions("127.0.0.1:6379"))
	defer client.Close()
	s := redis.New(client, redis.WithPrefix("myapp:"))

	fetchUser := func(ctx context.Context, id int) (string, error) {
		time.Sleep(100 * time.Millisecond) // a slow query
		return fmt.Sprintf("user %d", id), nil
	}
	users := gecaso.Cached(s, fetchUser,
		gecaso.WithName("fetchUser"), // stable across builds and machines
		gecaso.WithTTL(time.Hour),
		gecaso.WithLock(10*time.Second), // processes that miss together run it once
	)
	name, err := users.Call(context.Background(), 42)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(name)
}

// A Cluster takes several seed addresses; Scan, DeletePrefix and
// Func.Purge visit every master. Sentinel takes the Sentinels' addresses
// and the master's name. (Compiled, not run: it needs those servers.)
func ExampleDefaultOptions() {
	cluster := goredis.NewUniversalClient(redis.DefaultOptions("10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"))
	defer cluster.Close()
	_ = redis.New(cluster)

	opts := redis.DefaultOptions("10.0.0.1:26379", "10.0.0.2:26379")
	opts.MasterName = "mymaster"
	sentinel := goredis.NewUniversalClient(opts)
	defer sentinel.Close()
	_ = redis.New(sentinel)
}
