package badger

import (
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/storagetest"
)

func TestConformance(t *testing.T) {
	t.Parallel() // slow; overlaps its waits with other tests
	t.Run("disk", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			s, err := Open(t.TempDir(), WithGCInterval(-1))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, storagetest.WithTTLGranularity(time.Second), storagetest.WithContextErrors())
	})
	t.Run("memory", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			s, err := Open("", WithInMemory())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, storagetest.WithTTLGranularity(time.Second), storagetest.WithContextErrors(),
			storagetest.WithMaxValueSize(1<<20-1))
	})
}
