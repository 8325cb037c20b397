package memory

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gecaso/gecaso/storage"
	gocmp "github.com/google/go-cmp/cmp"
)

// FuzzEntry checks that decoding arbitrary bytes as an entry never panics
// and that a decoded entry's key and value lie within the bytes: readers
// decode bytes a concurrent compaction may have made meaningless.
func FuzzEntry(f *testing.F) {
	b := make([]byte, 64)
	putEntry(b, 7, 9, "key", []byte("value"))
	f.Add(b, 0)
	f.Add(b[:30], 0)
	f.Add(b, 8)
	f.Add([]byte{}, 0)
	f.Add(bytes.Repeat([]byte{0xff}, 40), 3)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		h, ok := entryAt(b, off)
		if !ok {
			return
		}
		k, v := keyAt(b, off, &h), valueAt(b, off, &h)
		if len(k) != h.klen || len(v) != h.vlen || cap(v) != len(v) {
			t.Fatalf("entry at %d of %d bytes: key %d (want %d), value %d cap %d (want %d)", off, len(b), len(k), h.klen, len(v), cap(v), h.vlen)
		}
	})
}

// modelEntry is what a map model of the storage expects under a key.
type modelEntry struct {
	value []byte
	exp   time.Time // zero: never
}

func (e modelEntry) live(now time.Time) bool { return e.exp.IsZero() || now.Before(e.exp) }

// sameShardKeys returns n keys starting with prefix that all fall in shard
// 0, so that a few keys exercise probing, tombstones and index growth.
func sameShardKeys(s *Storage, prefix string, n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		if sh, _ := s.shardOf(k); sh == &s.shards[0] {
			keys = append(keys, k)
		}
	}
	return keys
}

// FuzzOps runs a sequence of operations, three bytes each, against a
// storage with tiny segments (so that compaction, segment turnover and
// jumbo entries happen within a few operations) and against a map, under
// a fake clock. Every read must agree with the map, nothing may panic, and
// the storage's structures must stay consistent after every operation.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 1, 20, 0, 1, 30, 2, 1, 0, 0, 1, 200, 3, 1, 0, 4, 1, 0, 2, 1, 0})
	f.Add([]byte{1, 2, 3, 6, 0, 50, 2, 2, 0, 7, 0, 0, 8, 0, 0, 9, 0, 0})
	f.Add([]byte{0, 0, 40, 0, 1, 40, 0, 2, 40, 0, 3, 40, 5, 0, 0, 7, 0, 1, 0, 0, 90, 4, 3, 0, 9, 0, 0})
	f.Add(bytes.Repeat([]byte{0, 5, 60, 0, 6, 61, 0, 5, 62, 8, 0, 0}, 20))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*2000 {
			ops = ops[:3*2000] // longer inputs find nothing more, only slower
		}
		synctest.Test(t, func(t *testing.T) { runOps(t, ops) })
	})
}

// runOps runs ops and returns the storage's Stats at the end.
func runOps(t *testing.T, ops []byte) Stats {
	s := New(WithSweepInterval(time.Minute), withSegments(64, 512))
	defer s.Close()
	ctx := t.Context()
	keys := append(sameShardKeys(s, "a/", 12), sameShardKeys(s, "b/", 12)...)
	keys = append(keys, "c/0", "c/1", "c/2", "c/3")
	prefixes := []string{"a/", "b/", "c/", ""}
	model := map[string]modelEntry{}

	want := func(what, k string, got []byte, err error) {
		t.Helper()
		e, ok := model[k]
		if ok && !e.live(time.Now()) {
			ok = false
			delete(model, k) // a read reclaims it
		}
		switch {
		case !ok && err != storage.ErrNotFound:
			t.Fatalf("%s(%q) = %d bytes, %v; want the bare storage.ErrNotFound", what, k, len(got), err)
		case ok && (err != nil || !bytes.Equal(got, e.value)):
			t.Fatalf("%s(%q) = %d bytes, %v; want the %d bytes set", what, k, len(got), err, len(e.value))
		}
	}

	for i := 0; i+2 < len(ops); i += 3 {
		op, k, arg := ops[i]%10, keys[int(ops[i+1])%len(keys)], ops[i+2]
		switch op {
		case 0, 1:
			v := make([]byte, 5*int(arg))
			for j := range v {
				v[j] = byte(i + j)
			}
			var ttl time.Duration
			if op == 1 {
				ttl = time.Duration(arg%8+1) * time.Second
			}
			if err := s.Set(ctx, k, v, storage.Params{TTL: ttl}); err != nil {
				t.Fatalf("Set(%q): %v", k, err)
			}
			e := modelEntry{value: v}
			if ttl > 0 {
				e.exp = time.Now().Add(ttl)
			}
			model[k] = e
		case 2:
			got, err := s.Get(ctx, k)
			want("Get", k, got, err)
		case 3:
			var got []byte
			err := s.View(ctx, k, func(v []byte) error {
				got = bytes.Clone(v)
				return nil
			})
			want("View", k, got, err)
		case 4:
			if err := s.Remove(ctx, k); err != nil {
				t.Fatalf("Remove(%q): %v", k, err)
			}
			delete(model, k)
		case 5:
			p := prefixes[int(arg)%len(prefixes)]
			if err := s.DeletePrefix(ctx, p); err != nil {
				t.Fatalf("DeletePrefix(%q): %v", p, err)
			}
			for mk := range model {
				if strings.HasPrefix(mk, p) {
					delete(model, mk)
				}
			}
		case 6:
			time.Sleep(time.Duration(arg) * 100 * time.Millisecond) // the sweeper runs meanwhile
			synctest.Wait()
		case 7:
			checkScan(t, s, model, prefixes[int(arg)%len(prefixes)])
		case 8:
			for j := range s.shards {
				s.shards[j].sweep(s.now())
			}
		case 9:
			checkLen(t, s, model)
		}
		if err := s.check(); err != nil {
			t.Fatalf("after operation %d (%d on %q): %v", i/3, op, k, err)
		}
	}
	return s.Stats()
}

func checkScan(t *testing.T, s *Storage, model map[string]modelEntry, prefix string) {
	t.Helper()
	var got []storage.KeyInfo
	if err := s.Scan(t.Context(), prefix, func(ki storage.KeyInfo) error {
		got = append(got, ki)
		return nil
	}); err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	var want []storage.KeyInfo
	now := time.Now()
	for k, e := range model {
		if strings.HasPrefix(k, prefix) && e.live(now) {
			want = append(want, storage.KeyInfo{Key: k, Size: int64(len(e.value)), ExpiresAt: e.exp})
		}
	}
	byKey := func(a, b storage.KeyInfo) int { return cmp.Compare(a.Key, b.Key) }
	slices.SortFunc(got, byKey)
	slices.SortFunc(want, byKey)
	for i := range got {
		if got[i].Seq == 0 {
			t.Errorf("Scan reported %q with Seq 0", got[i].Key)
		}
		got[i].Seq = 0
	}
	if diff := gocmp.Diff(want, got, gocmp.Comparer(time.Time.Equal)); diff != "" {
		t.Fatalf("Scan(%q) (-want +got):\n%s", prefix, diff)
	}
}

// checkLen checks Len and Bytes against the model: they count the live
// entries, and may count expired ones not reclaimed yet.
func checkLen(t *testing.T, s *Storage, model map[string]modelEntry) {
	t.Helper()
	now := time.Now()
	var liveN, allN int
	var liveB, allB int64
	for k, e := range model {
		n := int64(len(k) + len(e.value))
		allN++
		allB += n
		if e.live(now) {
			liveN++
			liveB += n
		}
	}
	st := s.Stats()
	n, b := s.Len(), s.Bytes()
	if n < liveN || n > allN || b < liveB || b > allB || st.Entries != n || st.Bytes != b {
		t.Fatalf("Len %d, Bytes %d, Stats %+v; want from %d, %d (live) to %d, %d (expired included)", n, b, st, liveN, liveB, allN, allB)
	}
	if st.ArenaBytes < st.GarbageBytes || st.ArenaBytes < b {
		t.Fatalf("Stats %+v: the arena holds less than its garbage or its entries", st)
	}
}

func TestOpsRandomWalk(t *testing.T) {
	// The fuzz seeds run as a plain test too; this checks a long random
	// walk, which must reach compaction, expiry and jumbo entries.
	ops := make([]byte, 3*5000)
	x := uint32(1)
	for i := range ops {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		ops[i] = byte(x)
	}
	synctest.Test(t, func(t *testing.T) {
		st := runOps(t, ops)
		t.Logf("%+v", st)
		if st.Compactions == 0 || st.Expired == 0 {
			t.Errorf("the walk compacted %d segments and reclaimed %d expired entries; want both", st.Compactions, st.Expired)
		}
	})
}
