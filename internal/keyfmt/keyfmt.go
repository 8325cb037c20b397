// Package keyfmt shows storage keys in error messages. A key may hold any
// bytes and be megabytes long; an error text must stay short and printable,
// yet name the key well enough to find it.
package keyfmt

import (
	"strconv"
)

// MaxBytes is how many bytes of a key [Quote] shows.
const MaxBytes = 64

// Quote returns key as a Go-quoted string, as %q prints it, when it is at
// most [MaxBytes] long. A longer key is cut to its first MaxBytes bytes,
// quoted, and followed by its length: "abc..."... (10485760 bytes). The
// result is at most about 4*MaxBytes+30 bytes, whatever the key.
//
// Use it with %s: fmt.Errorf("gecaso/redis: get %s: %w", keyfmt.Quote(key), err).
func Quote(key string) string {
	if len(key) <= MaxBytes {
		return strconv.Quote(key)
	}
	return strconv.Quote(key[:MaxBytes]) + "... (" + strconv.Itoa(len(key)) + " bytes)"
}
