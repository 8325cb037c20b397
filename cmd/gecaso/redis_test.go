package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/storage/redis"
)

// TestRedisCommands runs the commands against a Redis server holding the
// fixture under a prefix, beside a held lock, a key that is not a string
// and a key outside the prefix, which they must all leave alone.
func TestRedisCommands(t *testing.T) {
	t.Parallel()
	rt := startRedis(t, "c:")
	ctx := context.Background()
	f := seed(t, rt.s)
	if _, ok, err := rt.s.TryLock(ctx, f.live[0], time.Minute); err != nil || !ok {
		t.Fatalf("TryLock: %v, %v", ok, err)
	}
	if err := rt.client.HSet(ctx, "c:ahash", "field", "value").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rt.client.Set(ctx, "outside:1", "not ours", 0).Err(); err != nil {
		t.Fatal(err)
	}
	serverKeys := func() []string {
		keys, err := rt.client.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	untouched := serverKeys()
	url := rt.url

	var st statsJSON
	runJSON(t, 0, &st, "stats", "-prefix", "c:", url)
	if st.Entries != 13 || st.Expired != 2 || st.Corrupt != 2 || st.Kind != "redis" || st.Disk != nil || st.Target != url {
		t.Errorf("stats %+v: want 13 entries, 2 expired, 2 corrupt, kind redis, no disk", st)
	}
	var names []string
	for _, ns := range st.Namespaces {
		names = append(names, ns.Name)
	}
	if diff := cmp.Diff([]string{"(other)", nsOld, nsUsers, nsUsers22, nsUsers2}, names); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}

	var g getJSON
	runJSON(t, 0, &g, "get", "-prefix", "c:", url, f.live[0])
	if !strings.Contains(compactJSON(t, g.Value), `"Name":"user1"`) {
		t.Errorf("get value %s", g.Value)
	}
	if diff := cmp.Diff(untouched, serverKeys(), sortStrings); diff != "" {
		t.Errorf("read-only commands changed the keys (-before +after):\n%s", diff)
	}

	var v verifyJSON
	runJSON(t, 1, &v, "verify", "-fix", "-prefix", "c:", url)
	if diff := cmp.Diff(f.corrupt, corruptKeys(v), sortStrings); diff != "" {
		t.Errorf("corrupt keys (-want +got):\n%s", diff)
	}
	var gc gcJSON
	runJSON(t, 0, &gc, "gc", "-prefix", "c:", url)
	if gc.Removed != 2 || gc.Before.Disk != nil {
		t.Errorf("gc %+v: want 2 removed and no disk", gc)
	}
	var p purgeJSON
	runJSON(t, 0, &p, "purge", "-prefix", "c:", url, nsUsers)
	if p.Removed != 7 {
		t.Errorf("purge removed %d, want 7", p.Removed)
	}
	var want []string
	for _, k := range untouched {
		key := strings.TrimPrefix(k, "c:")
		gone := slices.Contains(f.corrupt, key) || slices.Contains(f.expired, key) ||
			namespace(key) == nsUsers || namespace(key) == nsUsers2
		if !gone || !strings.HasPrefix(k, "c:") {
			want = append(want, k)
		}
	}
	if diff := cmp.Diff(want, serverKeys(), sortStrings); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
	if !slices.Contains(want, "c:"+redis.ReservedPrefix+"lock:"+f.live[0]) || !slices.Contains(want, "outside:1") {
		t.Errorf("the lock or the key outside the prefix is gone: %q", want)
	}
}

// TestRedisCluster imports into a Cluster named by all its addresses and by
// one of them, and reads the entries back from every node.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	src, f := seededBadger(t)
	file := filepath.Join(t.TempDir(), "d.dump")
	mustRun(t, "export", src, file)
	tests := []struct {
		name, url string
	}{
		{"every address", "redis://" + strings.Join(c.Addrs, ",")},
		{"one address", "redis://" + c.Addrs[1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := strings.ReplaceAll(tt.name, " ", "-") + ":"
			var im importJSON
			runJSON(t, 0, &im, "import", "-prefix", prefix, file, tt.url)
			if im.Imported != int64(len(f.live)) {
				t.Errorf("imported %d, want %d", im.Imported, len(f.live))
			}
			s := redis.New(c.Client(), redis.WithPrefix(prefix))
			if diff := cmp.Diff(f.live, keysOf(t, s), sortStrings); diff != "" {
				t.Errorf("keys on the Cluster (-want +got):\n%s", diff)
			}
			assertHits(t, s)
			var st statsJSON
			runJSON(t, 0, &st, "stats", "-prefix", prefix, tt.url)
			if st.Entries != int64(len(f.live)) {
				t.Errorf("stats counts %d entries, want %d", st.Entries, len(f.live))
			}
		})
	}
	r := runCmd(t, nil, "stats", "redis://"+c.Addrs[0]+"/2")
	if r.code != 2 || !strings.Contains(r.stderr, "only database 0") {
		t.Errorf("a Cluster database other than 0: exit %d, %s", r.code, r.stderr)
	}
}
