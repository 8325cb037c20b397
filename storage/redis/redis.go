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
// gecaso.WithLock), [storage.Invalidator] (with pub/sub),
// [storage.Nonblocking] (false: every read waits on the server) and
// io.Closer.
//
// # Invalidations
//
// Every Remove and DeletePrefix publishes what it removed on a channel of
// the storage prefix, "<prefix>@gecaso:invalidate" (see [WithPublish] to
// turn it off), in the same round trip as the removal on a single server or
// Sentinel, in a second one on a Cluster or Ring. A Cluster uses sharded
// pub/sub (SPUBLISH, SSUBSCRIBE), which needs Redis 7.0 or later.
// [Storage.Subscribe] hears those of every process using the same server
// and prefix, its own included, so that gecaso's near caches and
// storage/tiered's L1s drop their copies. Measured on loopback on a busy
// two-core machine (see BenchmarkInvalidationLatency), a subscriber's
// function runs about 0.05 ms after Remove is called (median), and within
// 0.2 to 2 ms (99th percentile, depending on the machine's load); between
// machines add the network's latency.
//
// Redis pub/sub delivers at most once: a message published while a
// subscriber's connection is down is lost. The Storage notices a dropped
// connection (at once when the server closes it, within 4 s through its
// pings when the network silently drops it), reconnects with backoff, and
// once subscribed again hands every subscriber an invalidation of
// everything ([storage.Invalidation] with the empty prefix). Until then a
// removal made by another process may go unheard: copies then last until
// their own lifetime ends (tiered's L1 TTL, the near cache's max age). On a
// Ring the channel lives on the shard its name hashes to; while processes
// disagree about which shards are live, invalidations may be lost without
// a reconnect to tell.
//
// # Reserved keys
//
// Keys that start with [ReservedPrefix], "@gecaso:", after the storage
// prefix hold the Storage's own bookkeeping (the locks of [Storage.TryLock]).
// No gecaso key starts so (a function's name is never empty and never
// holds '@'), and no caller may use them: Set refuses them, Get misses
// them, Remove skips them, and Scan and DeletePrefix (even of the empty
// prefix) neither report nor remove them, so that an lru over a Redis
// storage never counts or evicts another process's lock, and a Purge never
// frees one. Storages whose prefixes nest ("app:" and "app:sub:") see each
// other's keys, locks included, as they always did: give each its own.
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/internal/keyfmt"
	"github.com/gecaso/gecaso/storage"
)

// ReservedPrefix starts, after the storage prefix, every key the Storage
// keeps for itself (see the package documentation). A gecaso key never
// starts with it: a function's name is never empty and never holds '@'.
const ReservedPrefix = "@gecaso:"

// reserved reports whether key (relative to the storage prefix) is one of
// the Storage's own.
func reserved(key string) bool { return strings.HasPrefix(key, ReservedPrefix) }

// Storage keeps entries in Redis. It is safe for concurrent use by many
// goroutines and, through Redis, by many processes.
//
// After [Storage.Close] every method returns [storage.ErrClosed].
type Storage struct {
	client      goredis.UniversalClient
	prefix      string
	channel     string // the pub/sub channel of invalidations
	closeClient bool
	publish     bool
	onError     func(error)

	hub   hub // the subscriptions to channel
	stats invalidationCounters

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // set once, inside closeOnce
}

var (
	_ storage.Storage       = (*Storage)(nil)
	_ storage.Scanner       = (*Storage)(nil)
	_ storage.PrefixDeleter = (*Storage)(nil)
	_ storage.Locker        = (*Storage)(nil)
	_ storage.Invalidator   = (*Storage)(nil)
	_ storage.Nonblocking   = (*Storage)(nil)
	_ io.Closer             = (*Storage)(nil)
)

// New returns a Storage over client, which may be a single-server,
// Sentinel (failover) or Cluster client, or a Ring. The Storage does not
// close client unless [WithCloseClient] is given. New touches no network:
// the invalidation subscription starts with the first [Storage.Subscribe].
// New panics if client is nil or an option is invalid.
func New(client goredis.UniversalClient, opts ...Option) *Storage {
	if client == nil {
		panic("gecaso/redis: New with a nil client")
	}
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if c.onError == nil {
		panic("gecaso/redis: WithErrorHandler(nil)")
	}
	s := &Storage{
		client:      client,
		prefix:      c.prefix,
		channel:     c.prefix + ReservedPrefix + "invalidate",
		closeClient: c.closeClient,
		publish:     c.publish,
		onError:     c.onError,
	}
	s.hub.s = s
	return s
}

// Nonblocking reports false: every read waits on the server.
func (s *Storage) Nonblocking() bool { return false }

// Client returns the go-redis client given to [New].
func (s *Storage) Client() goredis.UniversalClient { return s.client }

// Get returns a copy of the value stored under key, or [storage.ErrNotFound]
// (unwrapped) when the key is absent or expired, or reserved (see
// [ReservedPrefix]). One round trip. Other errors (server down, timeouts,
// ctx cancelled) are wrapped with the key.
func (s *Storage) Get(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	if reserved(key) {
		return nil, storage.ErrNotFound
	}
	v, err := s.client.Get(ctx, s.prefix+key).Result()
	if err != nil {
		if errors.Is(err, goredis.Nil) {
			return nil, storage.ErrNotFound
		}
		return nil, wrap(ctx, err, "get %s", keyfmt.Quote(key))
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
// with the key. A key that starts with [ReservedPrefix] is refused with an
// error.
func (s *Storage) Set(ctx context.Context, key string, value []byte, p storage.Params) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if reserved(key) {
		return fmt.Errorf("gecaso/redis: set %s: keys starting with %q are reserved", keyfmt.Quote(key), ReservedPrefix)
	}
	if p.TTL < 0 {
		if err := s.client.Unlink(ctx, s.prefix+key).Err(); err != nil {
			return wrap(ctx, err, "set %s: remove expired", keyfmt.Quote(key))
		}
		return nil
	}
	if err := s.client.Set(ctx, s.prefix+key, value, roundUpMs(p.TTL)).Err(); err != nil {
		return wrap(ctx, err, "set %s", keyfmt.Quote(key))
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

// removeBatch is how many keys one UNLINK, and one invalidation message,
// carries.
const removeBatch = 512

// Remove deletes keys with UNLINK (Redis frees the memory in the
// background) and publishes their invalidation (unless [WithPublish] turned
// it off). Absent keys are not an error; reserved keys (see
// [ReservedPrefix]) are skipped.
//
// On a single server or Sentinel the UNLINKs and the PUBLISH go out as one
// pipeline on one connection, which Redis runs in order: one round trip,
// and no subscriber hears of a removal before it is done. Many keys go out
// as multi-key UNLINKs of up to 512 keys, each followed by the message of
// its keys. On a Cluster or Ring keys of different hash slots cannot share
// a command and the pipeline is split among the nodes, which run their
// parts in any order: there the UNLINKs go out as one pipeline of
// single-key UNLINKs, and the messages follow once every UNLINK is done, a
// second round trip.
//
// An error is wrapped with the first key and the number of keys; when the
// keys were removed but the invalidation could not be published, it says
// so.
func (s *Storage) Remove(ctx context.Context, keys ...string) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	keys = withoutReserved(keys)
	if len(keys) == 0 {
		return nil
	}
	if err := s.remove(ctx, keys); err != nil {
		if len(keys) == 1 {
			return wrap(ctx, err, "remove %s", keyfmt.Quote(keys[0]))
		}
		return wrap(ctx, err, "remove %s and %d more", keyfmt.Quote(keys[0]), len(keys)-1)
	}
	return nil
}

// withoutReserved returns keys without the reserved ones, keys itself when
// there are none.
func withoutReserved(keys []string) []string {
	for i, k := range keys {
		if reserved(k) {
			out := append([]string(nil), keys[:i]...)
			for _, k := range keys[i+1:] {
				if !reserved(k) {
					out = append(out, k)
				}
			}
			return out
		}
	}
	return keys
}

// remove unlinks keys (relative to the storage prefix) and publishes their
// invalidation.
func (s *Storage) remove(ctx context.Context, keys []string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.prefix + k
	}
	c, single := s.client.(*goredis.Client)
	if !single {
		if err := unlink(ctx, s.client, full, false); err != nil {
			return err
		}
		if !s.publish {
			return nil
		}
		var msgs [][]byte
		for batch := range slices.Chunk(keys, removeBatch) {
			msgs = append(msgs, appendMessage(nil, storage.Invalidation{Keys: batch}))
		}
		if err := s.publishAll(ctx, msgs...); err != nil {
			return fmt.Errorf("removed, but the invalidation was not published: %w", err)
		}
		return nil
	}
	if len(keys) == 1 && !s.publish {
		return c.Unlink(ctx, full[0]).Err()
	}
	var sent int
	cmds, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for len(full) > 0 {
			n := min(len(full), removeBatch)
			p.Unlink(ctx, full[:n]...)
			if s.publish {
				p.Publish(ctx, s.channel, appendMessage(nil, storage.Invalidation{Keys: keys[:n]}))
				sent++
			}
			full, keys = full[n:], keys[n:]
		}
		return nil
	})
	if err != nil {
		removed := true
		for _, cmd := range cmds {
			removed = removed && (cmd.Name() != "unlink" || cmd.Err() == nil)
		}
		if removed {
			return fmt.Errorf("removed, but the invalidation was not published: %w", err)
		}
		return err
	}
	s.stats.published.Add(uint64(sent))
	return nil
}

// publishAll publishes msgs on the Storage's channel, in order: with
// SPUBLISH on a Cluster (see subscribe.go for why), PUBLISH elsewhere.
func (s *Storage) publishAll(ctx context.Context, msgs ...[]byte) error {
	if len(msgs) == 0 {
		return nil
	}
	switch c := s.client.(type) {
	case *goredis.ClusterClient:
		// Every message goes to the one node that owns the channel's slot,
		// which runs them in order.
		_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, m := range msgs {
				p.SPublish(ctx, s.channel, m)
			}
			return nil
		})
		if err != nil {
			return err
		}
	default:
		// A Ring routes Publish by the channel's name, as it does
		// Subscribe, but its pipeline would route a PUBLISH by the word
		// "publish": publish one by one.
		for _, m := range msgs {
			if err := s.client.Publish(ctx, s.channel, m).Err(); err != nil {
				return err
			}
		}
	}
	s.stats.published.Add(uint64(len(msgs)))
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
// [storage.ErrClosed]. It ends every subscription (waiting for a
// subscriber's function that is running) and the pub/sub connection. It
// closes the go-redis client only when [WithCloseClient] was given, and
// then returns the client's Close error. Close is idempotent and safe to
// call concurrently with other methods; calls already in flight finish (or
// fail, if the client is closed). It must not be called from a subscriber's
// function.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.hub.close()
		if s.closeClient {
			if err := s.client.Close(); err != nil {
				s.closeErr = fmt.Errorf("gecaso/redis: close: %w", err)
			}
		}
	})
	return s.closeErr
}
