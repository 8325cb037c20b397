package gecaso

import (
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"
)

// Option configures [Cached].
type Option func(*config)

type config struct {
	ttl        time.Duration
	name       string
	version    string
	params     map[string]any
	hashKey    bool
	logger     *slog.Logger
	onError    func(error)
	lockTTL    time.Duration
	nearSize   int
	nearMaxAge time.Duration
}

func defaultConfig() config {
	return config{hashKey: true}
}

// WithTTL sets how long a result stays valid. The default, 0, means results
// never expire. A negative TTL is a mistake and makes Cached panic.
func WithTTL(d time.Duration) Option { return func(c *config) { c.ttl = d } }

// WithName sets the function's namespace in the storage key. The default is
// the function's qualified Go name as the runtime reports it (for example
// "example.com/app.fetchUser"), which changes when the function is renamed,
// moved, or is a closure whose position changes ("main.main.func1").
//
// Persistent and shared caches (Badger, Redis) should set a name: it keeps
// keys stable across refactorings and binaries. The name must not be empty
// or contain ':' or '@', which gecaso uses as separators.
//
// WARNING: functions cached under the same name and version share entries.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithVersion adds v to the namespace. Bump it when fn's results change
// meaning (new logic, new fields in V) to orphan old results: they are no
// longer read and expire or can be removed with Purge on the old version.
// The default is no version. It must not contain ':'.
func WithVersion(v string) Option { return func(c *config) { c.version = v } }

// WithParam adds a value passed to every [storage.Storage.Set] in
// [storage.Params.Extra] and kept in every entry's envelope (see [Unpack]).
// Values must be encodable by [codec.Marshal]. The default is no params.
func WithParam(key string, value any) Option {
	return func(c *config) {
		c.params = maps.Clone(c.params)
		if c.params == nil {
			c.params = make(map[string]any)
		}
		c.params[key] = value
	}
}

// WithHashKey chooses the key's form. The default, true, makes the key the
// namespace plus a SHA-256 digest of the argument's canonical encoding: a
// fixed 43-character suffix that nobody can make collide. With false the key
// carries a readable rendering of the argument instead, which is handy to
// inspect a storage but unbounded in length.
func WithHashKey(on bool) Option { return func(c *config) { c.hashKey = on } }

// WithLogger sets where storage errors that Call survived are logged, at
// level Warn. The default is slog.Default(). [WithErrorHandler] takes
// precedence.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithErrorHandler sets a function called with every storage error that a
// call survived (the cache fails open) and every entry that did not decode.
// The error is a *[StorageError]; entries that did not decode match
// [codec.ErrCorrupt]. The handler runs on the calling goroutine or on the
// goroutine that runs fn, so it must be safe for concurrent use and return
// quickly. The default logs to the [WithLogger] logger.
func WithErrorHandler(h func(error)) Option { return func(c *config) { c.onError = h } }

// WithLock turns on cross-process stampede protection when the storage
// implements [storage.Locker] (storage/redis does): on a miss, the process
// first takes a per-key lock held for at most ttl. Processes that find the
// lock taken poll the storage for the holder's result, and run fn themselves
// if no result appears before the lock expires (its holder died or is slow).
// Within one process, callers already share one execution without it.
// The default, 0, is off; ttl should exceed fn's usual running time.
// On a storage without [storage.Locker] the option does nothing.
func WithLock(ttl time.Duration) Option { return func(c *config) { c.lockTTL = ttl } }

// WithNearCache keeps up to maxEntries decoded results in the process, in
// front of the storage, so that a hit skips the storage, the key digest and
// decoding. A result is kept for at most maxAge (and never past its TTL);
// when maxEntries are kept, the oldest is dropped first. Hits take no lock,
// so they scale with cores; the table costs 8 bytes per entry up front, and
// holds at most 1<<30 entries. The default, maxEntries 0, is off.
//
// WARNING: the near cache returns the same V to every caller: a V that holds
// slices, maps or pointers must not be modified by callers. Results removed
// from the storage by another process (or another Func) are still served
// from the near cache for up to maxAge; [Func.Forget] and [Func.Purge] on
// this Func clear it.
func WithNearCache(maxEntries int, maxAge time.Duration) Option {
	return func(c *config) { c.nearSize, c.nearMaxAge = maxEntries, maxAge }
}

// maxNearSize bounds WithNearCache, whose table takes 8 bytes per entry up
// front.
const maxNearSize = 1 << 30

// validate reports the first mistake in the configuration.
func (c *config) validate() error {
	switch {
	case c.ttl < 0:
		return fmt.Errorf("gecaso: negative TTL %v", c.ttl)
	case c.name == "":
		return fmt.Errorf("gecaso: empty name")
	case strings.ContainsAny(c.name, ":@"):
		return fmt.Errorf("gecaso: name %q contains ':' or '@'", c.name)
	case strings.Contains(c.version, ":"):
		return fmt.Errorf("gecaso: version %q contains ':'", c.version)
	case c.lockTTL < 0:
		return fmt.Errorf("gecaso: negative lock TTL %v", c.lockTTL)
	case c.nearSize < 0:
		return fmt.Errorf("gecaso: negative near cache size %d", c.nearSize)
	case c.nearSize > maxNearSize:
		return fmt.Errorf("gecaso: near cache of %d entries, more than the %d it can hold", c.nearSize, maxNearSize)
	case c.nearSize > 0 && c.nearMaxAge <= 0:
		return fmt.Errorf("gecaso: near cache needs a positive maxAge, got %v", c.nearMaxAge)
	}
	return nil
}
