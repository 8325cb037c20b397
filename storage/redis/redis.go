// Package redis keeps gecaso's results in Redis, so that every process and
// machine that uses the same server shares them. One type serves a single
// server, Sentinel and Cluster: it takes any go-redis UniversalClient.
//
//	client := goredis.NewUniversalClient(redis.DefaultOptions("127.0.0.1:6379"))
//	defer client.Close()
//	s := redis.New(client, redis.WithPrefix("myapp:"))
//	f := gecaso.Cached(s, fetchUser, gecaso.WithName("fetchUser"), gecaso.WithTTL(time.Hour))
//
// Entries expire on the server (SET with PX, millisecond precision), so
// Redis reclaims their memory by itself. Besides [storage.Storage] the
// Storage implements [storage.Scanner] and [storage.PrefixDeleter] (with
// SCAN, on every master of a Cluster, never KEYS), [storage.Locker] (for
// gecaso.WithLock) and io.Closer.
//
// Contexts: every method passes its ctx to go-redis, and returns an error
// matching ctx.Err() when ctx ends first (at once for an already cancelled
// ctx). For a deadline to cut a read from a stalled server the client must
// be made with ContextTimeoutEnabled: true; [DefaultOptions] sets it, with
// no retries and short timeouts.
//
// gecaso's Func.Purge uses DeletePrefix, which walks the whole keyspace
// with SCAN: its cost grows with every key on the server. To drop a
// function's results often, bump gecaso.WithVersion instead: old entries
// are no longer read and expire by their TTL.
//
// Redis defaults to the noeviction policy: a full server refuses writes
// (an OOM error), which Set returns and gecaso reports without failing the
// call. Configure maxmemory-policy allkeys-lru (or volatile-ttl) on a server
// dedicated to caching.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/storage"
)

// Storage keeps entries in Redis. It is safe for concurrent use by many
// goroutines and, through Redis, by many processes.
//
// After [Storage.Close] every method returns [storage.ErrClosed].
type Storage struct {
	client      goredis.UniversalClient
	prefix      string
	closeClient bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // set once, inside closeOnce
}

var (
	_ storage.Storage       = (*Storage)(nil)
	_ storage.Scanner       = (*Storage)(nil)
	_ storage.PrefixDeleter = (*Storage)(nil)
	_ storage.Locker        = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// New returns a Storage over client, which may be a single-server,
// Sentinel (failover) or Cluster client, or a Ring. The Storage does not
// close client unless [WithCloseClient] is given. New panics if client is
// nil.
func New(client goredis.UniversalClient, opts ...Option) *Storage {
	if client == nil {
		panic("gecaso/redis: New with a nil client")
	}
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	return &Storage{client: client, prefix: c.prefix, closeClient: c.closeClient}
}

// Client returns the go-redis client given to [New].
func (s *Storage) Client() goredis.UniversalClient { return s.client }

// Get returns a copy of the value stored under key, or [storage.ErrNotFound]
// (unwrapped) when the key is absent or expired. One round trip. Other
// errors (server down, timeouts, ctx cancelled) are wrapped with the key.
func (s *Storage) Get(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	v, err := s.client.Get(ctx, s.prefix+key).Result()
	if err != nil {
		if errors.Is(err, goredis.Nil) {
			return nil, storage.ErrNotFound
		}
		return nil, wrap(ctx, err, "get %q", key)
	}
	// The reply's string must not be handed out as a mutable slice (go-redis
	// may share it, with client-side caching): copy it.
	return []byte(v), nil
}

// Set stores value under key with SET, replacing any previous value. A
// positive p.TTL becomes the key's expiry (PX, rounded up to a whole
// millisecond); 0 means no expiry. A negative p.TTL means the entry is
// already dead: Set removes the key instead of writing one that would never
// expire. The value is not kept after Set returns.
//
// Errors (including OOM from a full server under noeviction) are wrapped
// with the key.
func (s *Storage) Set(ctx context.Context, key string, value []byte, p storage.Params) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if p.TTL < 0 {
		if err := s.client.Unlink(ctx, s.prefix+key).Err(); err != nil {
			return wrap(ctx, err, "set %q: remove expired", key)
		}
		return nil
	}
	if err := s.client.Set(ctx, s.prefix+key, value, roundUpMs(p.TTL)).Err(); err != nil {
		return wrap(ctx, err, "set %q", key)
	}
	return nil
}

// wrap returns err prefixed with the package and the operation. When ctx
// has ended the result also matches ctx.Err(): go-redis reports a deadline
// that cut a read as a plain i/o timeout, sometimes a moment before the
// context itself notices the deadline.
func wrap(ctx context.Context, err error, format string, args ...any) error {
	op := fmt.Sprintf(format, args...)
	if ctxErr := ctxDone(ctx); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("gecaso/redis: %s: %w (%w)", op, ctxErr, err)
	}
	return fmt.Errorf("gecaso/redis: %s: %w", op, err)
}

// ctxDone returns ctx.Err(), or context.DeadlineExceeded once ctx's
// deadline has passed even if ctx has not noticed yet.
func ctxDone(ctx context.Context) error {
	err := ctx.Err()
	if dl, ok := ctx.Deadline(); err == nil && ok && !time.Now().Before(dl) {
		err = context.DeadlineExceeded
	}
	return err
}

// roundUpMs rounds a positive d up to a whole millisecond, the unit of PX,
// so that a key never expires before its entry does.
func roundUpMs(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r != 0 {
		d += time.Millisecond - r
	}
	return d
}

// removeBatch is how many keys one UNLINK carries.
const removeBatch = 512

// Remove deletes keys with UNLINK (Redis frees the memory in the
// background). Absent keys are not an error. On a single server, many keys
// go out as multi-key UNLINKs of up to 512 keys; on a Cluster or Ring, as
// one pipeline of single-key UNLINKs, since keys of different hash slots
// cannot share a command.
func (s *Storage) Remove(ctx context.Context, keys ...string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	switch len(keys) {
	case 0:
		return nil
	case 1:
		if err := s.client.Unlink(ctx, s.prefix+keys[0]).Err(); err != nil {
			return wrap(ctx, err, "remove %q", keys[0])
		}
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.prefix + k
	}
	_, single := s.client.(*goredis.Client)
	if err := unlink(ctx, s.client, full, single); err != nil {
		return wrap(ctx, err, "remove %q and %d more", keys[0], len(keys)-1)
	}
	return nil
}

// unlink removes keys (full Redis keys) through c, in one round trip per
// removeBatch keys. multiKey says whether one command may carry keys of
// different hash slots: true for a single server or one shard of a Ring,
// false for a Cluster client or one Cluster node.
func unlink(ctx context.Context, c goredis.Cmdable, keys []string, multiKey bool) error {
	if multiKey {
		for len(keys) > 0 {
			n := min(len(keys), removeBatch)
			if err := c.Unlink(ctx, keys[:n]...).Err(); err != nil {
				return err
			}
			keys = keys[n:]
		}
		return nil
	}
	for len(keys) > 0 {
		n := min(len(keys), removeBatch)
		_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, k := range keys[:n] {
				p.Unlink(ctx, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// Close marks the Storage closed: afterwards every method returns
// [storage.ErrClosed]. It closes the go-redis client only when
// [WithCloseClient] was given, and then returns the client's Close error.
// Close is idempotent and safe to call concurrently with other methods;
// calls already in flight finish (or fail, if the client is closed).
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.closeClient {
			if err := s.client.Close(); err != nil {
				s.closeErr = fmt.Errorf("gecaso/redis: close: %w", err)
			}
		}
	})
	return s.closeErr
}
