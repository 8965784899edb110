package wal

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// This file knows tidwall/wal v1.2.1's on-disk layout, which the package
// needs in four places tidwall does not serve: repairing a torn last segment
// before tidwall opens it, writing a torn record on purpose (CrashAfter),
// keeping track of the tail segment so a newly created segment file's
// directory entry gets fsynced, and reading a log without writing to it
// (Reader, reader.go).
//
// A log directory holds segment files named by the 20-digit decimal index of
// their first entry ("00000000000000000001"). A binary segment is a plain
// sequence of entries, each uvarint(len(data)) followed by data; no header,
// trailer or checksum. While a truncation is under way the segment being
// rewritten also exists as NAME.START (TruncateFront) or NAME.END
// (TruncateBack), written through NAME.START.TEMP or NAME.END.TEMP; tidwall's
// Open finishes an interrupted truncation.

const segmentNameLen = 20

// segmentName is the file name of the segment whose first entry is index.
func segmentName(index uint64) string {
	return fmt.Sprintf("%0*d", segmentNameLen, index)
}

// appendEntry appends one tidwall entry holding data to dst.
func appendEntry(dst, data []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(data)))
	return append(dst, data...)
}

// entrySize is the number of bytes appendEntry adds for n bytes of data.
func entrySize(n int) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], uint64(n)) + n
}

// nextEntry decodes the entry at the start of b. It returns the entry's data
// (aliasing b) and the entry's size, or ok false if b does not start with a
// whole entry.
func nextEntry(b []byte) (data []byte, n int, ok bool) {
	size, k := binary.Uvarint(b)
	if k <= 0 || size > uint64(len(b)-k) {
		return nil, 0, false
	}
	end := k + int(size)
	return b[k:end], end, true
}

// sectorSize is the unit a disk writes atomically: a crash in the middle of
// a write leaves each sector either written or not, and an unwritten sector
// of a file that grew reads back as zeros.
const sectorSize = 512

// tailScan is what scanTail finds in the last segment.
type tailScan struct {
	good int    // bytes of whole, valid records from the start of the segment
	next uint64 // index of the first record past good
	bad  error  // why the record at good is refused; nil if the segment is whole
	// corrupt is set when the damage cannot be a torn write: the refused
	// entry is whole (its length fits in the segment) and none of its
	// sectors is unwritten, or a valid record after it was written after
	// it had been fsynced (witness).
	corrupt bool
	witness uint64 // index of that later record, 0 if the entry alone shows it
}

// scanTail checks a last segment, which starts at file offset base, whose
// first record has index first. Records are accepted while they decode,
// pass their CRC and carry consecutive indexes. At the first that does not,
// it decides between a torn write and corruption, as etcd's WAL decoder
// does:
//
//   - A torn write leaves a short entry (its length runs past the end of the
//     segment) or an entry with an unwritten sector: a sector-aligned chunk
//     of its data that is all zeros (a zero-filled tail is the extreme
//     case: an entry of length 0).
//   - A whole entry that fails its checks without such a sector was written
//     out completely and damaged afterwards: corruption.
//
// Damage that looks torn is still corruption if a valid frame after it
// carries a durable watermark that reaches the refused index: that record
// was written after an fsync that covered the damaged one. The rest of the
// segment is searched byte by byte for one.
//
// Anything else past the damage (nothing valid, or valid records of the same
// interrupted Append, which the disk may have written out of order) is a
// torn tail: never acknowledged as durable, so safe to cut.
//
// scanTail is pure, so it can be fuzzed.
func scanTail(seg []byte, base int64, first uint64) tailScan {
	s := tailScan{next: first}
	for s.good < len(seg) {
		data, n, ok := nextEntry(seg[s.good:])
		if !ok {
			s.bad = errTorn
			break
		}
		f, _, err := decodeFrame(data)
		if err == nil && f.index != s.next {
			err = errIndex
		}
		if err != nil {
			s.bad = err
			dataAt := base + int64(s.good+n-len(data))
			s.corrupt = !unwrittenSector(data, dataAt)
			break
		}
		s.good += n
		s.next++
	}
	if s.bad == nil || s.corrupt {
		return s
	}
	for q := s.good + 1; q < len(seg); q++ {
		data, _, ok := nextEntry(seg[q:])
		if !ok || len(data) < frameHeader || data[0] != frameMagic {
			continue
		}
		if f, _, err := decodeFrame(data); err == nil && f.durable >= s.next {
			s.corrupt, s.witness = true, f.index
			break
		}
	}
	return s
}

// unwrittenSector reports whether data, found at file offset at, has a
// sector-aligned chunk that is all zeros (or is empty): what a write cut
// short by a crash leaves where the disk had not yet written a sector. It
// is etcd's isTornEntry.
func unwrittenSector(data []byte, at int64) bool {
	if len(data) == 0 {
		return true
	}
	for len(data) > 0 {
		n := min(int(sectorSize-at%sectorSize), len(data))
		if allZero(data[:n]) {
			return true
		}
		data, at = data[n:], at+int64(n)
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// corruption is the error for damage that scanTail found is not a torn
// write, at offset in segment.
func (s tailScan) corruption(segment string, offset int64) *CorruptError {
	why := fmt.Errorf("%w (a whole record, none of its sectors unwritten: damaged after it was written, not torn)", s.bad)
	if s.witness != 0 {
		why = fmt.Errorf("%w (record %d, written later, shows %d had been fsynced)", s.bad, s.witness, s.next)
	}
	return &CorruptError{Index: s.next, Segment: segment, Offset: offset, Err: why}
}

// repair describes a torn tail cut back by repairTail.
type repair struct {
	segment string // file name
	offset  int64  // new size of the segment file
	index   uint64 // first index cut
	bytes   int64  // bytes cut
	reason  error
}

// repairTail finds the segment tidwall will append to, checks it with
// scanTail, and cuts a torn tail so that tidwall can open the log. It returns
// nil, nil if there was nothing to cut, and a *CorruptError if the damage is
// not a torn tail.
func repairTail(dir string) (*repair, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	// Mirror tidwall's choice of the tail: the first .END file if a
	// TruncateBack was interrupted, else the last segment file by name.
	var tail string
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || len(name) < segmentNameLen {
			continue
		}
		if i, err := strconv.ParseUint(name[:segmentNameLen], 10, 64); err != nil || i == 0 {
			continue
		}
		switch name[segmentNameLen:] {
		case "", ".START", ".END":
			if !strings.HasSuffix(tail, ".END") {
				tail = name
			}
		case ".START.TEMP", ".END.TEMP":
			// Left by a truncation that crashed before its rename; tidwall
			// ignores it and writes it afresh next time.
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("wal: %w", err)
			}
		}
	}
	if tail == "" {
		return nil, nil
	}
	first, _ := strconv.ParseUint(tail[:segmentNameLen], 10, 64)
	path := filepath.Join(dir, tail)
	seg, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	s := scanTail(seg, 0, first)
	if s.bad == nil {
		return nil, nil
	}
	if s.corrupt {
		return nil, s.corruption(tail, int64(s.good))
	}
	if err := truncateFile(path, int64(s.good)); err != nil {
		return nil, err
	}
	return &repair{
		segment: tail,
		offset:  int64(s.good),
		index:   s.next,
		bytes:   int64(len(seg) - s.good),
		reason:  s.bad,
	}, nil
}

// truncateFile cuts the file at path to size bytes and fsyncs it.
func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: cut torn tail: %w", err)
	}
	return nil
}

// lastSegment returns the first index and size of the last segment file in
// dir.
func lastSegment(dir string) (first uint64, size int64, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("wal: %w", err)
	}
	var name string
	for _, e := range ents {
		if n := e.Name(); len(n) == segmentNameLen && !e.IsDir() {
			if i, err := strconv.ParseUint(n, 10, 64); err == nil && i > 0 {
				first, name = i, n
			}
		}
	}
	if name == "" {
		return 0, 0, fmt.Errorf("wal: no segment file in %s", dir)
	}
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return 0, 0, fmt.Errorf("wal: %w", err)
	}
	return first, fi.Size(), nil
}

// syncDir fsyncs a directory, making file creations, renames and removals in
// it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: sync directory: %w", err)
	}
	return nil
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: sync: %w", err)
	}
	return nil
}
