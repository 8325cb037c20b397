package bench

import (
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/lru"
)

func init() {
	registerGecaso(gecasoBackend{
		name:    "lru",
		order:   1,
		bounded: true,
		open: func(cfg Config) (storage.Storage, func() error, error) {
			s := lru.New(nil, cfg.Capacity)
			return s, closerOf(s), nil
		},
	})
}
