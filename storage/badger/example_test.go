package badger_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
)

// tempDir returns a fresh directory for an example, and its removal.
func tempDir() (string, func()) {
	dir, err := os.MkdirTemp("", "gecaso-badger-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}

func ExampleOpen() {
	dir, remove := tempDir()
	defer remove()

	s, err := badger.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	if err := s.Set(ctx, "greeting", []byte("hello"), storage.Params{TTL: time.Hour}); err != nil {
		log.Fatal(err)
	}
	v, err := s.Get(ctx, "greeting")
	fmt.Println(string(v), err)
	_, err = s.Get(ctx, "absent")
	fmt.Println(errors.Is(err, storage.ErrNotFound))
	// Output:
	// hello <nil>
	// true
}

// Results memoized in a directory survive the process: here the second
// Storage over the directory stands for the next run of the program.
func Example_cached() {
	dir, remove := tempDir()
	defer remove()

	runs := 0
	square := func(ctx context.Context, n int) (int, error) {
		runs++
		return n * n, nil
	}
	for range 2 {
		s, err := badger.Open(dir)
		if err != nil {
			log.Fatal(err)
		}
		f := gecaso.Cached(s, square, gecaso.WithName("example.square"), gecaso.WithTTL(time.Hour))
		v, err := f.Call(context.Background(), 12)
		fmt.Println(v, err)
		if err := s.Close(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("runs:", runs)
	// Output:
	// 144 <nil>
	// 144 <nil>
	// runs: 1
}

// One directory belongs to one Storage at a time.
func ExampleOpen_locked() {
	dir, remove := tempDir()
	defer remove()

	s, err := badger.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	_, err = badger.Open(dir)
	fmt.Println(errors.Is(err, badger.ErrLocked))
	// Output: true
}

// A byte budget bounds the directory: the oldest entries go when it fills.
func ExampleWithMaxBytes() {
	dir, remove := tempDir()
	defer remove()

	s, err := badger.Open(dir, badger.WithMaxBytes(256<<20))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	st := s.Stats()
	fmt.Println(st.MaxBytes>>20, "MiB budget;", st.DiskBytes <= st.MaxBytes)
	// Output: 256 MiB budget; true
}
