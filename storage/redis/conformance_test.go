package redis_test

import (
	"testing"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/storagetest"
)

// conformance runs the storage conformance suite on storages that share a
// server, each under a prefix of its own (so each starts empty).
func conformance(t *testing.T, newS func(t *testing.T) storage.Storage) {
	storagetest.Run(t, newS, storagetest.WithContextErrors())
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	conformance(t, func(t *testing.T) storage.Storage { return newStorage(t, srv.Client()) })
}
