package gecaso

import "github.com/gecaso/gecaso/codec"

// Pack encodes value and params into an envelope, the bytes gecaso stores
// under a key. It is [codec.Pack].
func Pack(value any, params map[string]any) ([]byte, error) { return codec.Pack(value, params) }

// Unpack decodes an envelope made by [Pack] (or stored by a [Func]) into
// value, a non-nil pointer, and returns its params. Every decode failure
// matches [codec.ErrCorrupt], and so does an entry that holds an error
// stored by [WithErrorTTL] rather than a value. It is [codec.Unpack].
func Unpack(b []byte, value any) (map[string]any, error) { return codec.Unpack(b, value) }
