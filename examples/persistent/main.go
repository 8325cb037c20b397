// Command persistent memoizes a slow function on disk, in a Badger
// directory. Run it twice:
//
//	go run ./examples/persistent
//	go run ./examples/persistent
//
// The first run computes each result (two seconds each); the second process
// finds them in ./gecaso-data and answers at once. Delete the directory to
// start afresh, or pass -dir to keep the cache elsewhere.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"path/filepath"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage/badger"
)

// Range is the argument of countPrimes. A function of several arguments takes
// them as one struct; equal structs give the same cache key in every process.
type Range struct {
	From, To int
}

// countPrimes counts the primes in [r.From, r.To], and takes its time about
// it: the sleep stands for an expensive computation or a slow remote call.
func countPrimes(ctx context.Context, r Range) (int, error) {
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	n := 0
	for i := max(r.From, 2); i <= r.To; i++ {
		prime := true
		for d := 2; d*d <= i; d++ {
			if i%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			n++
		}
	}
	return n, nil
}

func main() {
	dir := flag.String("dir", "gecaso-data", "directory that keeps the cached results")
	flag.Parse()

	// One process owns a directory at a time: a second process opening it
	// gets an error at once instead of waiting.
	s, err := badger.Open(*dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	abs, _ := filepath.Abs(*dir)
	fmt.Printf("results are kept in %s (delete it to clear the cache)\n\n", abs)

	// A persistent cache outlives the binary that filled it. Its keys start
	// with the function's name, which by default is the Go name of the
	// function ("main.countPrimes"); renaming or moving the function in the
	// code would then orphan every stored result, and two programs with a
	// main.countPrimes of different meaning would share entries. An explicit
	// name keeps the keys stable and unique. The version is part of the name:
	// bump it when the function's results change meaning, and the old ones
	// are simply no longer read (they expire after the TTL).
	primes := gecaso.Cached(s, countPrimes,
		gecaso.WithName("examples/persistent.countPrimes"),
		gecaso.WithVersion("1"),
		gecaso.WithTTL(7*24*time.Hour),
	)

	ctx := context.Background()
	for _, r := range []Range{{1, 1_000}, {1, 100_000}, {1_000_000, 2_000_000}} {
		start := time.Now()
		n, err := primes.Call(ctx, r)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("primes in [%d, %d]: %d  (%v)\n", r.From, r.To, n, round(time.Since(start)))
	}
}

// round keeps three significant digits or so: 2.004s, 1.2ms, 35µs.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
