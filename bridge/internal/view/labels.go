package view

import "github.com/baybus/baybus/schemas"

// label is a phrase in the four languages a view may show. Every entry is
// written out (Hong Kong usage for zh-Hant) rather than converted, so a
// label never depends on the conversion dictionaries.
type label struct{ hans, hant, en, pt string }

func (l label) text() schemas.Text {
	return schemas.Text{schemas.LangHans: l.hans, schemas.LangHant: l.hant, schemas.LangEN: l.en, schemas.LangPT: l.pt}
}

// The field labels. A label whose wording depends on the record's own
// jurisdiction and kind is chosen by labelFor.
var labels = map[string]label{
	"city":         {"签发城市", "簽發城市", "Issuing city", "Cidade emissora"},
	"jurisdiction": {"法域", "法域", "Jurisdiction", "Jurisdição"},
	"kind":         {"证照类型", "證照類型", "Record type", "Tipo de registo"},
	"action":       {"事项", "事項", "Action", "Acto"},
	"occurredAt":   {"发生时间", "發生時間", "Occurred at", "Data do acto"},
	"reason":       {"原因", "原因", "Reason", "Motivo"},

	"id.CN.business_registration": {"统一社会信用代码", "統一社會信用代碼", "Unified social credit code", "Código unificado de crédito social"},
	"id.HK.business_registration": {"商业登记号码", "商業登記號碼", "Business registration number", "Número de registo comercial"},
	"id.MO.business_registration": {"商业登记编号", "商業登記編號", "Commercial registration number", "Número de registo comercial"},
	"id.professional_certificate": {"证书编号", "證書編號", "Certificate number", "Número do certificado"},
	"id.administrative_approval":  {"许可编号", "許可編號", "Licence number", "Número da licença"},
	"certificateNo":               {"商业登记证号码", "商業登記證號碼", "Certificate number", "Número do certificado"},
	"taxNumber":                   {"纳税人编号", "納稅人編號", "Taxpayer number", "Número de contribuinte"},

	"name":                              {"名称", "名稱", "Name", "Firma"},
	"entityType":                        {"类型", "類型", "Legal form", "Tipo"},
	"holder.professional_certificate":   {"持证人", "持證人", "Holder", "Titular"},
	"holder.administrative_approval":    {"申请人", "申請人", "Applicant", "Requerente"},
	"holder.business_registration":      {"当事人", "當事人", "Party", "Interessado"},
	"holder.id":                         {"证件", "證件", "Identity document", "Documento de identificação"},
	"person":                            {"人员", "人員", "Person", "Pessoa"},
	"person.id":                         {"证件", "證件", "Identity document", "Documento de identificação"},
	"capital":                           {"注册资本", "註冊資本", "Capital", "Capital social"},
	"establishedOn.CN":                  {"成立日期", "成立日期", "Date of establishment", "Data de constituição"},
	"establishedOn.HK":                  {"开业日期", "開業日期", "Date of commencement", "Data de início"},
	"establishedOn.MO":                  {"登记日期", "登記日期", "Date of registration", "Data de registo"},
	"address":                           {"住所", "住所", "Address", "Sede"},
	"scope.CN":                          {"经营范围", "經營範圍", "Business scope", "Âmbito de actividade"},
	"scope.HK":                          {"业务性质", "業務性質", "Nature of business", "Natureza do negócio"},
	"scope.MO":                          {"所营事业", "所營事業", "Object of activity", "Objecto"},
	"fee":                               {"登记费", "登記費", "Fee", "Taxa"},
	"levy":                              {"征费", "徵費", "Levy", "Imposto"},
	"title.professional_certificate":    {"职业", "職業", "Profession", "Profissão"},
	"title.administrative_approval":     {"许可事项", "許可事項", "Licensed activity", "Objecto da licença"},
	"title.business_registration":       {"事项", "事項", "Subject", "Objecto"},
	"level":                             {"等级", "等級", "Level", "Nível"},
	"decision":                          {"许可决定", "許可決定", "Decision", "Decisão"},
	"validity.CN.business_registration": {"营业期限", "營業期限", "Term of operation", "Prazo de actividade"},
	"validity":                          {"有效期", "有效期", "Validity", "Validade"},
	"authority.business_registration":   {"登记机关", "登記機關", "Registration authority", "Entidade registadora"},
	"authority":                         {"发证机关", "發證機關", "Issuing authority", "Entidade emissora"},
	"issuedOn":                          {"发照日期", "發照日期", "Date of issue", "Data de emissão"},
	"elicenseId":                        {"证照标识", "證照標識", "E-license identifier", "Identificador da licença electrónica"},
}

// Words used in values.
var (
	openEnd = label{"长期", "長期", "no expiry", "sem termo"}
	// withheld stands for a personal field the record holds only as a
	// salted digest (rules version 3): it exists, and was not disclosed.
	withheld = label{"（未披露）", "（未披露）", "(not disclosed)", "(não divulgado)"}

	kindNames = map[string]label{
		"CN.business_registration":    {"营业执照", "營業執照", "Business licence", "Licença comercial"},
		"CN.professional_certificate": {"职业资格证书", "職業資格證書", "Professional qualification certificate", "Certificado de qualificação profissional"},
		"CN.administrative_approval":  {"行政许可决定", "行政許可決定", "Administrative licensing decision", "Decisão de licenciamento administrativo"},
		"HK.business_registration":    {"商业登记证", "商業登記證", "Business registration certificate", "Certificado de registo comercial"},
		"HK.professional_certificate": {"专业资格证明书", "專業資格證明書", "Professional certificate", "Certificado profissional"},
		"HK.administrative_approval":  {"牌照", "牌照", "Licence", "Licença"},
		"MO.business_registration":    {"商业登记", "商業登記", "Commercial registration", "Registo comercial"},
		"MO.professional_certificate": {"专业资格证书", "專業資格證書", "Professional certificate", "Certificado profissional"},
		"MO.administrative_approval":  {"行政准照", "行政准照", "Administrative licence", "Licença administrativa"},
	}

	jurisdictionNames = map[schemas.Jurisdiction]label{
		schemas.CN: {"中国内地", "中國內地", "Mainland China", "Interior da China"},
		schemas.HK: {"香港特别行政区", "香港特別行政區", "Hong Kong SAR", "RAE de Hong Kong"},
		schemas.MO: {"澳门特别行政区", "澳門特別行政區", "Macao SAR", "RAE de Macau"},
	}

	actionNames = map[schemas.Action]label{
		schemas.ActionIssue:     {"核发", "簽發", "Issued", "Emissão"},
		schemas.ActionAmend:     {"变更", "變更", "Amended", "Alteração"},
		schemas.ActionSuspend:   {"暂停", "暫停", "Suspended", "Suspensão"},
		schemas.ActionReinstate: {"恢复", "恢復", "Reinstated", "Reactivação"},
		schemas.ActionRevoke:    {"撤销", "撤銷", "Revoked", "Cancelamento"},
		schemas.ActionExpire:    {"届满", "屆滿", "Expired", "Caducidade"},
	}

	idKindNames = map[string]label{
		"uscc":     {"统一社会信用代码", "統一社會信用代碼", "Unified social credit code", "Código unificado de crédito social"},
		"cn-rid":   {"居民身份证", "居民身份證", "Resident identity card (Mainland)", "Bilhete de identidade de residente (Interior da China)"},
		"hkid":     {"香港身份证", "香港身份證", "Hong Kong identity card", "Bilhete de identidade de Hong Kong"},
		"hk-brn":   {"香港商业登记号码", "香港商業登記號碼", "Hong Kong business registration number", "Número de registo comercial de Hong Kong"},
		"mo-bir":   {"澳门居民身份证", "澳門居民身份證", "Macao resident identity card", "Bilhete de identidade de residente de Macau"},
		"mo-reg":   {"澳门商业登记编号", "澳門商業登記編號", "Macao commercial registration number", "Número de registo comercial de Macau"},
		"mo-tax":   {"澳门纳税人编号", "澳門納稅人編號", "Macao taxpayer number", "Número de contribuinte de Macau"},
		"passport": {"护照", "護照", "Passport", "Passaporte"},
	}

	currencyNames = map[string]label{
		"CNY": {"人民币", "人民幣", "Renminbi", "renminbi"},
		"HKD": {"港元", "港元", "Hong Kong dollar", "dólar de Hong Kong"},
		"MOP": {"澳门元", "澳門元", "pataca", "pataca"},
		"USD": {"美元", "美元", "US dollar", "dólar dos EUA"},
		"EUR": {"欧元", "歐元", "euro", "euro"},
	}

	// cityPT holds the Portuguese names that differ from the English ones.
	cityPT = map[string]string{"macao": "Macau"}
)

// labelFor picks the most specific label: key.J.kind, key.J, key.kind, key.
func labelFor(key string, j schemas.Jurisdiction, kind schemas.Kind) label {
	for _, k := range []string{key + "." + string(j) + "." + string(kind), key + "." + string(j), key + "." + string(kind), key} {
		if l, ok := labels[k]; ok {
			return l
		}
	}
	return label{key, key, key, key}
}
