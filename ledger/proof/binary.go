package proof

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/wire"
)

const (
	binaryMagic = "GBP1"
	batchMagic  = "GBB1"
)

// MarshalBinary returns the bundle's compact form (see README.md):
//
//	"GBP1" | bytes key | tx | u8 hasRecord | [record]
//	| uvarint n | n x (bytes header | uvarint v | v x (bytes signer | bytes keyId | bytes sig))
//	| u64 stateHeight | bytes leaf (canonical smt encoding, empty if none) | bytes smtProof
//
//	tx: bytes canonicalTx | id (32) | bytes signedBatchHeader | bytes keyId | bytes signature
//	    | uvarint batchIndex | path | u64 height | uvarint leafIndex | uvarint treeSize | path
//	path: uvarint n | n x 32 bytes
//
// bytes(x) is uvarint len(x) || x; integers are big-endian; every uvarint
// is minimal, so one bundle has one binary encoding.
func (b *Bundle) MarshalBinary() ([]byte, error) {
	if err := b.checkShape(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 4096)
	out = append(out, binaryMagic...)
	out = wire.AppendBytes(out, []byte(b.Key))
	out = appendTx(out, &b.Tx)
	if b.Record != nil {
		out = append(out, 1)
		out = appendTx(out, b.Record)
	} else {
		out = append(out, 0)
	}
	out = binary.AppendUvarint(out, uint64(len(b.Headers)))
	for _, h := range b.Headers {
		out = wire.AppendBytes(out, h.Raw)
		out = binary.AppendUvarint(out, uint64(len(h.QC.Votes)))
		for _, v := range h.QC.Votes {
			out = wire.AppendBytes(out, []byte(v.Signer))
			out = wire.AppendBytes(out, []byte(v.KeyID))
			out = wire.AppendBytes(out, v.Sig)
		}
	}
	out = binary.BigEndian.AppendUint64(out, b.State.Height)
	var leaf []byte
	if b.State.Leaf != nil {
		var err error
		if leaf, err = b.State.Leaf.MarshalBinary(); err != nil {
			return nil, fmt.Errorf("%w: state leaf: %v", ErrDecode, err)
		}
	}
	out = wire.AppendBytes(out, leaf)
	sp, err := b.State.Proof.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: state proof: %v", ErrDecode, err)
	}
	out = wire.AppendBytes(out, sp)
	return out, nil
}

func appendTx(out []byte, p *TxProof) []byte {
	out = wire.AppendBytes(out, p.Bytes)
	out = append(out, p.ID[:]...)
	bh := p.Batch.Header()
	out = wire.AppendBytes(out, bh.SignedBytes())
	out = wire.AppendBytes(out, []byte(p.Batch.KeyID))
	out = wire.AppendBytes(out, p.Batch.Signature)
	out = binary.AppendUvarint(out, p.Batch.Index)
	out = appendPath(out, p.Batch.Path)
	out = binary.BigEndian.AppendUint64(out, p.Height)
	out = binary.AppendUvarint(out, p.Index)
	out = binary.AppendUvarint(out, p.Size)
	return appendPath(out, p.Path)
}

func appendPath(out []byte, path []Hash) []byte {
	out = binary.AppendUvarint(out, uint64(len(path)))
	for _, h := range path {
		out = append(out, h[:]...)
	}
	return out
}

// DecodeBinary parses the compact form, refusing anything MarshalBinary
// would not write. Errors wrap ErrDecode.
func DecodeBinary(raw []byte) (*Bundle, error) {
	if len(raw) > MaxBundleBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrDecode, len(raw), MaxBundleBytes)
	}
	r := wire.NewReader(raw)
	if string(r.Take(len(binaryMagic))) != binaryMagic {
		return nil, fmt.Errorf("%w: binary magic", ErrDecode)
	}
	b := &Bundle{V: Version}
	b.Key = string(r.Bytes(smt.MaxKeyLen))
	readTx(r, &b.Tx)
	switch r.U8() {
	case 0:
	case 1:
		b.Record = &TxProof{}
		readTx(r, b.Record)
	default:
		r.Fail(errors.New("record flag"))
	}
	n := r.Uvarint(MaxHeaders)
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		var h SealedHeader
		h.Raw = r.Bytes(maxHeaderBytes)
		votes := r.Uvarint(MaxVotes)
		for j := uint64(0); j < votes && r.Err() == nil; j++ {
			h.QC.Votes = append(h.QC.Votes, block.Vote{Signer: string(r.Bytes(maxNameBytes)), KeyID: string(r.Bytes(maxNameBytes)), Sig: r.Bytes(maxSigBytes)})
		}
		b.Headers = append(b.Headers, h)
	}
	b.State.Height = r.U64()
	leaf := r.Bytes(uint64(smt.MaxLeafLen))
	sp := r.Bytes(4 + smt.MaxDepth/8 + 32*smt.MaxDepth + 64)
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: binary: %v", ErrDecode, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: binary: %d trailing bytes", ErrDecode, r.Len())
	}
	if len(leaf) > 0 {
		b.State.Leaf = &smt.Leaf{}
		if err := b.State.Leaf.UnmarshalBinary(leaf); err != nil {
			return nil, fmt.Errorf("%w: state leaf: %v", ErrDecode, err)
		}
	}
	if err := b.State.Proof.UnmarshalBinary(sp); err != nil {
		return nil, fmt.Errorf("%w: state proof: %v", ErrDecode, err)
	}
	if err := b.checkShape(); err != nil {
		return nil, err
	}
	return b, nil
}

func readHash(r *wire.Reader) (h Hash) {
	copy(h[:], r.Take(32))
	return h
}

func readPath(r *wire.Reader) []Hash {
	n := r.Uvarint(MaxPath)
	if r.Err() != nil {
		return nil
	}
	out := make([]Hash, 0, n)
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		out = append(out, readHash(r))
	}
	return out
}

func readTx(r *wire.Reader, p *TxProof) {
	p.Bytes = r.Bytes(schemas.MaxTxBytes)
	p.ID = readHash(r)
	if bh := r.Bytes(4 + 2*(binary.MaxVarintLen16+64) + 8 + 8 + 4 + 32); r.Err() == nil {
		h, err := parseBatchHeader(bh)
		if err != nil {
			r.Fail(err)
			return
		}
		p.Batch = BatchProof{Chain: h.Chain, City: h.City, CreatedAt: h.CreatedAt, Seq: h.Seq, Count: h.Count, Root: h.Root}
	}
	p.Batch.KeyID = string(r.Bytes(maxNameBytes))
	p.Batch.Signature = r.Bytes(maxSigBytes)
	p.Batch.Index = r.Uvarint(^uint64(0))
	p.Batch.Path = readPath(r)
	p.Height = r.U64()
	p.Index = r.Uvarint(^uint64(0))
	p.Size = r.Uvarint(^uint64(0))
	p.Path = readPath(r)
}

// parseBatchHeader reads a signed batch header (schemas.BatchHeader's
// SignedBytes) and refuses any bytes SignedBytes would not write.
func parseBatchHeader(raw []byte) (*schemas.BatchHeader, error) {
	r := wire.NewReader(raw)
	if string(r.Take(len(batchMagic))) != batchMagic {
		return nil, errors.New("batch header magic")
	}
	var h schemas.BatchHeader
	h.Chain = string(r.Bytes(64))
	h.City = string(r.Bytes(64))
	h.CreatedAt = int64(r.U64())
	h.Seq = r.U64()
	if p := r.Take(4); p != nil {
		h.Count = binary.BigEndian.Uint32(p)
	}
	h.Root = readHash(r)
	if r.Err() != nil {
		return nil, fmt.Errorf("batch header: %v", r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("batch header: %d trailing bytes", r.Len())
	}
	return &h, nil
}

// EncodeJSON returns the bundle's JSON form, indented, with a final newline.
func EncodeJSON(b *Bundle) ([]byte, error) {
	if err := b.checkShape(); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
