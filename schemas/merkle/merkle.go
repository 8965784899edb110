// Package merkle builds RFC 6962 Merkle trees over leaf hashes and their
// inclusion proofs. Hashing and verification are transparency-dev/merkle's
// (leaf prefix 0x00, node prefix 0x01); this package only arranges the tree
// for a list of leaves held in memory, as a block or a batch is.
package merkle

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Hash is a SHA-256 digest.
type Hash = [32]byte

// ErrIndex is returned for a leaf index outside the tree.
var ErrIndex = errors.New("merkle: leaf index out of range")

// LeafHash returns SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

func nodeHash(l, r Hash) Hash {
	var buf [65]byte
	buf[0] = rfc6962.RFC6962NodeHashPrefix
	copy(buf[1:], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// EmptyRoot is the root of a tree with no leaves: SHA-256 of the empty string.
func EmptyRoot() Hash { return sha256.Sum256(nil) }

// Root returns the RFC 6962 Merkle tree hash of the leaves (already leaf-hashed).
// It uses one scratch slice of len(leaves)/2 hashes.
func Root(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return EmptyRoot()
	case 1:
		return leaves[0]
	}
	// Reduce level by level; an odd node at the end is promoted unchanged,
	// which is exactly RFC 6962's split at the largest power of two.
	level := make([]Hash, (len(leaves)+1)/2)
	n := reduce(level, leaves)
	for n > 1 {
		n = reduce(level, level[:n])
	}
	return level[0]
}

func reduce(dst, src []Hash) int {
	n := 0
	for i := 0; i+1 < len(src); i += 2 {
		dst[n] = nodeHash(src[i], src[i+1])
		n++
	}
	if len(src)%2 == 1 {
		dst[n] = src[len(src)-1]
		n++
	}
	return n
}

// Inclusion returns the audit path for leaf index in a tree of the given
// leaves, ordered from the leaf up, as RFC 6962 and tlog expect.
func Inclusion(leaves []Hash, index int) ([]Hash, error) {
	return NewTree(leaves).Path(index)
}

// VerifyInclusion checks an audit path with transparency-dev/merkle's verifier.
func VerifyInclusion(leaf Hash, index, size uint64, path []Hash, root Hash) error {
	p := make([][]byte, len(path))
	for i := range path {
		p[i] = path[i][:]
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf[:], p, root[:]); err != nil {
		return fmt.Errorf("merkle: %w", err)
	}
	return nil
}

// Tree is an RFC 6962 tree kept level by level, for many inclusion paths of
// one tree at O(log n) each: Levels[0] are the leaves, each level above
// pairs its nodes and promotes an odd last node unchanged (RFC 6962's split
// at the largest power of two, as Root computes it).
type Tree struct{ levels [][]Hash }

// NewTree builds the tree over leaves (already leaf-hashed). It keeps
// leaves; the caller must not modify them afterwards.
func NewTree(leaves []Hash) *Tree {
	level := leaves
	t := &Tree{levels: [][]Hash{level}}
	for len(level) > 1 {
		next := make([]Hash, (len(level)+1)/2)
		reduce(next, level)
		t.levels = append(t.levels, next)
		level = next
	}
	return t
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return uint64(len(t.levels[0])) }

// Root returns the tree hash.
func (t *Tree) Root() Hash {
	top := t.levels[len(t.levels)-1]
	if len(top) == 0 {
		return EmptyRoot()
	}
	return top[0]
}

// Path returns the audit path of leaf i, from the leaf up.
func (t *Tree) Path(i int) ([]Hash, error) {
	if i < 0 || i >= len(t.levels[0]) {
		return nil, fmt.Errorf("%w: %d of %d", ErrIndex, i, len(t.levels[0]))
	}
	var out []Hash
	for _, level := range t.levels[:len(t.levels)-1] {
		if sib := i ^ 1; sib < len(level) {
			out = append(out, level[sib])
		}
		i /= 2
	}
	return out, nil
}
