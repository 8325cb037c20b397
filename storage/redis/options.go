package redis

import (
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Option configures [New].
type Option func(*config)

type config struct {
	prefix      string
	closeClient bool
	publish     bool
	onError     func(error)
}

func defaultConfig() config {
	return config{
		publish: true,
		onError: func(err error) { slog.Default().Warn("gecaso/redis", "err", err) },
	}
}

// WithPrefix prepends p to every key the Storage reads or writes, so that
// several applications (or environments, or tests) can share one Redis
// without seeing each other's entries. [Storage.Scan] matches and reports
// keys without the prefix, and [Storage.DeletePrefix] with an empty prefix
// removes only the keys under p. The default is no prefix: keys are stored
// as gecaso makes them.
//
// Glob characters in p (* ? [ ] \) are escaped in SCAN patterns, so any
// prefix is safe.
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithPublish turns the publishing of invalidations on or off. When on,
// every [Storage.Remove] and [Storage.DeletePrefix] publishes what it removed
// to the Storage's channel (see [Storage.Subscribe]), so that every process
// drops its copies (gecaso's near caches, tiered L1s) within milliseconds.
// The default, true, publishes.
//
// Turn it off for a process that removes much and whose removals nobody
// copies (a batch job), or when the server's ACL forbids PUBLISH (with it
// on, such a server makes every Remove fail). A Storage that does not
// publish can still subscribe to the removals of others.
func WithPublish(on bool) Option { return func(c *config) { c.publish = on } }

// WithErrorHandler sets the function that receives the errors the Storage
// cannot return to a caller, all of them from the invalidation
// subscription: its connection failing (once per outage; it reconnects by
// itself), the first malformed message received (later ones are only
// counted, see [Storage.InvalidationStats]), and a panic in a subscriber's
// function. It is called from the subscription's goroutines, without any
// lock held. The default logs each error with slog.Default() at level
// Warn. A nil fn makes New panic.
func WithErrorHandler(fn func(error)) Option { return func(c *config) { c.onError = fn } }

// WithCloseClient makes [Storage.Close] also close the go-redis client given
// to [New]. The default is to leave the client open: it belongs to the
// caller, who may share it with other code.
func WithCloseClient() Option { return func(c *config) { c.closeClient = true } }

// DefaultOptions returns go-redis options suited to a cache at addrs: one
// address gives a single server, several a Cluster (set IsClusterMode for a
// Cluster reached through one address, MasterName for Sentinel). Pass the
// result, after any changes, to goredis.NewUniversalClient.
//
// The settings that matter for a cache, and that go-redis does not default
// to:
//   - ContextTimeoutEnabled: true, so that a caller's context deadline cuts a
//     blocked socket read. Without it a deadline is noticed only between
//     commands and a stalled server holds callers for ReadTimeout.
//   - MaxRetries: -1, no retries. go-redis retries read and pool timeouts
//     too, and its 0 means the default 3; for a cache one failed attempt is
//     just a miss, and a retried SET NX can hide which process holds a lock.
//   - DialerRetries: 1, a single dial attempt. By default go-redis dials five
//     times 100ms apart, so while the server is down every call would wait
//     0.4s before failing open. (After PoolSize failed dials go-redis fails
//     calls at once and probes the server in the background once a second:
//     a restarted server is used again within about a second.)
//   - DialTimeout 1s, ReadTimeout and WriteTimeout 500ms: a cache that is
//     slower than that is worse than no cache.
func DefaultOptions(addrs ...string) *goredis.UniversalOptions {
	return &goredis.UniversalOptions{
		Addrs:                 addrs,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           time.Second,
		ReadTimeout:           500 * time.Millisecond,
		WriteTimeout:          500 * time.Millisecond,
	}
}
