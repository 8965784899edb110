package proof

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
)

// Version is the version of the bundle format, in JSON ("v") and in the
// binary magic ("GBP1").
const Version = 1

// Limits of a bundle. A bundle never exceeds MaxBundleBytes in either
// encoding, so it fits a NATS message under the default 1 MiB max_payload.
const (
	MaxBundleBytes = 1 << 20
	MaxHeaders     = 3  // the tx's block, the record's block, the state's block
	MaxPath        = 64 // RFC 6962 path length for trees of up to 2^64 leaves
	MaxVotes       = 64
	maxHeaderBytes = 1 << 17
	maxSigBytes    = 1 << 14
	maxNameBytes   = 256
)

// Hash is a SHA-256 digest, written in JSON as 64 hex digits.
type Hash = smt.Hash

// Bundle is a license proof. See the package documentation.
type Bundle struct {
	V   int    `json:"v"`   // Version
	Key string `json:"key"` // the license, JUR/ID
	// Tx is the transaction proved: in a bundle made on commit, the one just
	// sealed; in a fresh bundle, the license's last change.
	Tx TxProof `json:"tx"`
	// Record, if present, proves the transaction that holds the record in
	// force (the state leaf's RecordHash), when Tx is another one.
	Record *TxProof `json:"record,omitempty"`
	// Headers are the headers Tx, Record and State refer to, one per
	// height, in ascending height order, each with its certificate.
	Headers []SealedHeader `json:"headers"`
	State   StateProof     `json:"state"`

	tx *schemas.Tx // Tx decoded, when the builder had it
}

// Status is the license's effective status as the bundle shows it, read
// without verifying anything (Verify gives the same Status for a bundle
// that verifies): the state leaf's status, or expired when the validity
// of the record in force ended before the state header's time. Empty if
// the bundle has no leaf.
func (b *Bundle) Status() schemas.Status {
	leaf := b.State.Leaf
	if leaf == nil {
		return ""
	}
	var at time.Time
	for i := range b.Headers {
		if h, err := b.Headers[i].Header(); err == nil && h.Height == b.State.Height {
			at = time.Unix(0, h.Timestamp)
		}
	}
	if at.IsZero() {
		return leaf.Status
	}
	var rec *schemas.Tx
	switch {
	case b.Record != nil:
		rec, _ = schemas.DecodeTx(b.Record.Bytes)
	case leaf.RecordHash == b.Tx.ID:
		rec, _ = b.Transaction()
	}
	return schemas.EffectiveStatus(leaf.Status, validTo(leaf, rec), at)
}

// Transaction decodes the transaction proved (Tx.Bytes), without verifying
// anything. Bundles made by ForBlock have it at hand.
func (b *Bundle) Transaction() (*schemas.Tx, error) {
	if b.tx != nil {
		return b.tx, nil
	}
	return schemas.DecodeTx(b.Tx.Bytes)
}

// TxProof proves one canonical transaction: signed by its city (batch
// path and signature) and sealed at Height (block path).
type TxProof struct {
	ID    Hash   // schemas.ComputeTxID(Bytes)
	Bytes []byte // canonical transaction bytes
	Batch BatchProof
	// Height is the block that sealed the transaction; Index and Size
	// place it under that header's TxRoot (Size = the header's TxCount).
	Height uint64
	Index  uint64
	Size   uint64
	Path   []Hash
}

// BatchProof is the signed batch header that carries a transaction and
// the transaction's RFC 6962 path to the header's root.
type BatchProof struct {
	Chain     string `json:"chain"`
	City      string `json:"city"`
	CreatedAt int64  `json:"createdAt"`
	Seq       uint64 `json:"seq"`
	Count     uint32 `json:"count"`
	Root      Hash   `json:"root"`
	KeyID     string `json:"keyId"`
	Signature []byte `json:"signature"`
	Index     uint64 `json:"index"` // the transaction's position in the batch
	Path      []Hash `json:"path"`
}

// Header returns the batch header the city signed.
func (b *BatchProof) Header() schemas.BatchHeader {
	return schemas.BatchHeader{Chain: b.Chain, City: b.City, CreatedAt: b.CreatedAt, Seq: b.Seq, Count: b.Count, Root: b.Root}
}

// SealedHeader is a block header in its binary form with its quorum
// certificate. View, in JSON, is the decoded header for people; the
// verifier refuses a view that differs from the binary.
type SealedHeader struct {
	Raw  []byte // block.Header.MarshalBinary
	View *HeaderView
	QC   block.QC
}

// Header decodes Raw.
func (s *SealedHeader) Header() (*block.Header, error) {
	var h block.Header
	if err := h.UnmarshalBinary(s.Raw); err != nil {
		return nil, err
	}
	return &h, nil
}

// HeaderView is the decoded JSON view of a header, with its hash.
type HeaderView struct {
	Rules       uint8  `json:"rules,omitempty"` // block.Header.Rules: absent for rules version 1
	Chain       string `json:"chain"`
	Height      uint64 `json:"height"`
	Hash        Hash   `json:"hash"`
	Prev        Hash   `json:"prev"`
	TxRoot      Hash   `json:"txRoot"`
	ResultsHash Hash   `json:"resultsHash"`
	StateRoot   Hash   `json:"stateRoot"`
	Timestamp   int64  `json:"timestamp"`
	Proposer    string `json:"proposer"`
	TxCount     uint32 `json:"txCount"`
	Consensus   []byte `json:"consensus"`
}

// ViewOf returns the view of h.
func ViewOf(h *block.Header) *HeaderView {
	return &HeaderView{Rules: h.Rules, Chain: h.Chain, Height: h.Height, Hash: h.Hash(), Prev: h.Prev, TxRoot: h.TxRoot,
		ResultsHash: h.ResultsHash, StateRoot: h.StateRoot, Timestamp: h.Timestamp, Proposer: h.Proposer,
		TxCount: h.TxCount, Consensus: h.Consensus}
}

// Seal returns h in binary with its view and certificate.
func Seal(h *block.Header, qc *block.QC) SealedHeader {
	raw, _ := h.MarshalBinary()
	return SealedHeader{Raw: raw, View: ViewOf(h), QC: block.QC{Votes: append([]block.Vote(nil), qc.Votes...)}}
}

// StateProof is the license's leaf in the state tree under the StateRoot of
// the header at Height, with its sparse Merkle proof.
type StateProof struct {
	Height uint64    `json:"height"`
	Leaf   *smt.Leaf `json:"leaf"`
	Proof  smt.Proof `json:"proof"`
}

// ErrDecode is returned for bytes that are not a bundle in either encoding.
// It matches ErrFormat, and so ErrInvalid: an undecodable proof is an
// invalid proof.
var ErrDecode = fmt.Errorf("%w: cannot decode", ErrFormat)

// Decode reads a bundle in either encoding: binary if it starts with the
// magic "GBP1", JSON otherwise.
func Decode(raw []byte) (*Bundle, error) {
	if bytes.HasPrefix(raw, []byte(binaryMagic)) {
		return DecodeBinary(raw)
	}
	return DecodeJSON(raw)
}

// DecodeJSON parses the JSON form. Unknown fields, a version other than
// Version, and sizes over the limits are errors wrapping ErrDecode.
func DecodeJSON(raw []byte) (*Bundle, error) {
	if len(raw) > MaxBundleBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrDecode, len(raw), MaxBundleBytes)
	}
	var b Bundle
	if err := strictJSON(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: json: %v", ErrDecode, err)
	}
	if err := b.checkShape(); err != nil {
		return nil, err
	}
	return &b, nil
}

// checkShape applies the limits both decoders share.
func (b *Bundle) checkShape() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
	}
	if b.V != Version {
		return bad("version %d, want %d", b.V, Version)
	}
	if len(b.Key) == 0 || len(b.Key) > smt.MaxKeyLen {
		return bad("license key of %d bytes", len(b.Key))
	}
	if len(b.Headers) == 0 || len(b.Headers) > MaxHeaders {
		return bad("%d headers (1 to %d)", len(b.Headers), MaxHeaders)
	}
	for i := range b.Headers {
		h := &b.Headers[i]
		if len(h.Raw) == 0 || len(h.Raw) > maxHeaderBytes {
			return bad("header %d of %d bytes", i, len(h.Raw))
		}
		if len(h.QC.Votes) > MaxVotes {
			return bad("header %d: %d votes, limit %d", i, len(h.QC.Votes), MaxVotes)
		}
		for _, v := range h.QC.Votes {
			if len(v.Signer) > maxNameBytes || len(v.KeyID) > maxNameBytes || len(v.Sig) > maxSigBytes {
				return bad("header %d: oversized vote", i)
			}
		}
	}
	parts := []*TxProof{&b.Tx}
	if b.Record != nil {
		parts = append(parts, b.Record)
	}
	for _, p := range parts {
		switch {
		case len(p.Bytes) == 0 || len(p.Bytes) > schemas.MaxTxBytes:
			return bad("transaction of %d bytes", len(p.Bytes))
		case !schemas.IsCanonical(p.Bytes):
			// The JSON form embeds the transaction as JSON: both forms
			// carry only canonical JSON (a changed record is still
			// caught, by its id).
			return bad("transaction bytes are not canonical JSON")
		case len(p.Path) > MaxPath || len(p.Batch.Path) > MaxPath:
			return bad("path longer than %d", MaxPath)
		case len(p.Batch.Chain) > 64 || len(p.Batch.City) > 64 || len(p.Batch.KeyID) > maxNameBytes || len(p.Batch.Signature) > maxSigBytes:
			return bad("oversized batch header")
		}
	}
	if len(b.State.Proof.Siblings) > smt.MaxDepth {
		return bad("state proof of %d siblings", len(b.State.Proof.Siblings))
	}
	if b.State.Leaf != nil {
		if _, err := b.State.Leaf.MarshalBinary(); err != nil {
			return bad("state leaf: %v", err)
		}
	}
	return nil
}

// txJSON is TxProof's JSON form: the transaction is embedded as the JSON
// object it is, and canonicalized again on decode, so pretty-printing a
// proof does not break it.
type txJSON struct {
	ID        Hash            `json:"id"`
	Height    uint64          `json:"height"`
	Index     uint64          `json:"leafIndex"`
	Size      uint64          `json:"treeSize"`
	Path      []Hash          `json:"path"`
	Batch     BatchProof      `json:"batch"`
	Canonical json.RawMessage `json:"canonical"`
}

// MarshalJSON implements json.Marshaler.
func (p TxProof) MarshalJSON() ([]byte, error) {
	return json.Marshal(txJSON{ID: p.ID, Height: p.Height, Index: p.Index, Size: p.Size, Path: nonNil(p.Path),
		Batch: p.Batch.withPath(), Canonical: p.Bytes})
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *TxProof) UnmarshalJSON(raw []byte) error {
	var j txJSON
	if err := strictJSON(raw, &j); err != nil {
		return err
	}
	if len(j.Canonical) == 0 {
		return errors.New("tx: no canonical transaction")
	}
	if len(j.Canonical) > 4*schemas.MaxTxBytes {
		return fmt.Errorf("tx: canonical transaction of %d bytes", len(j.Canonical))
	}
	canon, err := schemas.CanonicalizeJSON(j.Canonical)
	if err != nil {
		return fmt.Errorf("tx: canonical: %v", err)
	}
	*p = TxProof{ID: j.ID, Bytes: canon, Batch: j.Batch, Height: j.Height, Index: j.Index, Size: j.Size, Path: j.Path}
	return nil
}

func (b BatchProof) withPath() BatchProof {
	b.Path = nonNil(b.Path)
	return b
}

func nonNil(p []Hash) []Hash {
	if p == nil {
		return []Hash{}
	}
	return p
}

type headerJSON struct {
	Header []byte      `json:"header"`
	View   *HeaderView `json:"view,omitempty"`
	QC     block.QC    `json:"qc"`
}

// MarshalJSON implements json.Marshaler.
func (s SealedHeader) MarshalJSON() ([]byte, error) {
	qc := s.QC
	if qc.Votes == nil {
		qc.Votes = []block.Vote{}
	}
	return json.Marshal(headerJSON{Header: s.Raw, View: s.View, QC: qc})
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *SealedHeader) UnmarshalJSON(raw []byte) error {
	var j headerJSON
	if err := strictJSON(raw, &j); err != nil {
		return err
	}
	*s = SealedHeader{Raw: j.Header, View: j.View, QC: j.QC}
	return nil
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
