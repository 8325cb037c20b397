// Package faulty provides a storage for tests that fails, blocks, panics,
// corrupts and counts on command.
package faulty

import (
	"bytes"
	"context"
	"sync"

	"github.com/gecaso/gecaso/storage"
)

// Op names a storage method.
type Op string

// The storage methods a fault can be set on.
const (
	Get    Op = "get"
	Set    Op = "set"
	Remove Op = "remove"
)

// Storage wraps an inner storage (by default a plain map) and applies the
// faults set on it. It is safe for concurrent use. The zero value is not
// usable; call New.
type Storage struct {
	mu      sync.Mutex           // guards every field below
	m       map[string][]byte    // the default inner store
	inner   storage.Storage      // nil: use m
	errs    map[Op]error         // error returned by every call of Op
	panics  map[Op]any           // value panicked with by every call of Op
	blocks  map[Op]chan struct{} // calls of Op wait until the channel closes or ctx ends
	stalls  map[Op]chan struct{} // calls of Op wait until the channel closes, whatever ctx does
	parks   map[Op]chan struct{} // calls of Op do their work, then wait until the channel closes
	entered map[Op]chan struct{} // receives once per call of Op that starts blocking, stalling or parking
	counts  map[Op]int           // calls made, per Op
	params  []storage.Params     // Params of every Set, in order
}

var _ storage.Storage = (*Storage)(nil)

// New returns a Storage over inner; a nil inner is a fresh map.
func New(inner storage.Storage) *Storage {
	return &Storage{
		m:       make(map[string][]byte),
		inner:   inner,
		errs:    make(map[Op]error),
		panics:  make(map[Op]any),
		blocks:  make(map[Op]chan struct{}),
		stalls:  make(map[Op]chan struct{}),
		parks:   make(map[Op]chan struct{}),
		entered: make(map[Op]chan struct{}),
		counts:  make(map[Op]int),
	}
}

// Fail makes every call of op return err; a nil err clears the fault.
func (s *Storage) Fail(op Op, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.errs, op)
		return
	}
	s.errs[op] = err
}

// Panic makes every call of op panic with v; a nil v clears the fault.
func (s *Storage) Panic(op Op, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == nil {
		delete(s.panics, op)
		return
	}
	s.panics[op] = v
}

// Block makes calls of op wait until release is called or their context
// ends. Each call that starts waiting sends on entered, which has room for
// 64 sends, so a test can wait until a call is parked.
func (s *Storage) Block(op Op) (entered <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	in := make(chan struct{}, 64)
	s.blocks[op] = ch
	s.entered[op] = in
	var once sync.Once
	return in, func() {
		once.Do(func() {
			s.mu.Lock()
			if s.blocks[op] == ch {
				delete(s.blocks, op)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Stall makes calls of op wait until release is called, ignoring their
// context, as a storage that does not honour cancellation does. Each call
// that starts waiting sends on entered, which has room for 64 sends.
func (s *Storage) Stall(op Op) (entered <-chan struct{}, release func()) {
	return s.hold(s.stalls, op)
}

// Park makes calls of op do their work and then wait, before returning,
// until release is called, so that a test can run something between a read
// and its use. Each call that parks sends on entered, which has room for 64
// sends. Park applies to Get, Set and Remove; a parked Set has stored its
// value.
func (s *Storage) Park(op Op) (entered <-chan struct{}, release func()) {
	return s.hold(s.parks, op)
}

func (s *Storage) hold(m map[Op]chan struct{}, op Op) (entered <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	in := make(chan struct{}, 64)
	m[op] = ch
	s.entered[op] = in
	var once sync.Once
	return in, func() {
		once.Do(func() {
			s.mu.Lock()
			if m[op] == ch {
				delete(m, op)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// leave waits, when op is parked, until the park is released.
func (s *Storage) leave(op Op) {
	s.mu.Lock()
	park, in := s.parks[op], s.entered[op]
	s.mu.Unlock()
	if park != nil {
		select {
		case in <- struct{}{}:
		default:
		}
		<-park
	}
}

// Count returns how many calls of op were made.
func (s *Storage) Count(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// Params returns the Params of every Set so far, in call order.
func (s *Storage) Params() []storage.Params {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]storage.Params(nil), s.params...)
}

// Put stores raw bytes under key, bypassing faults (to plant corrupt entries).
func (s *Storage) Put(key string, value []byte) {
	s.mu.Lock()
	inner := s.inner
	if inner == nil {
		s.m[key] = bytes.Clone(value)
	}
	s.mu.Unlock()
	if inner != nil {
		_ = inner.Set(context.Background(), key, value, storage.Params{})
	}
}

// Keys returns the keys of the default map store (nil over an inner storage).
func (s *Storage) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.m {
		keys = append(keys, k)
	}
	return keys
}

// enter counts the call and applies the faults set on op.
func (s *Storage) enter(ctx context.Context, op Op) error {
	s.mu.Lock()
	s.counts[op]++
	err, pv, block, stall, in := s.errs[op], s.panics[op], s.blocks[op], s.stalls[op], s.entered[op]
	s.mu.Unlock()
	if pv != nil {
		panic(pv)
	}
	if stall != nil {
		select {
		case in <- struct{}{}:
		default:
		}
		<-stall
	}
	if block != nil {
		select {
		case in <- struct{}{}:
		default:
		}
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// Get implements storage.Storage.
func (s *Storage) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.enter(ctx, Get); err != nil {
		return nil, err
	}
	defer s.leave(Get)
	if s.inner != nil {
		return s.inner.Get(ctx, key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Set implements storage.Storage.
func (s *Storage) Set(ctx context.Context, key string, value []byte, p storage.Params) error {
	if err := s.enter(ctx, Set); err != nil {
		return err
	}
	defer s.leave(Set)
	s.mu.Lock()
	s.params = append(s.params, p)
	s.mu.Unlock()
	if s.inner != nil {
		return s.inner.Set(ctx, key, value, p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = bytes.Clone(value)
	return nil
}

// Remove implements storage.Storage.
func (s *Storage) Remove(ctx context.Context, keys ...string) error {
	if err := s.enter(ctx, Remove); err != nil {
		return err
	}
	defer s.leave(Remove)
	if s.inner != nil {
		return s.inner.Remove(ctx, keys...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.m, k)
	}
	return nil
}
