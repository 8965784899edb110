package reconcile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/baybus/baybus/ledger/wal"
)

// This file reads a block log (ledger/wal on tidwall/wal v1.2.1) without
// writing anything, so that a stopped node's data directory can be
// reconciled read-only (even on a read-only mount). wal.Open cannot serve:
// it cuts a torn tail, may finish an interrupted truncation and fsyncs the
// files it opens for writing. The layout it reads is the one ledger/wal
// documents (segment.go, frame.go):
//
//   - segment files named by the 20-digit index of their first record,
//     each a sequence of uvarint(len) || entry;
//   - each entry a frame: magic 0xB1 | index (8, BE) | durable (8, BE) |
//     CRC-32C of the 17 header bytes and the payload (4, BE) | payload.
//
// A damaged record in the last segment ends the log there (what a restart
// would cut as a torn tail; reported through walLog.tail). Damage in an
// older segment is a *wal.CorruptError. If ledger/wal gains a read-only
// scan, this file should go (see README.md).

const (
	walNameLen     = 20
	walFrameMagic  = 0xB1
	walFrameHeader = 21
	// walMaxEntry bounds one entry: a block record is at most
	// block.MaxBlockBytes plus its header and votes.
	walMaxEntry = 80 << 20
)

var walCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTruncating: the block log holds the files of an interrupted
// truncation, which only opening it for writing resolves.
var ErrTruncating = errors.New("reconcile: block log has an interrupted truncation")

// walLog is a read-only view of a block log directory.
type walLog struct {
	dir  string
	segs []walSegment // by first index
	last uint64       // last whole record (0: empty)
	tail *wal.CorruptError
}

type walSegment struct {
	first uint64
	name  string
}

// openWalLog lists the segments and finds the last whole record by reading
// the last segment. It writes nothing.
func openWalLog(dir string) (*walLog, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reconcile: block log: %w", err)
	}
	l := &walLog{dir: dir}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || len(name) < walNameLen {
			continue
		}
		first, err := strconv.ParseUint(name[:walNameLen], 10, 64)
		if err != nil || first == 0 {
			continue
		}
		switch name[walNameLen:] {
		case "":
			l.segs = append(l.segs, walSegment{first: first, name: name})
		case ".START", ".END":
			return nil, fmt.Errorf("%w: %s in %s (start the node once, or run baybus verify-chain, to finish it)", ErrTruncating, name, dir)
		}
	}
	slices.SortFunc(l.segs, func(a, b walSegment) int { return cmpU64(a.first, b.first) })
	if len(l.segs) == 0 {
		return l, nil
	}
	if l.segs[0].first != 1 {
		return nil, &wal.CorruptError{Index: 1, Segment: l.segs[0].name, Err: fmt.Errorf("log starts at %d", l.segs[0].first)}
	}
	// Find the last whole record: read the last segment to its end.
	seg := l.segs[len(l.segs)-1]
	l.last = seg.first - 1
	err = l.scanSegment(len(l.segs)-1, seg.first, nil, func(idx uint64, _ []byte) error {
		l.last = idx
		return nil
	}, false)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Last returns the index of the last whole record.
func (l *walLog) Last() uint64 { return l.last }

// scan calls fn with the payload of every record from..to in order; want,
// if not nil, picks the records passed to fn (the others are skipped
// unread). fn owns each payload.
func (l *walLog) scan(from, to uint64, want func(uint64) bool, fn func(idx uint64, payload []byte) error) error {
	if from == 0 {
		from = 1
	}
	to = min(to, l.last)
	if from > to {
		return nil
	}
	// The segment holding from: the last one that starts at or below it.
	i, found := slices.BinarySearchFunc(l.segs, from, func(s walSegment, x uint64) int { return cmpU64(s.first, x) })
	if !found {
		i--
	}
	errStop := errors.New("stop")
	pick := func(idx uint64) bool { return idx > to || want == nil || want(idx) } // past to: read, to stop
	for ; i < len(l.segs) && l.segs[i].first <= to; i++ {
		err := l.scanSegment(i, from, pick, func(idx uint64, p []byte) error {
			if idx > to {
				return errStop
			}
			return fn(idx, p)
		}, true)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// scanSegment streams segment i, calling fn for each record at or above
// from. In the last segment a damaged record ends the log (l.tail records
// why, the first time); elsewhere it is a *wal.CorruptError. check is false
// only for the scan at open, which finds the last whole record: it reuses
// one buffer, so its fn must not keep the payload; with check true every
// payload is fn's to keep and the scan stops at the record found last.
func (l *walLog) scanSegment(i int, from uint64, want func(uint64) bool, fn func(idx uint64, payload []byte) error, check bool) error {
	seg := l.segs[i]
	lastSeg := i == len(l.segs)-1
	f, err := os.Open(filepath.Join(l.dir, seg.name))
	if err != nil {
		return fmt.Errorf("reconcile: block log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var buf []byte
	var off int64
	for idx := seg.first; ; idx++ {
		if check && idx > l.last {
			return nil // beyond what was found whole at open
		}
		size, err := binary.ReadUvarint(br)
		if err == io.EOF {
			if !lastSeg && idx != l.segs[i+1].first {
				return &wal.CorruptError{Index: idx, Segment: seg.name, Offset: off, Err: fmt.Errorf("segment ends before record %d, the next starts at %d", idx, l.segs[i+1].first)}
			}
			return nil
		}
		bad := func(why error) error {
			ce := &wal.CorruptError{Index: idx, Segment: seg.name, Offset: off, Err: why}
			if lastSeg {
				if l.tail == nil {
					l.tail = ce
				}
				return nil
			}
			return ce
		}
		if err != nil || size > walMaxEntry {
			return bad(errors.New("entry runs past the end of the segment"))
		}
		n := uvarintLen(size)
		if check && (idx < from || (want != nil && !want(idx))) && idx <= l.last {
			// Not asked for: skip it unread (it was framed and checked
			// by the scan at open if it is in the last segment).
			if _, err := br.Discard(int(size)); err != nil {
				return bad(errors.New("entry runs past the end of the segment"))
			}
			off += int64(n) + int64(size)
			continue
		}
		if check {
			buf = make([]byte, size) // handed to fn, which may keep it
		} else if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			return bad(errors.New("entry runs past the end of the segment"))
		}
		off += int64(n) + int64(size)
		payload, err := walFrame(buf, idx)
		if err != nil {
			return bad(err)
		}
		if idx < from {
			continue
		}
		if err := fn(idx, payload); err != nil {
			return err
		}
	}
}

// walFrame checks one frame and returns its payload (aliasing b).
func walFrame(b []byte, idx uint64) ([]byte, error) {
	if len(b) < walFrameHeader {
		return nil, errors.New("frame shorter than its header")
	}
	if b[0] != walFrameMagic {
		return nil, errors.New("bad magic byte")
	}
	if got := binary.BigEndian.Uint64(b[1:9]); got != idx {
		return nil, fmt.Errorf("record carries index %d", got)
	}
	sum := crc32.Update(0, walCastagnoli, b[:17])
	sum = crc32.Update(sum, walCastagnoli, b[walFrameHeader:])
	if sum != binary.BigEndian.Uint32(b[17:21]) {
		return nil, errors.New("CRC-32C mismatch")
	}
	return b[walFrameHeader:], nil
}

func uvarintLen(v uint64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], v)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
