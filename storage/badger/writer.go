package badger

import (
	"context"
	"errors"
	"sync/atomic"

	bdb "github.com/dgraph-io/badger/v4"
)

// Group commit. Each Set hands its entry to one writer goroutine and waits
// for its own result; the writer takes every entry waiting at that moment and
// commits them in one transaction. A Badger transaction costs far more than
// an entry (oracle timestamps, a write request, with sync writes an fsync), so
// under concurrency the cost is shared instead of paid once per Set.

// A writeReq is one Set waiting for the writer.
type writeReq struct {
	key       []byte
	value     []byte // the caller's slice: read only while the caller waits
	expiresAt uint64
	state     atomic.Int32 // reqQueued, then reqTaken by the writer or reqLeft by the caller
	done      chan error   // capacity 1: the commit's result, sent once when taken
}

const (
	reqQueued int32 = iota
	reqTaken
	reqLeft
)

const (
	// maxBatchEntries and maxBatchBytes bound one batch. Badger's own
	// transaction limit (15% of the memtable) is handled by splitting;
	// these keep a batch of large values, which go to the value log and do
	// not count toward that limit, from growing one log file without bound.
	maxBatchEntries = 4096
	maxBatchBytes   = 32 << 20
)

// enqueue hands an entry to the writer and waits for its commit. left
// reports that ctx ended first and the entry will not be written; err is then
// ctx.Err().
func (s *Storage) enqueue(ctx context.Context, key, value []byte, exp uint64) (err error, left bool) {
	r := &writeReq{key: key, value: value, expiresAt: exp, done: make(chan error, 1)}
	select {
	case s.writes <- r:
	case <-ctx.Done():
		return ctx.Err(), true
	}
	select {
	case err := <-r.done:
		return err, false
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqLeft) {
			return ctx.Err(), true
		}
		// The writer holds value now; it must not outlive this call.
		return <-r.done, false
	}
}

// writeLoop is the writer goroutine. Close stops it only after every Set has
// returned, so nothing is left waiting on it.
func (s *Storage) writeLoop() {
	defer s.loops.Done()
	var batch []*writeReq
	for {
		select {
		case r := <-s.writes:
			batch = append(batch[:0], r)
		case <-s.stop:
			return
		}
		size := len(batch[0].key) + len(batch[0].value)
	collect:
		for len(batch) < maxBatchEntries && size < maxBatchBytes {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
				size += len(r.key) + len(r.value)
			default:
				break collect
			}
		}
		s.commitBatch(batch)
		clear(batch) // drop references to callers' values
	}
}

// commitBatch writes the requests still wanted, in as few transactions as
// Badger's size limit allows, and tells each its result.
func (s *Storage) commitBatch(batch []*writeReq) {
	pending := batch[:0] // in the open transaction; reuses batch's array
	txn := s.db.NewTransaction(true)
	finish := func() {
		err := txn.Commit()
		if len(pending) == 0 {
			err = nil
		}
		for _, r := range pending {
			r.done <- err
		}
		pending = pending[:0]
	}
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // the caller left
		}
		e := bdb.NewEntry(r.key, r.value)
		e.ExpiresAt = r.expiresAt
		err := txn.SetEntry(e)
		if errors.Is(err, bdb.ErrTxnTooBig) && len(pending) > 0 {
			finish()
			txn = s.db.NewTransaction(true)
			err = txn.SetEntry(e)
		}
		if err != nil {
			r.done <- err
			continue
		}
		pending = append(pending, r)
	}
	finish()
}
