package storagetest

import (
	"fmt"
	"time"
)

// Option adjusts what [Run] expects of a storage.
type Option func(*config)

// DefaultMaxValueSize is the size of the largest value [Run] round-trips
// unless [WithMaxValueSize] says otherwise: 8 MiB.
const DefaultMaxValueSize = 8 << 20

// Default load of the concurrent check, see [WithLoad].
const (
	DefaultGoroutines = 8
	DefaultOps        = 2000
)

type config struct {
	ttlGranularity time.Duration
	noTTL          bool
	maxValueSize   int
	ctxErrors      bool
	goroutines     int
	ops            int
}

func newConfig(opts []Option) config {
	c := config{
		maxValueSize: DefaultMaxValueSize,
		goroutines:   DefaultGoroutines,
		ops:          DefaultOps,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.maxValueSize == 0 {
		c.maxValueSize = DefaultMaxValueSize
	}
	if c.goroutines == 0 {
		c.goroutines = DefaultGoroutines
	}
	if c.ops == 0 {
		c.ops = DefaultOps
	}
	return c
}

func (c config) validate() error {
	switch {
	case c.ttlGranularity < 0:
		return fmt.Errorf("storagetest: WithTTLGranularity(%v): negative granularity", c.ttlGranularity)
	case c.maxValueSize < 0:
		return fmt.Errorf("storagetest: WithMaxValueSize(%d): negative size", c.maxValueSize)
	case c.goroutines < 0 || c.ops < 0:
		return fmt.Errorf("storagetest: WithLoad(%d, %d): negative load", c.goroutines, c.ops)
	}
	return nil
}

// WithTTLGranularity tells the suite that the storage keeps expiry times
// rounded up to a multiple of d (Badger keeps whole seconds): an entry may
// then live up to d longer than its TTL, never shorter. The TTL checks use
// a TTL of at least d and wait up to d longer. The default, 0, means
// expiry is exact to the millisecond.
func WithTTLGranularity(d time.Duration) Option {
	return func(c *config) { c.ttlGranularity = d }
}

// WithoutTTL tells the suite that the storage ignores [storage.Params.TTL],
// as a user's own storage may (gecaso checks the expiry it records in every
// entry). The checks that wait for an entry to expire are skipped. By
// default the storage must honour the TTL.
func WithoutTTL() Option {
	return func(c *config) { c.noTTL = true }
}

// WithMaxValueSize sets the size in bytes of the largest value the storage
// promises to hold; the large-value check round-trips a value of that size.
// The default, 0, means [DefaultMaxValueSize] (8 MiB).
func WithMaxValueSize(n int) Option {
	return func(c *config) { c.maxValueSize = n }
}

// WithContextErrors requires Get, Set and Remove to return an error
// matching context.Canceled when called with a cancelled context. By
// default a storage may also ignore the cancelled context and complete the
// call (as the memory storage does, since it never blocks); either way it
// must not hang or return a wrong value.
func WithContextErrors() Option {
	return func(c *config) { c.ctxErrors = true }
}

// WithLoad sets the load of the concurrent check: goroutines goroutines
// each doing ops mixed Get, Set, Remove (and View) calls on overlapping
// keys. Zero means the default, [DefaultGoroutines] x [DefaultOps]. A
// backend reached over the network may lower it to keep the suite quick.
func WithLoad(goroutines, ops int) Option {
	return func(c *config) { c.goroutines, c.ops = goroutines, ops }
}
