package memory

import (
	"fmt"
	"testing"

	"github.com/gecaso/gecaso/storage"
)

// TestCompactionEndsWithLargeEntries: entries of 16 KiB, a few per shard,
// leave the unused ends of their segments as garbage that moving them
// cannot reclaim unless a segment holds several of them. Compaction must
// end with every shard under its threshold, not move them for ever.
func TestCompactionEndsWithLargeEntries(t *testing.T) {
	for _, size := range []int{6 << 10, 16 << 10, 30 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := New(WithSweepInterval(-1))
			defer s.Close()
			value := make([]byte, size)
			for round := range 3 { // overwrites make garbage to compact
				for i := range 1024 {
					value[0] = byte(round)
					mustSet(t, s, fmt.Sprint("key-", i), value, storage.Params{})
				}
			}
			s.compactAll()
			for i := range s.shards {
				sh := &s.shards[i]
				sh.mu.Lock()
				over, evac := sh.overLocked(), sh.evac != nil
				garbage, written := sh.garbageLocked()
				sh.mu.Unlock()
				if over || evac {
					t.Fatalf("shard %d after compaction: %d bytes of garbage of %d written, evacuating %v", i, garbage, written, evac)
				}
			}
			if got := s.Len(); got != 1024 {
				t.Errorf("Len = %d, want 1024", got)
			}
		})
	}
}
