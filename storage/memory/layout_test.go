package memory

import (
	"testing"
	"unsafe"
)

// TestShardLayout guards the padding that keeps what writers change off
// the cache lines lock-free readers load, and neighbouring shards apart.
func TestShardLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the padding is sized for 64-bit platforms")
	}
	var sh shard
	if got := unsafe.Offsetof(sh.mu); got != 128 {
		t.Errorf("the writers' fields start at byte %d, want 128", got)
	}
	if got := unsafe.Sizeof(sh); got != 384 {
		t.Errorf("a shard takes %d bytes, want 384", got)
	}
}
