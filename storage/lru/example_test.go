package lru_test

import (
	"context"
	"fmt"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
)

func ExampleNew() {
	s := lru.New(nil, 2, lru.WithOnEvict(func(key string) { fmt.Println("evicted", key) }))
	defer s.Close()
	ctx := context.Background()

	_ = s.Set(ctx, "a", []byte("1"), storage.Params{})
	_ = s.Set(ctx, "b", []byte("2"), storage.Params{})
	_, _ = s.Get(ctx, "a") // a is now the most recently used
	_ = s.Set(ctx, "c", []byte("3"), storage.Params{})

	_, err := s.Get(ctx, "b")
	fmt.Println(err)
	fmt.Printf("%+v\n", s.Stats())
	// Output:
	// evicted b
	// gecaso: not found
	// {Hits:1 Misses:1 Evictions:1}
}
