package bridge_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

// shenzhenLicense is a CN business license written by hand (not by the
// sample generator).
const shenzhenLicense = `{
  "format": "cn/business_registration@1",
  "事件编号": "sz-amr-2024-000123",
  "操作": "核发",
  "发生时间": "2024-03-01T10:00:00+08:00",
  "统一社会信用代码": "91440300MA5F0000X1",
  "名称": "深圳市前海云帆数据科技有限公司",
  "类型": "有限责任公司",
  "法定代表人": "陈杰",
  "注册资本": "1000万元人民币",
  "成立日期": "2019年3月1日",
  "营业期限自": "2019年3月1日",
  "营业期限至": "长期",
  "住所": "深圳市前海深港合作区南山街道桂湾五路128号前海深港基金小镇B7栋",
  "经营范围": "数据处理和存储支持服务；信息技术咨询服务；软件开发。",
  "登记机关": "深圳市市场监督管理局前海监管局",
  "发照日期": "2023年6月15日",
  "证照标识": "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.001.W"
}`

func city(t *testing.T, token string) schemas.City {
	t.Helper()
	c, err := schemas.LookupCity(token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFor(t *testing.T) {
	for _, j := range schemas.Jurisdictions {
		b := bridge.For(j)
		if b == nil || b.Jurisdiction() != j {
			t.Fatalf("For(%s) = %v", j, b)
		}
		v, err := bridge.RenderVersion(j)
		if err != nil || v != strings.ToLower(string(j))+"-render@1" {
			t.Errorf("RenderVersion(%s) = %q, %v", j, v, err)
		}
		fs, err := bridge.Formats(j)
		if err != nil || len(fs) != 3 {
			t.Errorf("Formats(%s) = %v, %v", j, fs, err)
		}
	}
	for _, j := range schemas.Jurisdictions {
		// The shape of gateway.Bridge: a gateway can take the bridges as they are.
		if _, ok := bridge.For(j).(interface {
			Normalize([]byte) (*schemas.Event, string, error)
			ValidateRecordIDs(schemas.Kind, *schemas.Record) error
		}); !ok {
			t.Errorf("bridge %s does not have the gateway's Bridge methods", j)
		}
	}
	if b := bridge.For("TW"); b != nil {
		t.Errorf("For(TW) = %v, want nil", b)
	}
	if _, err := bridge.RenderVersion("TW"); err == nil {
		t.Error("RenderVersion(TW) succeeded")
	}
	if _, err := bridge.Sample(schemas.City{Token: "taipei", Jurisdiction: "TW"}, "", 1, 1); err == nil {
		t.Error("Sample for an unknown jurisdiction succeeded")
	}
}

// TestShenzhenLicenseForHongKongBank is the issue's example: a Shenzhen
// license shown to a Hong Kong bank has Traditional Chinese labels and
// names, DD/MM/YYYY dates and its capital still in CNY with its code.
func TestShenzhenLicenseForHongKongBank(t *testing.T) {
	tx, err := bridge.ToTx("gba", city(t, "shenzhen"), []byte(shenzhenLicense))
	if err != nil {
		t.Fatal(err)
	}
	if tx.Record.Name[schemas.LangHans] != "深圳市前海云帆数据科技有限公司" || tx.Record.Name[schemas.LangHant] != "深圳市前海雲帆數據科技有限公司" {
		t.Errorf("name = %v", tx.Record.Name)
	}
	r, err := bridge.For(schemas.HK).Render(tx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bridge.Field{}
	for _, f := range r.Fields {
		got[f.Key] = f
	}
	for key, want := range map[string]bridge.Field{
		"record.id":            {Label: "統一社會信用代碼 / Unified social credit code", Value: "91440300MA5F0000X1"},
		"record.name":          {Label: "名稱 / Name", Value: "深圳市前海雲帆數據科技有限公司"},
		"record.people.0":      {Label: "法定代表人 / Legal representative", Value: "陳杰"},
		"record.capital":       {Label: "註冊資本 / Capital", Value: "CNY 10,000,000 (人民幣 / Renminbi)"},
		"record.establishedOn": {Label: "成立日期 / Date of establishment", Value: "01/03/2019"},
		"record.validity":      {Label: "營業期限 / Term of operation", Value: "01/03/2019 – 長期 / no expiry"},
		"record.issuedOn":      {Label: "發照日期 / Date of issue", Value: "15/06/2023"},
		"kind":                 {Label: "證照類型 / Record type", Value: "營業執照 / Business licence"},
		"city":                 {Label: "簽發城市 / Issuing city", Value: "深圳 / Shenzhen"},
	} {
		want.Key = key
		if got[key] != want {
			t.Errorf("%s = %+v, want %+v", key, got[key], want)
		}
	}
	if r.Version != "hk-render@1" || r.Jurisdiction != schemas.HK || r.Kind != schemas.KindBusiness {
		t.Errorf("rendering header %s %s %s", r.Version, r.Jurisdiction, r.Kind)
	}
	// The Macao view shows Portuguese labels; the CN view stays Simplified.
	mo, _ := bridge.For(schemas.MO).Render(tx)
	cn, _ := bridge.For(schemas.CN).Render(tx)
	if mo.Fields[len(mo.Fields)-2].Label != "發照日期 / Data de emissão" {
		t.Errorf("MO label = %q", mo.Fields[len(mo.Fields)-2].Label)
	}
	for _, f := range cn.Fields {
		if f.Key == "record.capital" && f.Value != "CNY 10,000,000 (人民币)" {
			t.Errorf("CN capital = %q", f.Value)
		}
	}
}

func TestToTx(t *testing.T) {
	sz := city(t, "shenzhen")
	// White space and key order do not change the native hash.
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(shenzhenLicense)); err != nil {
		t.Fatal(err)
	}
	a, err := bridge.ToTx("gba", sz, []byte(shenzhenLicense))
	if err != nil {
		t.Fatal(err)
	}
	b, err := bridge.ToTx("gba", sz, compact.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := schemas.NativeHash([]byte(shenzhenLicense))
	if a.NativeHash != want || b.NativeHash != want || a.NativeFormat != "cn/business_registration@1" {
		t.Errorf("native hash %s / %s, want %s; format %s", a.NativeHash, b.NativeHash, want, a.NativeFormat)
	}
	if a.City != "shenzhen" || a.Jurisdiction != schemas.CN || a.Chain != "gba" {
		t.Errorf("tx = %+v", a)
	}
	if err := schemas.ValidateTx(a); err != nil {
		t.Error(err)
	}
	// A CN event posted to the Hong Kong gateway is refused by the HK bridge.
	_, err = bridge.ToTx("gba", city(t, "hongkong"), []byte(shenzhenLicense))
	if fe, ok := schemas.AsFieldError(err); !ok || fe.Field != "format" || fe.Rule != "format-jurisdiction" {
		t.Errorf("CN event at the HK gateway: %v", err)
	}
}

func TestValidateRecordIDs(t *testing.T) {
	holder := func(kind, number string) *schemas.Party {
		return &schemas.Party{Name: schemas.Text{"en": "x"}, IDKind: kind, IDNumber: number}
	}
	for _, tc := range []struct {
		name        string
		j           schemas.Jurisdiction
		kind        schemas.Kind
		rec         schemas.Record
		field, rule string
	}{
		{"cn business ok", schemas.CN, schemas.KindBusiness, schemas.Record{ID: "91440300MA5F0000X1"}, "", ""},
		{"cn business bad uscc", schemas.CN, schemas.KindBusiness, schemas.Record{ID: "91440300MA5F0000X2"}, "record.id", "uscc-check"},
		{"hk business ok", schemas.HK, schemas.KindBusiness, schemas.Record{ID: "12345678", CertificateNo: "12345678-000-03-25-A"}, "", ""},
		{"hk business bad brn", schemas.HK, schemas.KindBusiness, schemas.Record{ID: "1234567"}, "record.id", "hk-brn-format"},
		{"hk certificate of another business", schemas.HK, schemas.KindBusiness, schemas.Record{ID: "12345678", CertificateNo: "87654321-000-03-25-A"}, "record.certificateNo", "hk-brc-brn"},
		{"mo business ok", schemas.MO, schemas.KindBusiness, schemas.Record{ID: "12345", TaxNumber: "81234567"}, "", ""},
		{"mo business bad tax", schemas.MO, schemas.KindBusiness, schemas.Record{ID: "12345", TaxNumber: "91234567"}, "record.taxNumber", "mo-tax-format"},
		{"mo individual with entity tax", schemas.MO, schemas.KindBusiness, schemas.Record{ID: "12345", TaxNumber: "81234567",
			EntityType: schemas.Text{"pt": "Empresário comercial, pessoa singular"}}, "record.taxNumber", "mo-tax-holder"},
		{"cn certificate holder rid", schemas.CN, schemas.KindCertificate, schemas.Record{ID: "S1", Holder: holder("cn-rid", "11010519491231002X")}, "", ""},
		{"cn certificate holder bad rid", schemas.CN, schemas.KindCertificate, schemas.Record{ID: "S1", Holder: holder("cn-rid", "110105194912310021")}, "record.holder.idNumber", "rid-check"},
		{"hk holder bad hkid", schemas.HK, schemas.KindApproval, schemas.Record{ID: "L1", Holder: holder("hkid", "A123456(4)")}, "record.holder.idNumber", "hkid-check"},
		{"holder passport ok", schemas.MO, schemas.KindApproval, schemas.Record{ID: "L1", Holder: holder("passport", "E12345678")}, "", ""},
		{"holder id kind unknown", schemas.MO, schemas.KindApproval, schemas.Record{ID: "L1", Holder: holder("ssn", "1")}, "record.holder.idKind", "enum"},
		{"holder number without kind", schemas.MO, schemas.KindApproval, schemas.Record{ID: "L1", Holder: holder("", "1")}, "record.holder.idKind", "party-id-pair"},
		{"person bad bir", schemas.MO, schemas.KindBusiness, schemas.Record{ID: "12345", People: []schemas.Party{*holder("mo-bir", "12345678"), *holder("mo-bir", "2345678")}}, "record.people.1.idNumber", "mo-bir-format"},
		{"elicense", schemas.CN, schemas.KindApproval, schemas.Record{ID: "X", ELicenseID: "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.001.X"}, "record.elicenseId", "elicense-check"},
		{"unknown jurisdiction", "TW", schemas.KindBusiness, schemas.Record{ID: "1"}, "jurisdiction", "enum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := bridge.ValidateRecordIDs(tc.j, tc.kind, &tc.rec)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("ValidateRecordIDs = %v", err)
				}
				return
			}
			fe, ok := schemas.AsFieldError(err)
			if !ok || fe.Field != tc.field || fe.Rule != tc.rule {
				t.Fatalf("ValidateRecordIDs = %v, want %s rule %s", err, tc.field, tc.rule)
			}
		})
	}
}

// TestForeignCanonicalRecords: records posted in canonical form may carry
// one script only; the views convert, the native views too.
func TestForeignCanonicalRecords(t *testing.T) {
	ev := &schemas.Event{EventID: "e1", Kind: schemas.KindCertificate, Action: schemas.ActionIssue, OccurredAt: "2024-03-01T10:00:00Z",
		Record: schemas.Record{ID: "REW-000001", Holder: &schemas.Party{Name: schemas.Text{"zh-Hant": "陳大文"}, IDKind: "hkid", IDNumber: "A123456(3)"},
			Title: schemas.Text{"zh-Hant": "註冊電業工程人員", "en": "Registered Electrical Worker"}, Authority: schemas.Text{"en": "EMSD"}, IssuedOn: "2020-01-31"}}
	tx := schemas.NewTx("gba", city(t, "hongkong"), ev)
	cn, err := bridge.For(schemas.CN).Render(tx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cn.Fields {
		switch f.Key {
		case "record.title":
			if f.Value != "注册电业工程人员 / Registered Electrical Worker" {
				t.Errorf("CN title = %q", f.Value)
			}
		case "record.holder.name":
			if f.Value != "陈大文" {
				t.Errorf("CN holder = %q", f.Value)
			}
		case "occurredAt":
			if f.Value != "2024年3月1日 10:00:00 +00:00" {
				t.Errorf("CN time = %q", f.Value)
			}
		}
	}
	native, err := bridge.For(schemas.CN).Native(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(native, &m); err != nil {
		t.Fatal(err)
	}
	if m["姓名"] != "陈大文" || m["证件类型"] != "香港居民身份证" || m["发证机关"] != "EMSD" || m["发证日期"] != "2020年1月31日" {
		t.Errorf("CN native view = %s", native)
	}
	if _, err := bridge.For(schemas.HK).Render(nil); err == nil {
		t.Error("Render(nil) succeeded")
	}
	if _, err := bridge.For(schemas.HK).Native(nil); err == nil {
		t.Error("Native(nil) succeeded")
	}
	if _, err := bridge.For(schemas.HK).Native(&schemas.Event{Kind: "permit"}); err == nil {
		t.Error("Native of an unknown kind succeeded")
	}
}

// TestReadmeExamples normalizes every JSON example with a format in
// README.md and checks that it comes back byte for byte.
func TestReadmeExamples(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	seen := map[string]bool{}
	for _, blk := range blocks {
		var head struct {
			Format string `json:"format"`
		}
		if json.Unmarshal([]byte(blk[1]), &head) != nil || head.Format == "" {
			continue
		}
		j, err := schemas.ParseJurisdiction(head.Format[:2])
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(blk[1])); err != nil {
			t.Fatal(err)
		}
		ev, format, err := bridge.For(j).Normalize(compact.Bytes())
		if err != nil {
			t.Errorf("README example %s: %v", head.Format, err)
			continue
		}
		back, err := bridge.For(j).Native(ev)
		if err != nil || !bytes.Equal(back, compact.Bytes()) {
			t.Errorf("README example %s does not come back byte for byte: %s, %v", head.Format, back, err)
		}
		seen[format] = true
	}
	for _, j := range schemas.Jurisdictions {
		fs, _ := bridge.Formats(j)
		for _, f := range fs {
			if !seen[f] {
				t.Errorf("README has no example of %s", f)
			}
		}
	}
}
