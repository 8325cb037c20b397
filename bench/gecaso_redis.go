package bench

import (
	"context"
	"fmt"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/redis"
)

func init() {
	registerGecaso(gecasoBackend{
		name:   "redis",
		order:  3,
		near:   true,
		remote: true,
		open: func(cfg Config) (storage.Storage, func() error, error) {
			if cfg.RedisAddr == "" {
				return nil, nil, fmt.Errorf("%w: no redis-server", ErrUnavailable)
			}
			c := NewRedisClient(cfg.RedisAddr)
			s := redis.New(c)
			flush := func() error { return c.FlushDB(context.Background()).Err() }
			return s, joinClose(closerOf(s), flush, c.Close), nil
		},
	})
}
