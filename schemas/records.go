package schemas

import (
	"errors"
	"fmt"
	"strings"
)

// Kind names the kind of record a transaction carries.
type Kind string

// The record kinds.
const (
	KindBusiness    Kind = "business_registration"    // 营业执照 / BR certificate / 商業登記
	KindCertificate Kind = "professional_certificate" // 职业资格证书 and the like
	KindApproval    Kind = "administrative_approval"  // 行政许可决定
)

// Kinds lists the record kinds in a fixed order.
var Kinds = []Kind{KindBusiness, KindCertificate, KindApproval}

// ParseKind accepts a kind name or its short form (business, certificate, approval).
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if s == string(k) || s == k.Short() {
			return k, nil
		}
	}
	return "", &FieldError{Field: "kind", Rule: "enum", Msg: fmt.Sprintf("unknown kind %q (valid: business_registration, professional_certificate, administrative_approval)", s)}
}

// Short is the kind's one-word form used in subjects: business, certificate, approval.
func (k Kind) Short() string {
	switch k {
	case KindBusiness:
		return "business"
	case KindCertificate:
		return "certificate"
	case KindApproval:
		return "approval"
	}
	return string(k)
}

// Action is what an event does to a license.
type Action string

// The actions. Issue and amend carry a full record; the others may carry only
// the record's id and a reason.
const (
	ActionIssue     Action = "issue"
	ActionAmend     Action = "amend"
	ActionSuspend   Action = "suspend"
	ActionReinstate Action = "reinstate"
	ActionRevoke    Action = "revoke"
	ActionExpire    Action = "expire"
	// ActionHandover passes a license to another city of its jurisdiction
	// (a company moves from Guangzhou to Shenzhen): the city that holds the
	// license signs it, naming the new holder in Event.To. It changes no
	// status and no record. It is a ledger action, not a register event:
	// it is not in Actions, and the jurisdictions' native formats and
	// registers have no word for it.
	ActionHandover Action = "handover"
)

// Actions lists, in a fixed order, the actions a city's register records
// and the bridges translate. ActionHandover is not among them.
var Actions = []Action{ActionIssue, ActionAmend, ActionSuspend, ActionReinstate, ActionRevoke, ActionExpire}

// LedgerActions lists every action a transaction may carry: Actions and
// ActionHandover.
var LedgerActions = []Action{ActionIssue, ActionAmend, ActionSuspend, ActionReinstate, ActionRevoke, ActionExpire, ActionHandover}

// FullRecord reports whether the action must carry a complete record.
func (a Action) FullRecord() bool { return a == ActionIssue || a == ActionAmend }

// Status is a license's status on the ledger.
type Status string

// The statuses.
const (
	StatusValid     Status = "valid"
	StatusSuspended Status = "suspended"
	StatusRevoked   Status = "revoked"
	StatusExpired   Status = "expired"
)

// Text is a string in one or more languages keyed by BCP 47 tag:
// "zh-Hans" (Simplified Chinese), "zh-Hant" (Traditional Chinese, Hong Kong
// usage), "en", "pt". The form the issuer wrote is kept as written; converted
// forms are added beside it, never substituted.
type Text map[string]string

// Language tags used in Text.
const (
	LangHans = "zh-Hans"
	LangHant = "zh-Hant"
	LangEN   = "en"
	LangPT   = "pt"
)

// Money is an amount in a currency. Amount is a decimal string (never a
// float) so that it hashes the same everywhere.
type Money struct {
	Amount   string `json:"amount"`   // e.g. "1000000.00"
	Currency string `json:"currency"` // ISO 4217: CNY, HKD, MOP
}

// Period is a validity period of ISO 8601 dates. An empty To means no end
// (长期 / long-term).
type Period struct {
	From string `json:"from"`
	To   string `json:"to,omitempty"`
}

// Party is a person or organisation named on a record.
type Party struct {
	Name     Text   `json:"name,omitempty"`     // required by the schemas; absent only when hidden (SD)
	IDKind   string `json:"idKind,omitempty"`   // uscc, cn-rid, hkid, hk-brn, mo-bir, mo-reg, mo-tax
	IDNumber string `json:"idNumber,omitempty"` // as issued
	Role     Text   `json:"role,omitempty"`     // e.g. 法定代表人, administrator
	// SD holds, under rules version 3, the salted digests of the party's
	// personal fields ("name", "idNumber") in place of their values
	// (classes.go, schemas/disclose).
	SD Digests `json:"_sd,omitempty"`
}

// Digests maps a field's member name to the salted digest of its
// disclosure (schemas/disclose): what a record holds, under rules version
// 3, in place of a personal field's value. The member is "_sd", after
// SD-JWT (RFC 9901), but keyed by the member's name rather than a bare
// list, since field classes are public (classes.go).
type Digests map[string]string

// Record is the canonical license, certificate or approval. One struct serves
// the three kinds; the JSON Schema of each kind says which fields it requires.
// All dates are ISO 8601 (YYYY-MM-DD).
type Record struct {
	ID string `json:"id"` // USCC, HK BR number, MO registration number, certificate or approval number

	// Who the record is about.
	Name   Text    `json:"name,omitempty"`   // business name, certificate holder or applicant
	Holder *Party  `json:"holder,omitempty"` // certificate holder / approval applicant with their id
	People []Party `json:"people,omitempty"` // legal representative (CN), administrators (MO)

	// Business registration.
	EntityType    Text   `json:"entityType,omitempty"`    // 类型 / legal status / tipo
	Capital       *Money `json:"capital,omitempty"`       // 注册资本 / capital
	EstablishedOn string `json:"establishedOn,omitempty"` // 成立日期 / commencement / registration date
	Address       Text   `json:"address,omitempty"`       // 住所 / business address / sede
	Scope         Text   `json:"scope,omitempty"`         // 经营范围 / nature of business / objecto
	CertificateNo string `json:"certificateNo,omitempty"` // HK BR certificate number 99999999-XXX-MM-YY-C
	TaxNumber     string `json:"taxNumber,omitempty"`     // MO taxpayer number
	Fee           *Money `json:"fee,omitempty"`           // HK BR fee
	Levy          *Money `json:"levy,omitempty"`          // HK levy

	// Certificates and approvals.
	Title      Text   `json:"title,omitempty"`      // profession or approved service item
	Level      Text   `json:"level,omitempty"`      // certificate grade
	Decision   Text   `json:"decision,omitempty"`   // approval decision text
	ELicenseID string `json:"elicenseId,omitempty"` // 证照标识, GB/T 36904 family

	// Common to all kinds.
	Authority Text    `json:"authority,omitempty"` // 登记机关 / issuing authority
	IssuedOn  string  `json:"issuedOn,omitempty"`  // 发照日期 / date of issue
	Validity  *Period `json:"validity,omitempty"`  // 营业期限 / expiry

	// SD holds, under rules version 3, the salted digests of the
	// record's own personal fields ("name" of a certificate or approval
	// held by a natural person) in place of their values.
	SD Digests `json:"_sd,omitempty"`
}

// Event is what a city system submits in canonical form. The city comes from
// the gateway it is posted to.
type Event struct {
	EventID    string `json:"eventId"`          // the city system's own id for the event
	Kind       Kind   `json:"kind"`             // record kind
	Action     Action `json:"action"`           // what the event does
	OccurredAt string `json:"occurredAt"`       // RFC 3339 time the city decided it
	Reason     string `json:"reason,omitempty"` // why (suspend, revoke, ...)
	// To is the city token a handover passes the license to (handover
	// only).
	To     string `json:"to,omitempty"`
	Record Record `json:"record"`
}

// TxVersion is the version of the transaction envelope.
const TxVersion = 1

// Tx is the canonical transaction: an event bound to a chain and a city.
// Its id is the RFC 6962 leaf hash of its canonical bytes (see TxID).
type Tx struct {
	V            int          `json:"v"`
	Chain        string       `json:"chain"`
	City         string       `json:"city"`
	Jurisdiction Jurisdiction `json:"jurisdiction"`
	EventID      string       `json:"eventId"`
	Kind         Kind         `json:"kind"`
	Action       Action       `json:"action"`
	OccurredAt   string       `json:"occurredAt"`
	Reason       string       `json:"reason,omitempty"`
	To           string       `json:"to,omitempty"` // handover only: the city that holds the license next
	Record       Record       `json:"record"`
	// NativeFormat and NativeHash name and hash (sha256:<hex> of the
	// canonicalized native JSON) the jurisdiction's native input when the event
	// arrived in native form through a bridge.
	NativeFormat string `json:"nativeFormat,omitempty"`
	NativeHash   string `json:"nativeHash,omitempty"`
	// Grant is a grant's terms (KindShareGrant, issue; rules version 3).
	Grant *Grant `json:"grant,omitempty"`
	// Access is an access record (KindShareAccess; rules version 3).
	Access *Access `json:"access,omitempty"`
}

// LicenseKey returns the key under which the ledger keeps what the
// transaction is about: JUR/ID for a license, ShareKey for a grant or an
// access record (rules version 3).
func (t *Tx) LicenseKey() string {
	if t.Kind == KindShareGrant || t.Kind == KindShareAccess {
		return ShareKey(t.Kind, t.City, t.Record.ID)
	}
	return LicenseKey(t.Jurisdiction, t.Record.ID)
}

// IsShare reports whether the transaction is a grant, a revocation or an
// access record, or carries one's members (which rules versions 1 and 2
// do not know).
func (t *Tx) IsShare() bool {
	return t.Kind == KindShareGrant || t.Kind == KindShareAccess || t.Grant != nil || t.Access != nil
}

// LicenseKey joins a jurisdiction and a license id.
func LicenseKey(j Jurisdiction, id string) string { return string(j) + "/" + id }

// SplitLicenseKey splits JUR/ID.
func SplitLicenseKey(key string) (Jurisdiction, string, error) {
	jur, id, ok := strings.Cut(key, "/")
	if !ok || id == "" {
		return "", "", fmt.Errorf("schemas: license key %q is not JUR/ID", key)
	}
	j, err := ParseJurisdiction(jur)
	return j, id, err
}

// FieldError says which field of an input broke which rule.
type FieldError struct {
	Field string // JSON path of the field, e.g. "record.id"
	Rule  string // the rule, e.g. "required", "pattern", "uscc-check"
	Msg   string // for people
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "schemas: " + e.Msg
	}
	return fmt.Sprintf("schemas: %s: %s (rule %s)", e.Field, e.Msg, e.Rule)
}

// Is makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// ErrInvalid is matched by every validation error of this package.
var ErrInvalid = errors.New("schemas: invalid")

// AsFieldError returns the FieldError inside err, if any.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}
