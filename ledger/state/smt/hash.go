package smt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Hash is a SHA-256 digest. It is written in JSON and text as 64 lower-case
// hex digits. A [32]byte is assignable to it and back by conversion.
type Hash [32]byte

// The domain separation bytes. They differ from RFC 6962's 0x00 and 0x01 so
// that no state tree hash can be read as a transaction tree hash.
const (
	leafPrefix  = 0x10
	nodePrefix  = 0x11
	emptyPrefix = 0x12
)

// Empty is the hash of an empty subtree, and so the root of the empty tree:
// SHA-256(0x12).
var Empty = Hash(sha256.Sum256([]byte{emptyPrefix}))

// PathOf returns the position of a key in the tree: SHA-256 of its bytes,
// read bit by bit from the most significant bit of the first byte.
func PathOf(key string) Hash { return sha256.Sum256([]byte(key)) }

// LeafHash returns SHA-256(0x10 || path || valueHash). The leaf commits to
// its full path, so a leaf kept high in the tree (alone in its subtree)
// still pins the key it stands for.
func LeafHash(path, valueHash Hash) Hash {
	var buf [65]byte
	buf[0] = leafPrefix
	copy(buf[1:33], path[:])
	copy(buf[33:], valueHash[:])
	return sha256.Sum256(buf[:])
}

// NodeHash returns SHA-256(0x11 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [65]byte
	buf[0] = nodePrefix
	copy(buf[1:33], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// bit returns bit i (0 = most significant bit of byte 0) of h.
func (h *Hash) bit(i int) int { return int(h[i>>3]>>(7-uint(i&7))) & 1 }

// nibble returns the i-th group of four bits of h, most significant first.
func (h *Hash) nibble(i int) int {
	b := h[i>>1]
	if i&1 == 0 {
		return int(b >> 4)
	}
	return int(b & 0x0f)
}

// commonPrefix returns how many leading bits a and b share (256 if equal).
func commonPrefix(a, b *Hash) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			n := 0
			for x&0x80 == 0 {
				x <<= 1
				n++
			}
			return i*8 + n
		}
	}
	return 256
}

// String returns the hash as hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes the hash as 64 lower-case hex digits.
func (h Hash) MarshalText() ([]byte, error) {
	out := make([]byte, 64)
	hex.Encode(out, h[:])
	return out, nil
}

// UnmarshalText reads 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("%w: hash %q is not 64 hex digits", ErrMalformed, b)
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return fmt.Errorf("%w: hash %q is not 64 hex digits", ErrMalformed, b)
	}
	return nil
}
