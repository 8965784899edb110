package blocklog

import (
	"fmt"
	"sync"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/wal"
)

// Store is the block log: one record per block on ledger/wal, record index
// = block height, every append fsynced before it returns. Only the last
// header is kept in memory.
//
// Concurrency: all methods are safe for concurrent use. Appends are
// serialised by the caller (the orderer's commit path); reads may run
// alongside.
type Store struct {
	log  recordLog
	cold Cold // nil: no archive; see OpenStoreCold

	mu     sync.RWMutex
	height uint64
	last   *block.Header
}

// recordLog is what the store needs of ledger/wal (tests decorate it to
// inject crashes).
type recordLog interface {
	Append(data ...[]byte) (first uint64, err error)
	Read(index uint64) ([]byte, error)
	FirstIndex() uint64
	LastIndex() uint64
	Close() error
}

// OpenStore opens (or creates) the block log in dir. ledger/wal has already
// cut a torn tail (a crash in the middle of an append); a whole record that
// fails its CRC is corruption, an error wrapping wal.ErrCorrupt (a
// *wal.CorruptError whose Index is the block's height), and nothing is cut.
// OpenStore checks that the last record links to the one before it. Scan
// re-checks the hash chain over any range.
func OpenStore(dir string, opts wal.Options) (*Store, error) {
	l, err := wal.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return newStore(l)
}

func newStore(l recordLog) (*Store, error) { return newStoreCold(l, nil) }

// Scan visits the records from height from to the last, in order, checking
// that each links to the one before it (from's to its parent). fn may be nil.
func (s *Store) Scan(from uint64, fn func(*Record) error) error {
	height := s.Height()
	var prev *block.Header
	if from > 1 && from <= height {
		h, err := s.Header(from - 1)
		if err != nil {
			return err
		}
		prev = h
	}
	for h := from; h <= height; h++ {
		raw, err := s.read(h)
		if err != nil {
			return err
		}
		rec, err := DecodeRecord(raw, fn == nil)
		if err != nil {
			return fmt.Errorf("block %d: %w", h, err)
		}
		if err := Links(prev, &rec.Header); err != nil {
			return err
		}
		if fn != nil {
			if err := fn(rec); err != nil {
				return err
			}
		}
		hdr := rec.Header
		prev = &hdr
	}
	s.mu.Lock()
	if prev != nil && prev.Height == s.height {
		s.last = prev
	}
	s.mu.Unlock()
	return nil
}

// Links checks that header h is the block after parent (the first block
// if parent is nil): the next height, with parent's hash as Prev. Errors
// wrap ErrBrokenChain.
func Links(parent, h *block.Header) error {
	var prev [32]byte
	height := uint64(1)
	if parent != nil {
		prev, height = parent.Hash(), parent.Height+1
	}
	if h.Height != height || h.Prev != prev {
		return fmt.Errorf("%w: block %d does not follow block %d", ErrBrokenChain, h.Height, height-1)
	}
	return nil
}

// Height returns the height of the last block, 0 for an empty chain.
func (s *Store) Height() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.height
}

// Last returns the last header (nil for an empty chain). The caller must not
// modify it.
func (s *Store) Last() *block.Header {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

// Hash returns the hash of header h, reading it from the log.
func (s *Store) Hash(h uint64) ([32]byte, bool) {
	hdr, err := s.Header(h)
	if err != nil {
		return [32]byte{}, false
	}
	return hdr.Hash(), true
}

// Append writes the next block's record durably. The record's header must
// link to the last one.
func (s *Store) Append(rec *Record) error {
	s.mu.RLock()
	last := s.last
	s.mu.RUnlock()
	if err := Links(last, &rec.Header); err != nil {
		return fmt.Errorf("%w: %w", ErrNotNext, err)
	}
	idx, err := s.log.Append(rec.Encode())
	if err != nil {
		return err
	}
	if idx != rec.Header.Height {
		return fmt.Errorf("%w: log index %d for block %d", ErrBrokenChain, idx, rec.Header.Height)
	}
	hdr := rec.Header
	s.mu.Lock()
	s.height, s.last = hdr.Height, &hdr
	s.mu.Unlock()
	return nil
}

// Raw returns the encoded record of block h.
func (s *Store) Raw(h uint64) ([]byte, error) {
	s.mu.RLock()
	height := s.height
	s.mu.RUnlock()
	if h == 0 || h > height {
		return nil, fmt.Errorf("%w: %d", ErrNoBlock, h)
	}
	return s.read(h)
}

// Record returns the record of block h.
func (s *Store) Record(h uint64) (*Record, error) {
	raw, err := s.Raw(h)
	if err != nil {
		return nil, err
	}
	return DecodeRecord(raw, false)
}

// Header returns the header of block h.
func (s *Store) Header(h uint64) (*block.Header, error) {
	raw, err := s.Raw(h)
	if err != nil {
		return nil, err
	}
	rec, err := DecodeRecord(raw, true)
	if err != nil {
		return nil, err
	}
	return &rec.Header, nil
}

// QC returns the quorum certificate of block h.
func (s *Store) QC(h uint64) (*block.QC, error) {
	rec, err := s.Record(h)
	if err != nil {
		return nil, err
	}
	return &rec.QC, nil
}

// Block returns block h decoded.
func (s *Store) Block(h uint64) (*block.Block, error) {
	rec, err := s.Record(h)
	if err != nil {
		return nil, err
	}
	return block.Decode(rec.BlockData)
}

// Close closes the log.
func (s *Store) Close() error { return s.log.Close() }
