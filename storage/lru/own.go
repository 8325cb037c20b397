package lru

import (
	"bytes"
	"context"
	"math"
	"strings"
	"time"

	"github.com/gecaso/gecaso/storage"
)

// An lru made by New with a nil inner storage and no prefix keeps the
// values itself, beside the index, under its one lock: a hit is one map
// look-up, a move in the list and the value, where an lru over an inner
// storage also pays that storage's own look-up and lock. The methods below
// are that mode's halves of the Storage methods; s.own selects them.

// ownVal is the value at a position of an owned index.
type ownVal struct {
	value []byte // never modified once stored, so it is lent outside the lock
	exp   int64  // expiry in nanoseconds after Storage.base; 0: never
}

// now returns the monotonic time since s.base, so that a change of the
// wall clock moves no expiry.
func (s *Storage) now() int64 { return int64(time.Since(s.base)) }

// ownLookup returns the live value stored under key, which must not be
// modified, and makes key the most recently used; it drops an expired
// key. It returns ErrNotFound or ErrClosed, bare.
func (s *Storage) ownLookup(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	i, ok := s.idx.pos[key]
	if ok {
		v := s.idx.vals[i]
		if v.exp == 0 || s.now() < v.exp {
			s.stats.Hits++
			s.idx.touchAt(i)
			return v.value, nil
		}
		s.idx.release(i)
	}
	s.stats.Misses++
	return nil, storage.ErrNotFound
}

// ownSet stores a copy of value under key as the most recently used and
// evicts beyond the bounds; c is what key and value count for.
func (s *Storage) ownSet(key string, value []byte, c int64, p storage.Params) error {
	v := ownVal{value: bytes.Clone(value)}
	if v.value == nil {
		v.value = []byte{}
	}
	if p.TTL > 0 {
		v.exp = s.now() + int64(p.TTL)
	}
	var buf [4]victim // a Set usually evicts one key: no allocation for it
	s.mu.Lock()
	if s.closed.Load() { // Close may have run since the caller checked
		s.mu.Unlock()
		return storage.ErrClosed
	}
	s.idx.vals[s.idx.put(key, c, s.writes.Add(1))] = v
	victims := s.idx.evict(s.maxEntries, s.maxBytes, buf[:0])
	s.stats.Evictions += uint64(len(victims))
	s.mu.Unlock()
	if s.onEvict != nil {
		for _, v := range victims {
			s.onEvict(v.key)
		}
	}
	return nil
}

func (s *Storage) ownRemove(keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return storage.ErrClosed
	}
	for _, k := range keys {
		s.idx.remove(k, math.MaxUint64)
	}
	return nil
}

// ownScan reports the live keys with prefix as they were when it started,
// with their Seq (the write counter of their last Set), and calls fn
// without the lock held.
func (s *Storage) ownScan(ctx context.Context, prefix string, fn func(storage.KeyInfo) error) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return storage.ErrClosed
	}
	now := s.now()
	var infos []storage.KeyInfo
	for k, i := range s.idx.pos {
		v := &s.idx.vals[i]
		if !strings.HasPrefix(k, prefix) || v.exp != 0 && now >= v.exp {
			continue
		}
		ki := storage.KeyInfo{Key: k, Size: int64(len(v.value)), Seq: s.idx.nodes[i].gen}
		if v.exp != 0 {
			ki.ExpiresAt = s.base.Add(time.Duration(v.exp))
		}
		infos = append(infos, ki)
	}
	s.mu.Unlock()
	for n, ki := range infos {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(ki); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (s *Storage) ownDeletePrefix(prefix string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if prefix == "" {
		// A fresh index gives the old one's memory back.
		s.idx = index{owned: true}
		return nil
	}
	s.idx.removePrefix(prefix, math.MaxUint64)
	return nil
}
