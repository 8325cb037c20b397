package otelgecaso_test

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/otelgecaso"
	"github.com/gecaso/gecaso/storage/lru"
)

// Metrics and spans go to the global providers, which the program sets up
// with an SDK and an exporter (see examples/metrics in the repository);
// until then they cost next to nothing. Stats gives the same counters
// without OpenTelemetry.
func Example() {
	store := lru.New(nil, 10_000)
	square := gecaso.Cached(store, func(ctx context.Context, n int) (int, error) {
		return n * n, nil
	}, gecaso.WithName("square"), gecaso.WithObserver(otelgecaso.New()))

	unregister, err := otelgecaso.RegisterStorage(store, otelgecaso.WithAttributes(attribute.String("cache", "squares")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unregister()

	ctx := context.Background()
	for _, n := range []int{12, 12, 7, 12} {
		v, _ := square.Call(ctx, n)
		fmt.Println(n, v)
	}
	st := square.Stats()
	fmt.Printf("hits %d, misses %d, runs %d\n", st.Hits, st.Misses, st.Runs)
	// Output:
	// 12 144
	// 12 144
	// 7 49
	// 12 144
	// hits 2, misses 2, runs 2
}
