package otelgecaso_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"

	"github.com/gecaso/gecaso/internal/faulty"
	"github.com/gecaso/gecaso/internal/redistest"
	"github.com/gecaso/gecaso/otelgecaso"
	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
	"github.com/gecaso/gecaso/storage/redis"
)

func register(t *testing.T, s storage.Storage, opts ...otelgecaso.Option) *meter {
	t.Helper()
	mp := newMeterProvider()
	unregister, err := otelgecaso.RegisterStorage(s, append(opts, otelgecaso.WithMeterProvider(mp))...)
	if err != nil {
		t.Fatalf("RegisterStorage: %v", err)
	}
	t.Cleanup(func() {
		if err := unregister(); err != nil {
			t.Errorf("unregister: %v", err)
		}
	})
	return mp.m
}

func set(t *testing.T, s storage.Storage, kvs ...string) {
	t.Helper()
	for i := 0; i < len(kvs); i += 2 {
		if err := s.Set(context.Background(), kvs[i], []byte(kvs[i+1]), storage.Params{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRegisterStorage_lru(t *testing.T) {
	s := lru.New(nil, 2)
	m := register(t, s, otelgecaso.WithAttributes(attribute.String("cache", "users")))
	set(t, s, "a", "1", "b", "22", "c", "333") // evicts a
	ctx := context.Background()
	s.Get(ctx, "b") // hit
	s.Get(ctx, "a") // miss
	want := map[string]float64{
		"gecaso.storage.entries{cache=users,gecaso.storage.type=lru}":                           2,
		"gecaso.storage.usage{cache=users,gecaso.storage.type=lru}":                             1 + 2 + 1 + 3, // keys and values of b and c
		"gecaso.storage.lookups{cache=users,gecaso.lookup.result=hit,gecaso.storage.type=lru}":  1,
		"gecaso.storage.lookups{cache=users,gecaso.lookup.result=miss,gecaso.storage.type=lru}": 1,
		"gecaso.storage.evictions{cache=users,gecaso.storage.type=lru}":                         1,
	}
	if diff := cmp.Diff(want, summary(m.collect())); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	wantInstruments := map[string]string{
		"gecaso.storage.entries":   "Int64ObservableUpDownCounter {entry}",
		"gecaso.storage.usage":     "Int64ObservableUpDownCounter By",
		"gecaso.storage.lookups":   "Int64ObservableCounter {lookup}",
		"gecaso.storage.evictions": "Int64ObservableCounter {entry}",
	}
	got := map[string]string{}
	for name, d := range m.instruments {
		got[name] = d.Kind + " " + d.Unit
	}
	if diff := cmp.Diff(wantInstruments, got); diff != "" {
		t.Errorf("instruments (-want +got):\n%s", diff)
	}
}

func TestRegisterStorage_memory(t *testing.T) {
	s := memory.New()
	defer s.Close()
	m := register(t, s)
	set(t, s, "a", "1", "b", "2", "c", "3", "a", "11") // the second a leaves garbage
	got := summary(m.collect())
	st := s.Stats() // nothing wrote since the collection
	if st.GarbageBytes == 0 || st.ArenaBytes == 0 || st.IndexBytes == 0 {
		t.Fatalf("Stats = %+v: want arena, garbage and index bytes", st)
	}
	const typ = "{gecaso.storage.type=memory}"
	want := map[string]float64{
		"gecaso.storage.entries" + typ:      3,
		"gecaso.storage.usage" + typ:        1 + 2 + 1 + 1 + 1 + 1, // keys and values of a, b and c
		"gecaso.storage.expirations" + typ:  float64(st.Expired),
		"gecaso.memory.arena.usage" + typ:   float64(st.ArenaBytes),
		"gecaso.memory.garbage.usage" + typ: float64(st.GarbageBytes),
		"gecaso.memory.index.usage" + typ:   float64(st.IndexBytes),
		"gecaso.memory.compactions" + typ:   float64(st.Compactions),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
}

func TestRegisterStorage_badger(t *testing.T) {
	const budget = 256 << 20
	s, err := badger.Open(t.TempDir(), badger.WithMaxBytes(budget))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := register(t, s)
	set(t, s, "a", "1", "b", "2")
	got := summary(m.collect())
	const typ = "gecaso.storage.type=badger"
	var disk float64
	for _, part := range []string{"lsm", "vlog", "other"} {
		k := "gecaso.badger.disk.usage{gecaso.badger.part=" + part + "," + typ + "}"
		disk += got[k]
		delete(got, k)
	}
	if disk <= 0 {
		t.Errorf("gecaso.badger.disk.usage adds up to %v bytes, want more than 0", disk)
	}
	st := s.Stats()
	// The key filter is built in the background after Open: it may have
	// been built between the collection and Stats.
	filtered, filterUse := got["gecaso.badger.filtered_reads{"+typ+"}"], got["gecaso.badger.filter.usage{"+typ+"}"]
	if _, ok := got["gecaso.badger.filtered_reads{"+typ+"}"]; !ok || filtered > float64(st.FilteredReads) {
		t.Errorf("gecaso.badger.filtered_reads = %v (reported: %t), want at most %d", filtered, ok, st.FilteredReads)
	}
	if filterUse != 0 && filterUse != float64(st.FilterBytes) {
		t.Errorf("gecaso.badger.filter.usage = %v, want 0 or %d", filterUse, st.FilterBytes)
	}
	delete(got, "gecaso.badger.filtered_reads{"+typ+"}")
	delete(got, "gecaso.badger.filter.usage{"+typ+"}")
	want := map[string]float64{
		"gecaso.badger.disk.limit{" + typ + "}":    budget,
		"gecaso.badger.gc.passes{" + typ + "}":     float64(st.GCPasses),
		"gecaso.badger.reclaims{" + typ + "}":      float64(st.Reclaims),
		"gecaso.badger.reclaimed{" + typ + "}":     float64(st.ReclaimedBytes),
		"gecaso.badger.vlog.rewrites{" + typ + "}": float64(st.ValueLogRewrites),
		"gecaso.storage.evictions{" + typ + "}":    float64(st.Evictions),
		"gecaso.badger.refused{" + typ + "}":       float64(st.Refused),
		"gecaso.badger.busy_waits{" + typ + "}":    float64(st.BusyWaits),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
}

// tiers is a storage that exposes two tiers, as a tiered storage may.
type tiers struct {
	storage.Storage
	l1, l2 storage.Storage
}

func (t tiers) L1() storage.Storage { return t.l1 }
func (t tiers) L2() storage.Storage { return t.l2 }

func TestRegisterStorage_tiers(t *testing.T) {
	l1, l2 := lru.New(nil, 10), memory.New()
	defer l2.Close()
	m := register(t, tiers{Storage: l1, l1: l1, l2: l2})
	set(t, l1, "a", "1")
	set(t, l2, "a", "1", "b", "2")
	got := summary(m.collect())
	want := map[string]float64{
		"gecaso.storage.entries{gecaso.storage.tier=l1,gecaso.storage.type=lru}":    1,
		"gecaso.storage.entries{gecaso.storage.tier=l2,gecaso.storage.type=memory}": 2,
		"gecaso.storage.usage{gecaso.storage.tier=l1,gecaso.storage.type=lru}":      2,
		"gecaso.storage.usage{gecaso.storage.tier=l2,gecaso.storage.type=memory}":   4,
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			if !strings.HasPrefix(k, "gecaso.storage.lookups{gecaso.lookup.result=") && !strings.HasPrefix(k, "gecaso.storage.evictions{") &&
				!strings.HasPrefix(k, "gecaso.memory.") && !strings.HasPrefix(k, "gecaso.storage.expirations{") {
				t.Errorf("unexpected series %s", k)
			}
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
}

func TestRegisterStorage_redis(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client()
	s := redis.New(client)
	m := register(t, s)
	ctx := context.Background()
	set(t, s, "a", "1", "b", "2")
	for range 3 {
		if _, err := s.Get(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	got := summary(m.collect())
	ps := client.PoolStats() // nothing used the client since the collection
	if ps.Hits == 0 || ps.TotalConns == 0 {
		t.Fatalf("PoolStats = %+v: the client made no use of its pool", ps)
	}
	want := map[string]float64{
		"gecaso.redis.pool.connections{gecaso.connection.state=idle,gecaso.storage.type=redis}": float64(ps.IdleConns),
		"gecaso.redis.pool.connections{gecaso.connection.state=used,gecaso.storage.type=redis}": float64(ps.TotalConns - ps.IdleConns),
		"gecaso.redis.pool.lookups{gecaso.lookup.result=hit,gecaso.storage.type=redis}":         float64(ps.Hits),
		"gecaso.redis.pool.lookups{gecaso.lookup.result=miss,gecaso.storage.type=redis}":        float64(ps.Misses),
		"gecaso.redis.pool.waits{gecaso.storage.type=redis}":                                    float64(ps.WaitCount),
		"gecaso.redis.pool.wait.time{gecaso.storage.type=redis}":                                float64(ps.WaitDurationNs) / 1e9,
		"gecaso.redis.pool.timeouts{gecaso.storage.type=redis}":                                 float64(ps.Timeouts),
		"gecaso.redis.pool.stale_connections{gecaso.storage.type=redis}":                        float64(ps.StaleConns),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
}

func TestRegisterStorage_unsupported(t *testing.T) {
	_, err := otelgecaso.RegisterStorage(faulty.New(nil), otelgecaso.WithMeterProvider(newMeterProvider()))
	if !errors.Is(err, storage.ErrNotSupported) {
		t.Errorf("RegisterStorage(faulty) = %v, want storage.ErrNotSupported", err)
	}
	if _, err := otelgecaso.RegisterStorage(nil); err == nil {
		t.Errorf("RegisterStorage(nil) succeeded")
	}
}

func TestRegisterStorage_unregister(t *testing.T) {
	mp := newMeterProvider()
	unregister, err := otelgecaso.RegisterStorage(lru.New(nil, 2), otelgecaso.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	if len(mp.m.collect()) == 0 {
		t.Fatal("nothing observed before unregister")
	}
	for range 2 {
		if err := unregister(); err != nil {
			t.Fatal(err)
		}
	}
	if got := mp.m.collect(); len(got) != 0 {
		t.Errorf("observed after unregister: %v", got)
	}
	if mp.m.unregistered != 1 {
		t.Errorf("Unregister called %d times, want 1", mp.m.unregistered)
	}
}
