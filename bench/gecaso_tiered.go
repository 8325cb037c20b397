package bench

import (
	"context"
	"fmt"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/redis"
	"github.com/gecaso/gecaso/storage/tiered"
)

func init() {
	registerGecaso(gecasoBackend{
		name:   "tiered",
		order:  4,
		remote: true,
		// An LRU in the process in front of shared Redis: the layout the
		// tiered package is for.
		open: func(cfg Config) (storage.Storage, func() error, error) {
			if cfg.RedisAddr == "" {
				return nil, nil, fmt.Errorf("%w: no redis-server", ErrUnavailable)
			}
			c := NewRedisClient(cfg.RedisAddr)
			l1, l2 := lru.New(nil, cfg.Capacity), redis.New(c)
			s := tiered.New(l1, l2, tiered.WithClose())
			flush := func() error { return c.FlushDB(context.Background()).Err() }
			return s, joinClose(s.Close, flush, c.Close), nil
		},
	})
}
