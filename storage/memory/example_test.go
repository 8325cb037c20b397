package memory_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
)

func ExampleNew() {
	s := memory.New()
	defer s.Close()
	ctx := context.Background()

	_ = s.Set(ctx, "greeting", []byte("hello"), storage.Params{})
	v, _ := s.Get(ctx, "greeting")
	fmt.Println(string(v))

	_, err := s.Get(ctx, "absent")
	fmt.Println(errors.Is(err, storage.ErrNotFound))
	// Output:
	// hello
	// true
}

func ExampleStorage_View() {
	s := memory.New()
	defer s.Close()
	ctx := context.Background()

	_ = s.Set(ctx, "k", []byte("a large value"), storage.Params{})
	// View lends the stored bytes without a copy; they must not be modified.
	_ = s.View(ctx, "k", func(v []byte) error {
		fmt.Println(len(v))
		return nil
	})
	// Output: 13
}

func ExampleStorage_Stats() {
	s := memory.New()
	defer s.Close()
	ctx := context.Background()

	_ = s.Set(ctx, "a", []byte("1234"), storage.Params{})
	_ = s.Set(ctx, "b", []byte("56"), storage.Params{})
	_ = s.Set(ctx, "a", []byte("7"), storage.Params{}) // the first value of a is garbage now
	st := s.Stats()
	fmt.Println(st.Entries, st.Bytes, st.Bytes == s.Bytes())
	// Output: 2 5 true
}
