//go:build !unix

package badger

import "io/fs"

// allocated returns a file's length, where the system does not tell its
// allocated blocks: an overestimate for Badger's preallocated files.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }
