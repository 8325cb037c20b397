package gecaso

import (
	"context"
	"errors"
	"time"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/fence"
	"github.com/gecaso/gecaso/internal/flight"
	"github.com/gecaso/gecaso/storage"
)

// Source says where the value of a call came from.
type Source uint8

// The sources of a call's value.
const (
	// SourceRun: the call ran fn (it led the execution).
	SourceRun Source = iota
	// SourceShared: the call waited for an execution another call led.
	SourceShared
	// SourceStorage: the call read the entry from the storage.
	SourceStorage
	// SourceNear: the call was answered by the near cache.
	SourceNear
)

// String returns "run", "shared", "storage" or "near".
func (s Source) String() string {
	switch s {
	case SourceRun:
		return "run"
	case SourceShared:
		return "shared"
	case SourceStorage:
		return "storage"
	case SourceNear:
		return "near"
	}
	return "unknown"
}

// Info describes how a call was answered; [Func.CallInfo] returns it.
type Info struct {
	// Source is where the value (or the cached error) came from.
	Source Source

	// Stale reports that the value is past its TTL: served within the
	// stale-while-revalidate window (a refresh was started), or because fn
	// failed within the stale-if-error window (Err holds that failure).
	Stale bool

	// Age is how long ago the value was computed (written to the storage);
	// 0 for a value fn computed for this call, and for near-cache hits.
	Age time.Duration

	// ExpiresAt is when the value's entry expires (the end of its TTL, not
	// of its stale windows); the zero time when it never expires or was not
	// stored.
	ExpiresAt time.Time

	// Stored reports, for a value computed by fn (SourceRun, SourceShared),
	// whether it was stored.
	Stored bool

	// Err is the error fn returned when a stale value was served instead
	// ([WithStaleIfError]); nil otherwise.
	Err error
}

// CallInfo is [Func.Call] that also says how the call was answered: from
// the near cache, the storage, a shared execution or a run of fn, whether
// the value was stale and how old, and when it expires. The Info is valid
// whatever the error (zero when the call ended before its lookup).
func (f *Func[A, V]) CallInfo(ctx context.Context, arg A) (v V, info Info, err error) {
	if err := ctx.Err(); err != nil {
		return v, info, err
	}
	st := f.getState()
	if err := f.encodeArg(st, arg); err != nil {
		f.putState(st)
		return v, info, err
	}
	e, looked := f.quietNearHit(st)
	if e != nil {
		if e.wall != 0 {
			info.ExpiresAt = time.Unix(0, e.wall)
		}
		info.Source = SourceNear
		return e.v, info, nil
	}
	st.wantInfo = true
	return f.callInfo(ctx, st, arg, looked)
}

// quietNearHit answers from the near cache a call with no hook to call
// on a near hit (the common case), and then puts st back in the pool as it
// came (only st.arg was written), without putState's reset: Call and
// CallInfo return at once, without a deferred call. It returns the entry's
// node, whose value the caller copies out once. Otherwise (a miss, no near
// cache, hooks) it returns nil and st stays the caller's; looked says
// whether the near cache was looked in (and missed), so that callInfo does
// not look again.
func (f *Func[A, V]) quietNearHit(st *state[V]) (e *nearNode[V], looked bool) {
	if f.near == nil || f.hooks.OnCall != nil || (f.hooks.StartSpan != nil && f.hooks.SpanHits) {
		return nil, false
	}
	if e = f.near.get(st.arg); e != nil {
		inc(&st.c.nearHits)
		f.releaseArg(st)
	}
	return e, true
}

// callInfo is CallInfo past the encoding of arg into st.arg, and past the
// near cache when nearLooked; it puts st back in the pool.
func (f *Func[A, V]) callInfo(ctx context.Context, st *state[V], arg A, nearLooked bool) (v V, info Info, err error) {
	defer f.putState(st)
	var start time.Time
	if f.hooks.OnCall != nil || f.hooks.StartSpan != nil {
		start = time.Now()
		if f.hooks.OnCall != nil {
			defer func() { f.hooks.OnCall(ctx, info, err, time.Since(start)) }()
		}
	}
	if f.near != nil && !nearLooked {
		if e := f.near.get(st.arg); e != nil {
			inc(&st.c.nearHits)
			info = Info{Source: SourceNear}
			if e.wall != 0 {
				info.ExpiresAt = time.Unix(0, e.wall)
			}
			if f.hooks.SpanHits && f.hooks.StartSpan != nil {
				_, end := f.hooks.StartSpan(ctx, "gecaso.near", start)
				end(nil)
			}
			return e.v, info, nil
		}
	}
	key := string(f.appendKey(st))
	var tok fence.Token
	if f.near != nil {
		tok = f.fence.TokenAt(st.h)
		st.keep = true // the near cache gets a copy of its own
	}
	ran := f.ranAt(st.h).Load()
	readStart := start
	if err := f.lookup(ctx, st, key); err != nil {
		return v, info, err
	}
	fd := &st.found
	if f.hooks.StartSpan != nil && (fd.class == absent || fd.class == fallback || f.hooks.SpanHits) {
		_, end := f.hooks.StartSpan(ctx, "gecaso.get", readStart)
		end(nil)
	}
	switch fd.class {
	case fresh:
		v = fd.take()
		inc(&st.c.hits)
		if st.wantInfo { // Call drops it: do not build it
			info = fd.info(SourceStorage, true)
		}
		if f.near != nil {
			f.nearFill(st.h, tok, string(st.arg), key, fd.data, fd.expires)
		}
		return v, info, nil
	case negative:
		inc(&st.c.hits)
		return v, fd.info(SourceStorage, st.wantInfo), fd.cerr
	case stale:
		v = fd.take()
		inc(&st.c.hits)
		f.stats.staleHits.Add(1)
		info = fd.info(SourceStorage, st.wantInfo)
		var nearKey string
		if f.near != nil {
			nearKey = string(st.arg)
		}
		f.revalidate(ctx, arg, key, st.h, nearKey)
		return v, info, nil
	}
	fallbackData := fd.data // the stale entry to serve if fn fails, or nil
	fd.data = nil
	var nearKey string
	if f.near != nil {
		nearKey = string(st.arg)
	}
	h := st.h
	r, shared, pan, err := f.flights.Do(ctx, key, func(ctx context.Context) (result[V], error) {
		return f.run(ctx, arg, key, h, ran, fallbackData, nearKey)
	})
	switch {
	case shared:
		f.stats.shared.Add(1)
		info.Source = SourceShared
	case r.source == SourceStorage:
		inc(&st.c.hits)
		info.Source = SourceStorage
	default:
		f.stats.misses.Add(1)
		info.Source = SourceRun
	}
	if pan != nil {
		panic(&PanicError{Value: pan.Value, Stack: pan.Stack})
	}
	if err != nil {
		return v, info, err
	}
	info.Stale, info.Err, info.Stored, info.ExpiresAt = r.stale, r.masked, r.stored, r.expires
	if st.wantInfo && !r.written.IsZero() {
		info.Age = max(0, time.Since(r.written))
	}
	if r.stale {
		f.stats.staleHits.Add(1)
	}
	return f.deliver(st, r), info, nil
}

// nearFill puts the value decoded from data, read from the storage under
// tok, in the near cache, unless an invalidation of the key started since.
func (f *Func[A, V]) nearFill(h uint64, tok fence.Token, k, key string, data []byte, expires time.Time) {
	var v V
	if f.vdec.Decode(data, &v) != nil {
		return
	}
	w, ok := f.fence.BeginAt(h, tok)
	if !ok {
		return
	}
	f.near.put(k, key, v, expires)
	if f.fence.End(w) {
		f.near.remove([]byte(k))
	}
}

// deliver returns the caller's own copy of a flight's result: decoded from
// its bytes, so that every caller gets what a hit would.
// It decodes into st, so that the value does not escape to the heap on its
// own.
func (f *Func[A, V]) deliver(st *state[V], r result[V]) V {
	if r.data == nil {
		return r.v // fn's value could not be encoded
	}
	if err := f.vdec.Decode(r.data, &st.found.v); err != nil {
		// Bytes that our own encoder wrote do not decode: a marshaler
		// that does not round-trip. The caller still gets fn's value.
		f.report(opDecode, "", err)
		return r.v
	}
	return st.found.take()
}

// class is what a storage read found.
type class uint8

const (
	absent   class = iota // no entry, an entry past every window, or one that does not decode
	fresh                 // within its TTL
	stale                 // past its TTL, within the stale-while-revalidate window
	fallback              // past that, within the stale-if-error window: a miss that keeps the value
	negative              // a cached error within its TTL
)

// found is what a storage read found, decoded.
type found[V any] struct {
	class   class
	v       V
	cerr    *CachedError // for negative
	written time.Time
	expires time.Time
	now     time.Time // when the entry was read, if the expiry check read the clock
	data    []byte    // a copy of the value's msgpack: for fallback, or when keep was asked
	size    int       // bytes read
}

// take returns the decoded value and clears it from fd.
func (fd *found[V]) take() V {
	v := fd.v
	var zero V
	fd.v = zero
	return v
}

// info describes what fd found; with age, it also says how old it is,
// which reads the clock unless the expiry check did.
func (fd *found[V]) info(src Source, age bool) Info {
	in := Info{Source: src, ExpiresAt: fd.expires, Stale: fd.class == stale}
	if age && !fd.written.IsZero() {
		now := fd.now
		if now.IsZero() {
			now = time.Now()
		}
		in.Age = max(0, now.Sub(fd.written))
	}
	return in
}

// state is the per-call scratch space, pooled so that a hit allocates only
// the key string.
//
// A near hit touches only arg and c, which come first, so that they share
// a cache line with nothing another core's near hits touch: states are
// allocated next to each other, one per P, and the end of one may share a
// line with the start of the next.
type state[V any] struct {
	arg   []byte // canonical encoding of the argument
	c     *hot   // this state's share of the hot counters
	key   []byte // the key being built
	h     uint64 // hash of the key
	env   codec.Envelope
	found found[V]
	keep  bool // copy the value's bytes into found.data for fresh entries too
	// wantInfo: the caller gets the Info (CallInfo, the OnCall hook);
	// Call, without hooks, drops it, so its Age, which costs a clock read,
	// and on a hit the Info itself are not built.
	wantInfo bool

	vdec     *codec.Decoder[V]
	swr, sie time.Duration
	sentinel func(code string) error
	decode   func([]byte) error // st.decodeEntry, bound once
}

// errExpired marks an entry past every window the reader asked for.
var errExpired = errors.New("gecaso: entry expired")

// decodeEntry decodes a stored entry into st.found: it runs inside a
// storage's View, so it copies whatever it keeps of b.
func (st *state[V]) decodeEntry(b []byte) error {
	env := &st.env
	if err := codec.DecodeEnvelope(b, env); err != nil {
		return err
	}
	fd := &st.found
	fd.size = len(b)
	fd.written, fd.expires, fd.now = env.WrittenAt, env.ExpiresAt, time.Time{}
	if !env.ExpiresAt.IsZero() {
		now := time.Now()
		fd.now = now
		if !now.Before(env.ExpiresAt) {
			switch past := now.Sub(env.ExpiresAt); {
			case env.Error:
				return errExpired
			case past < st.swr:
				fd.class = stale
				return st.vdec.Decode(env.Data, &fd.v)
			case past < st.sie:
				fd.class = fallback
				fd.data = append(fd.data[:0], env.Data...)
				return nil
			}
			return errExpired
		}
	}
	if env.Error {
		fd.class = negative
		fd.cerr = decodeCachedError(env.Data, env.ExpiresAt, st.sentinel)
		return nil
	}
	fd.class = fresh
	if st.keep {
		fd.data = append(fd.data[:0], env.Data...)
	}
	return st.vdec.Decode(env.Data, &fd.v)
}

// maxReads bounds the storage reads a Func runs on goroutines of their own,
// for callers that may leave when their context ends. Reads past it are
// skipped (a miss), so that a storage that stalls for good does not pile up
// goroutines.
const maxReads = 1024

var errReadsStalled = errors.New("too many storage reads outstanding; the storage is stalled")

// lookup reads key into st.found. Its error is ctx's, when ctx ended first;
// a storage failure or an entry that does not decode is a miss, reported.
func (f *Func[A, V]) lookup(ctx context.Context, st *state[V], key string) error {
	if f.inline || ctx.Done() == nil {
		f.read(ctx, st, key)
		return nil
	}
	if f.reads.Add(1) > maxReads {
		f.reads.Add(-1)
		f.report(opGet, key, errReadsStalled)
		st.found.class = absent
		return nil
	}
	// The read runs with a state of its own, which it drops if the caller
	// leaves first.
	rst := f.getState()
	rst.keep = st.keep
	done := make(chan struct{})
	go func() {
		flight.GrowStack()
		defer f.reads.Add(-1)
		f.read(ctx, rst, key)
		close(done)
	}()
	select {
	case <-done:
		st.found, rst.found = rst.found, st.found
		f.putState(rst)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read reads key into st.found, on the calling goroutine.
func (f *Func[A, V]) read(ctx context.Context, st *state[V], key string) {
	st.found.class = absent
	var err error
	if f.viewer != nil {
		err = f.viewer.View(ctx, key, st.decode)
	} else {
		var b []byte
		if b, err = f.s.Get(ctx, key); err == nil {
			err = st.decode(b)
		}
	}
	st.env.Data, st.env.RawParams = nil, nil // they alias the storage's bytes
	fd := &st.found
	if err == nil || err == errExpired {
		add(&st.c.bytesRead, uint64(fd.size))
	}
	switch {
	case err == nil:
		return
	case err == storage.ErrNotFound || err == errExpired || errors.Is(err, storage.ErrNotFound):
	case ctx.Err() != nil:
	case errors.Is(err, codec.ErrCorrupt):
		f.report(opDecode, key, err)
	default:
		f.report(opGet, key, err)
	}
	fd.class = absent
	var zero V
	fd.v, fd.cerr = zero, nil
}

func (f *Func[A, V]) getState() *state[V] {
	if st, ok := f.states.Get().(*state[V]); ok {
		return st
	}
	st := &state[V]{
		arg:      make([]byte, 0, 64),
		key:      make([]byte, 0, 128),
		vdec:     f.vdec,
		swr:      f.cfg.swr,
		sie:      f.cfg.sie,
		sentinel: f.cfg.sentinel,
	}
	st.decode = st.decodeEntry
	st.c = newHot(&f.stats, st)
	return st
}

// releaseArg returns to the pool a state in which only arg was written
// since getState.
func (f *Func[A, V]) releaseArg(st *state[V]) {
	if cap(st.arg) <= maxPooledBuf {
		f.states.Put(st)
	}
}

// maxPooledBuf bounds the buffers a pooled state keeps, so that one large
// argument or value does not pin its buffer for good.
const maxPooledBuf = 64 << 10

func (f *Func[A, V]) putState(st *state[V]) {
	if cap(st.arg) > maxPooledBuf || cap(st.key) > maxPooledBuf || cap(st.found.data) > maxPooledBuf {
		return // do not pin large buffers
	}
	// The next decode sets every field of env: drop only what aliases a
	// storage's memory.
	st.env.RawParams, st.env.Data = nil, nil
	// Reads set class first, and the decode of an entry sets its times:
	// clear what could keep memory alive or be merged into by a decode.
	fd := &st.found
	var zero V
	fd.v, fd.cerr, fd.data = zero, nil, fd.data[:0]
	fd.class, fd.size = absent, 0
	st.keep, st.wantInfo = false, false
	f.states.Put(st)
}
