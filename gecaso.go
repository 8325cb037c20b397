package gecaso

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/flight"
	"github.com/gecaso/gecaso/storage"
)

// Func is a memoized function made by [Cached]. It is safe for concurrent use
// by many goroutines.
type Func[A, V any] struct {
	s       storage.Storage
	viewer  storage.Viewer // s as a Viewer, or nil
	locker  storage.Locker // s as a Locker when WithLock is on, or nil
	fn      func(context.Context, A) (V, error)
	cfg     config
	ns      string // name, or name@version
	prefix  string // ns + ":"
	enc     *codec.Encoder[A]
	venc    *codec.Encoder[V]
	vdec    *codec.Decoder[V]
	flights flight.Group[V]
	states  sync.Pool // *state[V]
	near    *near[V]  // nil unless WithNearCache
}

// state is the per-call scratch space, pooled so that a hit allocates only
// the key string.
type state[V any] struct {
	arg    []byte // canonical encoding of the argument
	key    []byte // the key being built
	env    codec.Envelope
	v      V
	vdec   *codec.Decoder[V]
	decode func([]byte) error // st.decodeEntry, bound once
}

// errExpired marks an entry whose envelope says it has expired.
var errExpired = errors.New("gecaso: entry expired")

// StorageError describes a storage failure that a call survived: the cache
// fails open, so the failure is reported (see [WithErrorHandler] and
// [WithLogger]) and the call goes on with fn's result.
type StorageError struct {
	Op  string // "get", "set", "lock", "unlock", "decode" or "encode"
	Key string // the storage key
	Err error  // the cause; an entry that did not decode matches codec.ErrCorrupt
}

// Error implements error.
func (e *StorageError) Error() string {
	return fmt.Sprintf("gecaso: %s %q: %v", e.Op, e.Key, e.Err)
}

// Unwrap returns the cause.
func (e *StorageError) Unwrap() error { return e.Err }

// PanicError is the value callers of [Func.Call] panic with when fn panicked:
// the panic reaches every caller that shared the execution, with the value
// and the stack of the goroutine that ran fn.
type PanicError = flight.PanicError

// Cached memoizes fn in s. Calls with equal arguments are answered from s
// until the entry expires; concurrent calls with equal arguments share one
// execution of fn (no dog-pile).
//
// Functions of several arguments take a struct (or an array) as A. What
// counts as an equal argument is defined by [codec.Marshal]: the canonical
// encoding of the value, which ignores unexported struct fields. V is stored
// with msgpack, so only its exported fields survive a round trip through the
// storage.
//
// Cached panics when s or fn is nil, when an option is invalid, or when A or
// V is a type that can never be encoded (a func or a chan); the message names
// the mistake.
func Cached[A, V any](s storage.Storage, fn func(context.Context, A) (V, error), opts ...Option) *Func[A, V] {
	if s == nil {
		panic("gecaso: Cached needs a storage, got nil")
	}
	if fn == nil {
		panic("gecaso: Cached needs a function, got nil")
	}
	cfg := defaultConfig()
	cfg.name = funcName(fn)
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		panic(err.Error())
	}
	enc, err := codec.NewEncoder[A]()
	if err != nil {
		panic(fmt.Sprintf("gecaso: argument type %v cannot be a key: %v", reflect.TypeFor[A](), err))
	}
	venc, err := codec.NewEncoder[V]()
	if err != nil {
		panic(fmt.Sprintf("gecaso: result type %v cannot be stored: %v", reflect.TypeFor[V](), err))
	}
	vdec, err := codec.NewDecoder[V]()
	if err != nil {
		panic(fmt.Sprintf("gecaso: result type %v cannot be read back: %v", reflect.TypeFor[V](), err))
	}
	if cfg.params != nil {
		if _, err := codec.Marshal(cfg.params); err != nil {
			panic(fmt.Sprintf("gecaso: WithParam value cannot be stored: %v", err))
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	f := &Func[A, V]{s: s, fn: fn, cfg: cfg, enc: enc, venc: venc, vdec: vdec}
	f.ns = cfg.name
	if cfg.version != "" {
		f.ns += "@" + cfg.version
	}
	f.prefix = f.ns + ":"
	f.viewer, _ = s.(storage.Viewer)
	if cfg.lockTTL > 0 {
		f.locker, _ = s.(storage.Locker)
	}
	if cfg.nearSize > 0 {
		f.near = newNear[V](cfg.nearSize, cfg.nearMaxAge)
	}
	return f
}

// funcName returns fn's qualified Go name, with the separators gecaso uses in
// keys replaced.
func funcName(fn any) string {
	name := "func"
	if rf := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); rf != nil {
		name = rf.Name()
	}
	return strings.NewReplacer(":", "_", "@", "_").Replace(name)
}

// Namespace returns the namespace of f's keys: the name, plus "@" and the
// version when there is one.
func (f *Func[A, V]) Namespace() string { return f.ns }

// Call returns fn(ctx, arg), from the storage when an unexpired result is
// there. Concurrent calls with equal arguments share one execution of fn.
//
// A caller whose ctx ends gets ctx.Err() at once; the shared execution goes
// on for the others, under ctx's values but not its cancellation, and its
// result is still stored. An error from fn is returned to every caller that
// shared the execution, unwrapped, and is not stored. If fn panics, every
// such caller panics with a *[PanicError].
//
// The cache fails open: a storage error never fails a call that fn can
// answer; it is reported through [WithErrorHandler] or [WithLogger]. An entry
// that does not decode into V, or has expired, is a miss and is overwritten.
// An argument that cannot be encoded is an error matching
// [codec.ErrUnsupported], and fn is not called.
func (f *Func[A, V]) Call(ctx context.Context, arg A) (V, error) {
	var zero V
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	st := f.getState()
	defer f.putState(st)
	if err := f.encodeArg(st, arg); err != nil {
		return zero, err
	}
	if f.near != nil {
		if v, ok := f.near.get(st.arg); ok {
			return v, nil
		}
	}
	key := string(f.appendKey(st))
	v, ok, err := f.load(ctx, st, key)
	if err != nil {
		return zero, err
	}
	if ok {
		if f.near != nil {
			f.near.put(string(st.arg), v, st.env.ExpiresAt)
		}
		return v, nil
	}
	var nearKey string
	if f.near != nil {
		nearKey = string(st.arg)
	}
	v, _, err = f.flights.Do(ctx, key, func(ctx context.Context) (V, error) {
		return f.run(ctx, arg, key, nearKey)
	})
	return v, err
}

// Key returns the storage key that Call uses for arg. It is deterministic
// across processes, machines and restarts.
func (f *Func[A, V]) Key(arg A) (string, error) {
	st := f.getState()
	defer f.putState(st)
	if err := f.encodeArg(st, arg); err != nil {
		return "", err
	}
	return string(f.appendKey(st)), nil
}

// Forget removes the stored result for arg, so that the next call runs fn.
// A call already running for arg is not interrupted and stores its result.
func (f *Func[A, V]) Forget(ctx context.Context, arg A) error {
	st := f.getState()
	defer f.putState(st)
	if err := f.encodeArg(st, arg); err != nil {
		return err
	}
	if f.near != nil {
		f.near.remove(st.arg)
	}
	key := string(f.appendKey(st))
	if err := f.s.Remove(ctx, key); err != nil {
		return fmt.Errorf("gecaso: forget %q: %w", key, err)
	}
	return nil
}

// Purge removes every stored result of f's namespace (its name and version),
// including results written by other processes. It uses the storage's
// [storage.PrefixDeleter] when it has one, else lists keys with its
// [storage.Scanner] and removes them; on a storage with neither it returns an
// error matching [storage.ErrNotSupported].
//
// WARNING: functions cached under the same name and version share entries,
// and Purge removes theirs too.
func (f *Func[A, V]) Purge(ctx context.Context) error {
	if f.near != nil {
		f.near.clear()
	}
	err := purgePrefix(ctx, f.s, f.prefix)
	if err != nil {
		return fmt.Errorf("gecaso: purge %q: %w", f.ns, err)
	}
	return nil
}

// purgePrefix removes every key of s that starts with prefix.
func purgePrefix(ctx context.Context, s storage.Storage, prefix string) error {
	if pd, ok := s.(storage.PrefixDeleter); ok {
		err := pd.DeletePrefix(ctx, prefix)
		if !errors.Is(err, storage.ErrNotSupported) {
			return err
		}
	}
	sc, ok := s.(storage.Scanner)
	if !ok {
		return storage.ErrNotSupported
	}
	const batch = 1000
	keys := make([]string, 0, batch)
	err := sc.Scan(ctx, prefix, func(ki storage.KeyInfo) error {
		keys = append(keys, ki.Key)
		if len(keys) < batch {
			return nil
		}
		err := s.Remove(ctx, keys...)
		keys = keys[:0]
		return err
	})
	if err == nil && len(keys) > 0 {
		err = s.Remove(ctx, keys...)
	}
	return err
}

func (f *Func[A, V]) getState() *state[V] {
	if st, ok := f.states.Get().(*state[V]); ok {
		return st
	}
	st := &state[V]{arg: make([]byte, 0, 64), key: make([]byte, 0, 128), vdec: f.vdec}
	st.decode = st.decodeEntry
	return st
}

func (f *Func[A, V]) putState(st *state[V]) {
	if cap(st.arg) > 64<<10 || cap(st.key) > 64<<10 {
		return // do not pin large buffers
	}
	st.env = codec.Envelope{}
	f.states.Put(st)
}

// encodeArg puts the canonical encoding of arg in st.arg.
func (f *Func[A, V]) encodeArg(st *state[V], arg A) error {
	b, err := f.enc.Append(st.arg[:0], arg)
	if err != nil {
		return fmt.Errorf("gecaso: %s: argument: %w", f.ns, err)
	}
	st.arg = b
	return nil
}

// appendKey builds the key for the argument in st.arg into st.key.
func (f *Func[A, V]) appendKey(st *state[V]) []byte {
	k := append(st.key[:0], f.prefix...)
	if f.cfg.hashKey {
		sum := sha256.Sum256(st.arg)
		k = base64.RawURLEncoding.AppendEncode(k, sum[:])
	} else {
		var err error
		if k, err = codec.AppendText(k, st.arg); err != nil {
			// st.arg came from our own encoder; a failure here is a bug.
			panic(fmt.Sprintf("gecaso: rendering a canonical encoding: %v", err))
		}
	}
	st.key = k
	return k
}

// decodeEntry decodes a stored entry into st.v.
func (st *state[V]) decodeEntry(b []byte) error {
	if err := codec.DecodeEnvelope(b, &st.env); err != nil {
		return err
	}
	if !st.env.ExpiresAt.IsZero() && !time.Now().Before(st.env.ExpiresAt) {
		return errExpired
	}
	return st.vdec.Decode(st.env.Data, &st.v)
}

// load reads key from the storage. ok is false on a miss, including a
// storage failure or an entry that does not decode, which are reported. err
// is set only when ctx ended.
func (f *Func[A, V]) load(ctx context.Context, st *state[V], key string) (v V, ok bool, err error) {
	if f.viewer != nil {
		err = f.viewer.View(ctx, key, st.decode)
	} else {
		var b []byte
		if b, err = f.s.Get(ctx, key); err == nil {
			err = st.decodeEntry(b)
		}
	}
	v = st.v
	var zero V
	st.v = zero
	switch {
	case err == nil:
		return v, true, nil
	case err == storage.ErrNotFound || err == errExpired || errors.Is(err, storage.ErrNotFound):
		return zero, false, nil
	case ctx.Err() != nil:
		return zero, false, ctx.Err()
	case errors.Is(err, codec.ErrCorrupt):
		f.report("decode", key, err)
	default:
		f.report("get", key, err)
	}
	return zero, false, nil
}

// run is the shared execution for a missed key: it looks in the storage once
// more, takes the cross-process lock when configured, runs fn and stores its
// result before any caller sees it, so that Forget or Purge after a Call
// never races the write.
func (f *Func[A, V]) run(ctx context.Context, arg A, key, nearKey string) (V, error) {
	st := f.getState()
	// A caller that missed just before another stored the result must not
	// run fn again.
	v, ok, _ := f.load(ctx, st, key)
	expires := st.env.ExpiresAt
	f.putState(st)
	if ok {
		f.nearPut(nearKey, v, expires)
		return v, nil
	}
	if f.locker != nil {
		var unlock func(context.Context) error
		if v, expires, ok, unlock = f.awaitLock(ctx, key); ok {
			f.nearPut(nearKey, v, expires)
			return v, nil
		}
		if unlock != nil {
			// Released after the result is stored, or when fn fails or
			// panics, so that the other processes can try at once.
			defer f.unlock(ctx, key, unlock)
		}
	}
	v, err := f.fn(ctx, arg)
	if err != nil {
		return v, err
	}
	f.nearPut(nearKey, v, f.store(ctx, key, v))
	return v, nil
}

func (f *Func[A, V]) nearPut(nearKey string, v V, expires time.Time) {
	if f.near != nil {
		f.near.put(nearKey, v, expires)
	}
}

// store writes v under key and returns the entry's expiry. Failures are
// reported, never returned: the caller already has its result.
func (f *Func[A, V]) store(ctx context.Context, key string, v V) (expires time.Time) {
	defer func() {
		if r := recover(); r != nil {
			f.report("set", key, fmt.Errorf("storage panicked: %v", r))
		}
	}()
	bufs := bufPool.Get().(*buffers)
	defer bufPool.Put(bufs)

	data, err := f.venc.Append(bufs.data[:0], v)
	if err != nil {
		f.report("encode", key, err)
		return time.Time{}
	}
	bufs.data = data
	now := time.Now()
	env := codec.Envelope{WrittenAt: now, Params: f.cfg.params, Data: data}
	if f.cfg.ttl > 0 {
		env.ExpiresAt = now.Add(f.cfg.ttl)
	}
	frame, err := codec.AppendEnvelope(bufs.frame[:0], &env)
	if err != nil {
		f.report("encode", key, err)
		return time.Time{}
	}
	bufs.frame = frame
	if err := f.s.Set(ctx, key, frame, storage.Params{TTL: f.cfg.ttl, Extra: f.cfg.params}); err != nil {
		f.report("set", key, err)
	}
	return env.ExpiresAt
}

type buffers struct{ data, frame []byte }

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

// awaitLock takes the cross-process lock for key. When another process holds
// it, awaitLock polls the storage for that process's result; ok is true when
// the result appeared. When the lock is ours, unlock releases it. When the
// lock cannot be had (an error, or no result and no lock after twice the lock
// TTL), both are zero and the caller runs fn unlocked.
func (f *Func[A, V]) awaitLock(ctx context.Context, key string) (v V, expires time.Time, ok bool, unlock func(context.Context) error) {
	ttl := f.cfg.lockTTL
	deadline := time.Now().Add(2 * ttl)
	delay := min(5*time.Millisecond, ttl)
	for {
		unlock, acquired, err := f.locker.TryLock(ctx, key, ttl)
		if err != nil {
			// A wrapper whose inner storage cannot lock is not a failure:
			// within one process the flight already shares the run.
			if !errors.Is(err, storage.ErrNotSupported) {
				f.report("lock", key, err)
			}
			return v, expires, false, nil
		}
		st := f.getState()
		v, ok, _ = f.load(ctx, st, key)
		expires = st.env.ExpiresAt
		f.putState(st)
		if ok || acquired {
			if ok && acquired {
				f.unlock(ctx, key, unlock)
				unlock = nil
			}
			return v, expires, ok, unlock
		}
		if time.Now().After(deadline) {
			return v, expires, false, nil
		}
		t := time.NewTimer(delay)
		<-t.C
		delay = min(2*delay, 100*time.Millisecond, ttl)
	}
}

func (f *Func[A, V]) unlock(ctx context.Context, key string, unlock func(context.Context) error) {
	if err := unlock(ctx); err != nil {
		f.report("unlock", key, err)
	}
}

// report hands a survived storage failure to the handler or the logger.
func (f *Func[A, V]) report(op, key string, err error) {
	e := &StorageError{Op: op, Key: key, Err: err}
	if f.cfg.onError != nil {
		f.cfg.onError(e)
		return
	}
	f.cfg.logger.Warn("gecaso: storage error, the call goes on without the cache",
		"op", op, "key", key, "err", err)
}
