package smt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of proof verification and decoding. Every rejection of VerifyProof
// matches ErrInvalidProof.
var (
	ErrInvalidProof = errors.New("smt: invalid proof")
	// ErrRootMismatch: the proof and leaf do not hash to the given root.
	ErrRootMismatch = fmt.Errorf("%w: does not lead to the root", ErrInvalidProof)
	// ErrKeyMismatch: the leaf is for another key than the one asked about.
	ErrKeyMismatch = fmt.Errorf("%w: leaf is for another key", ErrInvalidProof)
	// ErrMalformed: the proof's shape is impossible (too deep, a neighbour
	// leaf off the key's path, bad encoding).
	ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalidProof)
	// ErrBadLeaf: a leaf or key that cannot be encoded (unknown status,
	// empty or oversized key).
	ErrBadLeaf = errors.New("smt: bad leaf")
)

// MaxDepth is the deepest a leaf can sit: one level per path bit.
const MaxDepth = 256

// Proof places a key's terminal in the tree: the siblings on the way from
// the root down to it. The terminal is the key's own leaf (membership), an
// empty subtree, or another key's leaf that sits alone in the subtree where
// the key would be (both non-membership).
type Proof struct {
	// Siblings from the terminal up to the root's children: Siblings[0] is
	// the sibling of the terminal, which sits at depth len(Siblings).
	Siblings []Hash `json:"siblings"`
	// Other is the leaf found in place of the key, for non-membership.
	Other *OtherLeaf `json:"other,omitempty"`
}

// OtherLeaf is a leaf met on a key's path that is not the key's.
type OtherLeaf struct {
	Path      Hash `json:"path"`
	ValueHash Hash `json:"valueHash"`
}

// VerifyProof checks that, in the tree with the given root, key holds leaf,
// or holds nothing when leaf is nil. It returns nil or an error matching
// ErrInvalidProof (and ErrBadLeaf for a leaf that does not encode).
func VerifyProof(root [32]byte, key string, leaf *Leaf, proof *Proof) error {
	if proof == nil {
		return fmt.Errorf("%w: no proof", ErrMalformed)
	}
	d := len(proof.Siblings)
	if d > MaxDepth {
		return fmt.Errorf("%w: %d siblings, limit %d", ErrMalformed, d, MaxDepth)
	}
	path := PathOf(key)
	var h Hash
	switch {
	case leaf != nil:
		if leaf.Key != key {
			return fmt.Errorf("%w: leaf %q, key %q", ErrKeyMismatch, leaf.Key, key)
		}
		if proof.Other != nil {
			return fmt.Errorf("%w: membership proof names another leaf", ErrMalformed)
		}
		vh, err := leaf.ValueHash()
		if err != nil {
			return err
		}
		h = LeafHash(path, vh)
	case proof.Other != nil:
		if cp := commonPrefix(&path, &proof.Other.Path); cp == 256 || cp < d {
			return fmt.Errorf("%w: neighbour leaf is not on the key's path", ErrMalformed)
		}
		h = LeafHash(proof.Other.Path, proof.Other.ValueHash)
	default:
		h = Empty
	}
	for i, s := range proof.Siblings {
		if path.bit(d-1-i) == 0 {
			h = NodeHash(h, s)
		} else {
			h = NodeHash(s, h)
		}
	}
	if h != Hash(root) {
		return ErrRootMismatch
	}
	return nil
}

// proofVersion is the first byte of a proof's binary form.
const proofVersion = 1

const flagOther = 1

// MarshalBinary returns the proof's compact form:
//
//	0x01 | flags (bit 0: Other present) | depth (2, big-endian)
//	     | bitmap (ceil(depth/8) bytes, bit i most significant first: Siblings[i] is not Empty)
//	     | the non-Empty siblings (32 each) | Other.Path, Other.ValueHash (32 each, if present)
//
// Empty siblings cost one bit, so each proof has exactly one encoding.
func (p *Proof) MarshalBinary() ([]byte, error) {
	d := len(p.Siblings)
	if d > MaxDepth {
		return nil, fmt.Errorf("%w: %d siblings, limit %d", ErrMalformed, d, MaxDepth)
	}
	n := 4 + (d+7)/8
	for _, s := range p.Siblings {
		if s != Empty {
			n += 32
		}
	}
	var flags byte
	if p.Other != nil {
		flags |= flagOther
		n += 64
	}
	b := make([]byte, 4+(d+7)/8, n)
	b[0], b[1] = proofVersion, flags
	binary.BigEndian.PutUint16(b[2:], uint16(d))
	for i, s := range p.Siblings {
		if s != Empty {
			b[4+i/8] |= 0x80 >> (i % 8)
			b = append(b, s[:]...)
		}
	}
	if p.Other != nil {
		b = append(b, p.Other.Path[:]...)
		b = append(b, p.Other.ValueHash[:]...)
	}
	return b, nil
}

// UnmarshalBinary parses the compact form and refuses anything that is not
// exactly what MarshalBinary writes.
func (p *Proof) UnmarshalBinary(b []byte) error {
	if len(b) < 4 || b[0] != proofVersion {
		return fmt.Errorf("%w: unknown proof encoding", ErrMalformed)
	}
	flags := b[1]
	if flags&^flagOther != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags)
	}
	d := int(binary.BigEndian.Uint16(b[2:]))
	if d > MaxDepth {
		return fmt.Errorf("%w: depth %d, limit %d", ErrMalformed, d, MaxDepth)
	}
	bm := b[4:]
	if len(bm) < (d+7)/8 {
		return fmt.Errorf("%w: truncated", ErrMalformed)
	}
	bm, rest := bm[:(d+7)/8], bm[(d+7)/8:]
	if d%8 != 0 && bm[len(bm)-1]&(0xff>>(d%8)) != 0 {
		return fmt.Errorf("%w: bitmap padding is not zero", ErrMalformed)
	}
	out := Proof{Siblings: make([]Hash, d)}
	for i := range out.Siblings {
		if bm[i/8]&(0x80>>(i%8)) == 0 {
			out.Siblings[i] = Empty
			continue
		}
		if len(rest) < 32 {
			return fmt.Errorf("%w: truncated", ErrMalformed)
		}
		copy(out.Siblings[i][:], rest[:32])
		rest = rest[32:]
		if out.Siblings[i] == Empty {
			return fmt.Errorf("%w: explicit empty sibling", ErrMalformed)
		}
	}
	if flags&flagOther != 0 {
		if len(rest) < 64 {
			return fmt.Errorf("%w: truncated", ErrMalformed)
		}
		out.Other = &OtherLeaf{}
		copy(out.Other.Path[:], rest[:32])
		copy(out.Other.ValueHash[:], rest[32:64])
		rest = rest[64:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	*p = out
	return nil
}
