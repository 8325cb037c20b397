package badger

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Stats are a Storage's gauges and counters, for monitoring (see
// [Storage.Stats]). Counters count from Open.
type Stats struct {
	// DiskBytes is the directory's use of the disk when Stats was called,
	// as du counts it: allocated blocks, so that the sparse, preallocated
	// tail of the value-log file being written does not count. It is the
	// figure a byte budget ([WithMaxBytes]) bounds. 0 in memory.
	DiskBytes int64
	// LSMBytes is the part of DiskBytes taken by the LSM tree: its tables
	// and the logs of its memtables. Entries under 1 MiB live there.
	LSMBytes int64
	// ValueLogBytes is the part of DiskBytes taken by the value log, where
	// values of 1 MiB and more live.
	ValueLogBytes int64

	// MaxBytes is the byte budget given with WithMaxBytes, 0 for none.
	MaxBytes int64

	// GCPasses counts the passes of the GC loop, timed or started by the
	// growth of the directory.
	GCPasses int64
	// Reclaims counts Reclaims, the GC loop's and the caller's.
	Reclaims int64
	// ValueLogRewrites counts the value-log files rewritten by value-log
	// GC (each then deleted).
	ValueLogRewrites int64
	// ReclaimedBytes is the sum, over Reclaims, of the fall of DiskBytes
	// across each one (writes running meanwhile can hide part of it).
	ReclaimedBytes int64

	// Evictions counts the entries removed to keep within the byte budget,
	// and EvictedBytes their estimated size.
	Evictions    int64
	EvictedBytes int64
	// Refused counts the Sets refused with ErrFull.
	Refused int64

	// BusyWaits counts the writes that waited for writes to resume after
	// a DeletePrefix, value-log GC rewriting a file, or a build of the key
	// filter starting (for microseconds), paused them.
	BusyWaits int64

	// FilteredReads counts the reads (Get and View) of keys the directory
	// does not hold that the key filter answered without a Badger lookup:
	// the first step of most misses.
	FilteredReads int64
	// FilterBuilds counts the builds of the key filter: one after Open
	// (none in memory), then one each time the keys written since outgrow
	// it.
	FilterBuilds int64
	// FilterBytes is the memory the key filter takes, 0 until the first
	// build completes.
	FilterBytes int64
}

// counters are the Storage's counters behind Stats.
type counters struct {
	passes, reclaims, valueLogRewrites, reclaimedBytes atomic.Int64
	evictions, evictedBytes, refused, busyWaits        atomic.Int64
	filtered, filterBuilds                             atomic.Int64
}

// Stats returns the Storage's gauges and counters. It measures the
// directory (one stat per file: tens of microseconds) and is safe to call at
// any time, also after Close, when it reports the counters as Close left
// them.
func (s *Storage) Stats() Stats {
	u := s.diskUsage()
	return Stats{
		DiskBytes:        u.total(),
		LSMBytes:         u.lsm,
		ValueLogBytes:    u.vlog,
		MaxBytes:         s.cfg.maxBytes,
		GCPasses:         s.stats.passes.Load(),
		Reclaims:         s.stats.reclaims.Load(),
		ValueLogRewrites: s.stats.valueLogRewrites.Load(),
		ReclaimedBytes:   s.stats.reclaimedBytes.Load(),
		Evictions:        s.stats.evictions.Load(),
		EvictedBytes:     s.stats.evictedBytes.Load(),
		Refused:          s.stats.refused.Load(),
		BusyWaits:        s.stats.busyWaits.Load(),
		FilteredReads:    s.stats.filtered.Load(),
		FilterBuilds:     s.stats.filterBuilds.Load(),
		FilterBytes:      s.filterBytes(),
	}
}

func (s *Storage) filterBytes() int64 {
	if f := s.filters.cur.Load(); f != nil {
		return f.bytes()
	}
	return 0
}

// usage is a directory's disk use by kind of file.
type usage struct {
	lsm, vlog, other int64
}

func (u usage) total() int64 { return u.lsm + u.vlog + u.other }

// diskUsage measures the directory. Files that vanish meanwhile (Badger
// deletes tables and log files as it compacts) count for nothing.
func (s *Storage) diskUsage() usage {
	var u usage
	if s.dir == "" {
		return u
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return u
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := os.Lstat(filepath.Join(s.dir, e.Name()))
		if err != nil {
			continue
		}
		n := allocated(fi)
		switch name := e.Name(); {
		case strings.HasSuffix(name, ".sst"), strings.HasSuffix(name, ".mem"):
			u.lsm += n
		case strings.HasSuffix(name, ".vlog"):
			u.vlog += n
		default:
			u.other += n
		}
	}
	return u
}
