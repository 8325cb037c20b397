package gecaso

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"
)

// Option configures [Cached].
type Option func(*config)

type config struct {
	ttl            time.Duration
	name           string
	version        string
	params         map[string]any
	hashKey        bool
	logger         *slog.Logger
	logInterval    time.Duration
	onError        func(error)
	lockTTL        time.Duration
	nearSize       int
	nearMaxAge     time.Duration
	swr, sie       time.Duration
	errTTL         time.Duration
	cacheErr       func(error) bool
	sentinels      []error
	jitter         float64
	refreshTimeout time.Duration
	observer       Observer
}

func defaultConfig() config {
	return config{hashKey: true, logInterval: DefaultLogInterval, refreshTimeout: DefaultRefreshTimeout}
}

// WithTTL sets how long a result stays valid. The default, 0, means results
// never expire; so does a TTL that reaches past the year 2262, the last
// instant an entry can record. A negative TTL is a mistake and makes Cached
// panic.
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

// WithLogger sets where failures that calls survived (storage errors,
// entries that do not decode, stale values served because fn failed) are
// logged, at level Warn. The default is slog.Default(). Each kind of failure
// is logged at once the first time, then at most once per
// [WithLogInterval], as one line with the count of those not logged; every
// one is still counted in [Func.Stats]. [WithErrorHandler] takes
// precedence.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithLogInterval sets how often, at most, the log gets a line for one kind
// of failure (see [WithLogger]). The default is [DefaultLogInterval].
func WithLogInterval(d time.Duration) Option { return func(c *config) { c.logInterval = d } }

// WithErrorHandler sets a function called with every failure that calls
// survived: each storage error (the cache fails open) and entry that did not
// decode, as a *[StorageError] (entries that did not decode match
// [codec.ErrCorrupt]), and each failure of fn answered with a stale value, as
// a *[StaleError]. The handler sees every one, without the log's rate limit.
// It runs on the calling goroutine or on the goroutine that runs fn, so it
// must be safe for concurrent use and return quickly. The default logs to the
// [WithLogger] logger.
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
// [Func.Forget] and [Func.Purge] clear it. When the storage is a
// [storage.Invalidator] (Redis, or tiered over Redis), removals made by other
// processes and other Funcs clear it too, within the storage's documented
// delay; otherwise they are seen only when the near copy ages out (maxAge).
//
// WARNING: the near cache returns the same V to every caller: a V that holds
// slices, maps or pointers must not be modified by callers.
func WithNearCache(maxEntries int, maxAge time.Duration) Option {
	return func(c *config) { c.nearSize, c.nearMaxAge = maxEntries, maxAge }
}

// DefaultRefreshTimeout bounds a background refresh; see
// [WithRefreshTimeout].
const DefaultRefreshTimeout = time.Minute

// WithStaleWhileRevalidate serves an entry past its TTL, for up to d more, at
// once, and starts one background refresh of it: at most one per key in the
// process, and with [WithLock] and a storage that can lock (Redis) at most
// one per key across the processes sharing the storage; the others go on
// serving the stale entry until the refreshed one lands. The refresh runs fn
// detached from the caller's cancellation, bounded by [WithRefreshTimeout],
// and stores its result as a call would (a refresh that began before a
// Forget or Purge does not store). A refresh that fails keeps the stale
// entry, is reported as a *[StaleError], and the key is not refreshed again
// for a second, then two, four... up to a minute, while it keeps failing.
//
// Entries are kept in the storage for TTL + d (see [WithStaleIfError]). The
// default, 0, is off: an entry past its TTL is a miss.
func WithStaleWhileRevalidate(d time.Duration) Option { return func(c *config) { c.swr = d } }

// WithStaleIfError answers a call whose run of fn failed (an error other
// than a context error; not a panic) with the entry it replaces, when that
// expired less than d ago: the call returns the stale value and a nil error,
// [Info] says so, and the failure is reported as a *[StaleError]. So that
// such an entry is still there, every entry is stored with a storage TTL of
// its TTL plus the largest stale window, and its TTL proper recorded inside
// it: this works across restarts (Badger) and processes (Redis). The
// default, 0, is off.
func WithStaleIfError(d time.Duration) Option { return func(c *config) { c.sie = d } }

// WithErrorTTL stores the errors of fn for which cache returns true (every
// error when cache is nil) for d, and answers later calls with them until
// then, without running fn: negative caching, for "not found" answers that
// are as costly as found ones. A later call gets a *[CachedError] with the
// same message, matching with errors.Is the sentinels given to
// [WithErrorSentinels] that the original matched; the call that ran fn gets
// fn's error itself. Context errors and panics are never stored. Stored
// errors obey Forget, Purge and versions like any entry, and are not kept in
// the near cache. The default, 0, stores no error.
func WithErrorTTL(d time.Duration, cache func(error) bool) Option {
	return func(c *config) { c.errTTL, c.cacheErr = d, cache }
}

// WithErrorSentinels lists the sentinel errors that a cached error (see
// [WithErrorTTL]) keeps: when fn's error matches one of them (errors.Is), the
// [CachedError] of later calls unwraps to it. A sentinel is recognised by its
// message, across processes and restarts, so sentinels must have distinct
// messages. The default is none.
func WithErrorSentinels(errs ...error) Option {
	return func(c *config) { c.sentinels = append(c.sentinels[:len(c.sentinels):len(c.sentinels)], errs...) }
}

// WithTTLJitter draws the TTL of each stored result uniformly from
// [TTL*(1-fraction), TTL], so that results written in one burst do not expire
// in one burst. fraction must lie in [0, 1]. The default, 0, is no jitter.
// A TTL set by [SetTTL] is not jittered.
func WithTTLJitter(fraction float64) Option { return func(c *config) { c.jitter = fraction } }

// WithRefreshTimeout bounds a background refresh (see
// [WithStaleWhileRevalidate]): its fn's context ends after d. The default is
// [DefaultRefreshTimeout].
func WithRefreshTimeout(d time.Duration) Option { return func(c *config) { c.refreshTimeout = d } }

// WithObserver hands every call's outcome and the steps of its misses to o,
// for metrics and tracing (see [Observer]). The default is none.
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }

// codeOf returns the code of the sentinel err matches, or "".
func (c *config) codeOf(err error) string {
	for _, s := range c.sentinels {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return ""
}

// sentinel returns the sentinel of code, or nil.
func (c *config) sentinel(code string) error {
	for _, s := range c.sentinels {
		if s.Error() == code {
			return s
		}
	}
	return nil
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
	case c.swr < 0 || c.sie < 0:
		return fmt.Errorf("gecaso: negative stale window (stale-while-revalidate %v, stale-if-error %v)", c.swr, c.sie)
	case c.errTTL < 0:
		return fmt.Errorf("gecaso: negative error TTL %v", c.errTTL)
	case !(c.jitter >= 0 && c.jitter <= 1):
		return fmt.Errorf("gecaso: TTL jitter %v is not a fraction in [0, 1]", c.jitter)
	case c.refreshTimeout <= 0:
		return fmt.Errorf("gecaso: refresh timeout %v is not positive", c.refreshTimeout)
	case c.logInterval <= 0:
		return fmt.Errorf("gecaso: log interval %v is not positive", c.logInterval)
	}
	for _, s := range c.sentinels {
		if s == nil {
			return fmt.Errorf("gecaso: nil error among the sentinels")
		}
	}
	return nil
}
