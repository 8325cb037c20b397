package memory

import (
	"fmt"
	"sync"
	"testing"

	"github.com/gecaso/gecaso/storage"
)

// TestHome checks that a key's home slot is its tag's top bits, as many
// as the index has slots in log2, so that a table grown twice as large
// splits each home in two and a lookup through the shard's published mask
// starts where writers placed the key.
func TestHome(t *testing.T) {
	tests := []struct {
		size int
		tag  uint32
		want uint32
	}{
		{minTable, 0xdeadbeef, 0xd},
		{minTable, 0x0fffffff, 0},
		{minTable, 0xffffffff, 15},
		{64, 0xdeadbeef, 0x37},
		{1 << 10, 0xdeadbeef, 0x37a},
		{1 << 16, 0xdeadbeef, 0xdead},
		{1 << 20, 0x80000000, 0x80000},
		{1 << 20, 0x00000fff, 0},
	}
	for _, tt := range tests {
		tab := newTable(tt.size)
		if got := tab.home(tt.tag); got != tt.want {
			t.Errorf("size %d, tag %#x: home = %#x, want %#x", tt.size, tt.tag, got, tt.want)
		}
	}
}

// TestIndexFollowsTableSwaps has readers look up keys that stay stored
// while a writer makes their shard's index grow (many new keys) and shrink
// (the keys removed, then a sweep) again and again. Each swap republishes
// the index readers use; a reader that paired one table's slots with
// another's mask would miss a key or read past a table.
func TestIndexFollowsTableSwaps(t *testing.T) {
	s := New(WithSweepInterval(-1))
	defer s.Close()
	ctx := t.Context()
	stable := sameShardKeys(s, "stable/", 8)
	churn := sameShardKeys(s, "churn/", 600)
	for _, k := range stable {
		if err := s.Set(ctx, k, []byte("v"+k), storage.Params{}); err != nil {
			t.Fatal(err)
		}
	}
	sh := &s.shards[0]
	stop := make(chan struct{})
	fail := make(chan string, 1)
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, k := range stable {
					v, err := s.Get(ctx, k)
					if err != nil || string(v) != "v"+k {
						select {
						case fail <- fmt.Sprintf("Get(%q) = %q, %v during a swap of the index", k, v, err):
						default:
						}
						return
					}
				}
			}
		})
	}
	swaps := 0
	for round := 0; round < 20; round++ {
		before := sh.idxSeq.Load()
		for _, k := range churn {
			if err := s.Set(ctx, k, []byte(k), storage.Params{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Remove(ctx, churn...); err != nil {
			t.Fatal(err)
		}
		sh.sweep(s.now())
		swaps += int(sh.idxSeq.Load()-before) / 2
	}
	close(stop)
	readers.Wait()
	select {
	case msg := <-fail:
		t.Fatal(msg)
	default:
	}
	if swaps < 40 { // at least a growth and a shrink per round
		t.Errorf("the index was replaced %d times in 20 rounds; the test did not swap it", swaps)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

// TestIndexWhileWriterPublishes checks the reader's way around a writer
// caught between its stores: with the sequence number odd, lookups read
// the table itself, and find what it holds.
func TestIndexWhileWriterPublishes(t *testing.T) {
	s := New(WithSweepInterval(-1))
	defer s.Close()
	ctx := t.Context()
	keys := sameShardKeys(s, "k/", 50)
	for _, k := range keys {
		if err := s.Set(ctx, k, []byte(k), storage.Params{}); err != nil {
			t.Fatal(err)
		}
	}
	// No other goroutine writes: the test plays a writer caught between
	// its stores, with nothing published yet.
	sh := &s.shards[0]
	sh.idxSeq.Add(1)
	sh.idxSlots.Store(nil)
	defer func() {
		sh.mu.Lock()
		sh.setTableLocked(sh.tab.Load())
		sh.mu.Unlock()
	}()
	for _, k := range keys {
		h, v, found := sh.lookup(k, tagOf(s, k))
		if !found || string(v) != k || h.klen != len(k) {
			t.Errorf("lookup(%q) = %q, %v while the index is being published", k, v, found)
		}
	}
	if _, _, found := sh.lookup("k/absent", tagOf(s, "k/absent")); found {
		t.Error("lookup found a key never stored")
	}
}

func tagOf(s *Storage, key string) uint32 {
	_, tag := s.shardOf(key)
	return tag
}
