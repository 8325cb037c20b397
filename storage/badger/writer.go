package badger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	bdb "github.com/dgraph-io/badger/v4"
)

// Group commit, without a writer goroutine. A Set that finds no other write
// in progress commits its entry at once, in its own goroutine: a serial
// caller pays one Badger transaction and nothing else. A Set that finds a
// write in progress queues its entry and waits. The Set committing, once
// done, takes every entry queued meanwhile and hands them, as one batch, to
// the first of their Sets, which wakes, commits them in one transaction,
// tells the others their result, and hands on what queued in its turn. So
// under concurrency the cost of a transaction (oracle timestamps, a write
// request to Badger, with sync writes an fsync) is shared by every Set that
// waited for it, and no Set commits for others longer than one batch.

// A writeReq is one Set waiting in the queue.
type writeReq struct {
	key       []byte
	value     []byte // the caller's slice: read only while the caller waits
	expiresAt uint64
	state     atomic.Int32  // reqQueued, then reqTaken by a committer or reqLeft by the caller
	done      chan writeMsg // capacity 1: one message, sent once the request is taken
	answered  bool          // the committer has sent the result; owned by the committer
}

// writeMsg tells a taken request its commit's result, or hands it a batch
// to commit (itself first).
type writeMsg struct {
	err  error
	lead []*writeReq
}

const (
	reqQueued int32 = iota
	reqTaken
	reqLeft
)

const (
	// maxBatchEntries and maxBatchBytes bound one batch, and so does the
	// value-log file size. Badger's own transaction limit (15% of the
	// memtable) is handled by splitting; the byte bound keeps a batch of
	// large values, which go to the value log and do not count toward that
	// limit, from growing one log file far past its size.
	maxBatchEntries = 4096
	maxBatchBytes   = 32 << 20
)

// writer is the queue of Sets waiting for the one committing.
type writer struct {
	mu      sync.Mutex  // guards leading and queue
	leading bool        // a Set is committing; later Sets queue
	queue   []*writeReq // in arrival order
}

var reqPool = sync.Pool{New: func() any { return &writeReq{done: make(chan writeMsg, 1)} }}

// write commits one entry, alone when no other write is in progress, else
// in a batch with the entries queued with it. left reports that ctx ended
// while the entry was queued and it will not be written; err is then
// ctx.Err().
func (s *Storage) write(ctx context.Context, key, value []byte, exp uint64) (err error, left bool) {
	w := &s.w
	w.mu.Lock()
	if !w.leading {
		w.leading = true
		w.mu.Unlock()
		defer s.handOff() // even should Badger panic: the queue must go on
		return s.commitOne(key, value, exp), false
	}
	r := reqPool.Get().(*writeReq)
	r.key, r.value, r.expiresAt = key, value, exp
	r.state.Store(reqQueued)
	w.queue = append(w.queue, r)
	w.mu.Unlock()

	var m writeMsg
	select {
	case m = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqLeft) {
			// The committer that takes it skips it and drops it; it is
			// not recycled, as it may still be in the queue.
			return ctx.Err(), true
		}
		// Taken: the committer holds value now, which must not outlive
		// this call.
		m = <-r.done
	}
	if m.lead != nil {
		err = s.lead(m.lead)
	} else {
		err = m.err
	}
	r.key, r.value = nil, nil
	reqPool.Put(r)
	return err, false
}

// lead commits batch, handed to its first request's caller, and hands on
// what queued meanwhile.
func (s *Storage) lead(batch []*writeReq) error {
	defer s.handOff()
	return s.commitBatch(batch)
}

// commitOne commits one entry in its own transaction.
func (s *Storage) commitOne(key, value []byte, exp uint64) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	e := bdb.NewEntry(key, value)
	e.ExpiresAt = exp
	if err := txn.SetEntry(e); err != nil {
		return err
	}
	return txn.Commit()
}

// handOff ends a commit: it takes the requests queued meanwhile, up to one
// batch, and hands them to the first of them to commit, or, when none is
// queued, lets the next Set commit at once.
func (s *Storage) handOff() {
	w := &s.w
	w.mu.Lock()
	var batch []*writeReq
	size, n := 0, 0
	for _, r := range w.queue {
		if len(batch) == maxBatchEntries || size >= s.maxBatchBytes {
			break
		}
		n++
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // its caller left
		}
		batch = append(batch, r)
		size += len(r.key) + len(r.value)
	}
	rest := copy(w.queue, w.queue[n:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	if len(batch) == 0 {
		w.leading = false
	}
	w.mu.Unlock()
	if len(batch) > 0 {
		batch[0].done <- writeMsg{lead: batch}
	}
}

// commitBatch commits the entries of batch, whose first request is the
// caller's own, in as few transactions as Badger's size limit allows. It
// tells every other request its result and returns the first one's.
func (s *Storage) commitBatch(batch []*writeReq) (own error) {
	for _, r := range batch {
		r.answered = false
	}
	defer func() {
		// Should Badger panic, the other Sets of the batch must not wait
		// forever: they fail, and the panic goes on in this one.
		if p := recover(); p != nil {
			for _, r := range batch[1:] {
				if !r.answered {
					r.done <- writeMsg{err: fmt.Errorf("badger panicked: %v", p)}
				}
			}
			panic(p)
		}
	}()
	tell := func(r *writeReq, err error) {
		r.answered = true
		if r == batch[0] {
			own = err
			return
		}
		r.done <- writeMsg{err: err}
	}
	var pending []*writeReq // in the open transaction
	txn := s.db.NewTransaction(true)
	finish := func() {
		err := txn.Commit()
		for _, r := range pending {
			tell(r, err)
		}
		pending = pending[:0]
	}
	for _, r := range batch {
		e := bdb.NewEntry(r.key, r.value)
		e.ExpiresAt = r.expiresAt
		err := txn.SetEntry(e)
		if errors.Is(err, bdb.ErrTxnTooBig) && len(pending) > 0 {
			finish()
			txn = s.db.NewTransaction(true)
			err = txn.SetEntry(e)
		}
		if err != nil {
			tell(r, err)
			continue
		}
		pending = append(pending, r)
	}
	if len(pending) > 0 {
		finish()
	} else {
		txn.Discard()
	}
	return own
}
