package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	tidwall "github.com/tidwall/wal"
)

// Errors. Check them with errors.Is.
var (
	// ErrCorrupt: a record failed its checks (CRC-32C, magic, index), or
	// damage was found where it cannot be a torn tail. Errors that wrap it are
	// *CorruptError values naming the record.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrClosed: the Log was closed (or crashed, see CrashAfter).
	ErrClosed = errors.New("wal: closed")
	// ErrNotFound: Read of an index outside FirstIndex..LastIndex.
	ErrNotFound = errors.New("wal: not found")
	// ErrOutOfRange: a truncation index outside the allowed range.
	ErrOutOfRange = errors.New("wal: index out of range")
)

// CorruptError names a corrupt record. It matches ErrCorrupt under errors.Is.
type CorruptError struct {
	Index   uint64 // index of the first corrupt record
	Segment string // segment file name, if known
	Offset  int64  // byte offset of the record in Segment, if Segment is set
	Err     error  // what is wrong with it
}

func (e *CorruptError) Error() string {
	if e.Segment != "" {
		return fmt.Sprintf("wal: corrupt record %d (segment %s, offset %d): %v", e.Index, e.Segment, e.Offset, e.Err)
	}
	return fmt.Sprintf("wal: corrupt record %d: %v", e.Index, e.Err)
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the reason.
func (e *CorruptError) Unwrap() error { return e.Err }

// DefaultSegmentSize is the default Options.SegmentSize: 20 MiB.
const DefaultSegmentSize = 20 << 20

// Options configure a Log. The zero value is the safe default.
type Options struct {
	// NoSync skips the fsync at the end of each Append. Records are then
	// durable only after Sync or Close returns; a crash may lose any of the
	// records appended since, though Open still returns an intact prefix.
	// Default false: every Append is fsynced before it returns.
	NoSync bool
	// SegmentSize is the size in bytes past which the log starts a new
	// segment file. Default DefaultSegmentSize. The last segment is held in
	// memory and read whole on Open, so it bounds the memory of an open log
	// (see the package documentation, Memory).
	SegmentSize int
	// Logger receives a warning for every torn tail cut on Open. Default:
	// discard.
	Logger *slog.Logger
}

// Stats are counters since Open.
type Stats struct {
	Appends     uint64 // Append calls that succeeded with at least one record
	Records     uint64 // records appended
	Bytes       uint64 // payload bytes appended
	StoredBytes uint64 // bytes appended to segment files, framing included
	Syncs       uint64 // fsyncs of the tail segment by Append and Sync
	Reads       uint64 // records read and verified
	Corrupt     uint64 // reads that found a corrupt record
	TornTails   uint64 // torn tails cut back by Open (0 or 1)
	TornBytes   uint64 // bytes cut with them
}

// maxReused is the largest frame and batch buffer an Append keeps for the
// next one.
const maxReused = 1 << 20

// Appender is the write side of a log: what the block store and the
// consensus WAL adapter need to persist records. *Log and *CrashingLog
// implement it.
type Appender interface {
	Append(data ...[]byte) (first uint64, err error)
}

var _ Appender = (*Log)(nil)

// Log is a CRC-framed record log in one directory. Its methods are safe for
// concurrent use: one mutex serialises them all, including Read (tidwall/wal
// mutates its segment cache on reads).
type Log struct {
	mu   sync.Mutex
	dir  string
	opts Options
	tw   *tidwall.Log

	first, last uint64 // FirstIndex, LastIndex; first == last+1 when empty
	// durable is the highest index known to be fsynced (file and directory
	// entry). Every frame carries it, so Open can tell corruption from a torn
	// tail.
	durable uint64
	// The tail segment as tidwall will see it, tracked by mirroring its rule
	// for starting a new segment (see Append).
	tailFirst uint64
	tailSize  int64
	dirDirty  bool // a segment file was created and the directory not yet fsynced

	closed bool
	// failed is set when a write may have left tidwall's state and the disk
	// apart (an I/O error in Append, Sync or a truncation). Only Close is
	// allowed afterwards; Open repairs.
	failed error

	batch   tidwall.Batch // reused by Append
	scratch []byte        // reused by Append
	stats   Stats
}

// Open opens the log in dir, creating dir and an empty log if needed. A torn
// tail of the last segment is cut back first (logged and counted in
// Stats.TornTails); damage that cannot be a torn tail (see the package
// documentation) is a *CorruptError wrapping ErrCorrupt, and nothing is cut. The repaired log is fsynced before Open returns, so everything
// it holds is durable.
//
// Only one Log may have a directory open at a time; nothing enforces that.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	cut, err := repairTail(dir)
	if err != nil {
		return nil, err
	}
	// tidwall caches the segments it closes and the ones reads load,
	// each with all of its entries in memory (and an append's spare
	// capacity: up to twice SegmentSize with large records). With two,
	// a log that is only written held its tail and two closed segments:
	// the eight logs of a 4-orderer bench kept ~130 MiB. One keeps the
	// segment most likely to be read, the one just closed: it holds
	// the newest records but for those in the tail, which readers of
	// the newest block ask for.
	tw, err := tidwall.Open(dir, &tidwall.Options{
		NoSync:           opts.NoSync,
		SegmentSize:      opts.SegmentSize,
		LogFormat:        tidwall.Binary,
		SegmentCacheSize: 1,
		NoCopy:           true, // Read copies the payload out under l.mu
		AllowEmpty:       true, // so TruncateFront(LastIndex+1) works
		DirPerms:         0o750,
		FilePerms:        0o640,
	})
	if err != nil {
		if errors.Is(err, tidwall.ErrCorrupt) {
			return nil, fmt.Errorf("%w: tidwall refuses %s: %w", ErrCorrupt, dir, err)
		}
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	l := &Log{dir: dir, opts: opts, tw: tw}
	if l.first, err = tw.FirstIndex(); err == nil {
		l.last, err = tw.LastIndex()
	}
	if err == nil {
		err = l.refreshTail()
	}
	if err == nil {
		// The previous process may have died with the tail only in the page
		// cache, and tidwall may just have created or renamed files.
		err = syncFile(filepath.Join(dir, segmentName(l.tailFirst)))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = tw.Close()
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	l.durable = l.last
	if cut != nil {
		l.stats.TornTails = 1
		l.stats.TornBytes = uint64(cut.bytes)
		opts.Logger.Warn("wal: cut torn tail",
			"dir", dir, "segment", cut.segment, "offset", cut.offset,
			"first_index_cut", cut.index, "bytes", cut.bytes, "reason", cut.reason.Error(),
			"last_index", l.last)
	}
	return l, nil
}

// refreshTail re-reads which segment is the tail after tidwall renamed files.
func (l *Log) refreshTail() error {
	first, size, err := lastSegment(l.dir)
	if err != nil {
		return err
	}
	l.tailFirst, l.tailSize = first, size
	return nil
}

// usable returns the error a call on l must return, if any. l.mu is held.
func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("wal: unusable after an earlier failure, reopen to recover: %w", l.failed)
	}
	return nil
}

// fail records a write failure that leaves l unusable. l.mu is held.
func (l *Log) fail(err error) error {
	l.failed = err
	return err
}

// Append writes the records in data as one batch at indexes first,
// first+1, ..., and unless Options.NoSync fsyncs before returning: once
// Append returns nil the records are durable. Append with no data does
// nothing and returns LastIndex()+1.
//
// A batch is not atomic: after a crash inside Append, Open may return a
// prefix of it. After an I/O error the Log refuses every call but Close;
// reopen it.
func (l *Log) Append(data ...[]byte) (first uint64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	first = l.last + 1
	if len(data) == 0 {
		return first, nil
	}
	// Mirror tidwall's writeBatch: a full tail (size > SegmentSize) is
	// replaced before writing, and a new segment starts right after the entry
	// that brings the tail to SegmentSize or more.
	segSize := int64(l.opts.SegmentSize)
	tailFirst, tailSize, created := l.tailFirst, l.tailSize, false
	if tailSize > segSize {
		tailFirst, tailSize, created = first, 0, true
	}
	var payload, stored uint64
	l.batch.Clear()
	for i, d := range data {
		index := first + uint64(i)
		l.scratch = appendFrame(l.scratch[:0], index, l.durable, d)
		l.batch.Write(index, l.scratch)
		n := int64(entrySize(len(l.scratch)))
		payload += uint64(len(d))
		stored += uint64(n)
		if tailSize += n; tailSize >= segSize {
			tailFirst, tailSize, created = index+1, 0, true
		}
	}
	if err := l.tw.WriteBatch(&l.batch); err != nil {
		return 0, l.fail(fmt.Errorf("wal: append at %d: %w", first, err))
	}
	if cap(l.scratch) > maxReused || stored > maxReused {
		// Reuse saves small appends (votes, batch references) an
		// allocation each; a block of megabytes kept twice more (frame and
		// batch) in every log for the life of the process is not worth it.
		l.scratch, l.batch = nil, tidwall.Batch{}
	}
	l.last = first + uint64(len(data)) - 1
	l.tailFirst, l.tailSize = tailFirst, tailSize
	l.dirDirty = l.dirDirty || created
	l.stats.Appends++
	l.stats.Records += uint64(len(data))
	l.stats.Bytes += payload
	l.stats.StoredBytes += stored
	if !l.opts.NoSync {
		l.stats.Syncs++ // by tidwall's WriteBatch
		if err := l.syncDirIfDirty(); err != nil {
			return 0, l.fail(err)
		}
		l.durable = l.last
	}
	return first, nil
}

// syncDirIfDirty makes new segment files' directory entries durable.
func (l *Log) syncDirIfDirty() error {
	if !l.dirDirty {
		return nil
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	l.dirDirty = false
	return nil
}

// Sync fsyncs everything appended so far. It is needed only with
// Options.NoSync.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.tw.Sync(); err != nil {
		return l.fail(fmt.Errorf("wal: sync: %w", err))
	}
	l.stats.Syncs++
	if err := l.syncDirIfDirty(); err != nil {
		return l.fail(err)
	}
	l.durable = l.last
	return nil
}

// Read returns a copy of the payload of the record at index, after checking
// its CRC-32C and that it carries that index. It returns an error wrapping
// ErrNotFound if index is outside FirstIndex..LastIndex and a *CorruptError
// if the record is damaged.
func (l *Log) Read(index uint64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return nil, err
	}
	if index < l.first || index > l.last {
		return nil, fmt.Errorf("%w: index %d, log holds %d..%d", ErrNotFound, index, l.first, l.last)
	}
	raw, err := l.tw.Read(index)
	if err != nil {
		if errors.Is(err, tidwall.ErrCorrupt) {
			l.stats.Corrupt++
			return nil, &CorruptError{Index: index, Err: errSegment}
		}
		return nil, fmt.Errorf("wal: read %d: %w", index, err)
	}
	f, payload, err := decodeFrame(raw)
	if err == nil && f.index != index {
		err = fmt.Errorf("%w: %d", errIndex, f.index)
	}
	if err != nil {
		l.stats.Corrupt++
		return nil, &CorruptError{Index: index, Err: err}
	}
	l.stats.Reads++
	return bytes.Clone(payload), nil
}

// FirstIndex returns the index of the first record. An empty log has
// FirstIndex() == LastIndex()+1; a new log has FirstIndex 1.
func (l *Log) FirstIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// LastIndex returns the index of the last record, or FirstIndex()-1 if the
// log is empty.
func (l *Log) LastIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// TruncateFront removes the records before index, so that index becomes the
// first; index LastIndex()+1 empties the log, and the next Append still gets
// that index. It returns an error wrapping ErrOutOfRange unless
// FirstIndex() <= index <= LastIndex()+1. The truncation is durable when
// TruncateFront returns, whatever Options.NoSync says.
func (l *Log) TruncateFront(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if index < l.first || index > l.last+1 {
		return fmt.Errorf("%w: TruncateFront(%d), log holds %d..%d", ErrOutOfRange, index, l.first, l.last)
	}
	if index == l.first {
		return nil
	}
	if err := l.tw.TruncateFront(index); err != nil {
		return l.fail(fmt.Errorf("wal: truncate front to %d: %w", index, err))
	}
	l.first = index
	return l.afterTruncate()
}

// TruncateBack removes the records after index, so that index becomes the
// last; index FirstIndex()-1 empties the log. It returns an error wrapping
// ErrOutOfRange unless FirstIndex()-1 <= index <= LastIndex(). The
// truncation is durable when TruncateBack returns, whatever Options.NoSync
// says.
func (l *Log) TruncateBack(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if index+1 < l.first || index > l.last {
		return fmt.Errorf("%w: TruncateBack(%d), log holds %d..%d", ErrOutOfRange, index, l.first, l.last)
	}
	if index == l.last {
		return nil
	}
	if err := l.tw.TruncateBack(index); err != nil {
		return l.fail(fmt.Errorf("wal: truncate back to %d: %w", index, err))
	}
	l.last = index
	l.durable = min(l.durable, index)
	return l.afterTruncate()
}

// afterTruncate makes tidwall's renames and removals durable and finds the
// tail segment again. l.mu is held.
func (l *Log) afterTruncate() error {
	if err := l.refreshTail(); err != nil {
		return l.fail(err)
	}
	if err := syncDir(l.dir); err != nil {
		return l.fail(err)
	}
	l.dirDirty = false
	return nil
}

// Close fsyncs and closes the log. Calls after Close return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	err := l.tw.Close()
	if l.failed != nil {
		return nil // the failure was reported; Open repairs
	}
	if err == nil {
		err = l.syncDirIfDirty()
	}
	if err != nil {
		return fmt.Errorf("wal: close: %w", err)
	}
	return nil
}

// Stats returns the counters since Open.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// ErrNotEmpty is returned by CreateAt for a directory that holds a log.
var ErrNotEmpty = errors.New("wal: directory holds a log")

// CreateAt creates, in dir, an empty log whose first record will have
// index first (Open on a new directory starts at 1): for a log that
// continues records kept elsewhere (the block log of an orderer that
// joined from a snapshot and an archive). It refuses a directory that
// holds segments (ErrNotEmpty). The log is durable when CreateAt returns.
func CreateAt(dir string, first uint64) error {
	if first == 0 {
		return fmt.Errorf("%w: CreateAt(0)", ErrOutOfRange)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	for _, e := range ents {
		if len(e.Name()) >= 20 && !e.IsDir() {
			return fmt.Errorf("%w: %s", ErrNotEmpty, dir)
		}
	}
	// tidwall names a segment by the index of its first record; an empty
	// one makes an empty log that starts there.
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%020d", first)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("wal: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return syncDir(dir)
}
