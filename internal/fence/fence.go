// Package fence orders the fills of a cache against its invalidations, so
// that a copy read or computed before an invalidation never lands after it.
//
// A fill (a near-cache put after a storage read, a store after a run of the
// function, an L1 copy of an L2 value) takes a [Token] for its key before it
// reads its source, and writes its copy between [Table.Begin] and
// [Table.End]. An invalidation ([Table.Invalidate], [Table.InvalidateAll])
// makes every token taken before its end stale, so that Begin refuses it;
// waits for the writes that began before it to end; and runs the caller's
// removal while no write can begin. Once it returns, no copy older than the
// invalidation can land: writes that began before it have ended and were
// removed, writes that begin later carry a token taken after it, and so
// read a source from which the removal already took the old value.
//
// Keys are spread over a fixed number of stripes. Two keys of one stripe
// share a generation: invalidating one makes the other's fill in progress
// stale too, which costs that fill (the value is not kept), never
// correctness.
package fence

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// stripes is the number of generations a Table keeps; a power of two.
const stripes = 256

// Table holds the generations of a key space. The zero value is not ready:
// use [New]. A Table is safe for concurrent use.
type Table struct {
	seed maphash.Seed
	s    [stripes]stripe
}

// Token is the generation of a key when a fill read its source.
type Token uint64

type stripe struct {
	gen atomic.Uint64 // bumped when an invalidation starts and when it ends

	mu       sync.Mutex    // guards the fields below; gen changes under it
	active   int           // invalidations in progress: no write may begin
	writers  int           // writes begun at the current gen, not ended
	draining int           // writes begun at an older gen, not ended
	drained  chan struct{} // closed when draining drops to 0; nil when nobody waits

	_ [16]byte // to 64 bytes, so that stripes do not share cache lines
}

// New returns an empty Table.
func New() *Table { return &Table{seed: maphash.MakeSeed()} }

func (t *Table) stripe(key string) *stripe { return t.at(t.Hash(key)) }

func (t *Table) at(h uint64) *stripe { return &t.s[h&(stripes-1)] }

// Hash returns the hash of key that the methods taking a string use. A
// caller that already holds a well-mixed hash of its keys (a digest) may
// use the methods ending in At with it instead, consistently for every
// method of one key space.
func (t *Table) Hash(key string) uint64 { return maphash.String(t.seed, key) }

// Token returns the generation of key, to be taken before the fill reads
// its source. It takes no lock.
func (t *Table) Token(key string) Token { return t.TokenAt(t.Hash(key)) }

// TokenAt is [Table.Token] for the key of hash h.
func (t *Table) TokenAt(h uint64) Token { return Token(t.at(h).gen.Load()) }

// Write is a write begun by [Table.Begin], to be passed to [Table.End].
type Write struct {
	s   *stripe
	gen uint64
}

// Begin starts writing a copy of key read under tok. ok is false, and
// nothing must be written, when an invalidation of key started since tok
// was taken or is running. Otherwise the caller writes its copy and then
// calls End.
func (t *Table) Begin(key string, tok Token) (w Write, ok bool) {
	return t.BeginAt(t.Hash(key), tok)
}

// BeginAt is [Table.Begin] for the key of hash h.
func (t *Table) BeginAt(h uint64, tok Token) (w Write, ok bool) {
	s := t.at(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active > 0 || s.gen.Load() != uint64(tok) {
		return Write{}, false
	}
	s.writers++
	return Write{s, uint64(tok)}, true
}

// End ends the write w. It reports whether an invalidation started while the
// write ran: the invalidation waited for it (unless its wait was cut short),
// so the copy is removed either way, but a writer that can undo its write
// cheaply may do so.
func (t *Table) End(w Write) (invalidated bool) {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen.Load() == w.gen {
		s.writers--
		return false
	}
	s.draining--
	if s.draining == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	return true
}

// start begins an invalidation of s and returns a channel to wait on for
// the writes it must wait for, or nil when there are none.
func (s *stripe) start() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active++
	s.gen.Add(1)
	s.draining += s.writers
	s.writers = 0
	if s.draining == 0 {
		return nil
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	return s.drained
}

// end ends an invalidation of s: tokens taken while it ran become stale.
func (s *stripe) end() {
	s.mu.Lock()
	s.active--
	s.gen.Add(1)
	s.mu.Unlock()
}

// Invalidate invalidates key: it makes every token of key taken until it
// returns stale, waits until the writes of key that began before it have
// ended, and then calls remove (which takes the copies out of every place a
// fill writes them) while no write of key can begin. When ctx ends before
// those writes do, Invalidate stops waiting, still calls remove, and
// returns ctx.Err(); the writes then report invalidated from End.
func (t *Table) Invalidate(ctx context.Context, key string, remove func()) error {
	return t.InvalidateAt(ctx, t.Hash(key), remove)
}

// InvalidateAt is [Table.Invalidate] for the key of hash h.
func (t *Table) InvalidateAt(ctx context.Context, h uint64, remove func()) error {
	s := t.at(h)
	err := wait(ctx, s.start())
	defer s.end()
	remove()
	return err
}

// InvalidateAll invalidates every key, as [Table.Invalidate] does one.
func (t *Table) InvalidateAll(ctx context.Context, remove func()) error {
	var chans []<-chan struct{}
	for i := range t.s {
		if ch := t.s[i].start(); ch != nil {
			chans = append(chans, ch)
		}
	}
	defer func() {
		for i := range t.s {
			t.s[i].end()
		}
	}()
	var err error
	for _, ch := range chans {
		if err = wait(ctx, ch); err != nil {
			break
		}
	}
	remove()
	return err
}

func wait(ctx context.Context, ch <-chan struct{}) error {
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
