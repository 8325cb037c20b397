package gecaso

import (
	"fmt"
	"time"

	"github.com/gecaso/gecaso/codec"
)

// StorageError describes a storage failure that a call survived: the cache
// fails open, so the failure is reported (see [WithErrorHandler] and
// [WithLogger]) and the call goes on with fn's result.
type StorageError struct {
	// Op is the operation: "get", "set", "remove", "lock", "unlock",
	// "decode" (an entry that did not decode), "encode" (a result that
	// could not be encoded) or "subscribe".
	Op string
	// Key is the storage key, whole; Error shortens it.
	Key string
	// Err is the cause; an entry that did not decode matches
	// codec.ErrCorrupt.
	Err error
}

// Error implements error. A long key is shortened to its first bytes and
// its length.
func (e *StorageError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("gecaso: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("gecaso: %s %s: %v", e.Op, shortKey(e.Key), e.Err)
}

// Unwrap returns the cause.
func (e *StorageError) Unwrap() error { return e.Err }

// StaleError reports a failure of fn that calls survived by serving a stale
// entry: a background refresh that failed ([WithStaleWhileRevalidate]; the
// stale entry stays and is served until the next refresh, after a backoff),
// or a run whose failure was answered from an entry within the
// stale-if-error window ([WithStaleIfError]). It reaches the
// [WithErrorHandler] handler or the log; the callers get the stale value and
// no error.
type StaleError struct {
	// Refresh is true for a failed background refresh, false for a run
	// answered from the stale-if-error window.
	Refresh bool
	// Key is the storage key, whole; Error shortens it.
	Key string
	// Err is fn's error (a *PanicError for a refresh that panicked).
	Err error
}

// Error implements error.
func (e *StaleError) Error() string {
	what := "serving a stale entry after the function failed"
	if e.Refresh {
		what = "refresh failed, serving the stale entry"
	}
	return fmt.Sprintf("gecaso: %s %s: %v", what, shortKey(e.Key), e.Err)
}

// Unwrap returns fn's error.
func (e *StaleError) Unwrap() error { return e.Err }

// PanicError is the value callers of [Func.Call] panic with when fn
// panicked: the panic reaches every caller that shared the execution, with
// the value and the stack of the goroutine that ran fn.
type PanicError struct {
	// Value is what fn panicked with.
	Value any
	// Stack is the stack of the goroutine that ran fn, when it panicked.
	Stack []byte
}

// Error returns the panic value and the stack where it happened.
func (p *PanicError) Error() string {
	if len(p.Stack) == 0 {
		return fmt.Sprintf("gecaso: function panicked: %v", p.Value)
	}
	return fmt.Sprintf("gecaso: function panicked: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// CachedError is the error a call returns when it is answered by an error
// stored with [WithErrorTTL]: the error fn returned to an earlier call, as
// far as it survives the storage. The call that ran fn gets fn's own error.
type CachedError struct {
	// Message is the Error() text of fn's error.
	Message string
	// Sentinel is the error among those given to [WithErrorSentinels]
	// that fn's error matched (errors.Is), or nil.
	Sentinel error
	// ExpiresAt is when the stored error expires.
	ExpiresAt time.Time
}

// Error returns the message of fn's error.
func (e *CachedError) Error() string { return e.Message }

// Unwrap returns the sentinel fn's error matched, so that errors.Is(err,
// sentinel) holds for a cached error as it did for the original.
func (e *CachedError) Unwrap() error { return e.Sentinel }

// errorRecord is how a cached error is stored: its message, and the
// message of the sentinel it matched, which names the sentinel across
// processes.
type errorRecord struct {
	Message string `msgpack:"m"`
	Code    string `msgpack:"c,omitempty"`
}

// decodeCachedError decodes a stored error. Bytes that do not decode still
// give an error: the entry says the call failed.
func decodeCachedError(data []byte, expires time.Time, sentinel func(string) error) *CachedError {
	var rec errorRecord
	if err := codec.Unmarshal(data, &rec); err != nil {
		rec.Message = "gecaso: cached error that does not decode"
	}
	ce := &CachedError{Message: rec.Message, ExpiresAt: expires}
	if rec.Code != "" && sentinel != nil {
		ce.Sentinel = sentinel(rec.Code)
	}
	return ce
}

// maxKeyInText is how much of a key error messages and logs show.
const maxKeyInText = 96

// shortKey quotes key for error messages and logs, cut to its first bytes
// and its length when it is long (a readable key, WithHashKey(false), is as
// long as the argument).
func shortKey(key string) string {
	if len(key) <= maxKeyInText {
		return fmt.Sprintf("%q", key)
	}
	return fmt.Sprintf("%q... (%d bytes)", key[:maxKeyInText], len(key))
}
