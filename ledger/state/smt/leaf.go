package smt

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/baybus/baybus/schemas"
)

// MaxKeyLen bounds a license key in bytes.
const MaxKeyLen = 256

// leafVersion is the first byte of a leaf's canonical encoding.
const leafVersion = 1

// Leaf is a license's latest state: what the tree commits to under the key.
type Leaf struct {
	Key        string         `json:"key"`        // JUR/ID, e.g. "CN/91440300MA5xxxxxxx"
	Status     schemas.Status `json:"status"`     // valid, suspended, revoked or expired
	RecordHash Hash           `json:"recordHash"` // hash of the record in force (the id of the last issue or amend transaction)
	Height     uint64         `json:"height"`     // height of the block that last changed the license
	TxID       Hash           `json:"txId"`       // the transaction that last changed it
}

// statusCodes fixes the byte each status is encoded as. Never renumber.
var statusCodes = [...]schemas.Status{
	1: schemas.StatusValid,
	2: schemas.StatusSuspended,
	3: schemas.StatusRevoked,
	4: schemas.StatusExpired,
}

// StatusCode returns the byte a status is encoded as in a leaf (1 valid,
// 2 suspended, 3 revoked, 4 expired); false for an unknown status.
func StatusCode(s schemas.Status) (byte, bool) { return statusCode(s) }

// StatusOf is StatusCode's inverse.
func StatusOf(code byte) (schemas.Status, bool) {
	if code == 0 || int(code) >= len(statusCodes) {
		return "", false
	}
	return statusCodes[code], true
}

func statusCode(s schemas.Status) (byte, bool) {
	for i, v := range statusCodes {
		if i > 0 && v == s {
			return byte(i), true
		}
	}
	return 0, false
}

// CheckKey reports whether key can be stored: 1 to MaxKeyLen bytes of UTF-8
// with no NUL (NUL ends a key in the store's index).
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrBadLeaf)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: key is %d bytes, limit %d", ErrBadLeaf, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key %q is not UTF-8", ErrBadLeaf, key)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: key %q holds a NUL byte", ErrBadLeaf, key)
	}
	return nil
}

// MarshalBinary returns the leaf's canonical encoding, the bytes its value
// hash is taken over:
//
//	0x01 | uvarint(len(key)) | key | status (1 valid, 2 suspended, 3 revoked, 4 expired)
//	     | recordHash (32) | height (8, big-endian) | txId (32)
func (l *Leaf) MarshalBinary() ([]byte, error) {
	if err := CheckKey(l.Key); err != nil {
		return nil, err
	}
	code, ok := statusCode(l.Status)
	if !ok {
		return nil, fmt.Errorf("%w: unknown status %q", ErrBadLeaf, l.Status)
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen16+len(l.Key)+1+32+8+32)
	b = append(b, leafVersion)
	b = binary.AppendUvarint(b, uint64(len(l.Key)))
	b = append(b, l.Key...)
	b = append(b, code)
	b = append(b, l.RecordHash[:]...)
	b = binary.BigEndian.AppendUint64(b, l.Height)
	b = append(b, l.TxID[:]...)
	return b, nil
}

// UnmarshalBinary parses a canonical encoding and refuses any other bytes.
func (l *Leaf) UnmarshalBinary(b []byte) error {
	if len(b) < 1 || b[0] != leafVersion {
		return fmt.Errorf("%w: unknown leaf encoding version", ErrBadLeaf)
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || w != uvarintLen(n) || n == 0 || n > MaxKeyLen {
		return fmt.Errorf("%w: bad key length", ErrBadLeaf)
	}
	rest := b[1+w:]
	if uint64(len(rest)) != n+1+32+8+32 {
		return fmt.Errorf("%w: leaf is %d bytes, want %d", ErrBadLeaf, len(b), 1+uint64(w)+n+73)
	}
	key := string(rest[:n])
	if err := CheckKey(key); err != nil {
		return err
	}
	rest = rest[n:]
	code := int(rest[0])
	if code == 0 || code >= len(statusCodes) {
		return fmt.Errorf("%w: unknown status code %d", ErrBadLeaf, code)
	}
	*l = Leaf{Key: key, Status: statusCodes[code], Height: binary.BigEndian.Uint64(rest[33:41])}
	copy(l.RecordHash[:], rest[1:33])
	copy(l.TxID[:], rest[41:])
	return nil
}

func uvarintLen(n uint64) int {
	w := 1
	for n >= 0x80 {
		n >>= 7
		w++
	}
	return w
}

// ValueHash returns SHA-256 of the leaf's canonical encoding.
func (l *Leaf) ValueHash() (Hash, error) {
	b, err := l.MarshalBinary()
	if err != nil {
		return Hash{}, err
	}
	return sha256.Sum256(b), nil
}
