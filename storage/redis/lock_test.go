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
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/redis"
)

// testLocking runs the Locker tests against storages made by newS, which
// all share one keyspace.
func testLocking(t *testing.T, newS func(t *testing.T) *redis.Storage) {
	ctx := context.Background()

	t.Run("one of many acquires", func(t *testing.T) {
		s := newS(t)
		const n = 8
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results = make(chan bool, n)
		)
		for range n {
			wg.Go(func() {
				<-start
				_, acquired, err := s.TryLock(ctx, "k", time.Minute)
				if err != nil {
					t.Errorf("TryLock: %v", err)
				}
				results <- acquired
			})
		}
		close(start)
		wg.Wait()
		close(results)
		var got int
		for acquired := range results {
			if acquired {
				got++
			}
		}
		if got != 1 {
			t.Errorf("%d of %d goroutines acquired the lock, want 1", got, n)
		}
	})

	t.Run("unlock frees the lock", func(t *testing.T) {
		s := newS(t)
		unlock, acquired, err := s.TryLock(ctx, "k", time.Minute)
		if err != nil || !acquired {
			t.Fatalf("TryLock: %v, %v", acquired, err)
		}
		if err := unlock(ctx); err != nil {
			t.Fatal(err)
		}
		unlock2, acquired, err := s.TryLock(ctx, "k", time.Minute)
		if err != nil || !acquired {
			t.Fatalf("TryLock after unlock: got %v, %v; want acquired", acquired, err)
		}
		if err := unlock2(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unlock by a former holder does nothing", func(t *testing.T) {
		s := newS(t)
		unlockA, acquired, err := s.TryLock(ctx, "k", 20*time.Millisecond)
		if err != nil || !acquired {
			t.Fatalf("TryLock A: %v, %v", acquired, err)
		}
		// A's lock expires and B takes it.
		var unlockB func(context.Context) error
		waitFor(t, "B to take the expired lock", func() bool {
			var err error
			unlockB, acquired, err = s.TryLock(ctx, "k", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return acquired
		})
		if err := unlockA(ctx); err != nil {
			t.Fatalf("late unlock by A: %v", err)
		}
		if _, acquired, err := s.TryLock(ctx, "k", time.Minute); err != nil || acquired {
			t.Fatalf("TryLock C after A's late unlock: got %v, %v; want B still holding it", acquired, err)
		}
		if err := unlockB(ctx); err != nil {
			t.Fatal(err)
		}
	})

	// That a lock holds until its ttl is "one of many acquires" above,
	// with a ttl no busy machine outlasts; here only that it ends.
	t.Run("the lock expires after ttl", func(t *testing.T) {
		s := newS(t)
		if _, acquired, err := s.TryLock(ctx, "k", 30*time.Millisecond); err != nil || !acquired {
			t.Fatalf("TryLock: %v, %v", acquired, err)
		}
		waitFor(t, "the lock to expire", func() bool {
			_, acquired, err := s.TryLock(ctx, "k", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return acquired
		})
	})

	t.Run("locks and entries do not collide", func(t *testing.T) {
		s := newS(t)
		if _, acquired, err := s.TryLock(ctx, "k", time.Minute); err != nil || !acquired {
			t.Fatalf("TryLock: %v, %v", acquired, err)
		}
		if _, err := s.Get(ctx, "k"); err == nil {
			t.Errorf("Get of the locked key found an entry: the lock took the entry's key")
		}
	})

	t.Run("locks are not entries", func(t *testing.T) {
		s := newS(t)
		if _, acquired, err := s.TryLock(ctx, "k", time.Minute); err != nil || !acquired {
			t.Fatalf("TryLock: %v, %v", acquired, err)
		}
		if err := s.Set(ctx, "entry", []byte("v"), storage.Params{}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"", "@", redis.ReservedPrefix, redis.ReservedPrefix + "lock:"} {
			want := []string{"entry"}
			if p != "" {
				want = nil
			}
			if diff := cmp.Diff(want, scanKeys(t, s, p)); diff != "" {
				t.Errorf("Scan(%q) with a lock held (-want +got):\n%s", p, diff)
			}
		}
		lockKey := redis.ReservedPrefix + "lock:k"
		if _, err := s.Get(ctx, lockKey); err != storage.ErrNotFound {
			t.Errorf("Get of the lock's key: %v, want storage.ErrNotFound", err)
		}
		if err := s.Set(ctx, lockKey, []byte("v"), storage.Params{}); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("Set of the lock's key: %v, want an error saying it is reserved", err)
		}
		if err := s.Remove(ctx, lockKey, "entry"); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"", "@", redis.ReservedPrefix} {
			if err := s.DeletePrefix(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if _, acquired, err := s.TryLock(ctx, "k", time.Minute); err != nil || acquired {
			t.Errorf("TryLock after Remove and DeletePrefix(\"\"): got %v, %v; want the lock still held", acquired, err)
		}
	})

	t.Run("a non-positive ttl is refused", func(t *testing.T) {
		s := newS(t)
		for _, ttl := range []time.Duration{0, -time.Second} {
			if _, acquired, err := s.TryLock(ctx, "k", ttl); err == nil || acquired {
				t.Errorf("TryLock with ttl %v: got %v, %v; want an error", ttl, acquired, err)
			}
		}
	})
}

func TestLock(t *testing.T) {
	srv := redistest.Start(t)
	testLocking(t, func(t *testing.T) *redis.Storage { return newStorage(t, srv.Client()) })
}

// lostReply makes the first SET ... NX the client sends reach the server
// but report an error, as when its reply is lost to a timeout, or (retry
// set) be sent a second time, as go-redis does when it retries.
type lostReply struct {
	retry bool
	once  sync.Once
	fired atomic.Bool
}

func (h *lostReply) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *lostReply) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func (h *lostReply) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		args := cmd.Args()
		isSetNX := cmd.Name() == "set" && slices.ContainsFunc(args, func(a any) bool { return a == "nx" })
		first := false
		if isSetNX {
			h.once.Do(func() { first = true; h.fired.Store(true) })
		}
		err := next(ctx, cmd)
		if !first || err != nil {
			return err
		}
		if h.retry {
			return next(ctx, cmd) // the retry finds the key taken
		}
		cmd.SetErr(errLostReply)
		return errLostReply
	}
}

var errLostReply = errors.New("reply lost")

func TestTryLockLostReply(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprint("retry=", retry), func(t *testing.T) {
			c := srv.Client()
			h := &lostReply{retry: retry}
			c.AddHook(h)
			s := newStorage(t, c)
			unlock, acquired, err := s.TryLock(ctx, "k", time.Minute)
			if !h.fired.Load() {
				t.Fatal("the test's hook never saw a SET NX")
			}
			if err != nil || !acquired {
				t.Fatalf("TryLock whose SET NX reply was lost: got %v, %v; want acquired, since the lock holds our token", acquired, err)
			}
			if err := unlock(ctx); err != nil {
				t.Fatal(err)
			}
			if _, acquired, err := s.TryLock(ctx, "k", time.Minute); err != nil || !acquired {
				t.Fatalf("TryLock after unlock: got %v, %v; want acquired", acquired, err)
			}
		})
	}
}

// TestLRUNeverEvictsALock plays two processes on one server: one holds a
// lock, the other bounds the same keyspace with an lru. The lru neither
// indexes the lock when it starts nor evicts it when full, so the lock
// stays held.
func TestLRUNeverEvictsALock(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	prefix := uniquePrefix(t)
	holder := newStorage(t, srv.Client(), redis.WithPrefix(prefix))
	if _, acquired, err := holder.TryLock(ctx, "k", time.Minute); err != nil || !acquired {
		t.Fatalf("TryLock: %v, %v", acquired, err)
	}
	other := newStorage(t, srv.Client(), redis.WithPrefix(prefix))
	l := lru.New(other, 2)
	defer l.Close()
	if n := l.Len(); n != 0 {
		t.Errorf("the lru indexed %d keys of a keyspace holding only a lock, want 0", n)
	}
	for i := range 5 {
		if err := l.Set(ctx, fmt.Sprint("e", i), []byte("v"), storage.Params{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeletePrefix(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, acquired, err := other.TryLock(ctx, "k", time.Minute); err != nil || acquired {
		t.Errorf("TryLock after the lru evicted and purged: got %v, %v; want the other process's lock still held", acquired, err)
	}
}
