package orderer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas/wire"
)

// Store errors.
var (
	ErrNoBlock     = errors.New("orderer: no block at that height")
	ErrRecord      = errors.New("orderer: malformed block record")
	ErrNotNext     = errors.New("orderer: block is not the next height")
	ErrBrokenChain = errors.New("orderer: block log hash chain broken")
)

const recordMagic = "GBR1"

// Record is what the block log keeps per block: the header, the quorum
// certificate, each vote's SmartBFT message (aligned with QC.Votes; it holds
// the engine's auxiliary data, needed to restart the engine), and the block
// exactly as it was agreed (the proposal payload).
//
//	"GBR1" | bytes(header) | bytes(qc) | uvarint n | n x bytes(vote msg) | bytes(block)
//
// where bytes(x) is uvarint len(x) || x. The header comes first so Header
// reads do not decode the batches.
type Record struct {
	Header    block.Header
	QC        block.QC
	VoteMsgs  [][]byte
	BlockData []byte // block.Encode output, the SmartBFT proposal payload
}

// Encode returns the record's binary form.
func (r *Record) Encode() []byte {
	hb, _ := r.Header.MarshalBinary()
	qb, _ := r.QC.MarshalBinary()
	size := len(recordMagic) + len(hb) + len(qb) + len(r.BlockData) + 4*binary.MaxVarintLen64
	for _, v := range r.VoteMsgs {
		size += len(v) + binary.MaxVarintLen64
	}
	b := make([]byte, 0, size)
	b = append(b, recordMagic...)
	b = wire.AppendBytes(b, hb)
	b = wire.AppendBytes(b, qb)
	b = binary.AppendUvarint(b, uint64(len(r.VoteMsgs)))
	for _, v := range r.VoteMsgs {
		b = wire.AppendBytes(b, v)
	}
	return wire.AppendBytes(b, r.BlockData)
}

// DecodeRecord parses a record; with headerOnly it stops after the header.
func DecodeRecord(raw []byte, headerOnly bool) (*Record, error) {
	r := wire.NewReader(raw)
	if string(r.Take(len(recordMagic))) != recordMagic {
		return nil, fmt.Errorf("%w: magic", ErrRecord)
	}
	var rec Record
	hb := r.Bytes(1 << 20)
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecord, r.Err())
	}
	if err := rec.Header.UnmarshalBinary(hb); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if headerOnly {
		return &rec, nil
	}
	qb := r.Bytes(1 << 20)
	n := r.Count(64)
	for i := 0; i < n && r.Err() == nil; i++ {
		rec.VoteMsgs = append(rec.VoteMsgs, r.Bytes(1<<20))
	}
	rec.BlockData = r.Bytes(block.MaxBlockBytes)
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecord, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrRecord, r.Len())
	}
	if err := rec.QC.UnmarshalBinary(qb); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if len(rec.VoteMsgs) != len(rec.QC.Votes) {
		return nil, fmt.Errorf("%w: %d vote messages for %d votes", ErrRecord, len(rec.VoteMsgs), len(rec.QC.Votes))
	}
	return &rec, nil
}

// Store is the block log: one record per block on ledger/wal, record index
// = block height, every append fsynced before it returns. Only the last
// header is kept in memory.
//
// Concurrency: all methods are safe for concurrent use. Appends are
// serialised by the caller (the orderer's commit path); reads may run
// alongside.
type Store struct {
	log recordLog

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
// cut a torn tail; OpenStore checks that the last record links to the one
// before it. Scan re-checks the hash chain over any range.
func OpenStore(dir string, opts wal.Options) (*Store, error) {
	l, err := wal.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return newStore(l)
}

func newStore(l recordLog) (*Store, error) {
	s := &Store{log: l}
	first, last := l.FirstIndex(), l.LastIndex()
	if last >= first {
		if first != 1 {
			l.Close()
			return nil, fmt.Errorf("%w: log starts at %d", ErrBrokenChain, first)
		}
		s.height = last
		if err := s.Scan(max(1, last-1), nil); err != nil {
			l.Close()
			return nil, err
		}
	}
	return s, nil
}

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
		raw, err := s.log.Read(h)
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
		return fmt.Errorf("%w: %v", ErrNotNext, err)
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
	return s.log.Read(h)
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
