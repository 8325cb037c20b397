package gecaso_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage/redis"
)

// A caller whose context is cancelled returns at once while the server is
// stalled, though go-redis itself would wait for its read timeout.
func TestRedis_cancelWhileServerStalls(t *testing.T) {
	srv := redistest.Start(t)
	opts := srv.Options()
	opts.ReadTimeout = 10 * time.Second // go-redis alone would wait this long
	client := goredis.NewClient(opts)
	defer client.Close()
	s := redis.New(client)
	f := gecaso.Cached(s, func(context.Context, int) (int, error) { return 1, nil }, gecaso.WithName("stall"))

	ctx := context.Background()
	if err := srv.Client().Do(ctx, "CLIENT", "PAUSE", "3000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	defer srv.Client().Do(ctx, "CLIENT", "UNPAUSE")
	for _, name := range []string{"cancel", "deadline"} {
		cctx, cancel := context.WithCancel(ctx)
		if name == "deadline" {
			cctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
		} else {
			time.AfterFunc(100*time.Millisecond, cancel)
		}
		start := time.Now()
		_, err := f.Call(cctx, 1)
		elapsed := time.Since(start)
		cancel()
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: Call = %v, want the context's error", name, err)
		}
		// The server stays paused for 3 s; a caller that waited for it
		// would return after that.
		if elapsed > 2*time.Second {
			t.Errorf("%s: Call returned after %v, when its context ended after 100ms", name, elapsed)
		}
	}
}

// commandLog records the commands a client sends, one line per round trip.
type commandLog struct {
	mu    sync.Mutex // guards trips
	trips []string
}

func (l *commandLog) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (l *commandLog) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		l.add(strings.ToUpper(cmd.Name()))
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		var names []string
		for _, c := range cmds {
			names = append(names, strings.ToUpper(c.Name()))
		}
		l.add(strings.Join(names, "+"))
		return next(ctx, cmds)
	}
}

func (l *commandLog) add(s string) {
	l.mu.Lock()
	l.trips = append(l.trips, s)
	l.mu.Unlock()
}

func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.trips
	l.trips = nil
	return t
}

// A miss on Redis costs two round trips, GET and SET; a hit one, GET.
func TestRedis_roundTrips(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client()
	var log commandLog
	client.AddHook(&log)
	s := redis.New(client)
	f := gecaso.Cached(s, func(context.Context, int) (int, error) { return 1, nil },
		gecaso.WithName("trips"), gecaso.WithTTL(time.Hour))
	ctx := context.Background()
	if err := client.Ping(ctx).Err(); err != nil { // connect first
		t.Fatal(err)
	}
	log.take()
	f.Call(ctx, 1)
	if diff := cmp.Diff([]string{"GET", "SET"}, log.take()); diff != "" {
		t.Errorf("a miss (-want +got):\n%s", diff)
	}
	f.Call(ctx, 1)
	if diff := cmp.Diff([]string{"GET"}, log.take()); diff != "" {
		t.Errorf("a hit (-want +got):\n%s", diff)
	}
}

// Two processes serving stale entries with WithLock refresh each key once
// between them.
const (
	fleetAddrEnv = "GECASO_FLEET_ADDR"
	fleetKeys    = 20
)

func fleetFunc(s *redis.Storage, client *goredis.Client) *gecaso.Func[int, string] {
	return gecaso.Cached(s, func(ctx context.Context, k int) (string, error) {
		n, err := client.Incr(ctx, "runs:"+strconv.Itoa(k)).Result()
		if n == 1 {
			// The fill goes stale soon; the refresh stays fresh while the
			// test runs, so that it counts one expiry.
			gecaso.SetTTL(ctx, 200*time.Millisecond)
		}
		return fmt.Sprintf("key %d, run %d", k, n), err
	}, gecaso.WithName("fleet"), gecaso.WithTTL(time.Hour),
		gecaso.WithStaleWhileRevalidate(time.Hour), gecaso.WithLock(10*time.Second))
}

func TestRedisFleetChild(t *testing.T) {
	addr := os.Getenv(fleetAddrEnv)
	if addr == "" {
		t.Skip("runs as a child of TestRedis_staleWhileRevalidateOncePerFleet")
	}
	client := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	f := fleetFunc(redis.New(client), client)
	ctx := context.Background()
	// Start the refreshes (or find the other process's), then wait until
	// each key has a fresh entry.
	for k := range fleetKeys {
		if _, err := f.Call(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for k := 0; k < fleetKeys; {
		if time.Now().After(deadline) {
			t.Fatal("the refreshes did not land")
		}
		if _, info, _ := f.CallInfo(ctx, k); !info.Stale {
			k++
		}
	}
	fmt.Println("FLEET DONE")
}

func TestRedis_staleWhileRevalidateOncePerFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	srv := redistest.Start(t)
	client := srv.Client()
	f := fleetFunc(redis.New(client), client)
	ctx := context.Background()
	for k := range fleetKeys {
		if _, err := f.Call(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until every entry is past its TTL, reading the entries rather
	// than calling f, which would refresh them.
	var last time.Time
	for k := range fleetKeys {
		key, _ := f.Key(k)
		b, err := client.Get(ctx, key).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		var env codec.Envelope
		if err := codec.DecodeEnvelope(b, &env); err != nil {
			t.Fatal(err)
		}
		if env.ExpiresAt.After(last) {
			last = env.ExpiresAt
		}
	}
	for time.Now().Before(last) {
		time.Sleep(time.Until(last))
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range outs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRedisFleetChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), fleetAddrEnv+"="+srv.Addr)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("child %d: %v\n%s", i, err, out)
			}
			outs[i] = string(out)
		})
	}
	wg.Wait()
	for i, out := range outs {
		if !strings.Contains(out, "FLEET DONE") {
			t.Fatalf("child %d did not finish:\n%s", i, out)
		}
	}
	for k := range fleetKeys {
		// One run to fill the entry, and one refresh between the
		// children. The parent's own stale calls may have refreshed some
		// keys before the children came: then the children refreshed none.
		n, err := client.Get(ctx, "runs:"+strconv.Itoa(k)).Int()
		if err != nil || n != 2 {
			t.Errorf("key %d ran %d times (%v), want 2: one fill and one refresh for the whole fleet", k, n, err)
		}
	}
}

// A Forget or Purge in one process reaches the near cache of another process
// sharing the Redis server (two clients, each with its own pub/sub
// connection and near cache, stand for two processes).
func TestRedis_invalidationReachesOtherProcesses(t *testing.T) {
	srv := redistest.Start(t)
	var src source
	src.n.Store(1)
	newFunc := func() *gecaso.Func[int, int64] {
		s := redis.New(srv.Client())
		t.Cleanup(func() { s.Close() })
		return gecaso.Cached(s, src.call, gecaso.WithName("shared"), gecaso.WithNearCache(100, time.Hour))
	}
	a, b := newFunc(), newFunc()
	ctx := context.Background()
	a.Call(ctx, 1)
	b.Call(ctx, 1)
	if _, info, _ := b.CallInfo(ctx, 1); info.Source != gecaso.SourceNear {
		t.Fatalf("b's second call came from %v, want its near cache", info.Source)
	}
	eventually := func(what string, want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, err := b.Call(ctx, 1)
			if err == nil && v == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: b still returns %d, want %d", what, v, want)
			}
			runtime.Gosched()
		}
	}
	src.n.Store(2)
	if err := a.Forget(ctx, 1); err != nil {
		t.Fatal(err)
	}
	eventually("after a's Forget", 2)
	src.n.Store(3)
	if err := a.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	eventually("after a's Purge", 3)
}
