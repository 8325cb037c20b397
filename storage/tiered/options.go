package tiered

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Option configures [New].
type Option func(*config)

type config struct {
	l1TTL   time.Duration
	close   bool
	onError func(error)
}

// DefaultL1TTL is how long L1 keeps an entry at most, unless [WithL1TTL]
// says otherwise.
const DefaultL1TTL = time.Minute

func defaultConfig() config {
	return config{
		l1TTL:   DefaultL1TTL,
		onError: func(err error) { slog.Default().Warn("gecaso/tiered", "err", err) },
	}
}

// WithL1TTL caps how long L1 keeps any entry: an entry filled from L2, or
// written by Set, stays in L1 for at most d, and less when its own lifetime
// ends sooner. The cap bounds staleness between processes sharing L2: a
// removal or overwrite made by another process reaches this process's L1
// within d. The default, 0, means [DefaultL1TTL] (one minute). A negative d
// makes New panic.
func WithL1TTL(d time.Duration) Option { return func(c *config) { c.l1TTL = d } }

// WithErrorHandler sets the function that receives the errors the Storage
// cannot return to a caller: failing to subscribe to L2's invalidations in
// New, and failing to drop from L1 what another process removed. It is
// called without any lock held, possibly from several goroutines at once.
// The default logs each error with slog.Default() at level Warn. A nil fn
// makes New panic.
func WithErrorHandler(fn func(error)) Option { return func(c *config) { c.onError = fn } }

// WithClose makes [Storage.Close] close L1 and then L2, each when it
// implements io.Closer. The default is to close neither: the caller made
// them and may use them elsewhere.
func WithClose() Option { return func(c *config) { c.close = true } }

// validate reports the first mistake in the configuration.
func (c *config) validate() error {
	switch {
	case c.l1TTL < 0:
		return fmt.Errorf("gecaso/tiered: negative L1 TTL %v", c.l1TTL)
	case c.onError == nil:
		return errors.New("gecaso/tiered: WithErrorHandler(nil)")
	}
	return nil
}
