package gecaso_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
)

func ExampleCached() {
	runs := 0
	square := gecaso.Cached(memory.New(), func(ctx context.Context, n int) (int, error) {
		runs++
		return n * n, nil
	}, gecaso.WithTTL(time.Hour))

	ctx := context.Background()
	for range 3 {
		v, err := square.Call(ctx, 12)
		fmt.Println(v, err)
	}
	fmt.Println("runs:", runs)
	// Output:
	// 144 <nil>
	// 144 <nil>
	// 144 <nil>
	// runs: 1
}

// Functions of several arguments take a struct.
func ExampleCached_severalArguments() {
	type query struct {
		User  string
		Limit int
	}
	search := gecaso.Cached(memory.New(), func(ctx context.Context, q query) ([]string, error) {
		return []string{q.User + "-1", q.User + "-2"}[:q.Limit], nil
	})
	v, err := search.Call(context.Background(), query{User: "ann", Limit: 1})
	fmt.Println(v, err)
	// Output: [ann-1] <nil>
}

// An LRU layer bounds how many results are kept.
func ExampleCached_lru() {
	runs := 0
	double := gecaso.Cached(lru.New(nil, 2), func(ctx context.Context, n int) (int, error) {
		runs++
		return 2 * n, nil
	})
	ctx := context.Background()
	for _, n := range []int{1, 2, 1, 3, 1, 2} { // 2 is evicted when 3 arrives
		double.Call(ctx, n)
	}
	fmt.Println("runs:", runs)
	// Output: runs: 4
}

func ExampleFunc_Forget() {
	runs := 0
	f := gecaso.Cached(memory.New(), func(ctx context.Context, id string) (string, error) {
		runs++
		return "user " + id, nil
	})
	ctx := context.Background()
	f.Call(ctx, "42")
	f.Forget(ctx, "42") // the user changed: compute again next time
	f.Call(ctx, "42")
	fmt.Println("runs:", runs)
	// Output: runs: 2
}

func ExampleFunc_Key() {
	f := gecaso.Cached(memory.New(), func(ctx context.Context, id int) (string, error) {
		return fmt.Sprint(id), nil
	}, gecaso.WithName("user"), gecaso.WithVersion("v2"), gecaso.WithHashKey(false))
	key, err := f.Key(42)
	fmt.Println(key, err)
	// Output: user@v2:42 <nil>
}

func ExampleFunc_Purge() {
	s := memory.New()
	runs := 0
	f := gecaso.Cached(s, func(ctx context.Context, n int) (int, error) {
		runs++
		return n, nil
	}, gecaso.WithName("n"))
	ctx := context.Background()
	f.Call(ctx, 1)
	f.Call(ctx, 2)
	if err := f.Purge(ctx); err != nil {
		fmt.Println(err)
	}
	f.Call(ctx, 1)
	fmt.Println("runs:", runs)
	// Output: runs: 3
}

func ExamplePack() {
	b, err := gecaso.Pack([]string{"a", "b"}, map[string]any{"source": "api"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var v []string
	params, err := gecaso.Unpack(b, &v)
	fmt.Println(v, params["source"], err)
	// Output: [a b] api <nil>
}
