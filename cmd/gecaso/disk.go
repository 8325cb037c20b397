package main

import (
	"os"
	"path/filepath"
	"strings"
)

// diskUsage is the space a Badger directory takes, in bytes allocated on
// disk (what du counts: Badger preallocates sparse files, whose length says
// little), by kind of file.
type diskUsage struct {
	LSMBytes   int64 `json:"lsm_bytes"` // the LSM tree's tables, *.sst
	LSMFiles   int   `json:"lsm_files"`
	VlogBytes  int64 `json:"vlog_bytes"` // the value log, *.vlog
	VlogFiles  int   `json:"vlog_files"`
	OtherBytes int64 `json:"other_bytes"` // memtables (*.mem), MANIFEST, DISCARD ...
	Total      int64 `json:"total_bytes"`
}

// badgerDiskUsage measures the files directly in dir. It only reads their
// metadata.
func badgerDiskUsage(dir string) (diskUsage, error) {
	var du diskUsage
	ents, err := os.ReadDir(dir)
	if err != nil {
		return du, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			if os.IsNotExist(err) {
				continue // removed meanwhile (a compaction)
			}
			return du, err
		}
		n := allocated(fi)
		switch {
		case strings.HasSuffix(e.Name(), ".sst"):
			du.LSMBytes += n
			du.LSMFiles++
		case strings.HasSuffix(e.Name(), ".vlog"):
			du.VlogBytes += n
			du.VlogFiles++
		default:
			du.OtherBytes += n
		}
		du.Total += n
	}
	return du, nil
}
