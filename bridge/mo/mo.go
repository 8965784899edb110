// Package mo is the bridge for Macao (MO): commercial registrations (商業登記
// / registo comercial), professional certificates and administrative
// licences in their native form, with Portuguese keys, texts {"zh":
// Traditional Chinese, "pt": Portuguese, "en": English}, dates written
// DD/MM/YYYY and capital written MOP 25,000.00. See bridge/README.md for the
// formats.
package mo

import (
	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/bridge/internal/core"
	"github.com/baybus/baybus/bridge/internal/native"
	"github.com/baybus/baybus/schemas"
)

// The native format names.
const (
	FormatBusiness    = "mo/business_registration@1"
	FormatCertificate = "mo/professional_certificate@1"
	FormatApproval    = "mo/administrative_approval@1"
)

// Bridge is the MO bridge.
type Bridge struct{ *core.Bridge }

// New returns the MO bridge.
func New() *Bridge { return &Bridge{core.New(Codec(), maker{})} }

var idTypes = []native.IDType{
	{Word: "BIR", Kind: "mo-bir"},
	{Word: "Registo Comercial", Kind: "mo-reg"},
	{Word: "Contribuinte", Kind: "mo-tax"},
	{Word: "HKID", Kind: "hkid"},
	{Word: "BR Hong Kong", Kind: "hk-brn"},
	{Word: "BIR Interior da China", Kind: "cn-rid"},
	{Word: "USCC", Kind: "uscc"},
	{Word: "Passaporte", Kind: "passport"},
}

// legalForms are the legal forms of a commercial registration, written by
// their Portuguese names.
var legalForms = []native.EnumEntry{
	{Code: "Sociedade por quotas", Text: schemas.Text{schemas.LangPT: "Sociedade por quotas", schemas.LangHant: "有限公司", schemas.LangEN: "Private company limited by quotas"}},
	{Code: "Sociedade anónima", Text: schemas.Text{schemas.LangPT: "Sociedade anónima", schemas.LangHant: "股份有限公司", schemas.LangEN: "Company limited by shares"}},
	{Code: "Sociedade em nome colectivo", Text: schemas.Text{schemas.LangPT: "Sociedade em nome colectivo", schemas.LangHant: "無限公司", schemas.LangEN: "General partnership"}},
	{Code: ids.MOIndividualForm, Text: schemas.Text{schemas.LangPT: ids.MOIndividualForm, schemas.LangHant: "自然人商業企業主", schemas.LangEN: "Individual entrepreneur"}},
}

// Codec returns the MO native formats.
func Codec() *native.Codec {
	type R = schemas.Record
	authority := native.Text("entidadeEmissora", "record.authority", native.Full, func(r *R) *schemas.Text { return &r.Authority })
	validity := native.Validity("validadeDe", "validadeAte", "", native.Optional)
	person := native.Party{Name: "nome", IDType: "tipoDocumento", IDNumber: "numeroDocumento", IDTypes: idTypes, IDRequired: true}
	party := func(object string) native.Party { p := person; p.Object = object; return p }
	admin := person
	admin.Role, admin.IDRequired = "cargo", false
	return &native.Codec{
		Style: native.Style{Jurisdiction: schemas.MO,
			Text: native.TextStyle{Langs: []native.TextLang{{Key: "zh", Lang: schemas.LangHant}, {Key: "pt", Lang: schemas.LangPT}, {Key: "en", Lang: schemas.LangEN}}},
			Date: native.DateDMY, Money: native.MoneyMO},
		Envelope: native.Envelope{
			EventID: "evento", Action: "acto", OccurredAt: "dataHora", Reason: "motivo",
			Actions: []native.ActionWord{
				{Action: schemas.ActionIssue, Word: "emissão"},
				{Action: schemas.ActionAmend, Word: "alteração"},
				{Action: schemas.ActionSuspend, Word: "suspensão"},
				{Action: schemas.ActionReinstate, Word: "reactivação"},
				{Action: schemas.ActionRevoke, Word: "cancelamento"},
				{Action: schemas.ActionExpire, Word: "caducidade"},
			},
		},
		Formats: []native.Format{
			{Name: FormatBusiness, Kind: schemas.KindBusiness, Fields: []native.Field{
				native.ID("numeroRegisto"),
				native.Text("firma", "record.name", native.Full, func(r *R) *schemas.Text { return &r.Name }),
				native.Enum("tipo", "record.entityType", native.Full, func(r *R) *schemas.Text { return &r.EntityType }, legalForms),
				native.Code("numeroContribuinte", "record.taxNumber", native.Full, func(r *R) *string { return &r.TaxNumber }),
				native.Text("objecto", "record.scope", native.Full, func(r *R) *schemas.Text { return &r.Scope }),
				native.Money("capital", "record.capital", native.Optional, func(r *R) **schemas.Money { return &r.Capital }),
				native.Text("sede", "record.address", native.Full, func(r *R) *schemas.Text { return &r.Address }),
				native.People("administradores", admin),
				native.Date("dataRegisto", "record.establishedOn", native.Full, func(r *R) *string { return &r.EstablishedOn }),
				native.Text("conservatoria", "record.authority", native.Full, func(r *R) *schemas.Text { return &r.Authority }),
				native.Date("dataEmissao", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
				validity,
			}},
			{Name: FormatCertificate, Kind: schemas.KindCertificate, Fields: []native.Field{
				native.ID("numeroCertificado"),
				native.Holder(party("titular"), native.Full),
				native.Text("profissao", "record.title", native.Full, func(r *R) *schemas.Text { return &r.Title }),
				native.Text("nivel", "record.level", native.Optional, func(r *R) *schemas.Text { return &r.Level }),
				authority,
				native.Date("dataEmissao", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
				validity,
			}},
			{Name: FormatApproval, Kind: schemas.KindApproval, Fields: []native.Field{
				native.ID("numeroLicenca"),
				native.Holder(party("requerente"), native.Full),
				native.Text("objectoLicenca", "record.title", native.Full, func(r *R) *schemas.Text { return &r.Title }),
				native.Text("decisao", "record.decision", native.Full, func(r *R) *schemas.Text { return &r.Decision }),
				authority,
				native.Date("dataDecisao", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
				validity,
			}},
		},
	}
}
