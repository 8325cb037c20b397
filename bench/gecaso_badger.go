package bench

import (
	"fmt"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
)

func init() {
	registerGecaso(gecasoBackend{
		name:  "badger",
		order: 2,
		open: func(cfg Config) (storage.Storage, func() error, error) {
			if cfg.Dir == "" {
				return nil, nil, fmt.Errorf("%w: gecaso-badger needs a directory", ErrUnavailable)
			}
			s, err := badger.Open(cfg.Dir)
			if err != nil {
				return nil, nil, fmt.Errorf("bench: gecaso-badger: %w", err)
			}
			return s, s.Close, nil
		},
	})
}
