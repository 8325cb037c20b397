package redistest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/redistest"
)

func TestStartKillRestart(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	addr := s.Addr

	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping after Kill: got no error")
	}

	s.Restart()
	if s.Addr != addr {
		t.Errorf("Restart moved the server from %s to %s", addr, s.Addr)
	}
	// The pool may hand out a connection broken by the kill once; poll.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.Get(ctx, "k").Err()
		if errors.Is(err, goredis.Nil) {
			break // the server is back, and empty
		}
		if time.Now().After(deadline) {
			t.Fatalf("get after Restart: got %v, want redis.Nil", err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func TestStartCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	if len(c.Addrs) != 3 {
		t.Fatalf("got %d addresses, want 3", len(c.Addrs))
	}
	cc := c.Client()
	ctx := context.Background()
	// Keys spread over every master.
	for i := range 100 {
		if err := cc.Set(ctx, fmt.Sprint("k", i), i, 0).Err(); err != nil {
			t.Fatalf("set k%d: %v", i, err)
		}
	}
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
		n, err := node.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("master %s holds no key", node.Options().Addr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStartSentinel(t *testing.T) {
	s := redistest.StartSentinel(t)
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set through the Sentinel's master: %v", err)
	}
	got, err := s.Master.Client().Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("get from the master: got %q, %v; want \"v\"", got, err)
	}
}

// recorder stands in for a test: it records Skip and Fatal messages and
// ends its goroutine as they do.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingRedisServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no redis-server there
	tests := []struct {
		give        string // GECASO_REQUIRE_REDIS
		wantSkipped bool
	}{
		{give: "", wantSkipped: true},
		{give: "1", wantSkipped: false},
	}
	for _, tt := range tests {
		t.Run("require="+tt.give, func(t *testing.T) {
			t.Setenv(redistest.RequireEnv, tt.give)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				redistest.Start(r)
				t.Error("Start returned without redis-server on PATH")
			}()
			<-done
			if got := r.skipped != ""; got != tt.wantSkipped {
				t.Errorf("skipped = %v (%q), fatal %q; want skipped %v", got, r.skipped, r.fatal, tt.wantSkipped)
			}
			if msg := r.skipped + r.fatal; !strings.Contains(msg, "redis-server not on PATH") {
				t.Errorf("message %q does not say that redis-server is missing", msg)
			}
		})
	}
}
