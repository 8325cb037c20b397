// Command memoize shows the core idea of gecaso in memory: a slow function
// wrapped with gecaso.Cached runs once per argument; the next calls are
// answered from the storage.
//
//	go run ./examples/memoize
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage/memory"
)

// Quote is what the slow function computes.
type Quote struct {
	Symbol string
	Price  float64
	Asked  time.Time
}

// fetchQuote stands for a slow call: a remote API, a query, a model.
func fetchQuote(ctx context.Context, symbol string) (Quote, error) {
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return Quote{}, ctx.Err()
	}
	price := 0.0
	for _, r := range symbol {
		price += float64(r)
	}
	return Quote{Symbol: symbol, Price: price, Asked: time.Now()}, nil
}

func main() {
	store := memory.New()
	defer store.Close()

	quote := gecaso.Cached(store, fetchQuote, gecaso.WithName("quote"), gecaso.WithTTL(time.Minute))

	ctx := context.Background()
	for _, symbol := range []string{"GOOG", "GOOG", "ACME", "GOOG", "ACME"} {
		start := time.Now()
		q, err := quote.Call(ctx, symbol)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-4s %8.2f  asked at %s  took %v\n",
			q.Symbol, q.Price, q.Asked.Format("15:04:05.000"), time.Since(start).Round(time.Microsecond))
	}
}
