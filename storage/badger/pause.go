package badger

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	bdb "github.com/dgraph-io/badger/v4"
)

// Pauses. Some of Badger's operations must not run beside writes: DropPrefix
// refuses every write while it runs (with ErrBlockedWrites), and a
// value-log rewrite starts by reading the memtable's version counter without
// the lock its writer holds (Badger v4.9.6, value.go rewrite calling
// DB.MaxVersion: a data race, harmless on 64-bit machines, where it can only
// read a version a little stale, but a race all the same). Such an
// operation runs as a pause: new writes wait for it to end, up to their ctx
// and maxPauseWait, and it starts once the writes already committing are
// done.

// maxPauseWait is the longest a write waits, in all, for pauses to end.
const maxPauseWait = 2 * time.Second

// pause lets one operation at a time run with no write of this Storage
// committing.
type pause struct {
	turn    chan struct{}                 // capacity 1: held by the operation running or about to
	writes  sync.RWMutex                  // read-held by each write while it commits; held by a pause
	resumed atomic.Pointer[chan struct{}] // while a pause runs: closed when it ends
}

func (p *pause) init() { p.turn = make(chan struct{}, 1) }

// run runs fn as a pause: it waits for its turn (or ctx's end), makes new
// writes wait, waits for the writes committing, runs fn and lets writes go
// on.
func (p *pause) run(ctx context.Context, fn func() error) error {
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.turn }()
	resumed := make(chan struct{})
	p.resumed.Store(&resumed)
	p.writes.Lock()
	defer func() {
		p.writes.Unlock()
		p.resumed.Store(nil)
		close(resumed)
	}()
	return fn()
}

// pauseWait is one write's wait for pauses to end.
type pauseWait struct {
	timer   *time.Timer // started at the first wait; fires at maxPauseWait
	expired bool        // the timer fired: no more waiting
}

func (w *pauseWait) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// enterWrite returns once the caller may commit a write, which it must end
// with leaveWrite; or ctx.Err(), or bdb.ErrBlockedWrites when pauses held
// it maxPauseWait in all.
func (s *Storage) enterWrite(ctx context.Context, w *pauseWait) error {
	for !s.pause.writes.TryRLock() {
		if err := s.awaitPause(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

func (s *Storage) leaveWrite() { s.pause.writes.RUnlock() }

// awaitPause waits until the pause running ends, and returns nil to try
// again, ctx.Err(), or bdb.ErrBlockedWrites when the write has waited
// maxPauseWait in all. A write whose time is up still gets one more try
// when no pause runs at that moment, so that a goroutine scheduled late does
// not give up on a pause long over.
func (s *Storage) awaitPause(ctx context.Context, w *pauseWait) error {
	if w.expired {
		return bdb.ErrBlockedWrites
	}
	if w.timer == nil {
		w.timer = time.NewTimer(maxPauseWait)
		s.stats.busyWaits.Add(1)
	}
	var resumed <-chan struct{}
	var moment <-chan time.Time
	if p := s.pause.resumed.Load(); p != nil {
		resumed = *p
	} else {
		// A pause is starting or just ended (or Badger refused a write
		// for a reason of its own): give it a moment rather than spin.
		t := time.NewTimer(time.Millisecond)
		defer t.Stop()
		moment = t.C
	}
	select {
	case <-resumed:
		return nil
	case <-moment:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.timer.C:
		w.expired = true
		if s.pause.resumed.Load() == nil {
			return nil // the last try
		}
		return bdb.ErrBlockedWrites
	}
}
