package gecaso

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/gecaso/gecaso/codec"
	"github.com/gecaso/gecaso/internal/fence"
	"github.com/gecaso/gecaso/internal/flight"
	"github.com/gecaso/gecaso/storage"
)

// Func is a memoized function made by [Cached]. It is safe for concurrent use
// by many goroutines.
type Func[A, V any] struct {
	s      storage.Storage
	viewer storage.Viewer // s as a Viewer, or nil
	locker storage.Locker // s as a Locker when WithLock is on, or nil
	inline bool           // s never blocks (storage.Nonblocking): read it on the caller's goroutine
	fn     func(context.Context, A) (V, error)
	cfg    config
	ns     string // name, or name@version
	prefix string // ns + ":"
	enc    *codec.Encoder[A]
	venc   *codec.Encoder[V]
	vdec   *codec.Decoder[V]
	seed   maphash.Seed // hashes keys that are not digests (WithHashKey(false))

	flights   flight.Group[result[V]]
	refreshes flight.Group[struct{}] // background refreshes (WithStaleWhileRevalidate), apart from misses
	fence     *fence.Table           // orders fills (near cache, stores) against invalidations
	// ran counts, per stripe of keys, the runs that ended (and stored). A
	// miss reads it before its storage read: the run it leads reads the
	// storage again only if another run of the stripe ended meanwhile, so
	// that two callers who missed one after the other do not both run fn,
	// while the common miss reads the storage once.
	ran [ranStripes]paddedUint64

	states sync.Pool // *state[V]
	near   *near[V]  // nil unless WithNearCache
	stats  stats
	hooks  Hooks
	logs   logLimiter
	fails  backoff // keys whose last refresh failed

	reads atomic.Int64 // storage reads running on their own goroutine
}

const ranStripes = 256

type paddedUint64 struct {
	atomic.Uint64
	_ [56]byte
}

// Cached memoizes fn in s. Calls with equal arguments are answered from s
// until the entry expires; concurrent calls with equal arguments share one
// execution of fn (no dog-pile).
//
// Functions of several arguments take a struct (or an array) as A. What
// counts as an equal argument is defined by [codec.Marshal]: the canonical
// encoding of the value, which ignores unexported struct fields. V is stored
// with msgpack, so only what msgpack encodes survives (exported fields, time
// instants without their zone, map[string]any for structs held in an any);
// every call, the first one included, returns the value decoded from those
// bytes, so a result looks the same on a miss and on every hit.
//
// When s is a [storage.Invalidator] and the near cache is on, the Func
// subscribes to s for as long as the Func is reachable, so that removals by
// other processes reach its near cache.
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
	f := &Func[A, V]{s: s, fn: fn, cfg: cfg, enc: enc, venc: venc, vdec: vdec, seed: maphash.MakeSeed(), fence: fence.New()}
	f.ns = cfg.name
	if cfg.version != "" {
		f.ns += "@" + cfg.version
	}
	f.prefix = f.ns + ":"
	f.viewer, _ = s.(storage.Viewer)
	if nb, ok := s.(storage.Nonblocking); ok {
		f.inline = nb.Nonblocking()
	}
	if cfg.lockTTL > 0 {
		f.locker, _ = s.(storage.Locker)
	}
	f.logs.init(cfg.logger, cfg.logInterval)
	if cfg.observer != nil {
		f.hooks = cfg.observer.Observe(FuncInfo{
			Name:    cfg.name,
			Version: cfg.version,
			Storage: storageName(s),
			Stats:   f.Stats,
		})
	}
	if cfg.nearSize > 0 {
		inv, _ := s.(storage.Invalidator)
		f.near = newNear[V](cfg.nearSize, cfg.nearMaxAge, inv != nil)
		if inv != nil {
			f.subscribe(inv)
		}
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

// storageName names the type of s for metrics: its package's last element
// ("badger", "redis", "tiered") for gecaso's storages, the type otherwise.
func storageName(s storage.Storage) string {
	t := reflect.TypeOf(s)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pkg := t.PkgPath()
	if strings.HasPrefix(pkg, "github.com/gecaso/gecaso/storage/") {
		return pkg[strings.LastIndexByte(pkg, '/')+1:]
	}
	return t.String()
}

// Namespace returns the namespace of f's keys: the name, plus "@" and the
// version when there is one.
func (f *Func[A, V]) Namespace() string { return f.ns }

// Call returns fn(ctx, arg), from the storage when an unexpired result is
// there. Concurrent calls with equal arguments share one execution of fn.
//
// Every caller gets a value of its own, decoded from the bytes the result
// was stored as (a miss returns exactly what later hits return), which it may
// modify; the near cache is the exception (see [WithNearCache]).
//
// A caller whose ctx ends gets ctx.Err() at once, whatever the storage is
// doing: the storage read goes on in the background, bounded, and the
// shared execution goes on for the others, under ctx's values but not its
// cancellation, and its result is still stored. An error from fn is
// returned to every caller that shared the execution, unwrapped, and is not
// stored (unless [WithErrorTTL] says so). If fn panics, every such caller
// panics with a *[PanicError]. When ctx can never end (context.Background),
// fn runs in the goroutine of the caller that missed, as a direct call would.
//
// The cache fails open: a storage error never fails a call that fn can
// answer; it is reported through [WithErrorHandler] or [WithLogger]. An entry
// that does not decode into V, or has expired, is a miss and is overwritten.
// An argument that cannot be encoded is an error matching
// [codec.ErrUnsupported], and fn is not called.
func (f *Func[A, V]) Call(ctx context.Context, arg A) (V, error) {
	// CallInfo, without building an Info on a near hit.
	var zero V
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	st := f.getState()
	if err := f.encodeArg(st, arg); err != nil {
		f.putState(st)
		return zero, err
	}
	e, looked := f.quietNearHit(st)
	if e != nil {
		return e.v, nil
	}
	st.wantInfo = f.hooks.OnCall != nil // the hook gets the Info
	v, _, err := f.callInfo(ctx, st, arg, looked)
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
//
// Once Forget returns, no call that starts afterwards in this process
// returns a value read or computed before Forget was called: the entry is
// gone from the storage and the near cache, a call already running for arg
// may still answer its own callers but neither stores its result nor puts
// it in the near cache, and later calls do not join it. On a storage that is
// a [storage.Invalidator] (Redis), other processes drop their near-cache
// copies within the bound the storage documents.
//
// Forget waits for a store of arg already under way to finish, so that it
// cannot land after the removal; ctx bounds that wait and the removal.
func (f *Func[A, V]) Forget(ctx context.Context, arg A) error {
	st := f.getState()
	defer f.putState(st)
	if err := f.encodeArg(st, arg); err != nil {
		return err
	}
	key := string(f.appendKey(st))
	var rmErr error
	err := f.fence.InvalidateAt(ctx, st.h, func() {
		rmErr = f.s.Remove(ctx, key)
		if f.near != nil {
			f.near.remove(st.arg)
		}
		f.flights.Forget(key)
	})
	if err = errors.Join(rmErr, err); err != nil {
		return fmt.Errorf("gecaso: forget %s: %w", shortKey(key), err)
	}
	return nil
}

// Purge removes every stored result of f's namespace (its name and version),
// including results written by other processes. It uses the storage's
// [storage.PrefixDeleter] when it has one, else lists keys with its
// [storage.Scanner] and removes them; on a storage with neither it returns an
// error matching [storage.ErrNotSupported].
//
// Purge keeps the promise of [Func.Forget] for every argument at once: no
// call that starts after it returns gets a value read or computed before it.
//
// WARNING: functions cached under the same name and version share entries,
// and Purge removes theirs too.
func (f *Func[A, V]) Purge(ctx context.Context) error {
	var rmErr error
	err := f.fence.InvalidateAll(ctx, func() {
		rmErr = purgePrefix(ctx, f.s, f.prefix)
		if f.near != nil {
			f.near.clear()
		}
		f.flights.ForgetAll()
	})
	if err = errors.Join(rmErr, err); err != nil {
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

// encodeArg puts the canonical encoding of arg in st.arg.
func (f *Func[A, V]) encodeArg(st *state[V], arg A) error {
	b, err := f.enc.Append(st.arg[:0], arg)
	if err != nil {
		return fmt.Errorf("gecaso: %s: argument: %w", f.ns, err)
	}
	st.arg = b
	return nil
}

// appendKey builds the key for the argument in st.arg into st.key, and its
// hash into st.h.
func (f *Func[A, V]) appendKey(st *state[V]) []byte {
	k := append(st.key[:0], f.prefix...)
	if f.cfg.hashKey {
		sum := sha256.Sum256(st.arg)
		st.h = binary.LittleEndian.Uint64(sum[:8])
		k = base64.RawURLEncoding.AppendEncode(k, sum[:])
	} else {
		var err error
		if k, err = codec.AppendText(k, st.arg); err != nil {
			// st.arg came from our own encoder; a failure here is a bug.
			panic(fmt.Sprintf("gecaso: rendering a canonical encoding: %v", err))
		}
		st.h = maphash.Bytes(f.seed, k)
	}
	st.key = k
	return k
}

// hashOf returns the hash appendKey gives key, a key of f's namespace, and
// false for a key that cannot be one of f's.
func (f *Func[A, V]) hashOf(key string) (uint64, bool) {
	if !strings.HasPrefix(key, f.prefix) {
		return 0, false
	}
	if !f.cfg.hashKey {
		return maphash.String(f.seed, key), true
	}
	digest := key[len(f.prefix):]
	if len(digest) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return 0, false
	}
	var b [9]byte // 12 characters decode to 9 bytes
	if _, err := base64.RawURLEncoding.Decode(b[:], []byte(digest[:12])); err != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:8]), true
}

// ranAt returns the counter of ended runs of the stripe of hash h.
func (f *Func[A, V]) ranAt(h uint64) *atomic.Uint64 { return &f.ran[h%ranStripes].Uint64 }

// subscribe listens to inv's invalidations for as long as f is reachable:
// the subscription holds f weakly, and is cancelled when f is collected.
func (f *Func[A, V]) subscribe(inv storage.Invalidator) {
	wf := weak.Make(f)
	cancel, err := inv.Subscribe(func(m storage.Invalidation) {
		if f := wf.Value(); f != nil {
			f.invalidated(m)
		}
	})
	if err != nil {
		if !errors.Is(err, storage.ErrNotSupported) {
			f.report(opSubscribe, "", err)
		}
		return
	}
	runtime.AddCleanup(f, func(cancel func()) { go cancel() }, cancel)
}

// invalidationWait bounds how long an invalidation from another process
// waits for this process's stores of the same keys that began before it.
const invalidationWait = time.Second

// invalidated drops what the near cache and the running flights hold of the
// keys another process (or another Func) removed.
func (f *Func[A, V]) invalidated(m storage.Invalidation) {
	ctx, cancel := context.WithTimeout(context.Background(), invalidationWait)
	defer cancel()
	for _, p := range m.Prefixes {
		if strings.HasPrefix(f.prefix, p) || strings.HasPrefix(p, f.prefix) {
			_ = f.fence.InvalidateAll(ctx, func() {
				f.near.clear()
				f.flights.ForgetAll()
			})
			return
		}
	}
	for _, key := range m.Keys {
		h, ok := f.hashOf(key)
		if !ok {
			continue
		}
		_ = f.fence.InvalidateAt(ctx, h, func() {
			f.near.removeKey(key)
			f.flights.Forget(key)
		})
	}
}
