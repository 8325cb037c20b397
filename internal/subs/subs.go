// Package subs keeps the subscriptions a storage wrapper forwards to the
// storage it wraps, so that its Close can end them all.
package subs

import "sync"

// Set holds the cancel functions of live subscriptions. The zero Set is
// empty and open; it is safe for concurrent use.
type Set struct {
	mu     sync.Mutex // guards the fields below
	closed bool
	next   int
	m      map[int]func()
}

// Add keeps cancel, the cancel function of a subscription just made, and
// returns the one to hand to the subscriber: it forgets cancel and calls
// it. When the Set is closed, Add calls cancel itself and returns false.
// cancel must be idempotent.
func (s *Set) Add(cancel func()) (func(), bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return nil, false
	}
	if s.m == nil {
		s.m = make(map[int]func())
	}
	id := s.next
	s.next++
	s.m[id] = cancel
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.m, id)
		s.mu.Unlock()
		cancel()
	}, true
}

// Close closes the Set and calls the cancel function of every
// subscription it holds, outside its lock. Later calls do nothing.
func (s *Set) Close() {
	s.mu.Lock()
	s.closed = true
	m := s.m
	s.m = nil
	s.mu.Unlock()
	for _, cancel := range m {
		cancel()
	}
}
