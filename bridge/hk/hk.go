// Package hk is the bridge for Hong Kong (HK): business registration
// certificates, professional certificates and licences in their native form,
// with English keys, bilingual texts {"zh": Traditional Chinese, "en":
// English}, dates written DD/MM/YYYY and fees written HK$2,250.00.
// See bridge/README.md for the formats.
package hk

import (
	"github.com/baybus/baybus/bridge/internal/core"
	"github.com/baybus/baybus/bridge/internal/native"
	"github.com/baybus/baybus/schemas"
)

// The native format names.
const (
	FormatBusiness    = "hk/business_registration@1"
	FormatCertificate = "hk/professional_certificate@1"
	FormatApproval    = "hk/administrative_approval@1"
)

// Bridge is the HK bridge.
type Bridge struct{ *core.Bridge }

// New returns the HK bridge.
func New() *Bridge { return &Bridge{core.New(Codec(), maker{})} }

var idTypes = []native.IDType{
	{Word: "HKID", Kind: "hkid"},
	{Word: "BR", Kind: "hk-brn"},
	{Word: "Mainland ID", Kind: "cn-rid"},
	{Word: "USCC", Kind: "uscc"},
	{Word: "Macao ID", Kind: "mo-bir"},
	{Word: "Macao CR", Kind: "mo-reg"},
	{Word: "Macao TIN", Kind: "mo-tax"},
	{Word: "Passport", Kind: "passport"},
}

// legalStatuses are the status codes printed on a business registration
// certificate.
var legalStatuses = []native.EnumEntry{
	{Code: "CORP", Text: schemas.Text{schemas.LangHant: "法人團體", schemas.LangEN: "Body corporate"}},
	{Code: "SOLE", Text: schemas.Text{schemas.LangHant: "獨資經營", schemas.LangEN: "Sole proprietorship"}},
	{Code: "PART", Text: schemas.Text{schemas.LangHant: "合夥經營", schemas.LangEN: "Partnership"}},
}

// Codec returns the HK native formats.
func Codec() *native.Codec {
	type R = schemas.Record
	authority := native.Text("issuingAuthority", "record.authority", native.Full, func(r *R) *schemas.Text { return &r.Authority })
	validity := native.Validity("validFrom", "expiryDate", "", native.Optional)
	party := func(object string) native.Party {
		return native.Party{Object: object, Name: "name", IDType: "idType", IDNumber: "idNumber", IDTypes: idTypes, IDRequired: true}
	}
	return &native.Codec{
		Style: native.Style{Jurisdiction: schemas.HK,
			Text: native.TextStyle{Langs: []native.TextLang{{Key: "zh", Lang: schemas.LangHant}, {Key: "en", Lang: schemas.LangEN}}},
			Date: native.DateDMY, Money: native.MoneyHK},
		Envelope: native.Envelope{
			EventID: "eventId", Action: "action", OccurredAt: "occurredAt", Reason: "reason",
			Actions: []native.ActionWord{
				{Action: schemas.ActionIssue, Word: "issue"},
				{Action: schemas.ActionAmend, Word: "amend"},
				{Action: schemas.ActionSuspend, Word: "suspend"},
				{Action: schemas.ActionReinstate, Word: "reinstate"},
				{Action: schemas.ActionRevoke, Word: "revoke"},
				{Action: schemas.ActionExpire, Word: "expire"},
			},
		},
		Formats: []native.Format{
			{Name: FormatBusiness, Kind: schemas.KindBusiness, Fields: []native.Field{
				native.ID("brNumber"),
				native.Code("certificateNo", "record.certificateNo", native.Full, func(r *R) *string { return &r.CertificateNo }),
				native.Text("businessName", "record.name", native.Full, func(r *R) *schemas.Text { return &r.Name }),
				native.Enum("legalStatus", "record.entityType", native.Full, func(r *R) *schemas.Text { return &r.EntityType }, legalStatuses),
				native.Text("natureOfBusiness", "record.scope", native.Full, func(r *R) *schemas.Text { return &r.Scope }),
				native.Text("businessAddress", "record.address", native.Full, func(r *R) *schemas.Text { return &r.Address }),
				native.Date("commencementDate", "record.establishedOn", native.Full, func(r *R) *string { return &r.EstablishedOn }),
				native.Validity("validFrom", "expiryDate", "", native.Full),
				native.Money("fee", "record.fee", native.Full, func(r *R) **schemas.Money { return &r.Fee }),
				native.Money("levy", "record.levy", native.Optional, func(r *R) **schemas.Money { return &r.Levy }),
				authority,
				native.Date("dateOfIssue", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
			}},
			{Name: FormatCertificate, Kind: schemas.KindCertificate, Fields: []native.Field{
				native.ID("certificateNumber"),
				native.Holder(party("holder"), native.Full),
				native.Text("profession", "record.title", native.Full, func(r *R) *schemas.Text { return &r.Title }),
				native.Text("grade", "record.level", native.Optional, func(r *R) *schemas.Text { return &r.Level }),
				authority,
				native.Date("dateOfIssue", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
				validity,
			}},
			{Name: FormatApproval, Kind: schemas.KindApproval, Fields: []native.Field{
				native.ID("licenceNumber"),
				native.Holder(party("licensee"), native.Full),
				native.Text("licenceType", "record.title", native.Full, func(r *R) *schemas.Text { return &r.Title }),
				native.Text("decision", "record.decision", native.Full, func(r *R) *schemas.Text { return &r.Decision }),
				authority,
				native.Date("dateOfDecision", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
				validity,
			}},
		},
	}
}
