package gecaso

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of what a [Func] did since [Cached]; [Func.Stats]
// returns it.
//
// Every call that completed its lookup counts in exactly one of Hits,
// Misses and Shared; a call whose context ended before (or during) its
// storage read counts in none.
type Stats struct {
	// Hits counts calls answered without running fn: from the near cache
	// (NearHits of them), the storage (a value, a stale value within the
	// stale-while-revalidate window, a cached error), or the storage read
	// again by the run a call led (another process had stored the result).
	Hits uint64
	// NearHits counts the Hits answered by the near cache.
	NearHits uint64
	// Misses counts calls that led a run of fn.
	Misses uint64
	// Shared counts calls that waited for a run another call led.
	Shared uint64

	// Runs counts runs of fn, background refreshes included; RunErrors
	// those that returned an error or panicked.
	Runs, RunErrors uint64
	// RunTime is the time spent in fn over all Runs. With Hits and
	// Misses it gives the time the cache saved: about
	// Hits * RunTime / Runs.
	RunTime time.Duration

	// StaleHits counts calls answered with a stale value: within the
	// stale-while-revalidate window (these are Hits too), or after fn
	// failed within the stale-if-error window (these are Misses or
	// Shared).
	StaleHits uint64
	// Refreshes counts the background refreshes that ran fn.
	Refreshes uint64

	// StorageErrors counts the storage failures calls survived, by
	// operation.
	StorageErrors StorageErrorCounts
	// DecodeErrors counts entries that did not decode (corrupt,
	// truncated, of another type or format): each was a miss.
	DecodeErrors uint64
	// LockWaits counts runs that found the cross-process lock ([WithLock])
	// held by another process and waited for its result.
	LockWaits uint64

	// BytesRead counts the bytes of the entries read from the storage;
	// BytesWritten those of the entries stored.
	BytesRead, BytesWritten uint64
}

// StorageErrorCounts counts storage failures by operation.
type StorageErrorCounts struct {
	Get, Set, Remove, Lock, Unlock, Subscribe uint64
	// Encode counts results that could not be encoded, so were not stored.
	Encode uint64
}

// Total returns the sum of the counts.
func (c StorageErrorCounts) Total() uint64 {
	return c.Get + c.Set + c.Remove + c.Lock + c.Unlock + c.Subscribe + c.Encode
}

// Stats returns a snapshot of f's counters. Counting costs a hit about a
// nanosecond; Stats itself sums the counters of every goroutine that called
// f, and is meant to be called from time to time (by a metrics exporter),
// not on every call.
func (f *Func[A, V]) Stats() Stats {
	s := &f.stats
	st := Stats{
		Misses:       s.misses.Load(),
		Shared:       s.shared.Load(),
		Runs:         s.runs.Load(),
		RunErrors:    s.runErrors.Load(),
		RunTime:      time.Duration(s.runTime.Load()),
		StaleHits:    s.staleHits.Load(),
		Refreshes:    s.refreshes.Load(),
		DecodeErrors: s.decodeErrors.Load(),
		LockWaits:    s.lockWaits.Load(),
		BytesWritten: s.bytesWritten.Load(),
		StorageErrors: StorageErrorCounts{
			Get:       s.errs[opGet].Load(),
			Set:       s.errs[opSet].Load(),
			Remove:    s.errs[opRemove].Load(),
			Lock:      s.errs[opLock].Load(),
			Unlock:    s.errs[opUnlock].Load(),
			Subscribe: s.errs[opSubscribe].Load(),
			Encode:    s.errs[opEncode].Load(),
		},
	}
	s.mu.Lock()
	for _, h := range s.hots {
		st.Hits += load(&h.hits)
		st.NearHits += load(&h.nearHits)
		st.BytesRead += load(&h.bytesRead)
	}
	s.mu.Unlock()
	st.Hits += st.NearHits
	return st
}

// stats holds a Func's counters. Those a hit touches live in hot shards, one
// per pooled call state, so that hits on different cores never write the
// same cache line; the rest are plain atomics, touched by misses and
// failures only.
type stats struct {
	mu   sync.Mutex // guards hots and free
	hots []*hot     // every shard ever made
	free []*hot     // shards whose state was collected, to reuse

	misses, shared, runs, runErrors, runTime      atomic.Uint64
	staleHits, refreshes, decodeErrors, lockWaits atomic.Uint64
	bytesWritten                                  atomic.Uint64
	errs                                          [numOps]atomic.Uint64
}

// hot is one shard of the counters a hit touches. It belongs to one call
// state, and so to one goroutine at a time: the state's owner increments it
// without a locked instruction (see counter.go), and Stats reads it.
type hot struct {
	hits, nearHits, bytesRead uint64
	_                         [40]byte // to 64 bytes: a shard per cache line
}

// newHot returns a shard for the state owner. When the state is collected
// (sync.Pool drops states at garbage collections), the shard goes back to
// the free list with its counts, for a new state to continue: the number of
// shards stays that of the states alive at once.
func newHot[T any](s *stats, owner *T) *hot {
	s.mu.Lock()
	var h *hot
	if n := len(s.free); n > 0 {
		h = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		h = new(hot)
		s.hots = append(s.hots, h)
	}
	s.mu.Unlock()
	runtime.AddCleanup(owner, s.release, h)
	return h
}

func (s *stats) release(h *hot) {
	s.mu.Lock()
	s.free = append(s.free, h)
	s.mu.Unlock()
}
