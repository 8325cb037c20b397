package redis_test

import (
	"testing"

	"github.com/gecaso/gecaso/storage"
)

func conformance(t *testing.T, newS func(t *testing.T) storage.Storage) {
	t.Skip("storagetest pending")
}
