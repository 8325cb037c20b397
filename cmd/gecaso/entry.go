package main

import (
	"strings"
	"time"

	"github.com/gecaso/gecaso/codec"
)

// otherNamespace labels keys that are not of gecaso's form
// name[@version]:digest.
const otherNamespace = "(other)"

// namespace returns the part of key before its first ':', which is the
// name and version of the function whose entry it is, or otherNamespace.
func namespace(key string) string {
	ns, _, ok := strings.Cut(key, ":")
	if !ok || ns == "" {
		return otherNamespace
	}
	return ns
}

// inspected is what the command knows of one stored value.
type inspected struct {
	env codec.Envelope // valid when err is nil; aliases the value
	err error          // the value is not a valid envelope (wraps codec.ErrCorrupt)

	staleUntil time.Time // end of the stale window; zero: none
	isError    bool      // the entry holds an error result
}

// inspect decodes the envelope of v. With deep set it also checks that the
// data and the params are valid msgpack, as verify does.
func inspect(v []byte, deep bool) inspected {
	var in inspected
	if deep {
		if _, err := codec.Unpack(v, nil); err != nil {
			in.err = err
			return in
		}
	}
	if err := codec.DecodeEnvelope(v, &in.env); err != nil {
		in.err = err
		return in
	}
	in.staleUntil = in.env.StaleUntil
	in.isError = in.env.Error
	return in
}

// horizon is when the entry stops being of any use: its expiry, or the end
// of its stale window when that is later. The zero time means never.
func (in *inspected) horizon() time.Time {
	exp := in.env.ExpiresAt
	if exp.IsZero() {
		return time.Time{}
	}
	if in.staleUntil.After(exp) {
		return in.staleUntil
	}
	return exp
}

// expired reports whether a valid entry is past its horizon at now.
func (in *inspected) expired(now time.Time) bool {
	h := in.horizon()
	return in.err == nil && !h.IsZero() && !now.Before(h)
}
