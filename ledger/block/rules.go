package block

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Rules versions. A chain keeps the version its trust bundle names
// (keys.Bundle.Rules) from its first block, and every header says it, so a
// block is always checked, replayed and proved by the rules it was sealed
// under.
const (
	// Rules1: structural record checks; status by schemas.StatusAfter; any
	// city may change any license of its jurisdiction. Chains whose trust
	// bundle names no rules version.
	Rules1 = 1
	// Rules2: every gateway check is a ledger rule (schemas.CheckTx,
	// identifier check digits); only the city that holds a license changes
	// it, and a handover passes it on; issue only of a license that does
	// not exist; status as of the block's time (a validity that has ended
	// is expired); every refusal says why (Reason).
	Rules2 = 2
	// Rules3: version 2, and sharing under the owner's control (issue
	// 15): personal fields only as salted digests (schemas.CheckTx3);
	// grants, their revocations and access records as transactions, the
	// access records checked against the grant in force (apply3); leaves
	// that name what they hold (License.Kind).
	Rules3 = 3
	// CurrentRules is the newest version: what new consortia use.
	CurrentRules = Rules3
)

// ErrRules is returned for a trust bundle or header that names a rules
// version this package does not know.
var ErrRules = errors.New("block: unknown rules version")

// RulesOf returns the rules version of the chain a trust bundle describes.
func RulesOf(trust *keys.Bundle) (int, error) {
	switch v := trust.Rules; v {
	case 0, Rules1:
		return Rules1, nil
	case Rules2, Rules3:
		return v, nil
	default:
		return 0, fmt.Errorf("%w: trust bundle names rules version %d", ErrRules, v)
	}
}

// headerRules is the Header.Rules of version v: 0 for version 1.
func headerRules(v int) uint8 {
	if v <= Rules1 {
		return 0
	}
	return uint8(v)
}

// checkRules refuses a header whose rules version is not its chain's.
func checkRules(trust *keys.Bundle, h *Header) error {
	v, err := RulesOf(trust)
	if err != nil {
		return err
	}
	if h.RulesVersion() != v {
		return fmt.Errorf("%w: header of rules version %d on a chain of rules version %d", ErrMismatch, h.RulesVersion(), v)
	}
	return nil
}

// Reason says why a transaction took no effect. It travels in the
// Result's high bits (rules version 2; always zero in version 1), so it is
// part of the results the header's ResultsHash covers and of what the
// transaction index keeps. Never renumber.
type Reason byte

// The reasons of Invalid (well signed, not a valid transaction).
const (
	NoReason Reason = 0
	// ReasonMalformed: the bytes are not a canonical transaction (they do
	// not decode, or are not the encoding of what they decode to).
	ReasonMalformed Reason = 1
	// ReasonEnvelope: the envelope's version, chain or city disagrees with
	// the batch, or its city is not in its jurisdiction.
	ReasonEnvelope Reason = 2
	// ReasonSchema: the record breaks the schemas (a required field, a
	// pattern, an enumeration, a length, a date that does not exist).
	ReasonSchema Reason = 3
	// ReasonIdentifier: an identifier in the record fails its check
	// (bridge/ids: USCC, HKID and other check characters, formats).
	ReasonIdentifier Reason = 4
	// ReasonText: text holds a control or bidirectional formatting
	// character.
	ReasonText Reason = 5
	// ReasonNotNFC: a string is not in Unicode NFC.
	ReasonNotNFC Reason = 6
	// ReasonHandoverTarget: a handover names no other city of the
	// license's jurisdiction.
	ReasonHandoverTarget Reason = 7
)

// The reasons of Rejected (a valid transaction the license does not allow).
const (
	// ReasonNotFound: an action other than issue on a license the ledger
	// does not hold.
	ReasonNotFound Reason = 8
	// ReasonExists: issue of a license the ledger holds (amend it instead).
	ReasonExists Reason = 9
	// ReasonNotIssuer: the city is not the one that holds the license
	// (the issuer, or the city it was handed over to).
	ReasonNotIssuer Reason = 10
	// ReasonRevoked: the license is revoked, which is final.
	ReasonRevoked Reason = 11
	// ReasonStatus: the license's status does not allow the action
	// (suspending a license that is not valid).
	ReasonStatus Reason = 12

	maxReason2 = ReasonStatus
)

// The reasons rules version 3 adds. Invalid: a transaction no state could
// make valid.
const (
	// ReasonPersonal: a personal field in plaintext, or a digest where no
	// personal field is (schemas.CheckRedacted).
	ReasonPersonal Reason = 13
	// ReasonSignature: an access record whose reader's signature does not
	// verify with a key of that reader valid at the block's height.
	ReasonSignature Reason = 14
	// ReasonReader: a grant to, or a request of, a reader the trust
	// bundle does not name.
	ReasonReader Reason = 15
)

// The reasons rules version 3 adds. Rejected: an access record answered
// under a grant that does not allow it at the block's time. Their names
// are the refusals' (schemas.Refusal), so the gateway records the refusal
// the ledger found.
const (
	ReasonNoGrant           Reason = 16 // no_grant: no such grant, or not the reader's
	ReasonGrantRevoked      Reason = 17
	ReasonGrantExpired      Reason = 18
	ReasonGrantNotYet       Reason = 19
	ReasonKindNotGranted    Reason = 20
	ReasonFieldNotGranted   Reason = 21
	ReasonPurposeNotGranted Reason = 22
	ReasonMatchNotGranted   Reason = 23
	ReasonOverLimit         Reason = 24
	// ReasonWrongKind: the license asked for is not of the kind the
	// request says.
	ReasonWrongKind Reason = 25

	maxReason3 = ReasonWrongKind
)

// maxReasonOf is the last reason of rules version v.
func maxReasonOf(v int) Reason {
	if v >= Rules3 {
		return maxReason3
	}
	return maxReason2
}

var reasonNames = [...]string{
	NoReason: "", ReasonMalformed: "malformed", ReasonEnvelope: "envelope", ReasonSchema: "schema",
	ReasonIdentifier: "identifier", ReasonText: "text", ReasonNotNFC: "not_nfc", ReasonHandoverTarget: "handover_target",
	ReasonNotFound: "not_found", ReasonExists: "exists", ReasonNotIssuer: "not_issuer", ReasonRevoked: "revoked",
	ReasonStatus:   "status",
	ReasonPersonal: "personal", ReasonSignature: "signature", ReasonReader: "reader",
	ReasonNoGrant: string(schemas.RefuseNoGrant), ReasonGrantRevoked: string(schemas.RefuseRevoked),
	ReasonGrantExpired: string(schemas.RefuseExpired), ReasonGrantNotYet: string(schemas.RefuseNotYet),
	ReasonKindNotGranted: string(schemas.RefuseKind), ReasonFieldNotGranted: string(schemas.RefuseField),
	ReasonPurposeNotGranted: string(schemas.RefusePurpose), ReasonMatchNotGranted: string(schemas.RefuseMatch),
	ReasonOverLimit: string(schemas.RefuseOverLimit), ReasonWrongKind: string(schemas.RefuseWrongKind),
}

// String is the reason's machine-readable name ("not_issuer"); "" for
// NoReason.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", byte(r))
}

// ParseReason is String's inverse.
func ParseReason(s string) (Reason, bool) {
	i := slices.Index(reasonNames[:], s)
	if i <= 0 {
		return NoReason, false
	}
	return Reason(i), true
}

// outcome is the result a reason goes with.
func (r Reason) outcome() Result {
	switch {
	case r == NoReason:
		return OK
	case r < ReasonNotFound, r >= ReasonPersonal && r <= ReasonReader:
		return Invalid
	}
	return Rejected
}

// checkTx2 is the record check of rules version 2: everything the
// gateway checks (schemas.CheckTx, the identifiers by bridge/ids), on the
// transaction's canonical bytes.
func checkTx2(raw []byte, bt *schemas.Batch) (*schemas.Tx, Reason, error) {
	tx, err := schemas.DecodeTx(raw)
	if err != nil {
		return nil, ReasonMalformed, err
	}
	if tx.IsShare() || tx.Record.HasDigests() {
		// Members of rules version 3 ("grant", "access", "_sd"), which
		// did not decode when version 2 was made: malformed, as then.
		return nil, ReasonMalformed, fmt.Errorf("block: a grant, an access record or digests, which rules version 2 does not know")
	}
	// A member that decodes to its absence ("reason":"", "name":null)
	// would make bytes that say more than the transaction they hold:
	// refused, so that the bytes are the encoding of the fields
	// (schemas.HasEmptyValue, a cheap form of EncodeTx(tx) == raw).
	if schemas.HasEmptyValue(raw) {
		return nil, ReasonMalformed, fmt.Errorf("block: transaction holds an empty value (null, \"\", {} or []), which decodes as if absent")
	}
	if tx.Chain != bt.Chain || tx.City != bt.City {
		return nil, ReasonEnvelope, fmt.Errorf("block: transaction of chain %q, city %q in a batch of chain %q, city %q", tx.Chain, tx.City, bt.Chain, bt.City)
	}
	if err := schemas.CheckTx(tx); err != nil {
		return nil, reasonOf(err), err
	}
	if tx.Action.FullRecord() {
		if err := ids.CheckRecord(tx.Jurisdiction, tx.Kind, &tx.Record); err != nil {
			return nil, ReasonIdentifier, err
		}
	}
	return tx, NoReason, nil
}

// reasonOf maps a schemas.CheckTx error to its reason.
func reasonOf(err error) Reason {
	fe, ok := schemas.AsFieldError(err)
	if !ok {
		return ReasonSchema
	}
	switch {
	case fe.Rule == "text-control" || fe.Rule == "text-bidi" || fe.Rule == "utf8":
		return ReasonText
	case fe.Rule == "nfc":
		return ReasonNotNFC
	case fe.Rule == "handover-to":
		return ReasonHandoverTarget
	case fe.Field == "v" || fe.Field == "chain" || fe.Field == "city" || fe.Field == "jurisdiction":
		return ReasonEnvelope
	}
	return ReasonSchema
}

// apply2 is the transition of rules version 2: what a valid transaction
// does to a license (prev, seen false if the ledger has none), or why it
// may not. The status moves as under version 1 (schemas.StatusAfter), but
// for issue, which only makes a license the ledger does not hold; who may
// act, and the holder and validity the state keeps, are new. Expiry by
// date needs no transition: it is the status's reading at a time
// (schemas.EffectiveStatus), so a license whose validity ended may still
// be suspended, revoked or amended (an amend with a new validity renews
// it).
func apply2(prev License, seen bool, tx *TxCheck) (License, Reason) {
	if !seen {
		if tx.Action != schemas.ActionIssue {
			return prev, ReasonNotFound
		}
		return License{Status: schemas.StatusValid, Owner: tx.City, ValidTo: tx.ValidTo}, NoReason
	}
	switch {
	case tx.Action == schemas.ActionIssue:
		return prev, ReasonExists
	case tx.City != prev.Owner:
		return prev, ReasonNotIssuer
	case prev.Status == schemas.StatusRevoked:
		return prev, ReasonRevoked
	}
	next := prev
	var ok bool
	if next.Status, ok = schemas.StatusAfter(prev.Status, tx.Action); !ok {
		return prev, ReasonStatus
	}
	switch tx.Action {
	case schemas.ActionAmend:
		next.ValidTo = tx.ValidTo
	case schemas.ActionHandover:
		next.Owner = tx.To
	}
	return next, NoReason
}

// ErrTimestamp is returned by CheckTimestamp.
var ErrTimestamp = errors.New("block: timestamp ahead of the clock")

// CheckTimestamp refuses a header stamped more than skew after now. Under
// rules version 2 a block's timestamp decides which licenses its proofs
// show expired, and it is the proposer's clock: a follower that calls
// CheckTimestamp on each proposal (with its own clock, and a skew of
// seconds) keeps a proposer from expiring licenses early. It is not part of Verify, which
// replays stored blocks too and reads no clock.
func CheckTimestamp(h *Header, now time.Time, skew time.Duration) error {
	if ts := time.Unix(0, h.Timestamp); ts.After(now.Add(skew)) {
		return fmt.Errorf("%w: block %d stamped %v, %v ahead of the local clock (skew allowed %v)", ErrTimestamp, h.Height, ts.UTC(), ts.Sub(now), skew)
	}
	return nil
}
