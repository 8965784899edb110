package cn_test

import (
	"flag"
	"strings"
	"testing"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/bridge/internal/bridgetest"
	"github.com/baybus/baybus/bridge/internal/native"
	"github.com/baybus/baybus/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and the committed fuzz corpus from fresh samples")

const goldenDir = "testdata/golden"

func TestGolden(t *testing.T) {
	bridgetest.CheckGolden(t, schemas.CN, goldenDir, *update)
	if *update {
		bridgetest.WriteCorpus(t, "testdata/fuzz/FuzzNormalize", bridgetest.FuzzSeeds(t, schemas.CN, goldenDir))
		bridgetest.WriteFieldCorpus(t, "testdata/fuzz/FuzzNativeField", bridgetest.NewFieldFuzzer(t, schemas.CN, goldenDir).Seeds(t))
	}
}

func TestProperties(t *testing.T) { bridgetest.CheckProperties(t, schemas.CN, 270) }

func TestSampleDeterminism(t *testing.T) { bridgetest.CheckSampleDeterminism(t, schemas.CN) }

func FuzzNormalize(f *testing.F) {
	for _, s := range bridgetest.FuzzSeeds(f, schemas.CN, goldenDir) {
		f.Add(s)
	}
	f.Fuzz(bridgetest.FuzzBody(schemas.CN))
}

// FuzzNativeField replaces one value of a valid native event at a time.
func FuzzNativeField(f *testing.F) {
	ff := bridgetest.NewFieldFuzzer(f, schemas.CN, goldenDir)
	for _, s := range ff.Seeds(f) {
		f.Add(s[0].(uint), s[1].(uint), s[2].(string))
	}
	f.Fuzz(ff.Fuzz)
}

func TestErrors(t *testing.T) {
	orgBroken := func() string {
		first17 := "91440300MA5F00001" // organisation code MA5F0000 with check 1 (should be X)
		c, err := ids.USCCCheckChar(first17)
		if err != nil {
			t.Fatal(err)
		}
		return first17 + string(c)
	}()
	const biz, cert, appr, status = "business_registration", "professional_certificate", "administrative_approval", "status_change"
	long := strings.Repeat("经", native.MaxText+1)
	bridgetest.CheckErrors(t, schemas.CN, goldenDir, []bridgetest.ErrorCase{
		{Name: "uscc check", Base: biz, Set: map[string]any{"统一社会信用代码": "91440300MA5F0000X2"}, Field: "统一社会信用代码", Rule: "uscc-check"},
		{Name: "uscc charset", Base: biz, Set: map[string]any{"统一社会信用代码": "91440300MA5I0000X1"}, Field: "统一社会信用代码", Rule: "uscc-charset"},
		{Name: "uscc org code", Base: biz, Set: map[string]any{"统一社会信用代码": orgBroken}, Field: "统一社会信用代码", Rule: "org-code-check"},
		{Name: "uscc length", Base: biz, Set: map[string]any{"统一社会信用代码": "9144030"}, Field: "统一社会信用代码", Rule: "uscc-length"},
		{Name: "uscc with space", Base: biz, Set: map[string]any{"统一社会信用代码": "91440300 MA5F0000X1"}, Field: "统一社会信用代码", Rule: "id-space"},
		{Name: "name missing", Base: biz, Set: map[string]any{"名称": nil}, Field: "名称", Rule: "required"},
		{Name: "name number", Base: biz, Set: map[string]any{"名称": 12}, Field: "名称", Rule: "type"},
		{Name: "name blank", Base: biz, Set: map[string]any{"名称": "  "}, Field: "名称", Rule: "text-empty"},
		{Name: "name newline", Base: biz, Set: map[string]any{"名称": "深圳市\n公司"}, Field: "名称", Rule: "text-control"},
		{Name: "scope too long", Base: biz, Set: map[string]any{"经营范围": long}, Field: "经营范围", Rule: "text-length"},
		{Name: "date ISO", Base: biz, Set: map[string]any{"成立日期": "2019-03-01"}, Field: "成立日期", Rule: "date-format"},
		{Name: "date 30 February", Base: biz, Set: map[string]any{"成立日期": "2019年2月30日"}, Field: "成立日期", Rule: "date-invalid"},
		{Name: "capital currency", Base: biz, Set: map[string]any{"注册资本": "100万元"}, Field: "注册资本", Rule: "money-currency"},
		{Name: "capital in words", Base: biz, Set: map[string]any{"注册资本": "壹佰万元人民币"}, Field: "注册资本", Rule: "money-format"},
		{Name: "capital precision", Base: biz, Set: map[string]any{"注册资本": "1.123456789万元人民币"}, Field: "注册资本", Rule: "money-amount"},
		{Name: "term end missing", Base: biz, Set: map[string]any{"营业期限至": nil}, Field: "营业期限至", Rule: "required"},
		{Name: "term start missing", Base: biz, Set: map[string]any{"营业期限自": nil}, Field: "营业期限自", Rule: "required"},
		{Name: "term order", Base: biz, Set: map[string]any{"营业期限自": "2019年3月1日", "营业期限至": "2010年1月1日"}, Field: "营业期限至", Rule: "period-order"},
		{Name: "term word", Base: biz, Set: map[string]any{"营业期限至": "永久"}, Field: "营业期限至", Rule: "date-format"},
		{Name: "unknown key", Base: biz, Set: map[string]any{"备注": "无"}, Field: "备注", Rule: "unknown-field"},
		{Name: "misspelt key", Base: biz, Set: map[string]any{"名称": nil, "名字": "某公司"}, Field: "名字", Rule: "unknown-field"},
		{Name: "unknown action", Base: biz, Set: map[string]any{"操作": "注销"}, Field: "操作", Rule: "enum"},
		{Name: "time without zone", Base: biz, Set: map[string]any{"发生时间": "2024-01-02 09:00:00"}, Field: "发生时间", Rule: "timestamp"},
		{Name: "time 25 o'clock", Base: biz, Set: map[string]any{"发生时间": "2024-01-02T25:00:00+08:00"}, Field: "发生时间", Rule: "timestamp"},
		{Name: "format of another jurisdiction", Base: biz, Set: map[string]any{"format": "hk/business_registration@1"}, Field: "format", Rule: "format-jurisdiction"},
		{Name: "format unknown", Base: biz, Set: map[string]any{"format": "cn/business@1"}, Field: "format", Rule: "format-unknown"},
		{Name: "format name", Base: biz, Set: map[string]any{"format": "CN/营业执照"}, Field: "format", Rule: "format-name"},
		{Name: "format missing", Base: biz, Set: map[string]any{"format": nil}, Field: "format", Rule: "required"},
		{Name: "event id empty", Base: biz, Set: map[string]any{"事件编号": ""}, Field: "事件编号", Rule: "event-id"},
		{Name: "elicense check", Base: biz, Set: map[string]any{"证照标识": "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.001.X"}, Field: "证照标识", Rule: "elicense-check"},
		{Name: "elicense root", Base: biz, Set: map[string]any{"证照标识": "1.2.156.3005.1.X"}, Field: "证照标识", Rule: "elicense-root"},
		{Name: "suspend without reason", Base: status, Set: map[string]any{"操作": "暂停", "原因": nil}, Field: "原因", Rule: "required"},
		{Name: "status change bad uscc", Base: status, Set: map[string]any{"统一社会信用代码": "91440300MA5F0000X2"}, Field: "统一社会信用代码", Rule: "uscc-check"},
		{Name: "rid check", Base: cert, Set: map[string]any{"证件类型": "居民身份证", "证件号码": "440300199001011239"}, Field: "证件号码", Rule: "rid-check"},
		{Name: "rid birth date", Base: cert, Set: map[string]any{"证件类型": "居民身份证", "证件号码": "440300199002301238"}, Field: "证件号码", Rule: "rid-birthdate"},
		{Name: "id type unknown", Base: cert, Set: map[string]any{"证件类型": "驾驶证"}, Field: "证件类型", Rule: "enum"},
		{Name: "id number missing", Base: cert, Set: map[string]any{"证件号码": nil}, Field: "证件号码", Rule: "required"},
		{Name: "holder missing", Base: cert, Set: map[string]any{"姓名": nil}, Field: "姓名", Rule: "required"},
		{Name: "passport", Base: cert, Set: map[string]any{"证件类型": "护照", "证件号码": "e123"}, Field: "证件号码", Rule: "passport-format"},
		{Name: "hkid holder", Base: cert, Set: map[string]any{"证件类型": "香港居民身份证", "证件号码": "A123456(4)"}, Field: "证件号码", Rule: "hkid-check"},
		{Name: "applicant uscc", Base: appr, Set: map[string]any{"申请人证件类型": "统一社会信用代码", "申请人证件号码": "91440300MA5F0000X2"}, Field: "申请人证件号码", Rule: "uscc-check"},
		{Name: "certificate number pattern", Base: cert, Set: map[string]any{"证书编号": "证书-1"}, Field: "证书编号", Rule: "id-pattern"},
		{Name: "approval number pattern", Base: appr, Set: map[string]any{"许可编号": "-440300"}, Field: "许可编号", Rule: "id-pattern"},
		{Name: "decision missing", Base: appr, Set: map[string]any{"许可决定": nil}, Field: "许可决定", Rule: "required"},
		{Name: "not an object", Raw: `["format"]`, Field: "", Rule: "json"},
		{Name: "duplicate key", Raw: `{"format":"cn/business_registration@1","format":"cn/business_registration@1"}`, Field: "", Rule: "json"},
		{Name: "truncated", Raw: `{"format":"cn/business_registration@1"`, Field: "", Rule: "json"},
		{Name: "too large", Raw: `{"x":"` + strings.Repeat("x", bridge.MaxNativeBytes) + `"}`, Field: "", Rule: "max-bytes"},
	})
}
