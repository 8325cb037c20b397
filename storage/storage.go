// Package storage defines the contract between gecaso and the places it keeps
// results: a [Storage] is an interchangeable store of bytes under string keys.
//
// A Storage needs only three methods. Every further ability (listing keys,
// deleting by prefix, zero-copy reads, cross-process locks, closing) is an
// optional interface that gecaso discovers by type assertion and falls back
// from when it is missing, the way database/sql discovers driver abilities.
//
// A user's own storage is a few lines:
//
//	type mapStorage struct {
//		mu sync.Mutex        // guards m
//		m  map[string][]byte
//	}
//
//	func (s *mapStorage) Get(ctx context.Context, key string) ([]byte, error) {
//		s.mu.Lock()
//		defer s.mu.Unlock()
//		v, ok := s.m[key]
//		if !ok {
//			return nil, storage.ErrNotFound
//		}
//		return bytes.Clone(v), nil
//	}
//
//	func (s *mapStorage) Set(ctx context.Context, key string, v []byte, p storage.Params) error {
//		s.mu.Lock()
//		defer s.mu.Unlock()
//		s.m[key] = bytes.Clone(v)
//		return nil
//	}
//
//	func (s *mapStorage) Remove(ctx context.Context, keys ...string) error {
//		s.mu.Lock()
//		defer s.mu.Unlock()
//		for _, k := range keys {
//			delete(s.m, k)
//		}
//		return nil
//	}
//
// Such a storage may ignore [Params.TTL]: gecaso records the expiry inside
// every entry and never returns an expired one, whatever the backend does.
//
// A storage's own bookkeeping keys (the locks of a [Locker], whatever an
// [Invalidator] needs) are not entries: [Scanner.Scan] never reports them,
// [PrefixDeleter.DeletePrefix] never removes them, and a wrapper never
// counts or evicts them.
package storage

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by [Storage.Get] when the key is absent or its entry
// has expired. Match it with errors.Is; backends return it unwrapped.
var ErrNotFound = errors.New("gecaso: not found")

// ErrClosed is returned by every method of a storage that has been closed.
// Match it with errors.Is.
var ErrClosed = errors.New("gecaso: storage closed")

// ErrNotSupported is returned by a wrapper storage (lru, tiered) for an
// optional ability its inner storage lacks. Match it with errors.Is.
var ErrNotSupported = errors.New("gecaso: not supported by this storage")

// Params are passed to every [Storage.Set].
type Params struct {
	// TTL is how long the entry stays valid; 0 means it never expires.
	// Backends with native expiry use it to reclaim space; gecaso itself also
	// records the exact expiry in the entry and checks it on every read.
	TTL time.Duration

	// Extra holds the values given with gecaso.WithParam. The map belongs to
	// the caller of Set and must not be modified; a storage that keeps it
	// must copy it.
	Extra map[string]any
}

// Storage is a store of byte values under string keys. Implementations must be
// safe for concurrent use by many goroutines.
//
// Keys may hold any bytes. Values may be empty or several megabytes.
type Storage interface {
	// Get returns the value stored under key, or ErrNotFound when the key is
	// absent or expired. The returned slice belongs to the caller.
	Get(ctx context.Context, key string) ([]byte, error)

	// Set stores value under key, replacing any previous value. The storage
	// must not keep a reference to value after Set returns.
	Set(ctx context.Context, key string, value []byte, p Params) error

	// Remove deletes the given keys. Keys that are absent are not an error.
	Remove(ctx context.Context, keys ...string) error
}

// KeyInfo describes one key reported by a [Scanner].
type KeyInfo struct {
	// Key is the full key.
	Key string
	// Size is the stored size of the value in bytes, or an estimate of it;
	// 0 when the backend cannot tell cheaply.
	Size int64
	// ExpiresAt is when the entry expires; the zero time means never or
	// unknown.
	ExpiresAt time.Time
	// Seq orders writes: an entry with a larger Seq was written after one
	// with a smaller Seq. 0 means the backend does not know, and the scan
	// order is all there is.
	Seq uint64
}

// Scanner is implemented by storages that can list their keys by prefix. The
// lru layer uses it to index what an inner storage already holds, and
// gecaso's Func.Purge uses it when the storage is not a [PrefixDeleter].
type Scanner interface {
	// Scan calls fn for every live key that starts with prefix (every key
	// when prefix is empty), in an order the backend documents. Scan stops
	// and returns fn's error when fn returns one. Keys written or removed
	// during a scan may or may not be reported. A cancelled ctx stops the
	// scan with ctx.Err().
	Scan(ctx context.Context, prefix string, fn func(KeyInfo) error) error
}

// PrefixDeleter is implemented by storages that can delete every key with a
// given prefix faster than listing and removing them one by one.
type PrefixDeleter interface {
	// DeletePrefix removes every key that starts with prefix. An empty
	// prefix removes everything.
	DeletePrefix(ctx context.Context, prefix string) error
}

// Viewer is implemented by storages that can lend a value without copying
// it. gecaso uses it on the hit path to decode in place.
type Viewer interface {
	// View calls fn with the value stored under key, or returns ErrNotFound
	// without calling fn. The slice is valid only until fn returns and must
	// not be modified. View returns fn's error.
	View(ctx context.Context, key string, fn func(value []byte) error) error
}

// Locker is implemented by storages shared between processes that can hold
// a short per-key lock, so that processes missing the same key run the
// function about once between them (see gecaso.WithLock).
type Locker interface {
	// TryLock tries to take the lock named key for at most ttl. When
	// acquired is true, the caller holds the lock until it calls unlock or
	// ttl passes; unlock releases the lock only if it is still the caller's.
	// When acquired is false, another holder has it.
	TryLock(ctx context.Context, key string, ttl time.Duration) (unlock func(context.Context) error, acquired bool, err error)
}

// Invalidation tells a subscriber which entries some process removed from a
// shared storage (see [Invalidator]). Keys are the storage's own keys, as
// given to [Storage.Remove].
type Invalidation struct {
	// Keys were removed.
	Keys []string

	// Prefixes: every key starting with one of them was removed. The empty
	// prefix stands for every key; the storage sends it when invalidations
	// may have been lost (after a reconnect), so that a subscriber drops
	// everything it copied.
	Prefixes []string
}

// Invalidator is implemented by storages shared between processes that tell
// every process using them when entries are removed (storage/redis does,
// with pub/sub). gecaso's Func and storage/tiered subscribe, so that the
// copies they keep in the process (the near cache, an L1) are dropped soon
// after another process forgets or purges them, rather than when the copies
// age out.
//
// An Invalidator publishes every [Storage.Remove] and
// [PrefixDeleter.DeletePrefix] made through it to every subscriber of every
// process, the publishing process included.
type Invalidator interface {
	// Subscribe calls fn with every invalidation published from the moment
	// Subscribe returns until cancel is called (cancel waits for a running
	// fn to return, and is idempotent). fn is called on one goroutine per
	// subscription, in the order the storage received the messages; it
	// must not block for long. When messages may have been lost (the
	// connection dropped), fn receives an Invalidation with the empty
	// prefix once the subscription is live again. Subscribe fails only
	// when the storage is closed or cannot subscribe at all; a wrapper
	// whose inner storage cannot returns an error matching
	// [ErrNotSupported].
	Subscribe(fn func(Invalidation)) (cancel func(), err error)
}

// Nonblocking is implemented by storages whose reads never keep a caller
// whose context has ended for longer than a read from the process's own
// memory or local disk: they answer without waiting on the network or on
// another process (storage/memory, storage/lru over one, storage/badger
// unless told otherwise), or they read what may block on a goroutine that
// the caller leaves when its context ends (storage/tiered over such an
// L1). gecaso reads such a storage on the caller's goroutine. It reads any
// other storage, for a caller whose context can be cancelled, on a goroutine
// the caller can leave at once when its context ends, whatever the storage
// is doing.
type Nonblocking interface {
	// Nonblocking reports whether Get and View keep to that. A wrapper
	// answers for the storages it reads.
	Nonblocking() bool
}
