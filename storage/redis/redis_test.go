package redis_test

import (
	"bytes"
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

// prefixSeq makes every test's key prefix unique on a shared server.
var prefixSeq atomic.Int64

// uniquePrefix returns a key prefix no other test uses.
func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("t%d:%s:", prefixSeq.Add(1), t.Name())
}

// newStorage returns a Storage on srv under a prefix of its own, closed
// when the test ends.
func newStorage(t testing.TB, c goredis.UniversalClient, opts ...redis.Option) *redis.Storage {
	t.Helper()
	s := redis.New(c, append([]redis.Option{redis.WithPrefix(uniquePrefix(t))}, opts...)...)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

func TestGetSetRemove(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	ctx := context.Background()

	if _, err := s.Get(ctx, "k"); err != storage.ErrNotFound {
		t.Fatalf("Get of an absent key: got %v, want the bare storage.ErrNotFound", err)
	}
	for _, give := range [][]byte{{}, []byte("v"), bytes.Repeat([]byte{0, 0xff}, 1<<20)} {
		if err := s.Set(ctx, "k\x00\xff key", give, storage.Params{}); err != nil {
			t.Fatalf("Set: %v", err)
		}
		got, err := s.Get(ctx, "k\x00\xff key")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !bytes.Equal(give, got) {
			t.Errorf("Get returned %d bytes, want the %d bytes set", len(got), len(give))
		}
	}
	if err := s.Remove(ctx, "k\x00\xff key", "absent"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := s.Get(ctx, "k\x00\xff key"); err != storage.ErrNotFound {
		t.Fatalf("Get after Remove: got %v, want storage.ErrNotFound", err)
	}
}

func TestGetReturnsACopy(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("value"), storage.Params{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'X'
	again, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("value", string(again)); diff != "" {
		t.Errorf("Get after modifying an earlier result (-want +got):\n%s", diff)
	}
}

// sentCommands records the arguments of the commands a client sends.
type sentCommands struct {
	mu   sync.Mutex // guards args
	args [][]any
}

func (h *sentCommands) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *sentCommands) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.mu.Lock()
		h.args = append(h.args, slices.Clone(cmd.Args()))
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *sentCommands) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.mu.Lock()
		for _, cmd := range cmds {
			h.args = append(h.args, slices.Clone(cmd.Args()))
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the commands named name sent since the last take.
func (h *sentCommands) take(name string) [][]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var args [][]any
	for _, a := range h.args {
		if a[0] == name {
			args = append(args, a)
		}
	}
	h.args = nil
	return args
}

// TestSetTTL checks the expiry Set asks of the server. It looks at the
// command sent rather than at the key's PTTL afterwards, which a 1 ms key
// may outlive on a busy machine.
func TestSetTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	var sent sentCommands
	c.AddHook(&sent)
	const prefix = "ttl:"
	s := redis.New(c, redis.WithPrefix(prefix))
	ctx := context.Background()

	tests := []struct {
		name string
		give time.Duration
		want []any // the expiry arguments of the SET
	}{
		{name: "zero never expires", give: 0, want: nil},
		{name: "one nanosecond rounds up to 1ms", give: time.Nanosecond, want: []any{"px", int64(1)}},
		{name: "milliseconds", give: 1500 * time.Millisecond, want: []any{"px", int64(1500)}},
		{name: "hours", give: 3 * time.Hour, want: []any{"ex", int64(3 * 3600)}},
		{name: "sub-millisecond part rounds up", give: 10*time.Second + 1, want: []any{"px", int64(10001)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent.take("set")
			if err := s.Set(ctx, tt.name, []byte("v"), storage.Params{TTL: tt.give}); err != nil {
				t.Fatal(err)
			}
			want := [][]any{append([]any{"set", prefix + tt.name, []byte("v")}, tt.want...)}
			if diff := cmp.Diff(want, sent.take("set")); diff != "" {
				t.Errorf("commands sent by Set with TTL %v (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestSetNegativeTTLRemoves(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("old"), storage.Params{}); err != nil {
		t.Fatal(err)
	}
	// An entry whose lifetime is already over must neither be written as a
	// key that never expires nor leave the old value behind.
	if err := s.Set(ctx, "k", []byte("new"), storage.Params{TTL: -time.Second}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k"); err != storage.ErrNotFound {
		t.Fatalf("Get after Set with a negative TTL: got %q, %v; want storage.ErrNotFound", got, err)
	}
}

func TestExpiry(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), storage.Params{TTL: 30 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the entry to expire", func() bool {
		_, err := s.Get(ctx, "k")
		if err != nil && err != storage.ErrNotFound {
			t.Fatalf("Get: %v", err)
		}
		return err == storage.ErrNotFound
	})
}

func TestPrefixIsPrepended(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client()
	s := redis.New(srv.Client(), redis.WithPrefix("app:"))
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), storage.Params{}); err != nil {
		t.Fatal(err)
	}
	keys, err := raw.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"app:k"}, keys); diff != "" {
		t.Errorf("keys on the server (-want +got):\n%s", diff)
	}
}

func TestRemoveManyKeys(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client()
	s := newStorage(t, srv.Client())
	ctx := context.Background()
	var keys []string
	for i := range 1300 { // more than one UNLINK batch
		k := fmt.Sprint("k", i)
		keys = append(keys, k)
		if err := s.Set(ctx, k, []byte("v"), storage.Params{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Set(ctx, "other", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, append(keys, "absent")...); err != nil {
		t.Fatal(err)
	}
	n, err := raw.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("after removing every key of the storage, the server holds %d keys, want 1 (another program's)", n)
	}
}

// scanKeys returns the sorted keys s.Scan reports for prefix.
func scanKeys(t testing.TB, s storage.Scanner, prefix string) []string {
	t.Helper()
	var got []string
	err := s.Scan(context.Background(), prefix, func(ki storage.KeyInfo) error {
		got = append(got, ki.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	slices.Sort(got)
	return slices.Compact(got)
}

func TestScan(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	ctx := context.Background()
	before := time.Now()
	if err := s.Set(ctx, "a:1", []byte("xyz"), storage.Params{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for i := range 2500 { // several SCAN pages
		if err := s.Set(ctx, fmt.Sprint("b:", i), []byte("v"), storage.Params{}); err != nil {
			t.Fatal(err)
		}
	}

	var infos []storage.KeyInfo
	err := s.Scan(ctx, "a:", func(ki storage.KeyInfo) error {
		infos = append(infos, ki)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 {
		t.Fatalf("Scan(\"a:\") reported %v, want one key", infos)
	}
	if diff := cmp.Diff(storage.KeyInfo{Key: "a:1", Size: 3}, infos[0], cmpIgnoreExpiry); diff != "" {
		t.Errorf("KeyInfo (-want +got):\n%s", diff)
	}
	if exp := infos[0].ExpiresAt; exp.Before(before.Add(time.Hour-time.Minute)) || exp.After(time.Now().Add(time.Hour+time.Second)) {
		t.Errorf("ExpiresAt = %v, want about an hour from %v", exp, before)
	}

	if got := scanKeys(t, s, "b:"); len(got) != 2500 {
		t.Errorf("Scan(\"b:\") reported %d distinct keys, want 2500", len(got))
	}
	if got := scanKeys(t, s, ""); len(got) != 2501 {
		t.Errorf("Scan(\"\") reported %d distinct keys, want 2501", len(got))
	}
}

var cmpIgnoreExpiry = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "ExpiresAt" }, cmp.Ignore())

func TestScanStops(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	ctx := context.Background()
	for i := range 10 {
		if err := s.Set(ctx, fmt.Sprint(i), []byte("v"), storage.Params{}); err != nil {
			t.Fatal(err)
		}
	}
	errStop := errors.New("stop")
	var calls int
	err := s.Scan(ctx, "", func(storage.KeyInfo) error {
		calls++
		return errStop
	})
	if err != errStop || calls != 1 {
		t.Errorf("Scan with fn failing: got %v after %d calls, want fn's error unwrapped after 1", err, calls)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = s.Scan(cctx, "", func(storage.KeyInfo) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan with a cancelled ctx: got %v, want context.Canceled", err)
	}
}

func TestDeletePrefix(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client()
	s := newStorage(t, srv.Client())
	ctx := context.Background()
	for i := range 1200 {
		for _, p := range []string{"a:", "b:"} {
			if err := s.Set(ctx, fmt.Sprint(p, i), []byte("v"), storage.Params{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := raw.Set(ctx, "a:other-program", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePrefix(ctx, "a:"); err != nil {
		t.Fatal(err)
	}
	if got := scanKeys(t, s, "a:"); len(got) != 0 {
		t.Errorf("after DeletePrefix(\"a:\"), %d keys remain, e.g. %q", len(got), got[0])
	}
	if got := scanKeys(t, s, "b:"); len(got) != 1200 {
		t.Errorf("after DeletePrefix(\"a:\"), %d keys \"b:\" remain, want 1200", len(got))
	}
	if err := s.DeletePrefix(ctx, ""); err != nil {
		t.Fatal(err)
	}
	keys, err := raw.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a:other-program"}, keys); diff != "" {
		t.Errorf("DeletePrefix(\"\") must remove only the storage's keys; keys left (-want +got):\n%s", diff)
	}
}

// TestPrefixEscaping checks that glob characters in a prefix match only
// themselves in Scan and DeletePrefix.
func TestPrefixEscaping(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client()
	ctx := context.Background()
	tests := []struct {
		give   string   // the storage prefix
		others []string // keys the prefix would match as a glob
	}{
		{give: "a*", others: []string{"ab", "abc:k", "a"}},
		{give: "a?", others: []string{"ab:k", "ax"}},
		{give: "[ab]", others: []string{"a:k", "b"}},
		{give: `a\`, others: []string{"a", "a*"}},
		{give: "a]", others: []string{"a"}},
		{give: "[^x]", others: []string{"a", "y:k"}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if err := raw.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.others {
				if err := raw.Set(ctx, k, "v", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			s := redis.New(srv.Client(), redis.WithPrefix(tt.give))
			if err := s.Set(ctx, "mine", []byte("v"), storage.Params{}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"mine"}, scanKeys(t, s, "")); diff != "" {
				t.Errorf("Scan(\"\") with prefix %q (-want +got):\n%s", tt.give, diff)
			}
			if err := s.DeletePrefix(ctx, ""); err != nil {
				t.Fatal(err)
			}
			keys, err := raw.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(keys)
			want := slices.Sorted(slices.Values(tt.others))
			if diff := cmp.Diff(want, keys); diff != "" {
				t.Errorf("keys left by DeletePrefix(\"\") with prefix %q (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestClose(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	client := srv.Client()
	s := redis.New(client)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	calls := map[string]error{}
	_, calls["Get"] = s.Get(ctx, "k")
	calls["Set"] = s.Set(ctx, "k", nil, storage.Params{})
	calls["Remove"] = s.Remove(ctx, "k")
	calls["Scan"] = s.Scan(ctx, "", func(storage.KeyInfo) error { return nil })
	calls["DeletePrefix"] = s.DeletePrefix(ctx, "")
	_, _, calls["TryLock"] = s.TryLock(ctx, "k", time.Second)
	for name, err := range calls {
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close: got %v, want storage.ErrClosed", name, err)
		}
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Errorf("the caller's client must stay open after Close: %v", err)
	}

	owned := redis.New(srv.Client(), redis.WithCloseClient())
	if err := owned.Close(); err != nil {
		t.Fatal(err)
	}
	if err := owned.Client().Ping(ctx).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Errorf("Ping on the client after Close with WithCloseClient: got %v, want goredis.ErrClosed", err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	srv.Kill()
	_, err := s.Get(context.Background(), "the-key")
	if err == nil || err == storage.ErrNotFound {
		t.Fatalf("Get on a dead server: got %v, want an error", err)
	}
	if want := `gecaso/redis: get "the-key": `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

// TestErrorsShortenLongKeys checks that a huge key does not land whole in
// an error text.
func TestErrorsShortenLongKeys(t *testing.T) {
	srv := redistest.Start(t)
	s := newStorage(t, srv.Client())
	srv.Kill()
	key := strings.Repeat("k", 10<<20)
	ctx := context.Background()
	errs := map[string]error{
		"Set":    s.Set(ctx, key, []byte("v"), storage.Params{}),
		"Remove": s.Remove(ctx, key, "other"),
	}
	_, errs["Get"] = s.Get(ctx, key)
	_, _, errs["TryLock"] = s.TryLock(ctx, key, time.Second)
	for name, err := range errs {
		if err == nil {
			t.Errorf("%s on a dead server succeeded", name)
			continue
		}
		if msg := err.Error(); len(msg) > 1024 || !strings.Contains(msg, "(10485760 bytes)") {
			t.Errorf("%s: error of %d bytes, want under 1 KiB, naming the key's length: %.300s", name, len(msg), msg)
		}
	}
}

// TestServerFull checks that a server out of memory under noeviction makes
// Set fail with an error, and nothing else.
func TestServerFull(t *testing.T) {
	srv := redistest.Start(t)
	raw := srv.Client()
	ctx := context.Background()
	used, err := usedMemory(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]any{
		{"CONFIG", "SET", "maxmemory-policy", "noeviction"},
		{"CONFIG", "SET", "maxmemory", used + 1<<20},
	} {
		if err := raw.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s := newStorage(t, srv.Client())
	value := bytes.Repeat([]byte("x"), 64<<10)
	for i := 0; ; i++ {
		err := s.Set(ctx, fmt.Sprint(i), value, storage.Params{})
		if err == nil {
			if i > 1000 {
				t.Fatal("64 MB written to a server limited to 1 MB more than it used")
			}
			continue
		}
		if !goredis.IsOOMError(err) {
			t.Fatalf("Set on a full server: got %v, want an OOM error", err)
		}
		break
	}
	if _, err := s.Get(ctx, "0"); err != nil {
		t.Errorf("Get on a full server: %v", err)
	}
}

// usedMemory returns the server's used_memory in bytes.
func usedMemory(ctx context.Context, c *goredis.Client) (int64, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			var n int64
			_, err := fmt.Sscan(v, &n)
			return n, err
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}

// TestContextDeadlineCutsSlowServer checks that a caller's deadline bounds
// a call to a server that does not answer, when the client has
// ContextTimeoutEnabled (as redistest's and DefaultOptions' clients do).
func TestContextDeadlineCutsSlowServer(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client()
	s := newStorage(t, srv.Client())
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), storage.Params{}); err != nil {
		t.Fatal(err)
	}
	// Every client waits while the server is paused, for less than the
	// client's ReadTimeout: only the context can cut the wait short.
	if err := admin.Do(ctx, "CLIENT", "PAUSE", 1000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if got, err := s.Get(dctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get from a paused server with a 50ms deadline: got %q, %v; want context.DeadlineExceeded", got, err)
	}
	// The storage works again once the pause is over.
	waitFor(t, "Get to succeed after the pause", func() bool {
		got, err := s.Get(ctx, "k")
		return err == nil && string(got) == "v"
	})
}

// TestDefaultOptions checks the settings a cache relies on.
func TestDefaultOptions(t *testing.T) {
	o := redis.DefaultOptions("127.0.0.1:6379")
	got := struct {
		Addrs          []string
		ContextTimeout bool
		MaxRetries     int
	}{o.Addrs, o.ContextTimeoutEnabled, o.MaxRetries}
	want := struct {
		Addrs          []string
		ContextTimeout bool
		MaxRetries     int
	}{[]string{"127.0.0.1:6379"}, true, -1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DefaultOptions (-want +got):\n%s", diff)
	}
	if _, ok := goredis.NewUniversalClient(o).(*goredis.Client); !ok {
		t.Errorf("DefaultOptions with one address must give a single-server client")
	}
}
