//go:build unix

package main

import (
	"os"
	"syscall"
)

// allocated returns the bytes fi's file occupies on disk.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
