package memory

import (
	"fmt"
	"time"
)

// Option configures [New].
type Option func(*config)

// DefaultSweepInterval is how often the sweeper visits every entry to
// reclaim expired ones, unless [WithSweepInterval] says otherwise.
const DefaultSweepInterval = time.Minute

type config struct {
	sweepInterval time.Duration // < 0: no sweeper
}

func defaultConfig() config { return config{sweepInterval: DefaultSweepInterval} }

// WithSweepInterval sets how often the sweeper goroutine visits every
// entry to reclaim the memory of expired ones. It visits one shard at a
// time, spread evenly over the interval, so an expired entry that nobody
// reads is reclaimed at most d after it expires. Expiry itself does not
// depend on the sweeper: an expired entry is never returned.
//
// The default, 0, means [DefaultSweepInterval] (one minute). A negative d
// starts no goroutine: expired entries then stay in memory until they are
// read, overwritten or removed.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) {
		if d == 0 {
			d = DefaultSweepInterval
		}
		c.sweepInterval = d
	}
}

// validate reports the first mistake in the configuration.
func (c *config) validate() error {
	if c.sweepInterval > 0 && c.sweepInterval < time.Millisecond {
		return fmt.Errorf("gecaso/memory: sweep interval %v is below 1ms; use a negative interval to turn the sweeper off", c.sweepInterval)
	}
	return nil
}
