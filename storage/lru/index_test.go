package lru

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// op is one step applied to an index in the tests.
type op struct {
	do   string // put, putBack, touch, remove, evict
	key  string
	size int64
	gen  uint64
}

func apply(x *index, o op) []string {
	switch o.do {
	case "put":
		x.put(o.key, o.size, o.gen)
	case "putBack":
		x.putBack(o.key, o.size, o.gen)
	case "touch":
		x.touch(o.key)
	case "remove":
		x.remove(o.key, o.gen)
	case "removePrefix":
		x.removePrefix(o.key, o.gen)
	case "evict":
		return victimKeys(x.evict(int(o.size), int64(o.gen), nil))
	default:
		panic(o.do)
	}
	return nil
}

func TestIndexOrder(t *testing.T) {
	tests := []struct {
		name        string
		give        []op
		want        []string // newest first
		wantBytes   int64
		wantVictims []string // of the last op when it is an evict
	}{
		{name: "empty", want: []string{}},
		{
			name: "puts, newest first",
			give: []op{{do: "put", key: "a", size: 1}, {do: "put", key: "b", size: 2}, {do: "put", key: "c", size: 3}},
			want: []string{"c", "b", "a"}, wantBytes: 6,
		},
		{
			name: "touch moves to front",
			give: []op{{do: "put", key: "a"}, {do: "put", key: "b"}, {do: "put", key: "c"}, {do: "touch", key: "a"}},
			want: []string{"a", "c", "b"},
		},
		{
			name: "touch of the newest and of an absent key change nothing",
			give: []op{{do: "put", key: "a"}, {do: "put", key: "b"}, {do: "touch", key: "b"}, {do: "touch", key: "z"}},
			want: []string{"b", "a"},
		},
		{
			name: "put again moves to front and replaces the size",
			give: []op{{do: "put", key: "a", size: 10}, {do: "put", key: "b", size: 1}, {do: "put", key: "a", size: 3}},
			want: []string{"a", "b"}, wantBytes: 4,
		},
		{
			name: "putBack lists as the oldest, not when listed",
			give: []op{{do: "put", key: "a", size: 1}, {do: "putBack", key: "b", size: 2}, {do: "putBack", key: "a", size: 50}},
			want: []string{"a", "b"}, wantBytes: 3,
		},
		{
			name: "remove",
			give: []op{{do: "put", key: "a", size: 1}, {do: "put", key: "b", size: 2}, {do: "put", key: "c", size: 4}, {do: "remove", key: "b", gen: 9}},
			want: []string{"c", "a"}, wantBytes: 5,
		},
		{
			name: "remove keeps a key put after the given generation",
			give: []op{{do: "put", key: "a", gen: 5}, {do: "remove", key: "a", gen: 4}},
			want: []string{"a"},
		},
		{
			name: "removed nodes are reused",
			give: []op{{do: "put", key: "a"}, {do: "put", key: "b"}, {do: "remove", key: "a"}, {do: "put", key: "c"}, {do: "put", key: "d"}},
			want: []string{"d", "c", "b"},
		},
		{
			name: "removePrefix",
			give: []op{{do: "put", key: "p/1", gen: 1}, {do: "put", key: "q", gen: 2}, {do: "put", key: "p/2", gen: 3}, {do: "removePrefix", key: "p/", gen: 2}},
			want: []string{"p/2", "q"},
		},
		{
			name: "evict by entries, oldest first",
			give: []op{{do: "put", key: "a"}, {do: "put", key: "b"}, {do: "put", key: "c"}, {do: "touch", key: "a"}, {do: "evict", size: 1}},
			want: []string{"a"}, wantVictims: []string{"b", "c"},
		},
		{
			name: "evict by bytes",
			give: []op{{do: "put", key: "a", size: 5}, {do: "put", key: "b", size: 5}, {do: "put", key: "c", size: 5}, {do: "evict", gen: 10}},
			want: []string{"c", "b"}, wantBytes: 10, wantVictims: []string{"a"},
		},
		{
			name: "evict by both, the tighter wins",
			give: []op{{do: "put", key: "a", size: 1}, {do: "put", key: "b", size: 1}, {do: "put", key: "c", size: 8}, {do: "evict", size: 2, gen: 8}},
			want: []string{"c"}, wantBytes: 8, wantVictims: []string{"a", "b"},
		},
		{
			name: "evict within bounds does nothing",
			give: []op{{do: "put", key: "a", size: 1}, {do: "evict", size: 1, gen: 1}},
			want: []string{"a"}, wantBytes: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var x index
			var victims []string
			for _, o := range tt.give {
				victims = apply(&x, o)
			}
			if diff := cmp.Diff(tt.want, x.keys()); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if x.bytes != tt.wantBytes {
				t.Errorf("bytes = %d, want %d", x.bytes, tt.wantBytes)
			}
			if diff := cmp.Diff(tt.wantVictims, victims); diff != "" {
				t.Errorf("victims (-want +got):\n%s", diff)
			}
			checkInvariants(t, &x)
		})
	}
}

func victimKeys(vs []victim) []string {
	var keys []string
	for _, v := range vs {
		keys = append(keys, v.key)
	}
	return keys
}

// checkInvariants checks that the list, the map, the byte count and the
// free list agree.
func checkInvariants(t *testing.T, x *index) {
	t.Helper()
	if x.pos == nil {
		return
	}
	if len(x.links) != len(x.nodes) {
		t.Fatalf("%d links for %d nodes", len(x.links), len(x.nodes))
	}
	if x.owned != (x.vals != nil) || x.owned && len(x.vals) != len(x.nodes) {
		t.Fatalf("owned %v with %d values for %d nodes", x.owned, len(x.vals), len(x.nodes))
	}
	seen := map[int32]bool{}
	var bytes int64
	prev := int32(0)
	for i := x.links[0].next; i != 0; i = x.links[i].next {
		if seen[i] {
			t.Fatalf("the list has a cycle at position %d", i)
		}
		seen[i] = true
		n := x.nodes[i]
		if x.links[i].prev != prev {
			t.Fatalf("position %d (%q): prev %d, want %d", i, n.key, x.links[i].prev, prev)
		}
		if x.pos[n.key] != i {
			t.Fatalf("pos[%q] = %d, want %d", n.key, x.pos[n.key], i)
		}
		if x.owned && int64(len(n.key)+len(x.vals[i].value)) != n.size {
			t.Fatalf("position %d (%q): size %d for a value of %d bytes", i, n.key, n.size, len(x.vals[i].value))
		}
		bytes += n.size
		prev = i
	}
	if x.links[0].prev != prev {
		t.Fatalf("sentinel prev %d, want the last position %d", x.links[0].prev, prev)
	}
	if len(seen) != len(x.pos) {
		t.Fatalf("the list has %d positions, the map %d keys", len(seen), len(x.pos))
	}
	if bytes != x.bytes {
		t.Fatalf("bytes %d, want the sum %d", x.bytes, bytes)
	}
	free := 0
	for i := x.free; i != 0; i = x.links[i].next {
		if seen[i] {
			t.Fatalf("position %d is both listed and free", i)
		}
		if x.nodes[i].key != "" {
			t.Fatalf("free position %d keeps the key %q", i, x.nodes[i].key)
		}
		if x.owned && x.vals[i].value != nil {
			t.Fatalf("free position %d keeps a value", i)
		}
		seen[i] = true
		free++
	}
	if 1+len(x.pos)+free != len(x.nodes) {
		t.Fatalf("%d positions: %d listed + %d free + the sentinel do not add up", len(x.nodes), len(x.pos), free)
	}
}

// model is the obvious LRU: a slice, newest first.
type model struct {
	keys  []string
	sizes map[string]int64
}

func (m *model) front(key string) {
	m.keys = slices.DeleteFunc(m.keys, func(k string) bool { return k == key })
	m.keys = slices.Insert(m.keys, 0, key)
}

func (m *model) bytes() int64 {
	var b int64
	for _, k := range m.keys {
		b += m.sizes[k]
	}
	return b
}

func TestIndexAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		var x index
		m := model{sizes: map[string]int64{}}
		maxEntries, maxBytes := 1+r.IntN(20), int64(r.IntN(3)*50)
		for step := range 500 {
			key := fmt.Sprintf("k%d", r.IntN(30))
			var want, got []string
			switch r.IntN(6) {
			case 0, 1:
				size := int64(r.IntN(20))
				x.put(key, size, 0)
				m.sizes[key] = size
				m.front(key)
			case 2:
				x.touch(key)
				if slices.Contains(m.keys, key) {
					m.front(key)
				}
			case 3:
				x.remove(key, 0)
				m.keys = slices.DeleteFunc(m.keys, func(k string) bool { return k == key })
			case 4:
				if !slices.Contains(m.keys, key) {
					size := int64(r.IntN(20))
					x.putBack(key, size, 0)
					m.sizes[key] = size
					m.keys = append(m.keys, key)
				}
			case 5:
				got = victimKeys(x.evict(maxEntries, maxBytes, nil))
				for len(m.keys) > 0 && (len(m.keys) > maxEntries || maxBytes > 0 && m.bytes() > maxBytes) {
					want = append(want, m.keys[len(m.keys)-1])
					m.keys = m.keys[:len(m.keys)-1]
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("round %d step %d: victims (-want +got):\n%s", round, step, diff)
			}
			wantKeys := slices.Clone(m.keys)
			if wantKeys == nil {
				wantKeys = []string{}
			}
			if diff := cmp.Diff(wantKeys, x.keys()); diff != "" {
				t.Fatalf("round %d step %d: order (-want +got):\n%s", round, step, diff)
			}
			if x.bytes != m.bytes() {
				t.Fatalf("round %d step %d: bytes %d, want %d", round, step, x.bytes, m.bytes())
			}
			checkInvariants(t, &x)
		}
	}
}

func BenchmarkIndex(b *testing.B) {
	var x index
	keys := make([]string, 1<<14)
	for i := range keys {
		keys[i] = fmt.Sprintf("github.com/acme/app.fetchUser@v1:%064x", i*2654435761)
		x.put(keys[i], 100, 0)
	}
	b.Run("index/touch", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x.touch(keys[i&(len(keys)-1)])
			i++
		}
	})
}
