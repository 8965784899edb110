package block

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/wire"
)

// Errors.
var (
	ErrFormat   = errors.New("block: malformed encoding")
	ErrMismatch = errors.New("block: proposal does not match recomputation")
	ErrBadBatch = errors.New("block: bad batch")
	ErrChain    = errors.New("block: does not extend the parent")
)

const (
	headerMagic  = "GBH1" // rules version 1
	headerMagic2 = "GBH2" // rules version 2 on: the version follows the magic
	blockMagic   = "GBK1"
	configMagic  = "GBC1" // a configuration block: no batches, one configuration transaction
)

// Header is a block header. The quorum certificate is kept beside it, not in
// its hash.
type Header struct {
	// Rules is the version of the rules the block was sealed under (see
	// RulesOf): 0 in the headers of rules version 1, which are encoded as
	// they were before versions existed ("GBH1"; a 1 is encoded the same
	// and decodes as 0). RulesVersion says which.
	Rules       uint8
	Chain       string
	Height      uint64
	Prev        [32]byte // Hash of the parent header; zero for height 1
	TxRoot      [32]byte // RFC 6962 root of the OK transactions' ids
	ResultsHash [32]byte // SHA-256 of the Results vector
	StateRoot   [32]byte // license state root after this block
	Timestamp   int64    // Unix nanoseconds, the proposer's clock, never below the parent's
	Proposer    string   // orderer name
	TxCount     uint32   // number of OK transactions (leaves under TxRoot)
	Consensus   []byte   // SmartBFT metadata (view, sequence) as the engine gave it
}

// RulesVersion is the rules version the header says: Rules, or 1 for 0.
func (h *Header) RulesVersion() int { return max(int(h.Rules), Rules1) }

// MarshalBinary returns the header's fixed encoding:
//
//	"GBH1" | rest                  rules version 1
//	"GBH2" | u8 rules | rest       rules version 2 and later
//	rest = bytes chain | u64 height | 32 prev | 32 txRoot | 32 resultsHash
//	       | 32 stateRoot | u64 timestamp | bytes proposer | u32 txCount | bytes consensus
func (h *Header) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 200+len(h.Chain)+len(h.Proposer)+len(h.Consensus))
	if h.Rules <= Rules1 {
		b = append(b, headerMagic...)
	} else {
		b = append(append(b, headerMagic2...), h.Rules)
	}
	b = wire.AppendBytes(b, []byte(h.Chain))
	b = binary.BigEndian.AppendUint64(b, h.Height)
	b = append(b, h.Prev[:]...)
	b = append(b, h.TxRoot[:]...)
	b = append(b, h.ResultsHash[:]...)
	b = append(b, h.StateRoot[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Timestamp))
	b = wire.AppendBytes(b, []byte(h.Proposer))
	b = binary.BigEndian.AppendUint32(b, h.TxCount)
	b = wire.AppendBytes(b, h.Consensus)
	return b, nil
}

// UnmarshalBinary decodes a header written by MarshalBinary.
func (h *Header) UnmarshalBinary(p []byte) error {
	r := wire.NewReader(p)
	var out Header
	switch string(r.Take(len(headerMagic))) {
	case headerMagic:
	case headerMagic2:
		// A version that is not above 1 would be a second encoding of a
		// version 1 header; a version this build does not know is not
		// a header it can check.
		if out.Rules = r.U8(); out.Rules <= Rules1 || out.Rules > CurrentRules {
			return fmt.Errorf("%w: header of rules version %d", ErrFormat, out.Rules)
		}
	default:
		return fmt.Errorf("%w: header magic", ErrFormat)
	}
	out.Chain = string(r.Bytes(64))
	out.Height = r.U64()
	copy(out.Prev[:], r.Take(32))
	copy(out.TxRoot[:], r.Take(32))
	copy(out.ResultsHash[:], r.Take(32))
	copy(out.StateRoot[:], r.Take(32))
	out.Timestamp = int64(r.U64())
	out.Proposer = string(r.Bytes(64))
	out.TxCount = r.U32()
	out.Consensus = r.Bytes(1 << 16)
	if r.Err() != nil {
		return fmt.Errorf("%w: header: %v", ErrFormat, r.Err())
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: header: %d trailing bytes", ErrFormat, r.Len())
	}
	*h = out
	return nil
}

// Hash is SHA-256("baybus/v1 header\x00" || MarshalBinary()).
func (h *Header) Hash() [32]byte {
	b, _ := h.MarshalBinary()
	s := sha256.New()
	s.Write([]byte("baybus/v1 header\x00"))
	s.Write(b)
	var out [32]byte
	s.Sum(out[:0])
	return out
}

// Result is what became of one transaction in a block: an outcome (OK,
// Duplicate, Invalid, Rejected) in the low two bits and, under rules
// version 2, the Reason of an Invalid or Rejected one in the six above
// (Refused). Compare Outcome() with the outcomes; a Result with a reason
// is not == Rejected. OK and Duplicate carry no reason, so r == OK holds.
type Result byte

// The outcomes.
const (
	OK        Result = 0
	Duplicate Result = 1 // already on the chain, or earlier in the same block
	Invalid   Result = 2 // well signed, but not a valid record
	Rejected  Result = 3 // a change the license does not allow (its status, or who asks)
)

// Refused returns the result of a transaction refused with outcome o
// (Invalid or Rejected) for reason why.
func Refused(o Result, why Reason) Result { return o&3 | Result(why)<<2 }

// Outcome is the result without its reason.
func (r Result) Outcome() Result { return r & 3 }

// Reason is why the transaction took no effect (NoReason for OK and
// Duplicate, and for every result of rules version 1).
func (r Result) Reason() Reason { return Reason(r >> 2) }

// String names the outcome ("rejected"); Reason().String() names the
// reason.
func (r Result) String() string {
	switch r.Outcome() {
	case OK:
		return "ok"
	case Duplicate:
		return "duplicate"
	case Invalid:
		return "invalid"
	}
	return "rejected"
}

// Known reports whether r is a result some rules version makes: an
// outcome of rules version 1, or one of version 2 with the reason that goes
// with it. Decoders that read a result without its header (a transaction's
// place, from an index or a query) check this; Decode checks a block's
// results against its header's version.
func (r Result) Known() bool { return checkResult(Rules1, r) || checkResult(CurrentRules, r) }

// checkResult reports whether a result byte is one a block of rules
// version v can hold.
func checkResult(v int, r Result) bool {
	if v < Rules2 {
		return r <= Rejected
	}
	why := r.Reason()
	if why == NoReason {
		return r.Outcome() == OK || r.Outcome() == Duplicate
	}
	return why <= maxReasonOf(v) && why.outcome() == r.Outcome()
}

// Block is a header with its batches and the result of every transaction,
// in batch order then transaction order.
//
// A configuration block (configblock.go) has no batches and no results:
// Config is its one transaction, the one leaf under its TxRoot.
type Block struct {
	Header  Header
	Batches []*schemas.Batch
	Results []Result
	Config  *config.Tx
}

// TxCount is the number of transactions in all batches (OK or not).
func (b *Block) TxCount() int {
	n := 0
	for _, bt := range b.Batches {
		n += len(bt.Txs)
	}
	return n
}

// Tx is a transaction's place in a block.
type Tx struct {
	ID       schemas.TxID
	Bytes    []byte
	Batch    int // index into Batches
	InBatch  int // index into the batch's Txs
	Position int // index among all transactions of the block
	Leaf     int // index under TxRoot, or -1 if the result is not OK
	Result   Result
}

// Txs lists every transaction of the block in order.
func (b *Block) Txs() []Tx {
	out := make([]Tx, 0, b.TxCount())
	leaf := 0
	for bi, bt := range b.Batches {
		for ti, raw := range bt.Txs {
			t := Tx{ID: bt.IDs[ti], Bytes: raw, Batch: bi, InBatch: ti, Position: len(out), Leaf: -1}
			if len(out) < len(b.Results) {
				t.Result = b.Results[len(out)]
			}
			if t.Result == OK {
				t.Leaf = leaf
				leaf++
			}
			out = append(out, t)
		}
	}
	return out
}

// OKIDs returns the ids of the OK transactions in block order: the leaves
// under TxRoot.
func (b *Block) OKIDs() []schemas.TxID {
	if b.Config != nil {
		return []schemas.TxID{config.ID(b.Config)}
	}
	ids := make([]schemas.TxID, 0, b.TxCount())
	i := 0
	for _, bt := range b.Batches {
		for _, id := range bt.IDs {
			if i < len(b.Results) && b.Results[i] == OK {
				ids = append(ids, id)
			}
			i++
		}
	}
	return ids
}

// Encode returns the block's binary form:
//
//	"GBK1" | uvarint len | header | uvarint n | n result bytes |
//	uvarint m | m x (uvarint len | batch frame)
//
// and a configuration block's:
//
//	"GBC1" | uvarint len | header | uvarint 0 | uvarint 0 |
//	uvarint len | canonical configuration transaction (config.Encode)
func Encode(b *Block) []byte {
	hb, _ := b.Header.MarshalBinary()
	if b.Config != nil {
		out := appendHead(nil, configMagic, hb, nil, 0)
		return wire.AppendBytes(out, config.Encode(b.Config))
	}
	frames := make([][]byte, len(b.Batches))
	size := len(blockMagic) + len(hb) + len(b.Results) + 3*binary.MaxVarintLen64
	for i, bt := range b.Batches {
		frames[i] = bt.Encode()
		size += len(frames[i]) + binary.MaxVarintLen64
	}
	out := appendHead(make([]byte, 0, size), blockMagic, hb, b.Results, len(frames))
	for _, f := range frames {
		out = wire.AppendBytes(out, f)
	}
	return out
}

// appendHead writes what a block's encoding and its references' share:
// magic, header, results and the count of batches that follow.
func appendHead(out []byte, magic string, header []byte, results []Result, batches int) []byte {
	out = append(out, magic...)
	out = wire.AppendBytes(out, header)
	out = wire.AppendBytes(out, resultBytes(results))
	return binary.AppendUvarint(out, uint64(batches))
}

// readHead reads what appendHead wrote into h and res and returns the
// reader, positioned at the first batch, and the count of batches.
func readHead(p []byte, magic string, h *Header, res *[]Result) (*wire.Reader, int, error) {
	r := wire.NewReader(p)
	if string(r.Take(len(magic))) != magic {
		return nil, 0, fmt.Errorf("%w: magic %q expected", ErrFormat, magic)
	}
	if err := h.UnmarshalBinary(r.Bytes(1 << 20)); err != nil && r.Err() == nil {
		return nil, 0, err
	}
	raw := r.Bytes(1 << 24)
	n := r.Count(1 << 16)
	if r.Err() != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrFormat, r.Err())
	}
	*res = make([]Result, len(raw))
	for i, c := range raw {
		if !checkResult(h.RulesVersion(), Result(c)) {
			return nil, 0, fmt.Errorf("%w: result %d at %d in a block of rules version %d", ErrFormat, c, i, h.RulesVersion())
		}
		(*res)[i] = Result(c)
	}
	return r, n, nil
}

// MaxBlockBytes bounds a block's encoding.
const MaxBlockBytes = 64 << 20

// Decode parses a block written by Encode. Each batch's Merkle root is
// checked against its transactions; signatures and results are not (see
// Verify and VerifyStored).
func Decode(p []byte) (*Block, error) {
	if len(p) > MaxBlockBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrFormat, len(p))
	}
	var b Block
	if len(p) >= len(configMagic) && string(p[:len(configMagic)]) == configMagic {
		return decodeConfig(p)
	}
	r, n, err := readHead(p, blockMagic, &b.Header, &b.Results)
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		f := r.Bytes(schemas.MaxBatchBytes)
		if r.Err() != nil {
			return nil, fmt.Errorf("%w: batch %d: %v", ErrFormat, i, r.Err())
		}
		bt, err := schemas.DecodeBatch(f)
		if err != nil {
			return nil, fmt.Errorf("%w: batch %d: %v", ErrFormat, i, err)
		}
		b.Batches = append(b.Batches, bt)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, r.Len())
	}
	if b.TxCount() != len(b.Results) {
		return nil, fmt.Errorf("%w: %d results for %d transactions", ErrFormat, len(b.Results), b.TxCount())
	}
	return &b, nil
}

func resultBytes(rs []Result) []byte {
	out := make([]byte, len(rs))
	for i, r := range rs {
		out[i] = byte(r)
	}
	return out
}

// ResultsHash is SHA-256 of the results, one byte each.
func ResultsHash(rs []Result) [32]byte { return sha256.Sum256(resultBytes(rs)) }
