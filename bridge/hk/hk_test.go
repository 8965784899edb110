package hk_test

import (
	"flag"
	"testing"

	"github.com/baybus/baybus/bridge/internal/bridgetest"
	"github.com/baybus/baybus/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and the committed fuzz corpus from fresh samples")

const goldenDir = "testdata/golden"

func TestGolden(t *testing.T) {
	bridgetest.CheckGolden(t, schemas.HK, goldenDir, *update)
	if *update {
		bridgetest.WriteCorpus(t, "testdata/fuzz/FuzzNormalize", bridgetest.FuzzSeeds(t, schemas.HK, goldenDir))
		bridgetest.WriteFieldCorpus(t, "testdata/fuzz/FuzzNativeField", bridgetest.NewFieldFuzzer(t, schemas.HK, goldenDir).Seeds(t))
	}
}

func TestProperties(t *testing.T) { bridgetest.CheckProperties(t, schemas.HK, 240) }

func TestSampleDeterminism(t *testing.T) { bridgetest.CheckSampleDeterminism(t, schemas.HK) }

func FuzzNormalize(f *testing.F) {
	for _, s := range bridgetest.FuzzSeeds(f, schemas.HK, goldenDir) {
		f.Add(s)
	}
	f.Fuzz(bridgetest.FuzzBody(schemas.HK))
}

// FuzzNativeField replaces one value of a valid native event at a time.
func FuzzNativeField(f *testing.F) {
	ff := bridgetest.NewFieldFuzzer(f, schemas.HK, goldenDir)
	for _, s := range ff.Seeds(f) {
		f.Add(s[0].(uint), s[1].(uint), s[2].(string))
	}
	f.Fuzz(ff.Fuzz)
}

func TestErrors(t *testing.T) {
	const biz, cert, appr = "business_registration", "professional_certificate", "administrative_approval"
	bridgetest.CheckErrors(t, schemas.HK, goldenDir, []bridgetest.ErrorCase{
		{Name: "br number length", Base: biz, Set: map[string]any{"brNumber": "1234567"}, Field: "brNumber", Rule: "hk-brn-format"},
		{Name: "br number letter", Base: biz, Set: map[string]any{"brNumber": "1234567A"}, Field: "brNumber", Rule: "hk-brn-format"},
		{Name: "certificate of another business", Base: biz, Set: map[string]any{"brNumber": "12345678", "certificateNo": "87654321-000-08-24-4"}, Field: "certificateNo", Rule: "hk-brc-brn"},
		{Name: "certificate month", Base: biz, Set: map[string]any{"brNumber": "12345678", "certificateNo": "12345678-000-13-24-4"}, Field: "certificateNo", Rule: "hk-brc-format"},
		{Name: "certificate missing", Base: biz, Set: map[string]any{"certificateNo": nil}, Field: "certificateNo", Rule: "required"},
		{Name: "legal status", Base: biz, Set: map[string]any{"legalStatus": "LTD"}, Field: "legalStatus", Rule: "enum"},
		{Name: "fee without currency", Base: biz, Set: map[string]any{"fee": "2200"}, Field: "fee", Rule: "money-format"},
		{Name: "fee bad grouping", Base: biz, Set: map[string]any{"fee": "HK$22,00.00"}, Field: "fee", Rule: "money-format"},
		{Name: "fee precision", Base: biz, Set: map[string]any{"fee": "HK$2,200.00001"}, Field: "fee", Rule: "money-amount"},
		{Name: "fee currency", Base: biz, Set: map[string]any{"fee": "JPY 2,200"}, Field: "fee", Rule: "money-currency"},
		{Name: "name empty object", Base: biz, Set: map[string]any{"businessName": map[string]any{}}, Field: "businessName", Rule: "text-empty"},
		{Name: "name language", Base: biz, Set: map[string]any{"businessName": map[string]any{"en": "A Ltd", "fr": "A SARL"}}, Field: "businessName.fr", Rule: "unknown-field"},
		{Name: "name string", Base: biz, Set: map[string]any{"businessName": "A Limited"}, Field: "businessName", Rule: "type"},
		{Name: "name zh empty", Base: biz, Set: map[string]any{"businessName": map[string]any{"zh": ""}}, Field: "businessName.zh", Rule: "text-empty"},
		{Name: "name en number", Base: biz, Set: map[string]any{"businessName": map[string]any{"en": 1}}, Field: "businessName.en", Rule: "type"},
		{Name: "date ISO", Base: biz, Set: map[string]any{"commencementDate": "2021-09-16"}, Field: "commencementDate", Rule: "date-format"},
		{Name: "date 31 February", Base: biz, Set: map[string]any{"commencementDate": "31/02/2021"}, Field: "commencementDate", Rule: "date-invalid"},
		{Name: "date one digit", Base: biz, Set: map[string]any{"commencementDate": "1/9/2021"}, Field: "commencementDate", Rule: "date-format"},
		{Name: "expiry before start", Base: biz, Set: map[string]any{"validFrom": "27/08/2023", "expiryDate": "26/08/2022"}, Field: "expiryDate", Rule: "period-order"},
		{Name: "expiry without start", Base: biz, Set: map[string]any{"validFrom": nil}, Field: "validFrom", Rule: "required"},
		{Name: "action", Base: biz, Set: map[string]any{"action": "cancel"}, Field: "action", Rule: "enum"},
		{Name: "camel case key", Base: biz, Set: map[string]any{"BrNumber": "12345678"}, Field: "BrNumber", Rule: "unknown-field"},
		{Name: "hkid check", Base: cert, Set: map[string]any{"holder.idType": "HKID", "holder.idNumber": "A123456(4)"}, Field: "holder.idNumber", Rule: "hkid-check"},
		{Name: "hkid format", Base: cert, Set: map[string]any{"holder.idType": "HKID", "holder.idNumber": "123456(7)"}, Field: "holder.idNumber", Rule: "hkid-format"},
		{Name: "id type", Base: cert, Set: map[string]any{"holder.idType": "ID card"}, Field: "holder.idType", Rule: "enum"},
		{Name: "holder missing", Base: cert, Set: map[string]any{"holder": nil}, Field: "holder", Rule: "required"},
		{Name: "holder extra key", Base: cert, Set: map[string]any{"holder.dateOfBirth": "01/01/1980"}, Field: "holder.dateOfBirth", Rule: "unknown-field"},
		{Name: "holder name missing", Base: cert, Set: map[string]any{"holder.name": nil}, Field: "holder.name", Rule: "required"},
		{Name: "licensee br", Base: appr, Set: map[string]any{"licensee.idType": "BR", "licensee.idNumber": "1234"}, Field: "licensee.idNumber", Rule: "hk-brn-format"},
		{Name: "licensee mainland id", Base: appr, Set: map[string]any{"licensee.idType": "Mainland ID", "licensee.idNumber": "440300199001011239"}, Field: "licensee.idNumber", Rule: "rid-check"},
		{Name: "decision missing", Base: appr, Set: map[string]any{"decision": nil}, Field: "decision", Rule: "required"},
		{Name: "revoke without reason", Base: appr, Set: map[string]any{"action": "revoke"}, Field: "reason", Rule: "required"},
	})
}
