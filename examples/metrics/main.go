// Command metrics serves a memoized function over HTTP, with gecaso's
// metrics in Prometheus's text format at /metrics.
//
//	go run ./examples/metrics
//	curl 'http://127.0.0.1:8080/square?n=12'   # slow the first time, then from the cache
//	curl http://127.0.0.1:8080/metrics
//
// gecaso reports through otelgecaso, which speaks the OpenTelemetry API;
// this program picks the OpenTelemetry SDK and its Prometheus exporter to
// turn that into Prometheus series. The same program would send OTLP to a
// collector by changing the SDK's reader, and nothing in the cached code.
// (prometheus/client_golang alone would do for metrics, with a collector
// written by hand over Func.Stats, but it would repeat otelgecaso's naming
// and offer no path to traces.) The SDK and the exporter are this module's
// dependencies, not the library's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/otelgecaso"
	"github.com/gecaso/gecaso/storage/lru"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends, then shuts the server down. It prints the
// address it listens on to out first.
func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("metrics", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	delay := flags.Duration("delay", 200*time.Millisecond, "how long the slow function takes")
	if err := flags.Parse(args); err != nil {
		return err
	}

	svc, err := newService(*delay)
	if err != nil {
		return err
	}
	defer svc.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "listening on http://%s (try /square?n=12, then /metrics)\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// service answers /square from a memoized slow function and /metrics from
// the Prometheus registry the OpenTelemetry SDK feeds.
type service struct {
	mux        *http.ServeMux
	square     *gecaso.Func[int, int]
	store      *lru.Storage
	meters     *sdkmetric.MeterProvider
	unregister func() error
}

func newService(delay time.Duration) (*service, error) {
	// The OpenTelemetry SDK, read by the Prometheus exporter into a
	// registry of its own (prometheus.DefaultRegisterer would add the Go
	// runtime's series too), without the otel_scope_* labels: one scope
	// reports here.
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, err
	}
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))

	// The cache: at most 10,000 results in memory, the hottest 1,000 of them
	// kept decoded in the near cache.
	store := lru.New(nil, 10_000)
	slowSquare := func(ctx context.Context, n int) (int, error) {
		if n < 0 {
			return 0, fmt.Errorf("square: %d is negative", n)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return n * n, nil
	}
	square := gecaso.Cached(store, slowSquare,
		gecaso.WithName("square"), gecaso.WithTTL(10*time.Minute),
		gecaso.WithNearCache(1_000, 10*time.Second),
		gecaso.WithObserver(otelgecaso.New(otelgecaso.WithMeterProvider(meters))))
	unregister, err := otelgecaso.RegisterStorage(store, otelgecaso.WithMeterProvider(meters))
	if err != nil {
		meters.Shutdown(context.Background())
		return nil, err
	}

	s := &service{mux: http.NewServeMux(), square: square, store: store, meters: meters, unregister: unregister}
	s.mux.HandleFunc("GET /square", s.handleSquare)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	return s, nil
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handleSquare answers n*n, and says in X-Gecaso-Source where the answer
// came from: run, shared, storage or near.
func (s *service) handleSquare(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil {
		http.Error(w, "n must be an integer", http.StatusBadRequest)
		return
	}
	v, info, err := s.square.CallInfo(r.Context(), n)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	w.Header().Set("X-Gecaso-Source", info.Source.String())
	fmt.Fprintln(w, v)
}

// Close stops reporting and releases the cache.
func (s *service) Close() error {
	return errors.Join(s.unregister(), s.meters.Shutdown(context.Background()), s.store.Close())
}
