package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/redis"
)

// recorder collects what a subscription hears.
type recorder struct {
	mu  sync.Mutex // guards got
	got []storage.Invalidation
}

func (r *recorder) add(inv storage.Invalidation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, inv)
}

func (r *recorder) snapshot() []storage.Invalidation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// subscribe subscribes a recorder to s, cancelled when the test ends.
func subscribe(t testing.TB, s storage.Invalidator) *recorder {
	t.Helper()
	r := &recorder{}
	cancel, err := s.Subscribe(r.add)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(cancel)
	return r
}

// keysHeard returns every key the recorder heard, sorted.
func (r *recorder) keysHeard() []string {
	var keys []string
	for _, inv := range r.snapshot() {
		keys = append(keys, inv.Keys...)
	}
	slices.Sort(keys)
	return keys
}

// covered reports whether the recorder heard of every key in keys: by
// name, or through an invalidation of everything, which a reconnect (a
// stall of a busy machine taken for a dead connection) sends in place of
// what it may have missed.
func (r *recorder) covered(keys ...string) bool {
	return r.heardPrefix("") || r.heard(keys...)
}

// heard reports whether the recorder heard every key in keys by name.
func (r *recorder) heard(keys ...string) bool {
	got := r.keysHeard()
	for _, k := range keys {
		if _, ok := slices.BinarySearch(got, k); !ok {
			return false
		}
	}
	return true
}

// heardPrefix reports whether the recorder heard the prefix p.
func (r *recorder) heardPrefix(p string) bool {
	for _, inv := range r.snapshot() {
		if slices.Contains(inv.Prefixes, p) {
			return true
		}
	}
	return false
}

// testInvalidation checks that removals made through one storage reach
// the subscribers of another sharing its server and prefix (a second
// process), and its own, and no storage of another prefix. newS returns
// storages on separate clients under the given prefix.
func testInvalidation(t *testing.T, newS func(t *testing.T, prefix string) *redis.Storage) {
	ctx := context.Background()

	t.Run("Remove reaches every process", func(t *testing.T) {
		prefix := uniquePrefix(t)
		a, b := newS(t, prefix), newS(t, prefix)
		ra, rb := subscribe(t, a), subscribe(t, b)
		var keys []string
		for i := range 1100 { // several messages
			keys = append(keys, fmt.Sprint("k", i))
		}
		if err := b.Remove(ctx, keys...); err != nil {
			t.Fatal(err)
		}
		if err := b.Remove(ctx, "one"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a's subscriber to hear b's removals", func() bool { return ra.covered(append(keys, "one")...) })
		waitFor(t, "b's subscriber to hear its own removals", func() bool { return rb.covered(append(keys, "one")...) })
	})

	t.Run("DeletePrefix reaches every process", func(t *testing.T) {
		prefix := uniquePrefix(t)
		a, b := newS(t, prefix), newS(t, prefix)
		ra := subscribe(t, a)
		if err := b.Set(ctx, "fn:1", []byte("v"), storage.Params{}); err != nil {
			t.Fatal(err)
		}
		if err := b.DeletePrefix(ctx, "fn:"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a's subscriber to hear b's DeletePrefix", func() bool { return ra.heardPrefix("fn:") || ra.heardPrefix("") })
	})

	t.Run("another prefix does not hear", func(t *testing.T) {
		prefix := uniquePrefix(t)
		a, other := newS(t, prefix), newS(t, prefix+"other:")
		ra := subscribe(t, a)
		if err := other.Remove(ctx, "theirs"); err != nil {
			t.Fatal(err)
		}
		// Messages on one channel arrive in order: once a's own removal
		// is heard, the other's would have been too.
		if err := a.Remove(ctx, "barrier"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the barrier", func() bool { return ra.heard("barrier") })
		if diff := cmp.Diff([]string{"barrier"}, ra.keysHeard()); diff != "" {
			t.Errorf("keys heard under another prefix's removals (-want +got):\n%s", diff)
		}
	})
}

func TestInvalidation(t *testing.T) {
	srv := redistest.Start(t)
	testInvalidation(t, func(t *testing.T, prefix string) *redis.Storage {
		s := redis.New(srv.Client(), redis.WithPrefix(prefix))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestWithPublishOff checks that a storage told not to publish removes
// without publishing, and still hears others.
func TestWithPublishOff(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	prefix := uniquePrefix(t)
	quiet := newStorage(t, srv.Client(), redis.WithPrefix(prefix), redis.WithPublish(false))
	loud := newStorage(t, srv.Client(), redis.WithPrefix(prefix))
	r := subscribe(t, quiet)
	if err := quiet.Set(ctx, "k", []byte("v"), storage.Params{}); err != nil {
		t.Fatal(err)
	}
	if err := quiet.Remove(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := quiet.DeletePrefix(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := quiet.Get(ctx, "k"); err != storage.ErrNotFound {
		t.Fatalf("Get after Remove without publishing: %v, want storage.ErrNotFound", err)
	}
	if err := loud.Remove(ctx, "barrier"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the barrier", func() bool { return r.heard("barrier") })
	want := []storage.Invalidation{{Keys: []string{"barrier"}}}
	if diff := cmp.Diff(want, r.snapshot()); diff != "" {
		t.Errorf("heard with WithPublish(false) (-want +got):\n%s", diff)
	}
	if n := quiet.InvalidationStats().Published; n != 0 {
		t.Errorf("Published = %d with WithPublish(false), want 0", n)
	}
}

// numSub returns how many connections the server has subscribed to
// channel.
func numSub(t *testing.T, c *goredis.Client, channel string) int64 {
	t.Helper()
	m, err := c.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[channel]
}

// TestOneConnectionPerStorage checks that subscribers of one storage share
// one connection, opened by the first and closed by the last cancel.
func TestOneConnectionPerStorage(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client()
	prefix := uniquePrefix(t)
	channel := prefix + redis.ReservedPrefix + "invalidate"
	s := newStorage(t, srv.Client(), redis.WithPrefix(prefix))
	var cancels []func()
	for range 3 {
		cancel, err := s.Subscribe(func(storage.Invalidation) {})
		if err != nil {
			t.Fatal(err)
		}
		cancels = append(cancels, cancel)
	}
	if n := numSub(t, admin, channel); n != 1 {
		t.Errorf("three subscribers hold %d connections, want 1", n)
	}
	cancels[0]()
	cancels[0]() // idempotent
	cancels[1]()
	if n := numSub(t, admin, channel); n != 1 {
		t.Errorf("with one subscriber left, %d connections, want 1", n)
	}
	cancels[2]()
	waitFor(t, "the last cancel to close the connection", func() bool { return numSub(t, admin, channel) == 0 })

	// A new subscriber opens a new connection.
	r := subscribe(t, s)
	if err := s.Remove(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a subscriber after the last cancel to hear", func() bool { return r.heard("k") })
}

func TestCancelWaitsForFn(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	entered, release := make(chan struct{}), make(chan struct{})
	var returned, calledAfter atomic.Bool
	var cancelled atomic.Bool
	cancel, err := s.Subscribe(func(storage.Invalidation) {
		if cancelled.Load() {
			calledAfter.Store(true)
		}
		if returned.Load() {
			return
		}
		close(entered)
		<-release
		returned.Store(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	<-entered
	done := make(chan struct{})
	go func() {
		cancel()
		if !returned.Load() {
			t.Error("cancel returned while fn was running")
		}
		cancelled.Store(true)
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("cancel returned while fn was blocked")
	default:
	}
	// Queued behind the running call: must not be delivered after cancel.
	if err := s.Remove(context.Background(), "k2"); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	cancel() // idempotent, returns at once
	if calledAfter.Load() {
		t.Error("fn was called after cancel returned")
	}
}

func TestSubscribeAfterClose(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client()
	prefix := uniquePrefix(t)
	s := redis.New(srv.Client(), redis.WithPrefix(prefix))
	cancel, err := s.Subscribe(func(storage.Invalidation) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cancel() // after Close: returns
	if _, err := s.Subscribe(func(storage.Invalidation) {}); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want storage.ErrClosed", err)
	}
	if n := numSub(t, admin, prefix+redis.ReservedPrefix+"invalidate"); n != 0 {
		t.Errorf("%d connections still subscribed after Close, want 0", n)
	}
}

// TestReconnectDropsEverything kills the server under a subscription and
// restarts it: once subscribed again, the subscriber hears an invalidation
// of everything, then removals as before.
func TestReconnectDropsEverything(t *testing.T) {
	srv := redistest.Start(t)
	var reported atomic.Int64
	s := newStorage(t, srv.Client(), redis.WithErrorHandler(func(error) { reported.Add(1) }))
	r := subscribe(t, s)
	ctx := context.Background()
	if err := s.Remove(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removal before the restart", func() bool { return r.heard("before") })

	srv.Kill()
	srv.Restart()
	waitFor(t, "the invalidation of everything", func() bool { return r.heardPrefix("") })
	waitFor(t, "a removal after the restart", func() bool {
		if err := s.Remove(ctx, "after"); err != nil {
			t.Fatal(err)
		}
		return r.heard("after")
	})
	var drops int
	for _, inv := range r.snapshot() {
		if slices.Contains(inv.Prefixes, "") {
			drops++
			if len(inv.Keys) != 0 || len(inv.Prefixes) != 1 {
				t.Errorf("invalidation of everything = %+v, want just the empty prefix", inv)
			}
		}
	}
	if drops != 1 {
		t.Errorf("heard %d invalidations of everything after one restart, want 1", drops)
	}
	if got := s.InvalidationStats().Reconnects; got != 1 {
		t.Errorf("Reconnects = %d, want 1", got)
	}
	if reported.Load() == 0 {
		t.Error("the lost connection was not reported")
	}
}

// TestSubscribeWhileServerDown checks that Subscribe with the server down
// returns, and that the subscriber hears an invalidation of everything
// once the server is back.
func TestSubscribeWhileServerDown(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client(), redis.WithErrorHandler(func(error) {}))
	srv.Kill()
	r := subscribe(t, s)
	srv.Restart()
	waitFor(t, "the invalidation of everything", func() bool { return r.heardPrefix("") })
}

func TestMalformedMessages(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client()
	ctx := context.Background()
	prefix := uniquePrefix(t)
	channel := prefix + redis.ReservedPrefix + "invalidate"
	var reports []error
	var mu sync.Mutex // guards reports
	s := newStorage(t, srv.Client(), redis.WithPrefix(prefix), redis.WithErrorHandler(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, err)
	}))
	r := subscribe(t, s)
	for _, msg := range []string{"", "\x01\x05", "\x01\x00\x00trailing", "\x00"} {
		if err := raw.Publish(ctx, channel, msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A message from a newer gecaso: what it removed is unknown.
	if err := raw.Publish(ctx, channel, "\x02future").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "barrier"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the barrier", func() bool { return r.heard("barrier") })
	want := []storage.Invalidation{{Prefixes: []string{""}}, {Keys: []string{"barrier"}}}
	if diff := cmp.Diff(want, r.snapshot()); diff != "" {
		t.Errorf("heard (-want +got):\n%s", diff)
	}
	if got := s.InvalidationStats().Malformed; got != 4 {
		t.Errorf("Malformed = %d, want 4", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || !strings.Contains(reports[0].Error(), "malformed") {
		t.Errorf("reported %v, want one error about the first malformed message", reports)
	}
}

func TestSubscriberPanicIsReported(t *testing.T) {
	srv := redistest.Start(t)
	var reported atomic.Value
	s := newStorage(t, srv.Client(), redis.WithErrorHandler(func(err error) { reported.Store(err) }))
	r := &recorder{}
	cancel, err := s.Subscribe(func(inv storage.Invalidation) {
		if slices.Contains(inv.Keys, "boom") {
			panic("boom")
		}
		r.add(inv)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	ctx := context.Background()
	for _, k := range []string{"boom", "next"} {
		if err := s.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the message after the panic", func() bool { return r.heard("next") })
	if err, _ := reported.Load().(error); err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Errorf("reported %v, want the panic", err)
	}
}

// TestSlowSubscriberGetsDropAll checks that a subscriber that falls far
// behind is handed an invalidation of everything, not an unbounded queue.
func TestSlowSubscriberGetsDropAll(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	prefix := uniquePrefix(t)
	s := newStorage(t, srv.Client(), redis.WithPrefix(prefix))
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	r := &recorder{}
	cancel, err := s.Subscribe(func(inv storage.Invalidation) {
		select {
		case entered <- struct{}{}:
			<-release
		default:
		}
		r.add(inv)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	if err := s.Remove(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	<-entered
	// 5000 messages of one key each, as 5000 Removes would publish, in one
	// round trip.
	_, err = s.Client().Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range 5000 {
			k := fmt.Sprint("k", i)
			msg := append([]byte{1, 1, byte(len(k))}, k...)
			p.Publish(ctx, prefix+redis.ReservedPrefix+"invalidate", append(msg, 0))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the overflow", func() bool { return s.InvalidationStats().Overflows > 0 })
	close(release)
	waitFor(t, "the last message", func() bool { return r.heard("k4999") })
	if !r.heardPrefix("") {
		t.Error("the slow subscriber did not get an invalidation of everything")
	}
	if n := len(r.snapshot()); n > 4096+2 {
		t.Errorf("the slow subscriber got %d invalidations, want at most a queue's worth", n)
	}
}

// TestSubscribeRefused checks that a server that refuses pub/sub to the
// client's user makes Subscribe fail, and Remove too unless publishing is
// off.
func TestSubscribeRefused(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "nopubsub", "on", ">secret", "~*", "+@all", "-@pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	opts := srv.Options()
	opts.Username, opts.Password = "nopubsub", "secret"
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })

	s := newStorage(t, c, redis.WithErrorHandler(func(error) {}))
	if _, err := s.Subscribe(func(storage.Invalidation) {}); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("Subscribe refused by the ACL: %v, want the NOPERM error", err)
	}
	if err := s.Remove(ctx, "k"); err == nil || !strings.Contains(err.Error(), "not published") {
		t.Errorf("Remove with PUBLISH refused: %v, want an error saying the invalidation was not published", err)
	}
	quiet := newStorage(t, c, redis.WithPublish(false))
	if err := quiet.Remove(ctx, "k"); err != nil {
		t.Errorf("Remove with WithPublish(false) and PUBLISH refused: %v", err)
	}
}

// BenchmarkInvalidationLatency measures how long after Remove is called a
// subscriber's function runs, on loopback: a Remove, then a wait for the
// subscriber, one at a time. It reports the median and the 99th
// percentile.
func BenchmarkInvalidationLatency(b *testing.B) {
	srv := redistest.Start(b)
	prefix := uniquePrefix(b)
	pub := newStorage(b, srv.Client(), redis.WithPrefix(prefix))
	sub := newStorage(b, srv.Client(), redis.WithPrefix(prefix))
	heard := make(chan time.Time, 1)
	cancel, err := sub.Subscribe(func(storage.Invalidation) { heard <- time.Now() })
	if err != nil {
		b.Fatal(err)
	}
	defer cancel()
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := pub.Remove(ctx, "k"); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-heard).Sub(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
