package bench

import (
	"context"
	"errors"
	"fmt"

	bdb "github.com/dgraph-io/badger/v4"
	goredis "github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

// This file holds hand-written memoization over the raw engines gecaso's
// persistent and shared backends use, msgpack-encoded as users write it.

// badgerMemo memoizes in Badger: View, Get, ValueCopy, Unmarshal; on a miss
// compute, Marshal and Update.
type badgerMemo[A comparable, V any] struct {
	db  *bdb.DB
	key func(A) string
	fn  Fn[A, V]
}

func openBadgerMemo[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: badger-memo needs a directory", ErrUnavailable)
	}
	db, err := bdb.Open(bdb.DefaultOptions(cfg.Dir).WithLogger(nil))
	if err != nil {
		return nil, fmt.Errorf("bench: badger-memo: %w", err)
	}
	return &badgerMemo[A, V]{db: db, key: stringKey[A](), fn: fn}, nil
}

func (m *badgerMemo[A, V]) Call(ctx context.Context, arg A) (V, error) {
	k := []byte(m.key(arg))
	var raw []byte
	err := m.db.View(func(txn *bdb.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		raw, err = item.ValueCopy(nil)
		return err
	})
	var v V
	if err == nil && msgpack.Unmarshal(raw, &v) == nil {
		return v, nil
	}
	v, err = m.fn(ctx, arg)
	if err != nil {
		return v, err
	}
	if b, err := msgpack.Marshal(v); err == nil {
		_ = m.db.Update(func(txn *bdb.Txn) error {
			return txn.SetEntry(bdb.NewEntry(k, b).WithTTL(TTL))
		})
	}
	return v, nil
}

func (m *badgerMemo[A, V]) Close() error { return m.db.Close() }

// redisMemo memoizes in Redis: GET and Unmarshal; on a miss compute, Marshal
// and SET with an expiry.
type redisMemo[A comparable, V any] struct {
	c      *goredis.Client
	prefix string
	key    func(A) string
	fn     Fn[A, V]
}

func openRedisMemo[A comparable, V any](cfg Config, fn Fn[A, V]) (Memo[A, V], error) {
	if cfg.RedisAddr == "" {
		return nil, fmt.Errorf("%w: no redis-server", ErrUnavailable)
	}
	return &redisMemo[A, V]{
		c:      NewRedisClient(cfg.RedisAddr),
		prefix: cfg.Namespace + ":",
		key:    stringKey[A](),
		fn:     fn,
	}, nil
}

// NewRedisClient returns the client every Redis-backed peer uses.
func NewRedisClient(addr string) *goredis.Client {
	return goredis.NewClient(&goredis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
	})
}

func (m *redisMemo[A, V]) Call(ctx context.Context, arg A) (V, error) {
	k := m.prefix + m.key(arg)
	var v V
	b, err := m.c.Get(ctx, k).Bytes()
	if err == nil && msgpack.Unmarshal(b, &v) == nil {
		return v, nil
	}
	// A miss (goredis.Nil), an error or bytes that do not decode: compute.
	v, err = m.fn(ctx, arg)
	if err != nil {
		return v, err
	}
	if b, err := msgpack.Marshal(v); err == nil {
		_ = m.c.Set(ctx, k, b, TTL).Err()
	}
	return v, nil
}

func (m *redisMemo[A, V]) Close() error {
	err := m.c.FlushDB(context.Background()).Err()
	return errors.Join(err, m.c.Close())
}
