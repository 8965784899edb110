package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// checkSeeds are valid transactions of every kind, action and envelope
// option: the starting points of the differential test and the fuzzer.
func checkSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	holder := &Party{Name: Text{LangHant: "陳大文", LangEN: "CHAN Tai Man"}, IDKind: "hkid", IDNumber: "A1234563"}
	biz := sampleTx()
	cert := &Tx{V: TxVersion, Chain: "gba", City: "hongkong", Jurisdiction: HK, EventID: "hk-9", Kind: KindCertificate,
		Action: ActionIssue, OccurredAt: "2026-04-02T01:02:03+08:00",
		Record: Record{ID: "CPA-2026-0042", Holder: holder, Title: Text{LangEN: "Accountant"}, Authority: Text{LangEN: "HKICPA"},
			IssuedOn: "2026-04-02", Validity: &Period{From: "2013-10-10", To: "2018-10-09"}, Level: Text{LangEN: "senior"}}}
	appr := &Tx{V: TxVersion, Chain: "gba", City: "macao", Jurisdiction: MO, EventID: "mo-1", Kind: KindApproval,
		Action: ActionAmend, OccurredAt: "2026-04-02T01:02:03.5Z", NativeFormat: "mo/approval@1", NativeHash: "sha256:" + strings.Repeat("ab", 32),
		Record: Record{ID: "AP/2026/7", Holder: &Party{Name: Text{LangPT: "Loja Lda"}, IDKind: "mo-reg", IDNumber: "12345"},
			Title: Text{LangPT: "Licença"}, Decision: Text{LangPT: "Aprovado\nsem condições"}, Authority: Text{LangPT: "DSE"},
			IssuedOn: "2026-04-01", Fee: &Money{Amount: "10", Currency: "MOP"}, ELicenseID: "1.2.156.3005.2.x"}}
	suspend := &Tx{V: TxVersion, Chain: "gba", City: "shenzhen", Jurisdiction: CN, EventID: "sz-s", Kind: KindBusiness,
		Action: ActionSuspend, OccurredAt: "2026-01-02T03:04:05Z", Reason: "检查\t不合格", Record: Record{ID: "91440300MA5G8XQ21K"}}
	handover := &Tx{V: TxVersion, Chain: "gba", City: "guangzhou", Jurisdiction: CN, EventID: "gz-h", Kind: KindBusiness,
		Action: ActionHandover, OccurredAt: "2026-01-02T03:04:05Z", To: "shenzhen", Record: Record{ID: "91440101MA5G8XQ21K"}}
	var out [][]byte
	for _, tx := range []*Tx{biz, cert, appr, suspend, handover} {
		raw, err := EncodeTx(tx)
		if err != nil {
			tb.Fatal(err)
		}
		if err := CheckTx(tx); err != nil {
			tb.Fatalf("seed %s %s: %v", tx.Kind, tx.Action, err)
		}
		if err := schemaCheck(raw); err != nil {
			tb.Fatalf("seed %s %s fails the schemas: %v", tx.Kind, tx.Action, err)
		}
		out = append(out, raw)
	}
	return out
}

// schemaCheck is ValidateTx without CheckTx: the JSON Schemas alone.
func schemaCheck(raw []byte) error {
	sch, err := loadSchemas()
	if err != nil {
		return err
	}
	if err := validateRaw(sch.tx, raw); err != nil {
		return err
	}
	tx, err := DecodeTx(raw)
	if err != nil {
		return err
	}
	ev, _ := json.Marshal(tx.Event())
	return validateRaw(sch.event, ev)
}

// stricterRules are the rules CheckTx adds to the schemas: only these may
// refuse a transaction the schemas accept.
var stricterRules = []string{"date", "rfc3339", "text-control", "text-bidi", "nfc", "utf8", "handover-to", "city-jurisdiction"}

// agree checks one canonical transaction: if it decodes and is its own
// encoding, CheckTx accepts it only if the schemas do, and refuses one the
// schemas accept only by a rule of its own; and for any that CheckTx
// accepts, HasEmptyValue tells whether it is its own encoding.
func agree(t *testing.T, raw []byte) (checked bool) {
	tx, err := DecodeTx(raw)
	if err != nil {
		return false
	}
	again, err := EncodeTx(tx)
	own := err == nil && bytes.Equal(again, raw)
	// HasEmptyValue stands for this round trip in the orderers' rules:
	// for every transaction CheckTx accepts, they agree.
	if CheckTx(tx) == nil && own == HasEmptyValue(raw) {
		t.Fatalf("HasEmptyValue %v, but the bytes are their transaction's own encoding: %v\n%s", HasEmptyValue(raw), own, raw)
	}
	if !own {
		return false
	}
	goErr, schemaErr := CheckTx(tx), schemaCheck(raw)
	switch {
	case goErr == nil && schemaErr != nil:
		t.Fatalf("CheckTx accepts what the schemas refuse (%v):\n%s", schemaErr, raw)
	case goErr != nil && schemaErr == nil:
		fe, ok := AsFieldError(goErr)
		if !ok || !slices.Contains(stricterRules, fe.Rule) {
			t.Fatalf("CheckTx refuses what the schemas accept, by a schema rule (%v):\n%s", goErr, raw)
		}
	}
	return true
}

// mutationValues are what the differential test puts in a transaction's
// members.
var mutationValues = []any{
	"", "x", "X1", "2026-02-30", "2026-13-01", "2026-01-01", "2018-10-09", "2026-01-01T00:00:00Z", "2026-01-01T25:00:00Z",
	"2026-01-01t00:00:00z", "a\u0001b", "a\tb", "a\nb", "a\rb", "a\u202eb", "a\u2066b", "a\u0085b", "e\u0301", "é", "\u00e9\u0301",
	strings.Repeat("長", 2001), strings.Repeat("x", 129), strings.Repeat("x", 65), "CNY", "BTC", "zh-Hans", "fr",
	"hongkong", "shenzhen", "guangzhou", "macao", "taipei", "CN", "HK", "issue", "amend", "suspend", "revoke", "handover",
	"expire", "business_registration", "professional_certificate", "passport", "hkid", "nobody", "1.2.156.3005.2.1",
	"12345678-000-01-26-A", "81234567", "cn/business@1", "sha256:" + strings.Repeat("0", 64), "1000000.00", "1.23456",
	json.Number("1"), json.Number("0"), json.Number("2"), true, nil,
	map[string]any{}, []any{}, map[string]any{"en": "x"}, map[string]any{"fr": "x"}, map[string]any{"en": ""},
	map[string]any{"en": "a\u202eb"}, map[string]any{"zh-Hans": "名\n称"},
	[]any{map[string]any{"name": map[string]any{"en": "a"}}}, map[string]any{"name": map[string]any{"en": "a"}, "idKind": "passport", "idNumber": "E1234567"},
	map[string]any{"name": map[string]any{"en": "a"}, "idKind": "hkid"}, map[string]any{"amount": "1.00", "currency": "CNY"},
	map[string]any{"from": "2020-01-01"}, map[string]any{"from": "2020-01-01", "to": "2020-02-30"}, map[string]any{"to": "2020-01-01"},
}

// paths lists every member path of v ("record.holder.name.en"), arrays by
// index.
func paths(v any, prefix []string, out *[][]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := append(slices.Clone(prefix), k)
			*out = append(*out, p)
			paths(e, p, out)
		}
	case []any:
		for i, e := range x {
			p := append(slices.Clone(prefix), fmt.Sprint(i))
			*out = append(*out, p)
			paths(e, p, out)
		}
	}
}

func setPath(v any, p []string, val any, del bool) {
	for i, k := range p {
		last := i == len(p)-1
		switch x := v.(type) {
		case map[string]any:
			if last {
				if del {
					delete(x, k)
				} else {
					x[k] = val
				}
				return
			}
			v = x[k]
		case []any:
			var n int
			fmt.Sscan(k, &n)
			if last {
				if !del {
					x[n] = val
				}
				return
			}
			v = x[n]
		}
	}
}

// deepCopy copies a value of the pool, so that a later mutation inside it
// changes neither the pool nor another transaction (nor makes a cycle).
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// mutate applies one to three random changes to a seed: set a member to a
// value of the pool, delete it, or add a member.
func mutateTx(rng *rand.Rand, seed []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(seed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic(err)
	}
	for range 1 + rng.IntN(3) {
		var ps [][]string
		paths(v, nil, &ps)
		slices.SortFunc(ps, func(a, b []string) int { return strings.Compare(strings.Join(a, "."), strings.Join(b, ".")) })
		p := ps[rng.IntN(len(ps))]
		switch rng.IntN(5) {
		case 0:
			setPath(v, p, nil, true)
		case 1:
			extra := []string{"to", "reason", "validity", "holder", "people", "capital", "nativeFormat", "nativeHash", "fee", "color"}
			setPath(v, append(slices.Clone(p[:len(p)-1]), extra[rng.IntN(len(extra))]), deepCopy(mutationValues[rng.IntN(len(mutationValues))]), false)
		default:
			setPath(v, p, deepCopy(mutationValues[rng.IntN(len(mutationValues))]), false)
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	canon, err := CanonicalizeJSON(raw)
	if err != nil {
		return raw
	}
	return canon
}

// TestCheckTxAgreesWithSchemas: over thousands of random mutations of valid
// transactions, CheckTx never accepts what the JSON Schemas refuse, and
// refuses what they accept only by one of its own rules. The orderers run
// CheckTx alone, so this is what makes the gateway's schema check a ledger
// rule.
func TestCheckTxAgreesWithSchemas(t *testing.T) {
	seeds := checkSeeds(t)
	rng := rand.New(rand.NewPCG(14, 2))
	n := 4000
	if testing.Short() {
		n = 500
	}
	checked := 0
	for range n {
		if agree(t, mutateTx(rng, seeds[rng.IntN(len(seeds))])) {
			checked++
		}
	}
	if checked < n/4 {
		t.Fatalf("only %d of %d mutations were canonical transactions: the test checks too little", checked, n)
	}
}

func FuzzCheckTx(f *testing.F) {
	for _, s := range checkSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { agree(t, raw) })
}

// TestNFCStarters: every rune nfcStarter admits is in NFC on its own, of
// combining class 0 and combines with nothing before it, so a string of
// them is in NFC.
func TestNFCStarters(t *testing.T) {
	n := 0
	for r := rune(0); r <= 0x10ffff; r++ {
		if !nfcStarter(r) {
			continue
		}
		n++
		s := string(r)
		p := norm.NFC.PropertiesString(s)
		if !norm.NFC.IsNormalString(s) || p.CCC() != 0 || !p.BoundaryBefore() {
			t.Fatalf("U+%04X is on nfcStarter's fast path but not an NFC starter", r)
		}
	}
	if n < 25000 {
		t.Fatalf("only %d runes on the fast path", n)
	}
}

func TestIsDateIsThePattern(t *testing.T) {
	re := regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "0123456789-/x"
	for range 200000 {
		b := []byte("2026-01-31")
		for range 1 + rng.IntN(3) {
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		if rng.IntN(20) == 0 {
			s = s[:rng.IntN(len(s))]
		}
		if isDate(s) != re.MatchString(s) {
			t.Fatalf("%q: isDate %v, pattern %v", s, isDate(s), re.MatchString(s))
		}
	}
}
