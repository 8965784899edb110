package wal

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// ErrTruncating: the directory holds the files of an interrupted truncation
// (NAME.START or NAME.END). Open finishes the truncation; OpenReader, which
// writes nothing, refuses the directory instead.
var ErrTruncating = errors.New("wal: interrupted truncation")

// readBuffer is the read-ahead of one segment file being scanned.
const readBuffer = 1 << 20

// Reader is a read-only view of a log directory, for tools that inspect a
// stopped process's log: nothing in the directory is written, created, cut,
// renamed or fsynced, so it is safe on a read-only mount. Open, by contrast,
// cuts a torn tail, finishes an interrupted truncation and fsyncs.
//
// OpenReader checks the last segment with the rule Open applies (see
// scanTail): a torn tail, which Open would cut, ends the log and is reported
// by Torn; corruption (a whole record that fails its checks, or damage a
// later durable watermark proves was fsynced) is an error.
// Older segments are read, and checked, only by Scan.
//
// A Reader holds no open files and no segment data between calls; its
// methods are safe for concurrent use. It is a snapshot of the directory at
// OpenReader: records appended later are not seen, and files that change
// under it make Scan fail.
type Reader struct {
	dir         string
	segs        []readerSegment // by first index
	first, last uint64          // last == first-1 when empty
	torn        *CorruptError
}

type readerSegment struct {
	first uint64
	name  string
}

// OpenReader opens the log in dir for reading only. It lists the segment
// files and streams the last one to find the last whole record. It returns
// an error wrapping ErrTruncating if a truncation was interrupted there, and
// a *CorruptError if the last segment holds damage that cannot be a torn
// tail (the same error Open returns). A directory without segment files is an empty log (FirstIndex 1,
// LastIndex 0); a missing directory is an error.
func OpenReader(dir string) (*Reader, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	r := &Reader{dir: dir, first: 1}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || len(name) < segmentNameLen {
			continue
		}
		first, err := strconv.ParseUint(name[:segmentNameLen], 10, 64)
		if err != nil || first == 0 {
			continue
		}
		switch name[segmentNameLen:] {
		case "":
			r.segs = append(r.segs, readerSegment{first: first, name: name})
		case ".START", ".END":
			return nil, fmt.Errorf("%w: %s in %s", ErrTruncating, name, dir)
		}
		// NAME.START.TEMP and NAME.END.TEMP are left by a truncation that
		// crashed before its rename; tidwall ignores them, and so do we.
	}
	if len(r.segs) == 0 {
		return r, nil
	}
	slices.SortFunc(r.segs, func(a, b readerSegment) int { return cmp.Compare(a.first, b.first) })
	r.first = r.segs[0].first
	if err := r.checkTail(); err != nil {
		return nil, err
	}
	return r, nil
}

// FirstIndex returns the index of the first record; an empty log has
// FirstIndex() == LastIndex()+1.
func (r *Reader) FirstIndex() uint64 { return r.first }

// LastIndex returns the index of the last whole record, before any torn
// tail, or FirstIndex()-1 if there is none.
func (r *Reader) LastIndex() uint64 { return r.last }

// Torn returns the torn tail that Open would cut (Index is the first record
// cut, Segment and Offset where the cut starts, Err why), or nil if the last
// segment is whole.
func (r *Reader) Torn() *CorruptError { return r.torn }

// checkTail streams the last segment, checking every record as scanTail
// does, and sets r.last and r.torn. At the first record refused, it reads
// the rest of the segment and lets scanTail decide, so a torn tail and
// corruption are told apart exactly as Open tells them.
func (r *Reader) checkTail() error {
	seg := r.segs[len(r.segs)-1]
	sr, err := r.openSegment(seg)
	if err != nil {
		return err
	}
	defer sr.close()
	var buf []byte
	idx := seg.first
	for ; ; idx++ {
		start := sr.off
		n, err := sr.entryLen()
		if err == io.EOF {
			break
		}
		if err == nil {
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			err = sr.read(buf)
		}
		if err == nil {
			var f frame
			if f, _, err = decodeFrame(buf); err == nil && f.index != idx {
				err = errIndex
			}
		}
		if err == nil {
			continue
		}
		// Refused: let scanTail, from this record on, decide what it is.
		rest := make([]byte, sr.size-start)
		if _, err := sr.f.ReadAt(rest, start); err != nil {
			return fmt.Errorf("wal: read %s: %w", seg.name, err)
		}
		s := scanTail(rest, start, idx)
		idx = s.next
		if s.bad == nil {
			break // not expected: the file changed under us
		}
		at := start + int64(s.good)
		if s.corrupt {
			return s.corruption(seg.name, at)
		}
		r.torn = &CorruptError{
			Index:   s.next,
			Segment: seg.name,
			Offset:  at,
			Err:     fmt.Errorf("%w (%d bytes from there on)", s.bad, sr.size-at),
		}
		break
	}
	r.last = idx - 1
	return nil
}

// Scan calls fn with the payload of every record from..to in order (from
// below FirstIndex and to above LastIndex are clamped), or, if want is not
// nil, of those whose index want accepts; the others are skipped unread,
// so their damage goes unnoticed. fn owns each payload. An error from fn
// stops the scan and is returned as is.
//
// A damaged record is a *CorruptError; so is a segment that ends before, or
// runs past, the first record of the next one. Scan streams: it holds one
// segment's read-ahead and the record handed to fn.
func (r *Reader) Scan(from, to uint64, want func(uint64) bool, fn func(index uint64, payload []byte) error) error {
	from, to = max(from, r.first), min(to, r.last)
	if from > to {
		return nil
	}
	// The segment holding from: the last one that starts at or below it.
	i, found := slices.BinarySearchFunc(r.segs, from, func(s readerSegment, x uint64) int { return cmp.Compare(s.first, x) })
	if !found {
		i--
	}
	for ; i < len(r.segs) && r.segs[i].first <= to; i++ {
		if err := r.scanSegment(i, from, to, want, fn); err != nil {
			return err
		}
	}
	return nil
}

// scanSegment is Scan over segment i.
func (r *Reader) scanSegment(i int, from, to uint64, want func(uint64) bool, fn func(uint64, []byte) error) error {
	seg := r.segs[i]
	end := r.last // the segment's last record
	if i+1 < len(r.segs) {
		end = r.segs[i+1].first - 1
	}
	sr, err := r.openSegment(seg)
	if err != nil {
		return err
	}
	defer sr.close()
	idx := seg.first
	for ; idx <= min(end, to); idx++ {
		off := sr.off
		bad := func(why error) error {
			return &CorruptError{Index: idx, Segment: seg.name, Offset: off, Err: why}
		}
		n, err := sr.entryLen()
		if err == io.EOF {
			return bad(fmt.Errorf("segment ends before record %d, the next segment starts at %d", idx, end+1))
		}
		if err != nil {
			return bad(err)
		}
		if idx < from || (want != nil && !want(idx)) {
			if err := sr.skip(n); err != nil {
				return bad(err)
			}
			continue
		}
		buf := make([]byte, n) // fn's to keep
		if err := sr.read(buf); err != nil {
			return bad(err)
		}
		f, payload, err := decodeFrame(buf)
		if err == nil && f.index != idx {
			err = fmt.Errorf("%w: %d", errIndex, f.index)
		}
		if err != nil {
			return bad(err)
		}
		if err := fn(idx, payload); err != nil {
			return err
		}
	}
	if idx > end && to > end && i+1 < len(r.segs) {
		// Going on into the next segment: this one must end here.
		if _, err := sr.br.Peek(1); err != io.EOF {
			return &CorruptError{Index: idx, Segment: seg.name, Offset: sr.off,
				Err: fmt.Errorf("segment runs past record %d, where the next segment starts", end)}
		}
	}
	return nil
}

// segmentReader streams the entries of one segment file, bounded by the
// file's size when opened.
type segmentReader struct {
	f    *os.File
	br   *bufio.Reader
	off  int64 // offset of what br returns next
	size int64
}

func (r *Reader) openSegment(seg readerSegment) (*segmentReader, error) {
	f, err := os.Open(filepath.Join(r.dir, seg.name))
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: %w", err)
	}
	size := fi.Size()
	return &segmentReader{f: f, br: bufio.NewReaderSize(io.NewSectionReader(f, 0, size), readBuffer), size: size}, nil
}

func (s *segmentReader) close() { _ = s.f.Close() }

// entryLen reads the length prefix of the next entry and returns the size of
// its data. It returns io.EOF at the end of the segment, and errTorn where
// nextEntry would refuse the entry: the prefix is cut short or overflows, or
// the data runs past the end of the segment.
func (s *segmentReader) entryLen() (int, error) {
	var x uint64
	var shift uint
	for k := 0; k < 10; k++ { // binary.MaxVarintLen64
		b, err := s.br.ReadByte()
		if err != nil {
			if k == 0 && err == io.EOF {
				return 0, io.EOF
			}
			return 0, errTorn
		}
		s.off++
		if b < 0x80 {
			if k == 9 && b > 1 {
				return 0, errTorn // overflow, as binary.Uvarint sees it
			}
			x |= uint64(b) << shift
			if x > uint64(s.size-s.off) {
				return 0, errTorn
			}
			return int(x), nil
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, errTorn
}

// read reads the next len(b) bytes.
func (s *segmentReader) read(b []byte) error {
	n, err := io.ReadFull(s.br, b)
	s.off += int64(n)
	if err != nil {
		return errTorn
	}
	return nil
}

// skip discards the next n bytes.
func (s *segmentReader) skip(n int) error {
	m, err := s.br.Discard(n)
	s.off += int64(m)
	if err != nil {
		return errTorn
	}
	return nil
}
