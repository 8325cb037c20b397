package bench

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync/atomic"

	"github.com/gecaso/gecaso"
	"github.com/gecaso/gecaso/storage"
)

// gecasoBackend opens one of gecaso's storages for a benchmark. Each backend
// registers itself from its own file, so that the list follows what the
// storage packages provide.
type gecasoBackend struct {
	name    string
	order   int  // position in the list of peers
	bounded bool // holds at most Config.Capacity entries
	near    bool // also list a variant with gecaso.WithNearCache
	remote  bool // entries live in another process
	open    func(cfg Config) (s storage.Storage, closeFn func() error, err error)
}

// gecasoBackends is filled by the init functions of the gecaso_*.go files.
var gecasoBackends []gecasoBackend

func registerGecaso(b gecasoBackend) {
	gecasoBackends = append(gecasoBackends, b)
	slices.SortStableFunc(gecasoBackends, func(x, y gecasoBackend) int { return cmp.Compare(x.order, y.order) })
}

// StorageErrors counts the storage errors gecaso reported through its error
// handler during the benchmarks; a cache that fails open hides them
// otherwise.
var StorageErrors atomic.Int64

func gecasoPeers[A comparable, V any]() []Peer[A, V] {
	var ps []Peer[A, V]
	for _, b := range gecasoBackends {
		ps = append(ps, Peer[A, V]{
			Name:    "gecaso-" + b.name,
			Bounded: b.bounded,
			Gecaso:  true,
			Remote:  b.remote,
			Open: func(cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
				return openGecaso(b, cfg, fn)
			},
		})
	}
	for _, b := range gecasoBackends {
		if !b.near {
			continue
		}
		ps = append(ps, Peer[A, V]{
			Name:   "gecaso-" + b.name + "-near",
			Gecaso: true,
			Remote: b.remote,
			Open: func(cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
				return openGecaso(b, cfg, fn, gecaso.WithNearCache(cfg.Capacity, TTL))
			},
		})
	}
	return ps
}

// gecasoMemo is gecaso's memoization: the Func is the whole adapter.
type gecasoMemo[A comparable, V any] struct {
	f       *gecaso.Func[A, V]
	closeFn func() error
}

func openGecaso[A comparable, V any](b gecasoBackend, cfg Config, fn Fn[A, V], opts ...gecaso.Option) (Memo[A, V], error) {
	s, closeFn, err := b.open(cfg)
	if err != nil {
		return nil, err
	}
	opts = append([]gecaso.Option{
		gecaso.WithName(cfg.Namespace),
		gecaso.WithTTL(TTL),
		gecaso.WithErrorHandler(func(error) { StorageErrors.Add(1) }),
	}, opts...)
	return &gecasoMemo[A, V]{f: gecaso.Cached(s, fn, opts...), closeFn: closeFn}, nil
}

func (m *gecasoMemo[A, V]) Call(ctx context.Context, arg A) (V, error) { return m.f.Call(ctx, arg) }

func (m *gecasoMemo[A, V]) Close() error {
	if m.closeFn == nil {
		return nil
	}
	return m.closeFn()
}

// closerOf returns s's Close when s has one.
func closerOf(s storage.Storage) func() error {
	if c, ok := s.(interface{ Close() error }); ok {
		return c.Close
	}
	return nil
}

// joinClose runs every non-nil fn and joins their errors.
func joinClose(fns ...func() error) func() error {
	return func() error {
		var errs []error
		for _, fn := range fns {
			if fn != nil {
				errs = append(errs, fn())
			}
		}
		return errors.Join(errs...)
	}
}
