package badger

import (
	"errors"
	"strings"
	"syscall"
)

// ErrReadOnly is returned, wrapped, by the writing methods of a Storage
// opened with [WithReadOnly]. Match it with errors.Is.
var ErrReadOnly = errors.New("gecaso/badger: storage is read-only")

// ErrTooLarge is returned, wrapped, by [Storage.Set] for a value over the
// maximum value size (see [WithMaxValueSize]) or a key over Badger's limit of
// 64999 bytes. Nothing is written. Match it with errors.Is.
var ErrTooLarge = errors.New("gecaso/badger: too large")

// ErrBusy is returned, wrapped, by [Storage.Set] and [Storage.Remove] when
// writes stayed paused (by a DeletePrefix, or value-log GC rewriting a file)
// for longer than a write waits (see [Storage.Set]). It is transient: the
// entry is simply not stored (for a cache, a miss later), and the same call
// may succeed a moment later. Match it with errors.Is.
var ErrBusy = errors.New("gecaso/badger: writes paused by a prefix delete or value-log GC")

// ErrLocked is returned, wrapped, by [Open] when the directory is held by
// another Storage, in this process or another (Badger takes a file lock on
// it): one directory belongs to one writer at a time. Read-only Storages may
// share a directory with each other, not with a writer. Match it with
// errors.Is.
var ErrLocked = errors.New("gecaso/badger: directory in use by another process or Storage")

// ErrFull is returned, wrapped, by [Storage.Set] when the write would take
// the directory past its byte budget (see [WithMaxBytes]) before the GC loop
// has made room. Nothing is written; gecaso reports it and returns the
// result uncached. Match it with errors.Is.
var ErrFull = errors.New("gecaso/badger: directory at its byte budget")

// pkgError is an error of this package that matches a sentinel of this
// package and the cause below it with errors.Is, with a message that names
// the package once: wrapping the sentinels with fmt.Errorf would repeat
// their "gecaso/badger: " in the middle of every message.
type pkgError struct {
	msg  string
	errs []error // the sentinel and the cause, either possibly nil
}

func (e *pkgError) Error() string   { return e.msg }
func (e *pkgError) Unwrap() []error { return e.errs }

const pkgPrefix = "gecaso/badger: "

// newError returns an error reading "gecaso/badger: <what>: <the sentinel's
// text>: <the cause>" that matches sentinel and cause. sentinel or cause
// may be nil.
func newError(what string, sentinel, cause error) error {
	var b strings.Builder
	b.WriteString(pkgPrefix)
	b.WriteString(what)
	e := &pkgError{}
	for _, err := range []error{sentinel, cause} {
		if err == nil {
			continue
		}
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(err.Error(), pkgPrefix))
		e.errs = append(e.errs, err)
	}
	e.msg = b.String()
	return e
}

// isLockError reports whether err, from Badger's Open, says that another
// process or Storage holds the directory's lock. Badger formats the flock
// error into its message rather than wrapping it, so the message is what
// there is to match; the errno is matched too, should a later Badger wrap.
func isLockError(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "Cannot acquire directory lock")
}
