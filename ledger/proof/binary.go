package proof

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
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
	out = appendBytes(out, []byte(b.Key))
	out = appendTx(out, &b.Tx)
	if b.Record != nil {
		out = append(out, 1)
		out = appendTx(out, b.Record)
	} else {
		out = append(out, 0)
	}
	out = binary.AppendUvarint(out, uint64(len(b.Headers)))
	for _, h := range b.Headers {
		out = appendBytes(out, h.Raw)
		out = binary.AppendUvarint(out, uint64(len(h.QC.Votes)))
		for _, v := range h.QC.Votes {
			out = appendBytes(out, []byte(v.Signer))
			out = appendBytes(out, []byte(v.KeyID))
			out = appendBytes(out, v.Sig)
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
	out = appendBytes(out, leaf)
	sp, err := b.State.Proof.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: state proof: %v", ErrDecode, err)
	}
	out = appendBytes(out, sp)
	return out, nil
}

func appendTx(out []byte, p *TxProof) []byte {
	out = appendBytes(out, p.Bytes)
	out = append(out, p.ID[:]...)
	bh := p.Batch.Header()
	out = appendBytes(out, bh.SignedBytes())
	out = appendBytes(out, []byte(p.Batch.KeyID))
	out = appendBytes(out, p.Batch.Signature)
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

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// DecodeBinary parses the compact form, refusing anything MarshalBinary
// would not write. Errors wrap ErrDecode.
func DecodeBinary(raw []byte) (*Bundle, error) {
	if len(raw) > MaxBundleBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrDecode, len(raw), MaxBundleBytes)
	}
	r := reader{buf: raw}
	if string(r.take(len(binaryMagic))) != binaryMagic {
		return nil, fmt.Errorf("%w: binary magic", ErrDecode)
	}
	b := &Bundle{V: Version}
	b.Key = string(r.bytes(smt.MaxKeyLen))
	r.tx(&b.Tx)
	switch r.u8() {
	case 0:
	case 1:
		b.Record = &TxProof{}
		r.tx(b.Record)
	default:
		r.fail("record flag")
	}
	n := r.uvarint(MaxHeaders)
	for i := uint64(0); i < n && r.err == nil; i++ {
		var h SealedHeader
		h.Raw = r.bytes(maxHeaderBytes)
		votes := r.uvarint(MaxVotes)
		for j := uint64(0); j < votes && r.err == nil; j++ {
			h.QC.Votes = append(h.QC.Votes, block.Vote{Signer: string(r.bytes(maxNameBytes)), KeyID: string(r.bytes(maxNameBytes)), Sig: r.bytes(maxSigBytes)})
		}
		b.Headers = append(b.Headers, h)
	}
	b.State.Height = r.u64()
	leaf := r.bytes(1 + binary.MaxVarintLen16 + smt.MaxKeyLen + 1 + 32 + 8 + 32)
	sp := r.bytes(4 + smt.MaxDepth/8 + 32*smt.MaxDepth + 64)
	if r.err != nil {
		return nil, fmt.Errorf("%w: binary: %v", ErrDecode, r.err)
	}
	if len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: binary: %d trailing bytes", ErrDecode, len(r.buf))
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

// reader consumes the binary form; the first error sticks.
type reader struct {
	buf []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = errors.New(what)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf) {
		r.err = fmt.Errorf("truncated: want %d bytes, have %d", n, len(r.buf))
		return nil
	}
	p := r.buf[:n:n]
	r.buf = r.buf[n:]
	return p
}

func (r *reader) u8() byte {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	switch {
	case n <= 0:
		r.err = errors.New("bad uvarint")
		return 0
	case n != len(binary.AppendUvarint(nil, v)):
		r.err = errors.New("uvarint not minimal")
		return 0
	case v > limit:
		r.err = fmt.Errorf("value %d over limit %d", v, limit)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) bytes(limit uint64) []byte { return r.take(int(r.uvarint(limit))) }

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) hash() (h Hash) {
	copy(h[:], r.take(32))
	return h
}

func (r *reader) path() []Hash {
	n := r.uvarint(MaxPath)
	if r.err != nil {
		return nil
	}
	out := make([]Hash, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		out = append(out, r.hash())
	}
	return out
}

func (r *reader) tx(p *TxProof) {
	p.Bytes = r.bytes(schemas.MaxTxBytes)
	p.ID = r.hash()
	if bh := r.bytes(4 + 2*(binary.MaxVarintLen16+64) + 8 + 8 + 4 + 32); r.err == nil {
		h, err := parseBatchHeader(bh)
		if err != nil {
			r.err = err
			return
		}
		p.Batch = BatchProof{Chain: h.Chain, City: h.City, CreatedAt: h.CreatedAt, Seq: h.Seq, Count: h.Count, Root: h.Root}
	}
	p.Batch.KeyID = string(r.bytes(maxNameBytes))
	p.Batch.Signature = r.bytes(maxSigBytes)
	p.Batch.Index = r.uvarint(^uint64(0))
	p.Batch.Path = r.path()
	p.Height = r.u64()
	p.Index = r.uvarint(^uint64(0))
	p.Size = r.uvarint(^uint64(0))
	p.Path = r.path()
}

// parseBatchHeader reads a signed batch header (schemas.BatchHeader's
// SignedBytes) and refuses any bytes SignedBytes would not write.
func parseBatchHeader(raw []byte) (*schemas.BatchHeader, error) {
	r := reader{buf: raw}
	if string(r.take(len(batchMagic))) != batchMagic {
		return nil, errors.New("batch header magic")
	}
	var h schemas.BatchHeader
	h.Chain = string(r.bytes(64))
	h.City = string(r.bytes(64))
	h.CreatedAt = int64(r.u64())
	h.Seq = r.u64()
	if p := r.take(4); p != nil {
		h.Count = binary.BigEndian.Uint32(p)
	}
	h.Root = r.hash()
	if r.err != nil {
		return nil, fmt.Errorf("batch header: %v", r.err)
	}
	if len(r.buf) != 0 {
		return nil, fmt.Errorf("batch header: %d trailing bytes", len(r.buf))
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
