package schemas

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
	"github.com/baybus/baybus/schemas/wire"
)

// Batch limits. A batch frame never exceeds MaxBatchBytes, so it always fits
// a NATS message under the default 1 MiB max_payload.
const (
	MaxBatchTxs   = 4096
	MaxBatchBytes = 960 << 10
	batchMagic    = "GBB1"
)

// Batch errors.
var (
	ErrBatchFormat = errors.New("schemas: malformed batch frame")
	ErrBatchRoot   = errors.New("schemas: batch root does not match its transactions")
	ErrBatchTooBig = errors.New("schemas: batch too large")
)

// BatchHeader is what a gateway signs: the batch's identity and the RFC 6962
// root of its transactions' leaf hashes.
type BatchHeader struct {
	Chain     string
	City      string
	CreatedAt int64  // Unix nanoseconds, the gateway's clock
	Seq       uint64 // the gateway's batch counter (informational; ordering is the orderers')
	Count     uint32 // number of transactions
	Root      merkle.Hash
}

// Batch is a signed batch of canonical transactions.
type Batch struct {
	BatchHeader
	Txs       [][]byte // canonical transaction bytes
	KeyID     string
	Signature []byte

	// IDs caches the transactions' leaf hashes: set by SealBatch and DecodeBatch.
	IDs []TxID
}

// SignedBytes is the header's fixed binary form: the bytes the city signs
// (under domain chain/"batch") and from which the batch id is derived.
func (h *BatchHeader) SignedBytes() []byte {
	b := make([]byte, 0, 64+len(h.Chain)+len(h.City))
	b = append(b, batchMagic...)
	b = wire.AppendString(b, h.Chain)
	b = wire.AppendString(b, h.City)
	b = binary.BigEndian.AppendUint64(b, uint64(h.CreatedAt))
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint32(b, h.Count)
	return append(b, h.Root[:]...)
}

// ID is the batch id: hex of the first 16 bytes of SHA-256 of the signed
// header. It is the Nats-Msg-Id, so a retried publish is stored once, and the
// SmartBFT request id, so a batch is ordered once.
func (h *BatchHeader) ID() string {
	sum := sha256.Sum256(h.SignedBytes())
	return hex.EncodeToString(sum[:16])
}

// SealBatch builds and signs a batch of canonical transactions.
func SealBatch(chain, city string, createdAt int64, seq uint64, txs [][]byte, signer keys.Signer) (*Batch, error) {
	if len(txs) == 0 || len(txs) > MaxBatchTxs {
		return nil, fmt.Errorf("%w: %d transactions (1 to %d)", ErrBatchTooBig, len(txs), MaxBatchTxs)
	}
	ids := make([]TxID, len(txs))
	for i, t := range txs {
		ids[i] = ComputeTxID(t)
	}
	return SealBatchIDs(chain, city, createdAt, seq, txs, ids, signer)
}

// SealBatchIDs is SealBatch for a caller that has already computed each
// transaction's id (ids[i] is ComputeTxID(txs[i])), as a gateway does to
// answer with it: the transactions are not hashed again. A wrong id seals
// a batch whose root the orderers, which hash every transaction
// themselves, refuse.
func SealBatchIDs(chain, city string, createdAt int64, seq uint64, txs [][]byte, ids []TxID, signer keys.Signer) (*Batch, error) {
	if len(txs) == 0 || len(txs) > MaxBatchTxs {
		return nil, fmt.Errorf("%w: %d transactions (1 to %d)", ErrBatchTooBig, len(txs), MaxBatchTxs)
	}
	if len(ids) != len(txs) {
		return nil, fmt.Errorf("schemas: %d ids for %d transactions", len(ids), len(txs))
	}
	b := &Batch{
		BatchHeader: BatchHeader{Chain: chain, City: city, CreatedAt: createdAt, Seq: seq, Count: uint32(len(txs)), Root: merkle.Root(ids)},
		Txs:         txs,
		KeyID:       signer.KeyID(),
		IDs:         ids,
	}
	b.Signature = signer.Sign(keys.Domain{Chain: chain, Purpose: keys.PurposeBatch}, b.SignedBytes())
	return b, nil
}

// Encode returns the batch's binary frame:
//
//	signed header (see SignedBytes)
//	uvarint len || KeyID, uvarint len || Signature
//	Count x (uvarint len || canonical tx bytes)
func (b *Batch) Encode() []byte {
	size := 96 + len(b.KeyID) + len(b.Signature) + len(b.Chain) + len(b.City)
	for _, t := range b.Txs {
		size += len(t) + binary.MaxVarintLen32
	}
	out := make([]byte, 0, size)
	out = append(out, b.SignedBytes()...)
	out = wire.AppendString(out, b.KeyID)
	out = wire.AppendBytes(out, b.Signature)
	for _, t := range b.Txs {
		out = wire.AppendBytes(out, t)
	}
	return out
}

// EncodedSize returns len(b.Encode()) for a batch of the given transactions
// without encoding it.
func EncodedSize(chain, city, keyID string, sigSize int, txBytes int, count int) int {
	return len(batchMagic) + 3*binary.MaxVarintLen32 + len(chain) + len(city) + 8 + 8 + 4 + 32 +
		len(keyID) + sigSize + txBytes + count*binary.MaxVarintLen32
}

// DecodeBatch parses a binary frame and checks that the transactions hash to
// the root in the header. It does not verify the signature (see VerifyBatch)
// nor decode the transactions.
func DecodeBatch(frame []byte) (*Batch, error) {
	if len(frame) > MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBatchTooBig, len(frame), MaxBatchBytes)
	}
	r := wire.NewReader(frame)
	if string(r.Take(len(batchMagic))) != batchMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrBatchFormat)
	}
	var b Batch
	b.Chain = r.String(64)
	b.City = r.String(64)
	b.CreatedAt = int64(r.U64())
	b.Seq = r.U64()
	b.Count = r.U32()
	copy(b.Root[:], r.Take(32))
	b.KeyID = r.String(256)
	b.Signature = r.Bytes(1 << 16)
	if r.Err() == nil && (b.Count == 0 || b.Count > MaxBatchTxs) {
		return nil, fmt.Errorf("%w: %d transactions (1 to %d)", ErrBatchFormat, b.Count, MaxBatchTxs)
	}
	b.Txs = make([][]byte, 0, min(b.Count, MaxBatchTxs))
	b.IDs = make([]TxID, 0, cap(b.Txs))
	for i := uint32(0); i < b.Count && r.Err() == nil; i++ {
		t := r.Bytes(MaxTxBytes)
		b.Txs = append(b.Txs, t)
		b.IDs = append(b.IDs, ComputeTxID(t))
	}
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %v", ErrBatchFormat, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBatchFormat, r.Len())
	}
	if merkle.Root(b.IDs) != b.Root {
		return nil, ErrBatchRoot
	}
	return &b, nil
}

// VerifyBatch checks the batch signature against the city's key in the
// trust bundle at the given height, and that the batch belongs to the
// bundle's chain.
func VerifyBatch(b *Batch, trust *keys.Bundle, height uint64) error {
	if b.Chain != trust.Chain {
		return fmt.Errorf("schemas: batch for chain %q, trust bundle is for %q", b.Chain, trust.Chain)
	}
	pk, err := trust.KeyAt(b.KeyID, keys.RoleCity, b.City, height)
	if err != nil {
		return fmt.Errorf("schemas: batch %s from %s: %w", b.ID(), b.City, err)
	}
	if err := pk.Verify(keys.Domain{Chain: b.Chain, Purpose: keys.PurposeBatch}, b.SignedBytes(), b.Signature); err != nil {
		return fmt.Errorf("schemas: batch %s from %s: %w", b.ID(), b.City, err)
	}
	return nil
}
