package otelgecaso

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gecaso/gecaso/storage"
	"github.com/gecaso/gecaso/storage/badger"
	"github.com/gecaso/gecaso/storage/lru"
	"github.com/gecaso/gecaso/storage/memory"
)

// More attribute keys, on the metrics of [RegisterStorage].
const (
	// KeyTier is "l1" or "l2" on the metrics of a tier of a tiered
	// storage.
	KeyTier = attribute.Key("gecaso.storage.tier")
	// KeyLookupResult is "hit" or "miss", on gecaso.storage.lookups and
	// gecaso.redis.pool.lookups.
	KeyLookupResult = attribute.Key("gecaso.lookup.result")
	// KeyConnectionState is "idle" or "used", on
	// gecaso.redis.pool.connections.
	KeyConnectionState = attribute.Key("gecaso.connection.state")
	// KeyBadgerPart is "lsm", "vlog" or "other", on
	// gecaso.badger.disk.usage: the LSM tree (tables and memtable logs),
	// the value log, or the rest of the directory (its manifest, key
	// registry and lock file). The parts add up to the directory's use of
	// the disk.
	KeyBadgerPart = attribute.Key("gecaso.badger.part")
)

// The abilities RegisterStorage looks for. They are small interfaces rather
// than the storages' types, so that any storage offering them is measured.
type (
	lener    interface{ Len() int }
	byteser  interface{ Bytes() int64 }
	redisser interface {
		Client() goredis.UniversalClient
	}
	tierer interface {
		L1() storage.Storage
		L2() storage.Storage
	}
	lruStater    interface{ Stats() lru.Stats }
	memoryStater interface{ Stats() memory.Stats }
	badgerStater interface{ Stats() badger.Stats }
)

// RegisterStorage reports to OpenTelemetry what s knows about itself, read
// when the metrics are collected, until unregister is called. It looks for
// what s offers:
//
//	gecaso.storage.entries         {entry}       entries held (Len: memory, lru)
//	gecaso.storage.usage           By            bytes of keys and values held, as the storage counts
//	                                             them (Bytes: memory, lru)
//	gecaso.storage.lookups         {lookup}      lookups by gecaso.lookup.result: hit, miss (lru)
//	gecaso.storage.evictions       {entry}       entries evicted to keep the bounds (lru, badger)
//	gecaso.storage.expirations     {entry}       expired entries reclaimed (memory)
//	gecaso.memory.arena.usage      By            bytes of the segments, garbage and free room included (memory)
//	gecaso.memory.garbage.usage    By            bytes of the segments that hold no live entry (memory)
//	gecaso.memory.index.usage      By            bytes of the hash indexes (memory)
//	gecaso.memory.compactions      {segment}     segments emptied by compaction (memory)
//	gecaso.badger.disk.usage       By            the directory's use of the disk, by gecaso.badger.part:
//	                                             lsm, vlog, other (badger)
//	gecaso.badger.disk.limit       By            the byte budget of WithMaxBytes, when there is one (badger)
//	gecaso.badger.gc.passes        {pass}        passes of the GC loop (badger)
//	gecaso.badger.reclaims         {reclaim}     Reclaims, the GC loop's and the caller's (badger)
//	gecaso.badger.reclaimed        By            disk space the Reclaims gave back (badger)
//	gecaso.badger.vlog.rewrites    {file}        value-log files rewritten by value-log GC (badger)
//	gecaso.badger.refused          {write}       Sets refused with badger.ErrFull (badger)
//	gecaso.badger.busy_waits       {write}       writes that waited for writes to resume (badger)
//	gecaso.badger.filtered_reads   {read}        reads of absent keys the key filter answered (badger)
//	gecaso.badger.filter.usage     By            memory of the key filter (badger)
//	gecaso.redis.pool.connections  {connection}  connections by gecaso.connection.state: idle, used (redis)
//	gecaso.redis.pool.lookups      {lookup}      connection requests by gecaso.lookup.result: hit (an idle
//	                                             connection was there), miss (redis)
//	gecaso.redis.pool.waits        {wait}        requests that waited for a connection (redis)
//	gecaso.redis.pool.wait.time    s             time spent waiting for a connection (redis)
//	gecaso.redis.pool.timeouts     {timeout}     requests that timed out waiting (redis)
//	gecaso.redis.pool.stale_connections {connection} stale connections closed (redis)
//
// The counters are cumulative; entries, usage and connections go up and
// down. Every measurement carries [KeyStorageType] and the [WithAttributes]
// attributes, which tell apart two storages of one type. A storage that
// exposes its tiers (methods L1 and L2 returning a [storage.Storage]) is
// reported tier by tier, with [KeyTier]. Only [WithMeterProvider] and
// [WithAttributes] apply.
//
// Values are read on the collecting goroutine, which takes the storages'
// locks briefly (the lru's, the redis pool's); after the storage is closed
// they read as the storage then reports (0 entries for memory and lru).
// RegisterStorage returns an error matching [storage.ErrNotSupported] when
// s offers none of these, and the meter's error when it refuses an
// instrument; unregister is then a no-op. unregister is idempotent and safe
// for concurrent use; it returns the meter's error, the same each time.
func RegisterStorage(s storage.Storage, opts ...Option) (unregister func() error, err error) {
	nop := func() error { return nil }
	if s == nil {
		return nop, errors.New("gecaso/otelgecaso: RegisterStorage needs a storage, got nil")
	}
	c := newConfig(opts)
	r := &storageReg{meter: c.mp.Meter(ScopeName), instruments: map[string]metric.Observable{}}
	r.add(s, c.attrs)
	if err := errors.Join(r.errs...); err != nil {
		return nop, fmt.Errorf("gecaso/otelgecaso: register %s storage: %w", storageType(s), err)
	}
	if len(r.observers) == 0 {
		return nop, fmt.Errorf("gecaso/otelgecaso: %s storage reports no metrics: %w", storageType(s), storage.ErrNotSupported)
	}
	observers := r.observers
	observables := make([]metric.Observable, 0, len(r.instruments))
	for _, in := range r.instruments {
		observables = append(observables, in)
	}
	reg, err := r.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		for _, f := range observers {
			f(ob)
		}
		return nil
	}, observables...)
	if err != nil {
		return nop, fmt.Errorf("gecaso/otelgecaso: register %s storage: %w", storageType(s), err)
	}
	if reg == nil {
		return nop, nil
	}
	return sync.OnceValue(reg.Unregister), nil
}

// storageReg gathers the instruments and observations of one
// RegisterStorage call.
type storageReg struct {
	meter       metric.Meter
	instruments map[string]metric.Observable // by name
	observers   []func(metric.Observer)
	errs        []error
}

// add adds the observations of s, labelled with attrs.
func (r *storageReg) add(s storage.Storage, attrs []attribute.KeyValue) {
	if t, ok := s.(tierer); ok {
		r.add(t.L1(), append(slices.Clip(attrs), KeyTier.String("l1")))
		r.add(t.L2(), append(slices.Clip(attrs), KeyTier.String("l2")))
	}
	attrs = append(slices.Clip(attrs), KeyStorageType.String(storageType(s)))
	base := observeOpt(attrs)
	if l, ok := s.(lener); ok {
		in := r.upDown("gecaso.storage.entries", "{entry}", "Entries the storage holds.")
		r.observe(func(ob metric.Observer) { ob.ObserveInt64(in, int64(l.Len()), base) })
	}
	if b, ok := s.(byteser); ok {
		in := r.upDown("gecaso.storage.usage", "By", "Bytes the storage holds, as it counts them.")
		r.observe(func(ob metric.Observer) { ob.ObserveInt64(in, b.Bytes(), base) })
	}
	if ls, ok := s.(lruStater); ok {
		lookups := r.counter("gecaso.storage.lookups", "{lookup}", "Lookups of the storage, by result.")
		evictions := r.counter("gecaso.storage.evictions", "{entry}", "Entries evicted to keep the storage's bounds.")
		hit := observeOpt(attrs, KeyLookupResult.String("hit"))
		miss := observeOpt(attrs, KeyLookupResult.String("miss"))
		r.observe(func(ob metric.Observer) {
			st := ls.Stats()
			ob.ObserveInt64(lookups, int64(st.Hits), hit)
			ob.ObserveInt64(lookups, int64(st.Misses), miss)
			ob.ObserveInt64(evictions, int64(st.Evictions), base)
		})
	}
	if ms, ok := s.(memoryStater); ok {
		r.addMemory(ms, attrs)
	}
	if bs, ok := s.(badgerStater); ok {
		r.addBadger(bs, attrs)
	}
	if rs, ok := s.(redisser); ok {
		r.addRedis(rs.Client(), attrs)
	}
}

func (r *storageReg) addMemory(s memoryStater, attrs []attribute.KeyValue) {
	arena := r.upDown("gecaso.memory.arena.usage", "By", "Bytes of the memory storage's segments: entries with their headers, garbage and free room.")
	garbage := r.upDown("gecaso.memory.garbage.usage", "By", "Bytes of the memory storage's segments that hold no live entry.")
	index := r.upDown("gecaso.memory.index.usage", "By", "Bytes of the memory storage's hash indexes.")
	compactions := r.counter("gecaso.memory.compactions", "{segment}", "Segments the memory storage's compaction emptied.")
	expirations := r.counter("gecaso.storage.expirations", "{entry}", "Expired entries reclaimed.")
	base := observeOpt(attrs)
	r.observe(func(ob metric.Observer) {
		st := s.Stats()
		ob.ObserveInt64(arena, st.ArenaBytes, base)
		ob.ObserveInt64(garbage, st.GarbageBytes, base)
		ob.ObserveInt64(index, st.IndexBytes, base)
		ob.ObserveInt64(compactions, int64(st.Compactions), base)
		ob.ObserveInt64(expirations, int64(st.Expired), base)
	})
}

func (r *storageReg) addBadger(s badgerStater, attrs []attribute.KeyValue) {
	disk := r.upDown("gecaso.badger.disk.usage", "By", "The Badger directory's use of the disk, by part: lsm, vlog, other.")
	limit := r.upDown("gecaso.badger.disk.limit", "By", "The Badger directory's byte budget.")
	passes := r.counter("gecaso.badger.gc.passes", "{pass}", "Passes of the Badger storage's GC loop.")
	reclaims := r.counter("gecaso.badger.reclaims", "{reclaim}", "Reclaims of the Badger storage, the GC loop's and the caller's.")
	reclaimed := r.counter("gecaso.badger.reclaimed", "By", "Disk space the Reclaims gave back.")
	rewrites := r.counter("gecaso.badger.vlog.rewrites", "{file}", "Value-log files rewritten by value-log GC.")
	evictions := r.counter("gecaso.storage.evictions", "{entry}", "Entries evicted to keep the storage's bounds.")
	refused := r.counter("gecaso.badger.refused", "{write}", "Sets refused because the byte budget was full.")
	busy := r.counter("gecaso.badger.busy_waits", "{write}", "Writes that waited for writes to resume.")
	filtered := r.counter("gecaso.badger.filtered_reads", "{read}", "Reads of absent keys that the key filter answered without a Badger lookup.")
	filterUse := r.upDown("gecaso.badger.filter.usage", "By", "Memory of the Badger storage's key filter.")
	var (
		base  = observeOpt(attrs)
		lsm   = observeOpt(attrs, KeyBadgerPart.String("lsm"))
		vlog  = observeOpt(attrs, KeyBadgerPart.String("vlog"))
		other = observeOpt(attrs, KeyBadgerPart.String("other"))
	)
	r.observe(func(ob metric.Observer) {
		st := s.Stats()
		ob.ObserveInt64(disk, st.LSMBytes, lsm)
		ob.ObserveInt64(disk, st.ValueLogBytes, vlog)
		if rest := st.DiskBytes - st.LSMBytes - st.ValueLogBytes; rest > 0 {
			ob.ObserveInt64(disk, rest, other)
		}
		if st.MaxBytes > 0 {
			ob.ObserveInt64(limit, st.MaxBytes, base)
		}
		ob.ObserveInt64(passes, st.GCPasses, base)
		ob.ObserveInt64(reclaims, st.Reclaims, base)
		ob.ObserveInt64(reclaimed, st.ReclaimedBytes, base)
		ob.ObserveInt64(rewrites, st.ValueLogRewrites, base)
		ob.ObserveInt64(evictions, st.Evictions, base)
		ob.ObserveInt64(refused, st.Refused, base)
		ob.ObserveInt64(busy, st.BusyWaits, base)
		ob.ObserveInt64(filtered, st.FilteredReads, base)
		ob.ObserveInt64(filterUse, st.FilterBytes, base)
	})
}

func (r *storageReg) addRedis(client goredis.UniversalClient, attrs []attribute.KeyValue) {
	conns := r.upDown("gecaso.redis.pool.connections", "{connection}", "Connections in the Redis client's pool, by state.")
	lookups := r.counter("gecaso.redis.pool.lookups", "{lookup}", "Requests for a connection from the pool, by result: hit when an idle connection was there.")
	waits := r.counter("gecaso.redis.pool.waits", "{wait}", "Requests that waited for a connection.")
	waitTime := r.floatCounter("gecaso.redis.pool.wait.time", "s", "Time spent waiting for a connection.")
	timeouts := r.counter("gecaso.redis.pool.timeouts", "{timeout}", "Requests that timed out waiting for a connection.")
	stale := r.counter("gecaso.redis.pool.stale_connections", "{connection}", "Stale connections closed.")
	var (
		base = observeOpt(attrs)
		idle = observeOpt(attrs, KeyConnectionState.String("idle"))
		used = observeOpt(attrs, KeyConnectionState.String("used"))
		hit  = observeOpt(attrs, KeyLookupResult.String("hit"))
		miss = observeOpt(attrs, KeyLookupResult.String("miss"))
	)
	r.observe(func(ob metric.Observer) {
		ps := client.PoolStats()
		if ps == nil {
			return
		}
		ob.ObserveInt64(conns, int64(ps.IdleConns), idle)
		ob.ObserveInt64(conns, int64(ps.TotalConns)-int64(ps.IdleConns), used)
		ob.ObserveInt64(lookups, int64(ps.Hits), hit)
		ob.ObserveInt64(lookups, int64(ps.Misses), miss)
		ob.ObserveInt64(waits, int64(ps.WaitCount), base)
		ob.ObserveFloat64(waitTime, float64(ps.WaitDurationNs)/1e9, base)
		ob.ObserveInt64(timeouts, int64(ps.Timeouts), base)
		ob.ObserveInt64(stale, int64(ps.StaleConns), base)
	})
}

func (r *storageReg) observe(f func(metric.Observer)) { r.observers = append(r.observers, f) }

func (r *storageReg) counter(name, unit, desc string) metric.Int64Observable {
	if in, ok := r.instruments[name]; ok {
		return in.(metric.Int64Observable)
	}
	in, err := r.meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	return keep(r, name, in, err)
}

func (r *storageReg) upDown(name, unit, desc string) metric.Int64Observable {
	if in, ok := r.instruments[name]; ok {
		return in.(metric.Int64Observable)
	}
	in, err := r.meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	return keep(r, name, in, err)
}

func (r *storageReg) floatCounter(name, unit, desc string) metric.Float64Observable {
	if in, ok := r.instruments[name]; ok {
		return in.(metric.Float64Observable)
	}
	in, err := r.meter.Float64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	return keep(r, name, in, err)
}

// keep records an instrument the meter made, or its error.
func keep[T metric.Observable](r *storageReg, name string, in T, err error) T {
	if err != nil {
		r.errs = append(r.errs, err)
	}
	r.instruments[name] = in
	return in
}

// storageType names s's type as [gecaso.FuncInfo] does: the package's last
// element for gecaso's storages, the Go type otherwise.
func storageType(s storage.Storage) string {
	t := reflect.TypeOf(s)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if pkg := t.PkgPath(); strings.HasPrefix(pkg, "github.com/gecaso/gecaso/storage/") {
		return pkg[strings.LastIndexByte(pkg, '/')+1:]
	}
	return t.String()
}
