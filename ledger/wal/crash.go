package wal

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
)

// ErrInjected is returned by the Append at which a CrashingLog crashes.
var ErrInjected = errors.New("wal: injected crash")

// KeepAll, as CrashAfter's keep, lets every byte of the crashing Append reach
// the disk: the records are durable, but the caller is told the Append
// failed.
const KeepAll = math.MaxInt

// CrashingLog is a *Log that crashes at a chosen Append, for testing the
// recovery of code built on the log. Every method but Append is the Log's.
//
// At the crash, the Log is closed as if its process had died: what earlier
// Appends wrote stays, the first keep bytes of what the crashing Append would
// have written reach the end of the last segment file, and the Append returns
// an error wrapping ErrInjected. Every later call returns ErrClosed. To
// recover, Open the directory again: a torn record is cut back as after a
// real crash.
type CrashingLog struct {
	*Log

	mu   sync.Mutex // held through Append; taken before Log.mu
	pass int        // Appends still to let through
	keep int
}

var _ Appender = (*CrashingLog)(nil)

// CrashAfter returns l decorated so that its first n Appends go through and
// Append number n+1 crashes after writing keep bytes of its encoded records:
// 0 writes nothing, KeepAll (or any keep at least the encoded size) writes
// them all, and anything between tears the batch inside a record.
func CrashAfter(l *Log, n, keep int) *CrashingLog {
	return &CrashingLog{Log: l, pass: n, keep: keep}
}

// Append appends like Log.Append until the crash.
func (c *CrashingLog) Append(data ...[]byte) (first uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pass > 0 {
		c.pass--
		return c.Log.Append(data...)
	}
	return 0, c.Log.crash(c.keep, data)
}

// crash closes l and appends the first keep bytes of the entries that Append
// would have written for data to the tail segment file.
func (l *Log) crash(keep int, data [][]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	var raw []byte
	for i, d := range data {
		l.scratch = appendFrame(l.scratch[:0], l.last+1+uint64(i), l.durable, d)
		raw = appendEntry(raw, l.scratch)
	}
	keep = max(0, min(keep, len(raw)))
	l.closed = true
	err := l.tw.Close()
	if err == nil && keep > 0 {
		err = appendFile(filepath.Join(l.dir, segmentName(l.tailFirst)), raw[:keep])
	}
	if err != nil {
		return fmt.Errorf("wal: injecting a crash: %w", err)
	}
	return fmt.Errorf("%w at index %d: %d of %d bytes written", ErrInjected, l.last+1, keep, len(raw))
}

// appendFile appends b to the file at path and fsyncs it.
func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
