package mo_test

import (
	"flag"
	"testing"

	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/bridge/internal/bridgetest"
	"github.com/baybus/baybus/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and the committed fuzz corpus from fresh samples")

const goldenDir = "testdata/golden"

func TestGolden(t *testing.T) {
	bridgetest.CheckGolden(t, schemas.MO, goldenDir, *update)
	if *update {
		bridgetest.WriteCorpus(t, "testdata/fuzz/FuzzNormalize", bridgetest.FuzzSeeds(t, schemas.MO, goldenDir))
		bridgetest.WriteFieldCorpus(t, "testdata/fuzz/FuzzNativeField", bridgetest.NewFieldFuzzer(t, schemas.MO, goldenDir).Seeds(t))
	}
}

func TestProperties(t *testing.T) { bridgetest.CheckProperties(t, schemas.MO, 240) }

func TestSampleDeterminism(t *testing.T) { bridgetest.CheckSampleDeterminism(t, schemas.MO) }

func FuzzNormalize(f *testing.F) {
	for _, s := range bridgetest.FuzzSeeds(f, schemas.MO, goldenDir) {
		f.Add(s)
	}
	f.Fuzz(bridgetest.FuzzBody(schemas.MO))
}

// FuzzNativeField replaces one value of a valid native event at a time.
func FuzzNativeField(f *testing.F) {
	ff := bridgetest.NewFieldFuzzer(f, schemas.MO, goldenDir)
	for _, s := range ff.Seeds(f) {
		f.Add(s[0].(uint), s[1].(uint), s[2].(string))
	}
	f.Fuzz(ff.Fuzz)
}

func TestErrors(t *testing.T) {
	const biz, cert, appr = "business_registration", "professional_certificate", "administrative_approval"
	admin := func(idType, number string) []any {
		a := map[string]any{"nome": map[string]any{"zh": "陳大文", "pt": "Chan Tai Man"}, "numeroDocumento": number}
		if idType != "" {
			a["tipoDocumento"] = idType
		}
		return []any{a}
	}
	bridgetest.CheckErrors(t, schemas.MO, goldenDir, []bridgetest.ErrorCase{
		{Name: "registration number zero", Base: biz, Set: map[string]any{"numeroRegisto": "012345"}, Field: "numeroRegisto", Rule: "mo-reg-format"},
		{Name: "registration number letters", Base: biz, Set: map[string]any{"numeroRegisto": "12345SO"}, Field: "numeroRegisto", Rule: "mo-reg-format"},
		{Name: "tax number", Base: biz, Set: map[string]any{"numeroContribuinte": "12345678"}, Field: "numeroContribuinte", Rule: "mo-tax-format"},
		{Name: "tax number of an individual", Base: biz, Set: map[string]any{"tipo": ids.MOIndividualForm, "numeroContribuinte": "81234567"}, Field: "numeroContribuinte", Rule: "mo-tax-holder"},
		{Name: "tax number of a company", Base: biz, Set: map[string]any{"tipo": "Sociedade por quotas", "numeroContribuinte": "01234567"}, Field: "numeroContribuinte", Rule: "mo-tax-holder"},
		{Name: "legal form", Base: biz, Set: map[string]any{"tipo": "Limitada"}, Field: "tipo", Rule: "enum"},
		{Name: "administrator bir", Base: biz, Set: map[string]any{"administradores": admin("BIR", "31234567")}, Field: "administradores.0.numeroDocumento", Rule: "mo-bir-format"},
		{Name: "administrator hkid", Base: biz, Set: map[string]any{"administradores": admin("HKID", "A123456(4)")}, Field: "administradores.0.numeroDocumento", Rule: "hkid-check"},
		{Name: "administrator id type missing", Base: biz, Set: map[string]any{"administradores": admin("", "12345678")}, Field: "administradores.0.tipoDocumento", Rule: "required"},
		{Name: "administrator extra key", Base: biz, Set: map[string]any{"administradores": []any{map[string]any{"nome": map[string]any{"pt": "A"}, "idade": "40"}}}, Field: "administradores.0.idade", Rule: "unknown-field"},
		{Name: "administrators empty", Base: biz, Set: map[string]any{"administradores": []any{}}, Field: "administradores", Rule: "array-length"},
		{Name: "administrators object", Base: biz, Set: map[string]any{"administradores": map[string]any{}}, Field: "administradores", Rule: "type"},
		{Name: "administrator not an object", Base: biz, Set: map[string]any{"administradores": []any{"Chan"}}, Field: "administradores.0", Rule: "type"},
		{Name: "capital in words", Base: biz, Set: map[string]any{"capital": "25000 patacas"}, Field: "capital", Rule: "money-format"},
		{Name: "date one digit", Base: biz, Set: map[string]any{"dataRegisto": "8/2/2004"}, Field: "dataRegisto", Rule: "date-format"},
		{Name: "name control character", Base: biz, Set: map[string]any{"firma": map[string]any{"pt": "Loja\tA"}}, Field: "firma.pt", Rule: "text-control"},
		{Name: "name missing", Base: biz, Set: map[string]any{"firma": nil}, Field: "firma", Rule: "required"},
		{Name: "action without accent", Base: biz, Set: map[string]any{"acto": "emissao"}, Field: "acto", Rule: "enum"},
		{Name: "holder bir", Base: cert, Set: map[string]any{"titular.tipoDocumento": "BIR", "titular.numeroDocumento": "1234"}, Field: "titular.numeroDocumento", Rule: "mo-bir-format"},
		{Name: "holder document missing", Base: cert, Set: map[string]any{"titular.numeroDocumento": nil}, Field: "titular.numeroDocumento", Rule: "required"},
		{Name: "validity end before start", Base: cert, Set: map[string]any{"validadeDe": "01/01/2020", "validadeAte": "01/01/2019"}, Field: "validadeAte", Rule: "period-order"},
		{Name: "applicant missing", Base: appr, Set: map[string]any{"requerente": nil}, Field: "requerente", Rule: "required"},
		{Name: "applicant tax number", Base: appr, Set: map[string]any{"requerente.tipoDocumento": "Contribuinte", "requerente.numeroDocumento": "7654321"}, Field: "requerente.numeroDocumento", Rule: "mo-tax-format"},
	})
}
