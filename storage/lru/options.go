package lru

import (
	"errors"
	"fmt"
	"log/slog"
)

// Option configures [New].
type Option func(*config)

type config struct {
	maxEntries int
	maxBytes   int64
	prefix     string
	onError    func(error)
	onEvict    func(key string)
	closeInner bool
}

func defaultConfig(maxEntries int) config {
	return config{
		maxEntries: maxEntries,
		onError: func(err error) {
			slog.Default().Warn("gecaso/lru", "err", err)
		},
	}
}

// WithMaxBytes bounds the bytes the lru's keys count for: each key counts
// for the length of its value plus the length of the key itself, roughly
// what an in-RAM storage holds for it. When the sum passes n, the least
// recently used keys are evicted. A key indexed from a scan of the inner
// storage counts for its [storage.KeyInfo.Size] plus its length. A single
// value larger than n is refused by Set with an error. The default, 0,
// means no byte bound.
func WithMaxBytes(n int64) Option { return func(c *config) { c.maxBytes = n } }

// WithPrefix makes the lru manage only keys that start with p: other keys
// pass through to the inner storage, uncounted, never evicted, and only
// keys with p are indexed when New scans the inner storage. Use it when
// the inner storage is shared with other data. The default, "", manages
// every key.
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithErrorHandler sets the function that receives errors the lru cannot
// return to a caller: a failed scan of the inner storage in New, a failed
// removal of evicted keys. It is called without any lock held, possibly
// from several goroutines at once. The default logs each error with
// slog.Default() at level Warn.
func WithErrorHandler(fn func(error)) Option { return func(c *config) { c.onError = fn } }

// WithOnEvict sets a function called with each key the lru evicts, after
// the key was removed from the inner storage, without any lock held. It
// is not called for keys removed by Remove or DeletePrefix. The default
// is none.
func WithOnEvict(fn func(key string)) Option { return func(c *config) { c.onEvict = fn } }

// WithCloseInner makes [Storage.Close] close the inner storage (when it is
// an io.Closer) given to [New]. By default Close closes the inner storage
// only if New created it (inner nil): whoever made a storage closes it.
func WithCloseInner() Option { return func(c *config) { c.closeInner = true } }

// validate reports the first mistake in the configuration.
func (c *config) validate() error {
	switch {
	case c.maxEntries < 0:
		return fmt.Errorf("gecaso/lru: negative maxEntries %d", c.maxEntries)
	case c.maxBytes < 0:
		return fmt.Errorf("gecaso/lru: negative WithMaxBytes(%d)", c.maxBytes)
	case c.maxEntries == 0 && c.maxBytes == 0:
		return errors.New("gecaso/lru: no bound: give maxEntries > 0 or WithMaxBytes(n > 0)")
	case c.onError == nil:
		return errors.New("gecaso/lru: WithErrorHandler(nil)")
	}
	return nil
}
