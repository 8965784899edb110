package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/baybus/baybus/schemas/merkle"
)

// MaxTxBytes bounds one transaction's canonical encoding.
const MaxTxBytes = 64 << 10

// NewTx binds a validated event to a chain and a city. It does not check the
// event against the schema; call ValidateTx on the result.
func NewTx(chain string, city City, ev *Event) *Tx {
	return &Tx{
		V: TxVersion, Chain: chain, City: city.Token, Jurisdiction: city.Jurisdiction,
		EventID: ev.EventID, Kind: ev.Kind, Action: ev.Action, OccurredAt: ev.OccurredAt,
		Reason: ev.Reason, To: ev.To, Record: ev.Record,
	}
}

// EncodeTx returns the transaction's canonical bytes.
func EncodeTx(tx *Tx) ([]byte, error) {
	b, err := Canonical(tx)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxTxBytes {
		return nil, &FieldError{Rule: "maxBytes", Msg: fmt.Sprintf("transaction is %d bytes, limit %d", len(b), MaxTxBytes)}
	}
	return b, nil
}

// DecodeTx parses canonical transaction bytes. Bytes that are not exactly
// canonical are refused with ErrNotCanonical, so one transaction has one
// encoding and one id. It does not run ValidateTx.
func DecodeTx(raw []byte) (*Tx, error) {
	if len(raw) > MaxTxBytes {
		return nil, fmt.Errorf("%w: transaction is %d bytes, limit %d", ErrBadValue, len(raw), MaxTxBytes)
	}
	if !IsCanonical(raw) {
		// Off the fast path: tell invalid bytes (ErrBadValue) from valid
		// ones in another spelling (ErrNotCanonical).
		if _, err := CanonicalizeJSON(raw); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: transaction bytes differ from their canonical form", ErrNotCanonical)
	}
	// json v2 (go-json-experiment, the prototype of encoding/json/v2):
	// about twice as fast as encoding/json here, and stricter: member
	// names match exactly and no name may repeat.
	var tx Tx
	if err := jsonv2.Unmarshal(raw, &tx, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	return &tx, nil
}

// TxID is a transaction's id: the RFC 6962 leaf hash SHA-256(0x00 || bytes)
// of its canonical bytes. It is also the transaction's leaf in batch and
// block Merkle trees.
type TxID = merkle.Hash

// ComputeTxID returns the id of canonical transaction bytes.
func ComputeTxID(canonical []byte) TxID { return merkle.LeafHash(canonical) }

// FormatID returns a hash as lower-case hex.
func FormatID(id [32]byte) string { return hex.EncodeToString(id[:]) }

// ParseID parses 64 hex digits.
func ParseID(s string) ([32]byte, error) {
	var id [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return id, fmt.Errorf("schemas: id %q is not 64 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// NativeHash returns "sha256:<hex>" of canonicalized native JSON input.
func NativeHash(nativeJSON []byte) (string, error) {
	c, err := CanonicalizeJSON(nativeJSON)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// StatusAfter returns a license's status after an action, given its status
// before (empty if the ledger has no such license). It returns false for an
// action that does not apply: anything but issue on an unknown license, or
// any action after revocation. A handover keeps the status.
//
// This is the transition table of the ledger's rules version 1, which a
// register's history also follows (reconcile). Rules version 2
// (ledger/block) is stricter: issue only of an unknown license, suspend and
// reinstate by the effective status (EffectiveStatus), every change by the
// issuing city only.
func StatusAfter(prev Status, a Action) (Status, bool) {
	if prev == "" {
		return StatusValid, a == ActionIssue
	}
	if prev == StatusRevoked {
		return prev, false
	}
	switch a {
	case ActionIssue, ActionReinstate:
		return StatusValid, true
	case ActionAmend, ActionHandover:
		return prev, true
	case ActionSuspend:
		return StatusSuspended, prev == StatusValid
	case ActionRevoke:
		return StatusRevoked, true
	case ActionExpire:
		return StatusExpired, true
	}
	return prev, false
}

// Event returns the event a transaction carries.
func (t *Tx) Event() *Event {
	return &Event{EventID: t.EventID, Kind: t.Kind, Action: t.Action, OccurredAt: t.OccurredAt, Reason: t.Reason, To: t.To, Record: t.Record}
}

// ParseTime parses an RFC 3339 time as the schemas write it.
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
