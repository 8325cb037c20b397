package memory

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/storagetest"
)

// compactAll runs compaction on every shard until each is under its
// threshold, as the sweeper does on its visits.
func (s *Storage) compactAll() {
	for i := range s.shards {
		s.shards[i].compact()
	}
}

func mustSet(t testing.TB, s *Storage, key string, value []byte, p storage.Params) {
	t.Helper()
	if err := s.Set(context.Background(), key, value, p); err != nil {
		t.Fatal(err)
	}
}

func TestCompactionBoundsGarbage(t *testing.T) {
	s := New(WithSweepInterval(-1))
	defer s.Close()
	const keys = 10_000
	v := make([]byte, 100)
	for i := range keys {
		mustSet(t, s, fmt.Sprintf("k/%d", i), v, storage.Params{})
	}
	// Overwrites in random order leave live entries scattered over the
	// segments, which only compaction reclaims.
	r := rand.New(rand.NewPCG(1, 2))
	last := make([]byte, keys)
	for round := range 6 {
		for range keys {
			i := r.IntN(keys)
			v[0] = byte(round)
			last[i] = byte(round)
			mustSet(t, s, fmt.Sprintf("k/%d", i), v, storage.Params{})
		}
		st := s.Stats()
		// Writes pay for compaction as they make garbage: a shard's
		// garbage stays near a quarter of what it wrote.
		if st.GarbageBytes > st.ArenaBytes/2 {
			t.Fatalf("round %d: %+v: garbage above half the arena", round, st)
		}
	}
	s.compactAll()
	st := s.Stats()
	if st.Compactions == 0 {
		t.Errorf("%+v: no compaction after six rounds of overwrites", st)
	}
	// Under the threshold in every shard: a quarter of the bytes written,
	// or less than the smallest segment.
	if limit := st.ArenaBytes/4 + numShards*int64(s.cfg.segMin); st.GarbageBytes > limit {
		t.Errorf("%+v: garbage above %d after compacting", st, limit)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		got, err := s.Get(t.Context(), fmt.Sprintf("k/%d", i))
		if err != nil || len(got) != 100 || got[0] != last[i] {
			t.Fatalf("Get(k/%d) after compaction = %v, %v; want the last value", i, got, err)
		}
	}
}

func TestRemoveAndDeletePrefixGiveArenaBack(t *testing.T) {
	s := New(WithSweepInterval(-1))
	defer s.Close()
	ctx := t.Context()
	// Interleaved, so that removing one prefix leaves every segment half
	// empty; enough that each shard's garbage passes the smallest segment.
	const n = 20_000
	v := make([]byte, 300)
	for i := range n {
		mustSet(t, s, fmt.Sprintf("a/%d", i), v, storage.Params{})
		mustSet(t, s, fmt.Sprintf("b/%d", i), v, storage.Params{})
	}
	before := s.Stats()
	if err := s.DeletePrefix(ctx, "a/"); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	if after.Entries != n || after.Bytes != before.Bytes/2 {
		t.Errorf("after DeletePrefix(a/): %+v; want half of %+v", after, before)
	}
	if after.ArenaBytes > before.ArenaBytes*3/4 {
		t.Errorf("after DeletePrefix(a/): arena %d of %d before; want it compacted", after.ArenaBytes, before.ArenaBytes)
	}
	for i := range n {
		if err := s.Remove(ctx, fmt.Sprintf("b/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	// Each shard keeps at most the segment it appends to.
	if st.Entries != 0 || st.Bytes != 0 || st.Segments > numShards {
		t.Errorf("after removing everything: %+v", st)
	}
	if err := s.DeletePrefix(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.ArenaBytes != 0 || st.Segments != 0 || st.IndexBytes != 0 {
		t.Errorf("after DeletePrefix(\"\"): %+v; want nothing held", st)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

func TestLargeValuesGetSegmentsOfTheirOwn(t *testing.T) {
	s := New(WithSweepInterval(-1))
	defer s.Close()
	ctx := t.Context()
	big := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16) // 5 MiB
	mustSet(t, s, "big", big, storage.Params{})
	mustSet(t, s, "small", []byte("v"), storage.Params{})
	st := s.Stats()
	if want := int64(len("big") + len(big) + len("small") + 1); st.Bytes != want {
		t.Errorf("Bytes = %d, want %d", st.Bytes, want)
	}
	got, err := s.Get(ctx, "big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get(big): %d bytes, %v", len(got), err)
	}
	big2 := bytes.Repeat([]byte("x"), 3<<20)
	mustSet(t, s, "big", big2, storage.Params{})
	if err := s.View(ctx, "big", func(v []byte) error {
		if !bytes.Equal(v, big2) {
			t.Errorf("View(big) lent %d bytes, want the 3 MiB written last", len(v))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	// The 5 MiB segment went with its entry: no garbage to compact.
	if after.ArenaBytes > st.ArenaBytes-2<<20 || after.GarbageBytes != st.GarbageBytes {
		t.Errorf("after overwriting the big value: %+v; before: %+v", after, st)
	}
	if err := s.Remove(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.ArenaBytes > 1<<20 {
		t.Errorf("after removing the big value: %+v", st)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

// TestViewBytesStayDuringCompaction guards the rule View relies on: bytes
// once lent are never written over, even when the entry is overwritten,
// removed and its segment compacted away while fn runs.
func TestViewBytesStayDuringCompaction(t *testing.T) {
	s := New(WithSweepInterval(-1), withSegments(64, 1024))
	defer s.Close()
	ctx := t.Context()
	keys := sameShardKeys(s, "k/", 50)
	for i, k := range keys {
		mustSet(t, s, k, bytes.Repeat([]byte{byte(i)}, 40), storage.Params{})
	}
	err := s.View(ctx, keys[0], func(v []byte) error {
		want := bytes.Clone(v)
		r := rand.New(rand.NewPCG(1, 2))
		for round := range 1000 {
			k := keys[r.IntN(len(keys))]
			mustSet(t, s, k, bytes.Repeat([]byte{byte(round)}, 40), storage.Params{})
		}
		if err := s.Remove(ctx, keys[0]); err != nil {
			return err
		}
		s.compactAll()
		if !bytes.Equal(v, want) {
			t.Errorf("bytes lent by View changed while fn ran: %v, were %v", v, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Compactions == 0 {
		t.Errorf("%+v: the test did not compact", st)
	}
}

// loadValue returns a value for key that validValue recognizes: the key,
// the writer's counter, and a run of a byte derived from both.
func loadValue(key string, n int, r *rand.Rand) []byte {
	fill := byte(len(key) + n)
	v := fmt.Appendf(nil, "%s#%d#", key, n)
	return append(v, bytes.Repeat([]byte{fill}, r.IntN(300))...)
}

func validValue(key string, v []byte) bool {
	var n int
	rest, ok := bytes.CutPrefix(v, []byte(key+"#"))
	if !ok {
		return false
	}
	i := bytes.IndexByte(rest, '#')
	if i < 0 {
		return false
	}
	if _, err := fmt.Sscanf(string(rest[:i]), "%d", &n); err != nil {
		return false
	}
	fill := byte(len(key) + n)
	for _, c := range rest[i+1:] {
		if c != fill {
			return false
		}
	}
	return true
}

// TestConcurrentReadsDuringCompaction races lock-free reads against
// writes, removals, expiry, compaction, index growth and DeletePrefix, all
// in one shard with tiny segments: every value read must be one written
// for its key, and bytes lent by View must not change while fn runs.
func TestConcurrentReadsDuringCompaction(t *testing.T) {
	s := New(WithSweepInterval(-1), withSegments(64, 2048))
	defer s.Close()
	ctx := t.Context()
	keys := append(sameShardKeys(s, "a/", 40), sameShardKeys(s, "b/", 40)...)
	const ops = 3000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	fail := make(chan string, 1)
	report := func(format string, args ...any) {
		select {
		case fail <- fmt.Sprintf(format, args...):
		default:
		}
	}
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range ops {
				k := keys[r.IntN(len(keys))]
				switch op := r.IntN(10); {
				case op < 4:
					var p storage.Params
					if op == 0 {
						p.TTL = time.Duration(r.IntN(1000)) * time.Microsecond
					}
					if err := s.Set(ctx, k, loadValue(k, g*ops+i, r), p); err != nil {
						report("Set(%q): %v", k, err)
					}
				case op < 6:
					v, err := s.Get(ctx, k)
					if err == nil && !validValue(k, v) {
						report("Get(%q) = %q, never written", k, v)
					} else if err != nil && err != storage.ErrNotFound {
						report("Get(%q): %v", k, err)
					}
				case op < 9:
					err := s.View(ctx, k, func(v []byte) error {
						was := bytes.Clone(v)
						if !validValue(k, v) {
							report("View(%q) lent %q, never written", k, v)
						}
						for range 20 { // give writers time to move things
							if !bytes.Equal(v, was) {
								report("View(%q): the lent bytes changed", k)
							}
						}
						return nil
					})
					if err != nil && err != storage.ErrNotFound {
						report("View(%q): %v", k, err)
					}
				default:
					if err := s.Remove(ctx, k); err != nil {
						report("Remove(%q): %v", k, err)
					}
				}
			}
		})
	}
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.shards[0].sweep(s.now())
			if i%10 == 0 {
				if err := s.DeletePrefix(ctx, "b/"); err != nil {
					report("DeletePrefix: %v", err)
				}
			}
			if err := s.Scan(ctx, "a/", func(ki storage.KeyInfo) error { return nil }); err != nil {
				report("Scan: %v", err)
			}
		}
	})
	wg.Wait()
	close(stop)
	bg.Wait()
	select {
	case msg := <-fail:
		t.Fatal(msg)
	default:
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Compactions == 0 {
		t.Errorf("%+v: the load did not compact", st)
	}
}

// TestConformanceSmallSegments runs the conformance suite over segments so
// small that its writes keep compaction and segment turnover going.
func TestConformanceSmallSegments(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return New(withSegments(64, 512))
	})
}
