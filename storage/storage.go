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
