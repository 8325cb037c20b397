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

	// The sizes of segments: a shard's first segments take segMin bytes,
	// later ones an eighth of the shard's live bytes, up to segMax. An
	// entry larger than jumbo bytes gets a segment of its own. segMin is
	// also the garbage below which a shard is not compacted. Tests shrink
	// them to make compaction frequent.
	segMin, segMax, jumbo int
}

func defaultConfig() config {
	return config{sweepInterval: DefaultSweepInterval, segMin: 1 << 10, segMax: 1 << 20, jumbo: 32 << 10}
}

// withSegments sets the segment sizes, and entries larger than a quarter
// of maxSize get a segment of their own; for tests.
func withSegments(minSize, maxSize int) Option {
	return func(c *config) { c.segMin, c.segMax, c.jumbo = minSize, maxSize, maxSize/4 }
}

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
	if c.segMin < 64 || c.segMax < c.segMin || c.segMax > maxPackedSegment || c.segMin&(c.segMin-1) != 0 || c.segMax&(c.segMax-1) != 0 || c.jumbo > c.segMax {
		return fmt.Errorf("gecaso/memory: segment sizes %d to %d: want powers of two from 64 to %d", c.segMin, c.segMax, maxPackedSegment)
	}
	return nil
}
