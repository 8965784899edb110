package block

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/wire"
)

const refsMagic = "GBR1"

// Refs is a block as the leader proposes it: the header, the results and a
// reference to each batch in place of the batch. Every orderer reads every
// batch from GBA_TX and checks it there, so the followers already hold what
// a proposal would carry; a proposal of a few kilobytes replaces one of
// megabytes that each follower would receive, hash (the engine digests a
// proposal three times) and write to its engine WAL. The block log keeps
// the whole block (Encode).
type Refs struct {
	Header  Header
	Results []Result
	Batches []BatchRef
}

// BatchRef names one batch of a block. The id is a hash of the batch's
// signed header, which commits to its transactions; Auth is a hash of the
// key id and signature, which the id does not cover, so a reference names
// one exact batch frame.
type BatchRef struct {
	City string
	ID   string
	Auth [32]byte
}

// RefOf returns the reference to a batch.
func RefOf(bt *schemas.Batch) BatchRef {
	b := wire.AppendString(make([]byte, 0, 8+len(bt.KeyID)+len(bt.Signature)), bt.KeyID)
	return BatchRef{City: bt.City, ID: bt.ID(), Auth: sha256.Sum256(wire.AppendBytes(b, bt.Signature))}
}

// RefsOf returns the references form of a block.
func RefsOf(b *Block) *Refs {
	r := &Refs{Header: b.Header, Results: b.Results, Batches: make([]BatchRef, len(b.Batches))}
	for i, bt := range b.Batches {
		r.Batches[i] = RefOf(bt)
	}
	return r
}

// Encode returns the references' binary form:
//
//	"GBR1" | uvarint len | header | uvarint n | n result bytes |
//	uvarint m | m x (uvarint len | city | uvarint len | id | 32-byte auth)
func (r *Refs) Encode() []byte {
	hb, _ := r.Header.MarshalBinary()
	out := appendHead(make([]byte, 0, len(refsMagic)+len(hb)+len(r.Results)+3*binary.MaxVarintLen64+len(r.Batches)*96),
		refsMagic, hb, r.Results, len(r.Batches))
	for _, b := range r.Batches {
		out = wire.AppendString(out, b.City)
		out = wire.AppendString(out, b.ID)
		out = append(out, b.Auth[:]...)
	}
	return out
}

// DecodeRefs parses what Refs.Encode wrote.
func DecodeRefs(p []byte) (*Refs, error) {
	var out Refs
	r, n, err := readHead(p, refsMagic, &out.Header, &out.Results)
	if err != nil {
		return nil, err
	}
	out.Batches = make([]BatchRef, n)
	for i := range out.Batches {
		b := &out.Batches[i]
		b.City = r.String(64)
		b.ID = r.String(64)
		copy(b.Auth[:], r.Take(32))
	}
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: batch references: %v", ErrFormat, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, r.Len())
	}
	return &out, nil
}

// Block joins the references with the batches they name, in order. Each
// batch must be the one its reference names, and the results must count
// the transactions; signatures and results are checked by Verify.
func (r *Refs) Block(batches []*schemas.Batch) (*Block, error) {
	if len(batches) != len(r.Batches) {
		return nil, fmt.Errorf("%w: %d batches for %d references", ErrFormat, len(batches), len(r.Batches))
	}
	b := &Block{Header: r.Header, Batches: batches, Results: r.Results}
	for i, bt := range batches {
		if RefOf(bt) != r.Batches[i] {
			return nil, fmt.Errorf("%w: batch %d is not %s of %s", ErrBadBatch, i, r.Batches[i].ID, r.Batches[i].City)
		}
	}
	if b.TxCount() != len(b.Results) {
		return nil, fmt.Errorf("%w: %d results for %d transactions", ErrFormat, len(b.Results), b.TxCount())
	}
	return b, nil
}
