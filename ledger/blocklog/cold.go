package blocklog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baybus/baybus/ledger/wal"
)

// Cold is where the blocks below the live log go once archived
// (ledger/archive implements it over a directory or an S3-compatible
// store). It holds blocks 1..Height, and only ever grows at the top.
type Cold interface {
	// Height returns the highest block held (0 for none).
	Height() uint64
	// Raw returns the record of block h, 1 <= h <= Height, checked
	// against the damage the store can detect; an error otherwise.
	Raw(ctx context.Context, h uint64) ([]byte, error)
	// Put stores the records of blocks from..from+len(raws)-1; from is
	// Height()+1. It returns once they are durable there.
	Put(ctx context.Context, from uint64, raws [][]byte) error
}

// ErrArchive: the block log and its archive do not fit together, or an
// archiving request cannot be met.
var ErrArchive = errors.New("blocklog: archive")

var errStop = errors.New("stop")

// ColdReadTimeout bounds one read from the archive made by a read that
// takes no context (Raw, Record, Header, Scan).
const ColdReadTimeout = 30 * time.Second

// truncater is what archiving needs of the log beyond recordLog.
type truncater interface {
	TruncateFront(index uint64) error
}

// OpenStoreCold opens the block log in dir as OpenStore does, with cold
// holding the blocks below the live log: reads of those heights go to
// cold, and Archive moves more of the log there. The live log may start
// anywhere from block 1 to cold.Height()+1 (an archiving interrupted
// after the archive took a range, before the log was cut, leaves them
// overlapping); a gap between the two is ErrArchive.
func OpenStoreCold(dir string, opts wal.Options, cold Cold) (*Store, error) {
	l, err := wal.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return newStoreCold(l, cold)
}

func newStoreCold(l recordLog, cold Cold) (*Store, error) {
	s := &Store{log: l, cold: cold}
	first, last := l.FirstIndex(), l.LastIndex()
	if last < first {
		if cold == nil || cold.Height() == 0 {
			if first != 1 {
				l.Close()
				return nil, fmt.Errorf("%w: an empty log that starts at %d", ErrBrokenChain, first)
			}
			return s, nil
		}
		// A log that continues the archive (ContinueArchive): the chain's
		// last block is the archive's.
		if first != cold.Height()+1 {
			l.Close()
			return nil, fmt.Errorf("%w: the live log is empty from block %d but the archive holds blocks 1..%d", ErrArchive, first, cold.Height())
		}
		s.height = cold.Height()
		hdr, err := s.Header(s.height)
		if err != nil {
			l.Close()
			return nil, err
		}
		s.last = hdr
		return s, nil
	}
	if first != 1 {
		if cold == nil {
			l.Close()
			return nil, fmt.Errorf("%w: log starts at %d", ErrBrokenChain, first)
		}
		if first > cold.Height()+1 {
			l.Close()
			return nil, fmt.Errorf("%w: the live log starts at block %d but the archive holds only 1..%d", ErrArchive, first, cold.Height())
		}
	}
	s.height = last
	if err := s.Scan(max(1, last-1), nil); err != nil {
		l.Close()
		return nil, err
	}
	if first > 1 && last > first {
		// Across the boundary: the archive's last block is the live
		// log's parent.
		if err := s.Scan(first, func(rec *Record) error { return errStop }); err != nil && !errors.Is(err, errStop) {
			l.Close()
			return nil, err
		}
	}
	return s, nil
}

// ContinueArchive creates, in dir, an empty block log that continues cold:
// its first block will be cold.Height()+1. It is how an orderer that
// joins from a snapshot starts its log over a copy of a peer's archive
// (ledger/node.Join). A directory that holds a log is refused.
func ContinueArchive(dir string, cold Cold) error {
	if cold.Height() == 0 {
		return fmt.Errorf("%w: the archive is empty", ErrArchive)
	}
	return wal.CreateAt(dir, cold.Height()+1)
}

// First returns the first height the live log holds (Height()+1 if it
// holds none); blocks below it are read from the archive.
func (s *Store) First() uint64 { return s.log.FirstIndex() }

// Archived returns the highest block the archive holds (0 with no archive).
func (s *Store) Archived() uint64 {
	if s.cold == nil {
		return 0
	}
	return s.cold.Height()
}

// Archive moves the blocks up to and including below from the live log to
// the archive, in pieces of about chunkBytes (records are never split),
// and then cuts them from the live log. The live log always keeps the last
// block: below must be under Height. Blocks already archived are skipped,
// so an archiving interrupted at any point is finished by calling Archive
// again. It returns the number of blocks newly archived. Archive and
// Append may run at the same time; reads may too (a read that finds its
// block just cut reads it from the archive).
func (s *Store) Archive(ctx context.Context, below uint64, chunkBytes int) (int, error) {
	if s.cold == nil {
		return 0, fmt.Errorf("%w: no archive configured", ErrArchive)
	}
	tr, ok := s.log.(truncater)
	if !ok {
		return 0, fmt.Errorf("%w: the log cannot be cut", ErrArchive)
	}
	if below >= s.Height() {
		return 0, fmt.Errorf("%w: cannot archive through block %d: the live log keeps its last block (%d)", ErrArchive, below, s.Height())
	}
	if chunkBytes <= 0 {
		chunkBytes = 4 << 20
	}
	moved := 0
	var chunk [][]byte
	size := 0
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		from := s.cold.Height() + 1
		if err := s.cold.Put(ctx, from, chunk); err != nil {
			return err
		}
		moved += len(chunk)
		chunk, size = nil, 0
		return nil
	}
	for h := s.cold.Height() + 1; h <= below; h++ {
		if err := ctx.Err(); err != nil {
			return moved, err
		}
		raw, err := s.log.Read(h)
		if err != nil {
			return moved, fmt.Errorf("%w: reading block %d: %w", ErrArchive, h, err)
		}
		chunk = append(chunk, raw)
		size += len(raw)
		if size >= chunkBytes {
			if err := flush(); err != nil {
				return moved, err
			}
		}
	}
	if err := flush(); err != nil {
		return moved, err
	}
	if cut := min(s.cold.Height(), below) + 1; cut > s.First() {
		if err := tr.TruncateFront(cut); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// read returns the raw record of block h, from the live log or, below it,
// from the archive.
func (s *Store) read(h uint64) ([]byte, error) {
	if s.cold != nil && h < s.log.FirstIndex() {
		return s.coldRaw(h)
	}
	raw, err := s.log.Read(h)
	if err != nil && s.cold != nil && errors.Is(err, wal.ErrNotFound) && h < s.log.FirstIndex() {
		return s.coldRaw(h) // cut by Archive since we looked
	}
	return raw, err
}

func (s *Store) coldRaw(h uint64) ([]byte, error) {
	if h > s.cold.Height() {
		return nil, fmt.Errorf("%w: %d (the archive holds 1..%d, the live log %d..%d)", ErrNoBlock, h, s.cold.Height(), s.log.FirstIndex(), s.log.LastIndex())
	}
	ctx, cancel := context.WithTimeout(context.Background(), ColdReadTimeout)
	defer cancel()
	return s.cold.Raw(ctx, h)
}
