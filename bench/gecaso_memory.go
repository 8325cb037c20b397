package bench

import (
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/memory"
)

func init() {
	registerGecaso(gecasoBackend{
		name:  "memory",
		order: 0,
		near:  true,
		open: func(Config) (storage.Storage, func() error, error) {
			s := memory.New()
			return s, closerOf(s), nil
		},
	})
}
