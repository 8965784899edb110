package smt

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/baybus/baybus/schemas"
)

// MaxKeyLen bounds a license key in bytes.
const MaxKeyLen = 256

// The first byte of a leaf's canonical encoding: version 1 leaves (rules
// version 1 of ledger/block) name no holder; version 2 leaves do.
const (
	leafV1 = 1
	leafV2 = 2
	leafV3 = 3
)

// MaxTermsLen bounds a grant's terms in a leaf.
const MaxTermsLen = 4096

// MaxOwnerLen bounds a leaf's holder (a city token).
const MaxOwnerLen = 32

// MaxLeafLen bounds a leaf's canonical encoding.
const MaxLeafLen = 1 + binary.MaxVarintLen16 + MaxKeyLen + 1 + 32 + 8 + 32 + 1 + MaxOwnerLen + 1 + len(schemas.DateLayout) +
	1 + binary.MaxVarintLen64 + binary.MaxVarintLen16 + MaxTermsLen

// Leaf is a license's latest state: what the tree commits to under the key.
//
// Owner and ValidTo are written by rules version 2 of ledger/block, whose
// leaves always name their holder; a leaf without an Owner is a version 1
// leaf, encoded as before they existed, so the state roots of chains
// sealed under rules version 1 do not change.
type Leaf struct {
	Key        string         `json:"key"`        // JUR/ID, e.g. "CN/91440300MA5xxxxxxx"
	Status     schemas.Status `json:"status"`     // valid, suspended, revoked or expired, as recorded
	RecordHash Hash           `json:"recordHash"` // hash of the record in force (the id of the last issue or amend transaction)
	Height     uint64         `json:"height"`     // height of the block that last changed the license
	TxID       Hash           `json:"txId"`       // the transaction that last changed it
	// Owner is the city that holds the license: the one that issued it,
	// or the one it was last handed over to. Rules version 2.
	Owner string `json:"owner,omitempty"`
	// ValidTo is the last day (YYYY-MM-DD) of the validity of the record
	// in force, "" if it has no end: from the next day the license is
	// expired whatever Status says (schemas.EffectiveStatus). Rules
	// version 2.
	ValidTo string `json:"validTo,omitempty"`
	// Kind is what the key holds: a license's kind, a grant
	// (share_grant) or an access record (share_access). Rules version 3,
	// whose leaves always name it.
	Kind schemas.Kind `json:"kind,omitempty"`
	// Uses counts the requests answered under a grant. Rules version 3.
	Uses uint64 `json:"uses,omitempty"`
	// Terms are a grant's terms (schemas.GrantTerms, canonical JSON): what
	// the ledger checks each access record against. Rules version 3.
	Terms string `json:"terms,omitempty"`
}

// kindCodes fixes the byte each kind is encoded as. Never renumber.
var kindCodes = [...]schemas.Kind{
	1: schemas.KindBusiness,
	2: schemas.KindCertificate,
	3: schemas.KindApproval,
	4: schemas.KindShareGrant,
	5: schemas.KindShareAccess,
}

// KindOf is KindCode's inverse.
func KindOf(code byte) (schemas.Kind, bool) {
	if code == 0 || int(code) >= len(kindCodes) {
		return "", false
	}
	return kindCodes[code], true
}

// KindCode returns the byte a kind is encoded as in a leaf; false for an
// unknown kind.
func KindCode(k schemas.Kind) (byte, bool) {
	for i, v := range kindCodes {
		if i > 0 && v == k {
			return byte(i), true
		}
	}
	return 0, false
}

// Effective returns the license's status at time at: Status, or expired
// once its validity has ended (schemas.EffectiveStatus).
func (l *Leaf) Effective(at time.Time) schemas.Status {
	return schemas.EffectiveStatus(l.Status, l.ValidTo, at)
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

// CheckOwner reports whether owner can be a leaf's holder: 1 to
// MaxOwnerLen lower-case ASCII letters, as city tokens are.
func CheckOwner(owner string) error {
	if owner == "" || len(owner) > MaxOwnerLen {
		return fmt.Errorf("%w: holder of %d bytes", ErrBadLeaf, len(owner))
	}
	for i := 0; i < len(owner); i++ {
		if owner[i] < 'a' || owner[i] > 'z' {
			return fmt.Errorf("%w: holder %q is not a city token", ErrBadLeaf, owner)
		}
	}
	return nil
}

// check checks what the encoding carries besides the key and status.
func (l *Leaf) check() error {
	if l.Kind == "" && (l.Uses != 0 || l.Terms != "") {
		return fmt.Errorf("%w: uses or terms in a leaf that names no kind", ErrBadLeaf)
	}
	if l.Kind != "" {
		if _, ok := KindCode(l.Kind); !ok {
			return fmt.Errorf("%w: unknown kind %q", ErrBadLeaf, l.Kind)
		}
		if l.Owner == "" {
			return fmt.Errorf("%w: a leaf that names its kind names its holder", ErrBadLeaf)
		}
		switch grant := l.Kind == schemas.KindShareGrant; {
		case grant && (len(l.Terms) == 0 || len(l.Terms) > MaxTermsLen):
			return fmt.Errorf("%w: a grant's leaf holds terms of 1 to %d bytes, not %d", ErrBadLeaf, MaxTermsLen, len(l.Terms))
		case !grant && (l.Uses != 0 || l.Terms != ""):
			return fmt.Errorf("%w: only a grant's leaf counts uses and holds terms", ErrBadLeaf)
		}
	}
	if l.Owner == "" {
		if l.ValidTo != "" {
			return fmt.Errorf("%w: a leaf with a validity end names its holder", ErrBadLeaf)
		}
		return nil
	}
	if err := CheckOwner(l.Owner); err != nil {
		return err
	}
	if l.ValidTo != "" {
		if _, err := schemas.ParseDate(l.ValidTo); err != nil || len(l.ValidTo) != len(schemas.DateLayout) {
			return fmt.Errorf("%w: validity end %q is not a date", ErrBadLeaf, l.ValidTo)
		}
	}
	return nil
}

// MarshalBinary returns the leaf's canonical encoding, the bytes its value
// hash is taken over. A leaf without an Owner (rules version 1):
//
//	0x01 | uvarint(len(key)) | key | status (1 valid, 2 suspended, 3 revoked, 4 expired)
//	     | recordHash (32) | height (8, big-endian) | txId (32)
//
// a leaf with one (rules version 2):
//
//	0x02 | uvarint(len(key)) | key | status | recordHash (32) | height (8) | txId (32)
//	     | uvarint(len(owner)) | owner | uvarint(len(validTo)) | validTo (YYYY-MM-DD or empty)
//
// a leaf that names its kind (rules version 3):
//
//	0x03 | the fields of 0x02 | kind (1 business, 2 certificate, 3 approval, 4 share_grant,
//	     5 share_access) | uvarint(uses) | uvarint(len(terms)) | terms
func (l *Leaf) MarshalBinary() ([]byte, error) {
	if err := CheckKey(l.Key); err != nil {
		return nil, err
	}
	code, ok := statusCode(l.Status)
	if !ok {
		return nil, fmt.Errorf("%w: unknown status %q", ErrBadLeaf, l.Status)
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen16+len(l.Key)+1+32+8+32+2+len(l.Owner)+len(l.ValidTo))
	version := byte(leafV1)
	switch {
	case l.Kind != "":
		version = leafV3
	case l.Owner != "":
		version = leafV2
	}
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(l.Key)))
	b = append(b, l.Key...)
	b = append(b, code)
	b = append(b, l.RecordHash[:]...)
	b = binary.BigEndian.AppendUint64(b, l.Height)
	b = append(b, l.TxID[:]...)
	if version >= leafV2 {
		b = append(binary.AppendUvarint(b, uint64(len(l.Owner))), l.Owner...)
		b = append(binary.AppendUvarint(b, uint64(len(l.ValidTo))), l.ValidTo...)
	}
	if version == leafV3 {
		kc, _ := KindCode(l.Kind) // checked by check
		b = append(b, kc)
		b = binary.AppendUvarint(b, l.Uses)
		b = append(binary.AppendUvarint(b, uint64(len(l.Terms))), l.Terms...)
	}
	return b, nil
}

// UnmarshalBinary parses a canonical encoding and refuses any other bytes.
func (l *Leaf) UnmarshalBinary(b []byte) error {
	if len(b) < 1 || b[0] < leafV1 || b[0] > leafV3 {
		return fmt.Errorf("%w: unknown leaf encoding version", ErrBadLeaf)
	}
	version := b[0]
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || w != uvarintLen(n) || n == 0 || n > MaxKeyLen {
		return fmt.Errorf("%w: bad key length", ErrBadLeaf)
	}
	rest := b[1+w:]
	fixed := n + 1 + 32 + 8 + 32
	if uint64(len(rest)) < fixed || version == leafV1 && uint64(len(rest)) != fixed {
		return fmt.Errorf("%w: leaf is %d bytes, want %d", ErrBadLeaf, len(b), 1+uint64(w)+fixed)
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
	out := Leaf{Key: key, Status: statusCodes[code], Height: binary.BigEndian.Uint64(rest[33:41])}
	copy(out.RecordHash[:], rest[1:33])
	copy(out.TxID[:], rest[41:73])
	if version >= leafV2 {
		tail := rest[73:]
		var ok bool
		if out.Owner, tail, ok = leafString(tail, MaxOwnerLen); !ok {
			return fmt.Errorf("%w: bad holder", ErrBadLeaf)
		}
		if out.ValidTo, tail, ok = leafString(tail, len(schemas.DateLayout)); !ok {
			return fmt.Errorf("%w: bad validity end", ErrBadLeaf)
		}
		if version == leafV3 {
			if tail, ok = out.kindTail(tail); !ok {
				return fmt.Errorf("%w: bad kind, uses or terms", ErrBadLeaf)
			}
		}
		if len(tail) != 0 {
			return fmt.Errorf("%w: trailing bytes", ErrBadLeaf)
		}
		if out.Owner == "" {
			return fmt.Errorf("%w: a version %d leaf without a holder", ErrBadLeaf, version)
		}
		if err := out.check(); err != nil {
			return err
		}
	}
	*l = out
	return nil
}

// kindTail reads what a version 3 leaf adds: its kind, uses and terms.
func (l *Leaf) kindTail(b []byte) ([]byte, bool) {
	if len(b) < 1 || b[0] == 0 || int(b[0]) >= len(kindCodes) {
		return nil, false
	}
	l.Kind = kindCodes[b[0]]
	b = b[1:]
	uses, w := binary.Uvarint(b)
	if w <= 0 || w != uvarintLen(uses) {
		return nil, false
	}
	l.Uses = uses
	terms, b, ok := leafString(b[w:], MaxTermsLen)
	if !ok {
		return nil, false
	}
	l.Terms = terms
	return b, true
}

// leafString reads a minimal uvarint length and that many bytes, at most
// max.
func leafString(b []byte, max int) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || w != uvarintLen(n) || n > uint64(max) || uint64(len(b)-w) < n {
		return "", nil, false
	}
	return string(b[w : w+int(n)]), b[w+int(n):], true
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
