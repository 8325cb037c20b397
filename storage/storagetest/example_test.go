package storagetest_test

import (
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
	"github.com/gecaso/gecaso/storage/storagetest"
)

// The suite runs from a test function of the package that defines the
// storage, TestConformance here. The factory gives each check a fresh,
// empty storage; options say what the backend cannot do exactly, here
// Badger's whole-second expiry.
func Example() {
	TestConformance := func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			s, err := badger.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s // Run closes it
		}, storagetest.WithTTLGranularity(time.Second))
	}
	_ = TestConformance // go test calls it as func TestConformance(t *testing.T)
}
