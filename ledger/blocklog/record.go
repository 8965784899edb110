package blocklog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas/wire"
)

// Errors.
var (
	ErrNoBlock     = errors.New("blocklog: no block at that height")
	ErrRecord      = errors.New("blocklog: malformed block record")
	ErrNotNext     = errors.New("blocklog: block is not the next height")
	ErrBrokenChain = errors.New("blocklog: block log hash chain broken")
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
		return nil, fmt.Errorf("%w: %w", ErrRecord, r.Err())
	}
	if err := rec.Header.UnmarshalBinary(hb); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecord, err)
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
		return nil, fmt.Errorf("%w: %w", ErrRecord, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrRecord, r.Len())
	}
	if err := rec.QC.UnmarshalBinary(qb); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecord, err)
	}
	if len(rec.VoteMsgs) != len(rec.QC.Votes) {
		return nil, fmt.Errorf("%w: %d vote messages for %d votes", ErrRecord, len(rec.VoteMsgs), len(rec.QC.Votes))
	}
	return &rec, nil
}
