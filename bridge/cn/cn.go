// Package cn is the bridge for mainland China (CN): 营业执照, 职业资格证书
// and 行政许可决定 in their native form, with keys in Simplified Chinese,
// dates written 2019年3月1日 and registered capital written 100万元人民币.
// See bridge/README.md for the formats.
package cn

import (
	"github.com/baybus/baybus/bridge/internal/core"
	"github.com/baybus/baybus/bridge/internal/native"
	"github.com/baybus/baybus/schemas"
)

// The native format names.
const (
	FormatBusiness    = "cn/business_registration@1"
	FormatCertificate = "cn/professional_certificate@1"
	FormatApproval    = "cn/administrative_approval@1"
)

// Bridge is the CN bridge.
type Bridge struct{ *core.Bridge }

// New returns the CN bridge.
func New() *Bridge { return &Bridge{core.New(Codec(), maker{})} }

// idTypes are the words for identity documents on CN forms.
var idTypes = []native.IDType{
	{Word: "居民身份证", Kind: "cn-rid"},
	{Word: "统一社会信用代码", Kind: "uscc"},
	{Word: "香港居民身份证", Kind: "hkid"},
	{Word: "香港商业登记号码", Kind: "hk-brn"},
	{Word: "澳门居民身份证", Kind: "mo-bir"},
	{Word: "澳门商业登记编号", Kind: "mo-reg"},
	{Word: "澳门纳税人编号", Kind: "mo-tax"},
	{Word: "护照", Kind: "passport"},
}

// representative is the role of the person named under 法定代表人; the
// English and Portuguese are part of the format's vocabulary, so other
// jurisdictions' views can label the person.
var representative = schemas.Text{schemas.LangHans: "法定代表人", schemas.LangEN: "Legal representative", schemas.LangPT: "Representante legal"}

// Codec returns the CN native formats.
func Codec() *native.Codec {
	type R = schemas.Record
	elicense := native.LongCode("证照标识", "record.elicenseId", native.Optional, 128, func(r *R) *string { return &r.ELicenseID })
	return &native.Codec{
		Style: native.Style{Jurisdiction: schemas.CN, Text: native.TextStyle{Plain: true}, Date: native.DateCN, Money: native.MoneyCN},
		Envelope: native.Envelope{
			EventID: "事件编号", Action: "操作", OccurredAt: "发生时间", Reason: "原因",
			Actions: []native.ActionWord{
				{Action: schemas.ActionIssue, Word: "核发"},
				{Action: schemas.ActionAmend, Word: "变更"},
				{Action: schemas.ActionSuspend, Word: "暂停"},
				{Action: schemas.ActionReinstate, Word: "恢复"},
				{Action: schemas.ActionRevoke, Word: "吊销"},
				{Action: schemas.ActionExpire, Word: "期满"},
			},
		},
		Formats: []native.Format{
			{Name: FormatBusiness, Kind: schemas.KindBusiness, Fields: []native.Field{
				native.ID("统一社会信用代码"),
				native.Text("名称", "record.name", native.Full, func(r *R) *schemas.Text { return &r.Name }),
				native.Text("类型", "record.entityType", native.Full, func(r *R) *schemas.Text { return &r.EntityType }),
				native.Representative("法定代表人", native.Full, representative),
				native.Money("注册资本", "record.capital", native.Optional, func(r *R) **schemas.Money { return &r.Capital }),
				native.Date("成立日期", "record.establishedOn", native.Full, func(r *R) *string { return &r.EstablishedOn }),
				native.Validity("营业期限自", "营业期限至", "长期", native.Full),
				native.Text("住所", "record.address", native.Full, func(r *R) *schemas.Text { return &r.Address }),
				native.Text("经营范围", "record.scope", native.Full, func(r *R) *schemas.Text { return &r.Scope }),
				native.Text("登记机关", "record.authority", native.Full, func(r *R) *schemas.Text { return &r.Authority }),
				native.Date("发照日期", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
				elicense,
			}},
			{Name: FormatCertificate, Kind: schemas.KindCertificate, Fields: []native.Field{
				native.ID("证书编号"),
				native.Holder(native.Party{Name: "姓名", IDType: "证件类型", IDNumber: "证件号码", IDTypes: idTypes, IDRequired: true}, native.Full),
				native.Text("职业名称", "record.title", native.Full, func(r *R) *schemas.Text { return &r.Title }),
				native.Text("等级", "record.level", native.Optional, func(r *R) *schemas.Text { return &r.Level }),
				native.Text("发证机关", "record.authority", native.Full, func(r *R) *schemas.Text { return &r.Authority }),
				native.Date("发证日期", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
				native.Validity("有效期自", "有效期至", "长期", native.Optional),
				elicense,
			}},
			{Name: FormatApproval, Kind: schemas.KindApproval, Fields: []native.Field{
				native.ID("许可编号"),
				native.Holder(native.Party{Name: "申请人", IDType: "申请人证件类型", IDNumber: "申请人证件号码", IDTypes: idTypes, IDRequired: true}, native.Full),
				native.Text("许可事项", "record.title", native.Full, func(r *R) *schemas.Text { return &r.Title }),
				native.Text("许可决定", "record.decision", native.Full, func(r *R) *schemas.Text { return &r.Decision }),
				native.Text("许可机关", "record.authority", native.Full, func(r *R) *schemas.Text { return &r.Authority }),
				native.Date("决定日期", "record.issuedOn", native.Full, func(r *R) *string { return &r.IssuedOn }),
				native.Validity("有效期自", "有效期至", "长期", native.Optional),
				elicense,
			}},
		},
	}
}
