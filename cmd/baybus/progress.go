package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// noProgressEnv turns progress bars off whatever the terminal.
const noProgressEnv = "BAYBUS_NO_PROGRESS"

// What is long enough for a bar: a file to publish, events to sample.
const (
	progressMinBytes  = 1 << 20
	progressMinEvents = 10_000
)

// progress is a progress bar on a terminal for a long command (demo,
// verify-chain, publish of a large file, sample with a large --n). A nil
// *progress does nothing, so commands call it unconditionally. Its methods
// are safe for concurrent use, except Phase and Done.
type progress struct {
	o     progressOut
	bytes bool
	bar   *progressbar.ProgressBar
}

// progressOut says where a command writes, for newProgress.
type progressOut struct {
	stdout, stderr io.Writer
	// dataOnStdout: the command writes data (JSON, JSONL) to stdout, which
	// a bar on the same terminal would garble.
	dataOnStdout bool
	// isTerminal reports whether a writer is a terminal; default: an
	// *os.File whose descriptor is one.
	isTerminal func(io.Writer) bool
	getenv     func(string) string
	// every is the shortest time between two drawings; default 100 ms.
	every time.Duration
}

func fileIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress returns a bar of max steps ("bytes" counts bytes) on
// stderr, or nil: stderr must be a terminal (never a pipe, a file or a
// test's buffer), TERM not dumb and $BAYBUS_NO_PROGRESS unset, and a
// command that writes data to stdout gets a bar only when stdout is not a
// terminal too (then it is redirected, and the bar on stderr is all the
// user sees).
func newProgress(o progressOut, max int64, what string, bytes bool) *progress {
	if o.isTerminal == nil {
		o.isTerminal = fileIsTerminal
	}
	if o.getenv == nil {
		o.getenv = os.Getenv
	}
	if o.every == 0 {
		o.every = 100 * time.Millisecond
	}
	if !o.isTerminal(o.stderr) || o.getenv("TERM") == "dumb" || o.getenv(noProgressEnv) != "" {
		return nil
	}
	if o.dataOnStdout && o.isTerminal(o.stdout) {
		return nil
	}
	p := &progress{o: o, bytes: bytes}
	p.bar = p.make(max, what)
	return p
}

// make draws a new bar: a spinner when max is -1 (unknown).
func (p *progress) make(max int64, what string) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.o.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(p.o.every),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true), // at once: a spinner turns from the start
		progressbar.OptionSpinnerType(14),
	}
	switch {
	case p.bytes:
		opts = append(opts, progressbar.OptionShowBytes(true))
	case max >= 0:
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts())
	}
	return progressbar.NewOptions64(max, opts...)
}

// Add counts n more steps done.
func (p *progress) Add(n int) {
	if p != nil {
		_ = p.bar.Add(n)
	}
}

// Set says how many steps are done.
func (p *progress) Set(n int64) {
	if p != nil {
		_ = p.bar.Set64(n)
	}
}

// Phase starts another stretch of work of max steps (-1: unknown), on a
// bar of its own.
func (p *progress) Phase(max int64, what string) {
	if p != nil {
		p.Done()
		p.bar = p.make(max, what)
	}
}

// Done removes the bar, so what the command prints next starts on a clean
// line.
func (p *progress) Done() {
	if p != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}

// Reader counts what is read through r.
func (p *progress) Reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &countingReader{r: r, p: p}
}

type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(n)
	return n, err
}
