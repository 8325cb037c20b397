package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressDelay is how long a run goes before it shows a progress bar:
// short runs stay quiet.
const progressDelay = time.Second

// progress shows a progress bar on stderr for a long run, only when stderr
// is a terminal. The zero of total means unknown (a spinner with a count).
// Its methods are called from one goroutine.
type progress struct {
	w       io.Writer // nil: not a terminal, show nothing
	desc    string
	total   int64
	bytes   bool
	start   time.Time
	pending int64
	bar     *progressbar.ProgressBar
}

// newProgress returns a progress for stderr counting entries, or bytes when
// bytes is set.
func newProgress(stderr io.Writer, desc string, total int64, bytes bool) *progress {
	p := &progress{desc: desc, total: total, bytes: bytes, start: time.Now()}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.w = stderr
	}
	return p
}

// add counts n more entries or bytes done.
func (p *progress) add(n int64) {
	if p == nil || p.w == nil {
		return
	}
	if p.bar == nil {
		p.pending += n
		if time.Since(p.start) < progressDelay {
			return
		}
		total := p.total
		if total <= 0 {
			total = -1
		}
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
		}
		if p.bytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else {
			opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("entries"))
		}
		if total < 0 {
			opts = append(opts, progressbar.OptionSpinnerType(14))
		}
		p.bar = progressbar.NewOptions64(total, opts...)
		n, p.pending = p.pending, 0
	}
	_ = p.bar.Add64(n)
}

// done removes the bar, if one is shown.
func (p *progress) done() {
	if p == nil || p.bar == nil {
		return
	}
	_ = p.bar.Finish()
	_ = p.bar.Clear()
	p.bar = nil
}

// clear removes the bar from the terminal until the next add, so that a
// line can be printed.
func (p *progress) clear() {
	if p == nil || p.bar == nil {
		return
	}
	_ = p.bar.Clear()
}
