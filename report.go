package gecaso

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gecaso/gecaso/codec"
)

// op names what failed, for Stats, the handler and the log.
type op uint8

const (
	opGet op = iota
	opSet
	opRemove
	opLock
	opUnlock
	opSubscribe
	opEncode
	opDecode  // an entry that did not decode: DecodeErrors
	opRefresh // a background refresh whose fn failed: a StaleError
	opStale   // a run whose failure was answered stale: a StaleError
	numOps
)

var opNames = [numOps]string{"get", "set", "remove", "lock", "unlock", "subscribe", "encode", "decode", "refresh", "stale"}

func (o op) String() string { return opNames[o] }

// report counts a failure that a call survived and hands it to the handler,
// or to the rate-limited log.
func (f *Func[A, V]) report(o op, key string, err error) {
	var e error
	switch o {
	case opDecode:
		f.stats.decodeErrors.Add(1)
		e = &StorageError{Op: o.String(), Key: key, Err: err}
	case opRefresh, opStale:
		e = &StaleError{Refresh: o == opRefresh, Key: key, Err: err}
	default:
		f.stats.errs[o].Add(1)
		e = &StorageError{Op: o.String(), Key: key, Err: err}
	}
	if f.cfg.onError != nil {
		f.cfg.onError(e)
		return
	}
	f.logs.log(o, e)
}

// DefaultLogInterval is how often, at most, a Func logs the same kind of
// failure; see [WithLogInterval].
const DefaultLogInterval = 10 * time.Second

// logLimiter logs the first failure of each operation at once, then, while
// failures go on, one summary line per interval with their count.
type logLimiter struct {
	logger   *slog.Logger
	interval time.Duration

	mu  sync.Mutex // guards ops
	ops [numOps]opLog
}

type opLog struct {
	until      time.Time   // failures before it are counted, not logged
	suppressed int         // failures counted since the last line
	last       error       // the last of them
	timer      *time.Timer // logs the summary at until; nil when none is due
}

func (l *logLimiter) init(logger *slog.Logger, interval time.Duration) {
	l.logger = logger
	l.interval = interval
}

func (l *logLimiter) log(o op, err error) {
	now := time.Now()
	l.mu.Lock()
	ol := &l.ops[o]
	if now.Before(ol.until) {
		ol.suppressed++
		ol.last = err
		if ol.timer == nil {
			ol.timer = time.AfterFunc(ol.until.Sub(now), func() { l.summary(o) })
		}
		l.mu.Unlock()
		return
	}
	ol.until = now.Add(l.interval)
	l.mu.Unlock()
	l.logger.Warn(message(o, err), "op", o.String(), "err", err)
}

// summary logs how many failures of o were not logged in the interval that
// just ended, and opens the next interval if they go on.
func (l *logLimiter) summary(o op) {
	l.mu.Lock()
	ol := &l.ops[o]
	n, last := ol.suppressed, ol.last
	ol.suppressed, ol.last, ol.timer = 0, nil, nil
	ol.until = time.Now().Add(l.interval)
	l.mu.Unlock()
	if n > 0 {
		l.logger.Warn(message(o, last)+" (repeated)", "op", o.String(), "count", n,
			"interval", l.interval.String(), "last_err", last)
	}
}

func message(o op, err error) string {
	var se *StaleError
	switch {
	case errors.As(err, &se):
		return "gecaso: function failed, serving a stale entry"
	case o == opDecode, errors.Is(err, codec.ErrCorrupt):
		return "gecaso: entry does not decode, treated as a miss"
	}
	return "gecaso: storage error, the call goes on without the cache"
}
