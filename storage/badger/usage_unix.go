//go:build unix

package badger

import (
	"io/fs"
	"syscall"
)

// allocated returns the bytes a file takes on disk: its allocated blocks,
// which for Badger's sparse, preallocated files is far less than its length.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
