package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

// Version is the version of the configuration transaction format.
const Version = 1

// Bounds on what Parse accepts, so a hostile file or peer cannot make a
// decoder allocate without limit.
const (
	MaxBytes      = 4 << 20 // a transaction's encoding
	MaxSignatures = 256
	maxSigBytes   = 8 << 10 // larger than any supported scheme's signature
)

// Errors. Every refusal by Check wraps ErrInvalid and one of the more
// specific sentinels; a transaction that does not decode wraps ErrFormat.
var (
	ErrFormat  = errors.New("config: malformed configuration transaction")
	ErrInvalid = errors.New("config: configuration transaction refused")
	// ErrStale: the proposal was drafted against another configuration
	// than the one in force.
	ErrStale = fmt.Errorf("%w: stale base configuration", ErrInvalid)
	// ErrChange: a change the rules do not allow (a chain id or rules
	// version, a key removed or altered, orderers reordered).
	ErrChange = fmt.Errorf("%w: change not allowed", ErrInvalid)
	// ErrSignature: a signature that does not verify, or by a key that is
	// unknown, of another member, or not valid at the block's height.
	ErrSignature = fmt.Errorf("%w: bad signature", ErrInvalid)
	// ErrNotMember: an orderer's signature by one the configuration in
	// force does not list (a removed orderer's vote).
	ErrNotMember = fmt.Errorf("%w: signer is not an orderer in force", ErrInvalid)
	// ErrTooFewSignatures: fewer than a quorum of the orderers in force.
	ErrTooFewSignatures = fmt.Errorf("%w: too few orderer signatures", ErrInvalid)
	// ErrNoPossession: a new signing key that did not sign the proposal.
	ErrNoPossession = fmt.Errorf("%w: new key without proof of possession", ErrInvalid)
	// ErrNotAuthorized: a member's keys or entry change without its
	// signature nor a quorum of the others of its kind.
	ErrNotAuthorized = fmt.Errorf("%w: member concerned did not consent", ErrInvalid)
)

// Signature is one signature over a proposal (ProposalHash): an orderer's
// or member's vote with a key in force, or a new key's proof of
// possession.
type Signature struct {
	Role   keys.Role `json:"role"`
	Member string    `json:"member"`
	KeyID  string    `json:"keyId"`
	Sig    []byte    `json:"sig"`
}

// Tx is a configuration transaction: the whole next configuration, the
// digest of the configuration it follows, and its signatures.
type Tx struct {
	Chain string
	// Base is the Digest of the configuration in force the proposal was
	// drafted against.
	Base [32]byte
	// Next is the whole configuration in force from the height after the
	// block that seals the transaction.
	Next *keys.Bundle
	// Note says why, for the people who sign (not interpreted).
	Note       string
	Signatures []Signature
}

// wireTx is Tx's JSON form.
type wireTx struct {
	V          int             `json:"v"`
	Chain      string          `json:"chain"`
	Base       string          `json:"base"`
	Next       json.RawMessage `json:"next"`
	Note       string          `json:"note,omitempty"`
	Signatures []Signature     `json:"signatures"`
}

// Digest is the hash that names a configuration: SHA-256 of
// "baybus/v1 config\x00" and the bundle's compact JSON.
func Digest(b *keys.Bundle) [32]byte {
	raw, err := json.Marshal(b)
	if err != nil {
		// A Bundle is strings, numbers and slices of them: it always
		// marshals.
		panic(fmt.Sprintf("config: marshal bundle: %v", err))
	}
	s := sha256.New()
	s.Write([]byte("baybus/v1 config\x00"))
	s.Write(raw)
	var out [32]byte
	s.Sum(out[:0])
	return out
}

// Encode returns the transaction's canonical bytes: compact JSON, members
// in a fixed order, the next bundle compact.
func Encode(tx *Tx) []byte {
	next, err := json.Marshal(tx.Next)
	if err != nil {
		panic(fmt.Sprintf("config: marshal bundle: %v", err))
	}
	sigs := tx.Signatures
	if sigs == nil {
		sigs = []Signature{}
	}
	out, err := json.Marshal(wireTx{V: Version, Chain: tx.Chain, Base: hex.EncodeToString(tx.Base[:]), Next: next, Note: tx.Note, Signatures: sigs})
	if err != nil {
		panic(fmt.Sprintf("config: marshal transaction: %v", err))
	}
	return out
}

// MarshalIndent is the transaction as people read it (a proposal file).
func MarshalIndent(tx *Tx) []byte {
	var buf bytes.Buffer
	if err := json.Indent(&buf, Encode(tx), "", "  "); err != nil {
		panic(fmt.Sprintf("config: indent: %v", err))
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// ID is the transaction's id: the RFC 6962 leaf hash of its canonical
// bytes, the one leaf under the TxRoot of the block that seals it.
func ID(tx *Tx) merkle.Hash { return merkle.LeafHash(Encode(tx)) }

// ProposalHash is what every signature signs: SHA-256 of the canonical
// bytes of the transaction without its signatures.
func ProposalHash(tx *Tx) [32]byte {
	p := *tx
	p.Signatures = nil
	return sha256.Sum256(Encode(&p))
}

// Parse decodes a transaction or a proposal file (indented or not) and
// checks its form: the version, the base digest, the next bundle (as
// keys.ParseBundle does) and each signature's shape. It does not check
// the signatures (Check does, under the configuration in force).
func Parse(raw []byte) (*Tx, error) {
	if len(raw) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFormat, len(raw), MaxBytes)
	}
	var w wireTx
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the transaction", ErrFormat)
	}
	if w.V != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrFormat, w.V, Version)
	}
	tx := &Tx{Chain: w.Chain, Note: w.Note, Signatures: w.Signatures}
	base, err := hex.DecodeString(w.Base)
	if err != nil || len(base) != len(tx.Base) {
		return nil, fmt.Errorf("%w: base %q is not a hex SHA-256", ErrFormat, w.Base)
	}
	copy(tx.Base[:], base)
	if len(w.Next) == 0 || string(w.Next) == "null" {
		return nil, fmt.Errorf("%w: no next configuration", ErrFormat)
	}
	if tx.Next, err = keys.ParseBundle(w.Next); err != nil {
		return nil, fmt.Errorf("%w: next configuration: %w", ErrFormat, err)
	}
	if tx.Next.Chain != tx.Chain {
		return nil, fmt.Errorf("%w: transaction of chain %q carries a configuration of chain %q", ErrFormat, tx.Chain, tx.Next.Chain)
	}
	if len(tx.Signatures) > MaxSignatures {
		return nil, fmt.Errorf("%w: %d signatures, limit %d", ErrFormat, len(tx.Signatures), MaxSignatures)
	}
	for i, s := range tx.Signatures {
		switch {
		case s.Role != keys.RoleCity && s.Role != keys.RoleOrderer && s.Role != keys.RoleReader:
			return nil, fmt.Errorf("%w: signature %d: role %q", ErrFormat, i, s.Role)
		case s.Member == "" || s.KeyID == "":
			return nil, fmt.Errorf("%w: signature %d names no member or key", ErrFormat, i)
		case len(s.Sig) == 0 || len(s.Sig) > maxSigBytes:
			return nil, fmt.Errorf("%w: signature %d of %d bytes", ErrFormat, i, len(s.Sig))
		case slices.ContainsFunc(tx.Signatures[:i], func(o Signature) bool { return o.KeyID == s.KeyID }):
			return nil, fmt.Errorf("%w: key %s signed twice", ErrFormat, s.KeyID)
		}
	}
	return tx, nil
}

// DecodeCanonical is Parse for bytes that must be the canonical encoding
// (a block's): anything else is refused, so one transaction has one id.
func DecodeCanonical(raw []byte) (*Tx, error) {
	tx, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(Encode(tx), raw) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrFormat)
	}
	return tx, nil
}

// Sign adds the signer's signature over the proposal as role member,
// replacing one by the same key. It does not judge whether the signature
// will count (Check does).
func Sign(tx *Tx, signer keys.Signer, role keys.Role, member string) {
	h := ProposalHash(tx)
	sig := Signature{Role: role, Member: member, KeyID: signer.KeyID(),
		Sig: signer.Sign(keys.Domain{Chain: tx.Chain, Purpose: keys.PurposeConfig}, h[:])}
	tx.Signatures = slices.DeleteFunc(tx.Signatures, func(s Signature) bool { return s.KeyID == sig.KeyID })
	tx.Signatures = append(tx.Signatures, sig)
}
