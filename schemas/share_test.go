package schemas_test

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

func shenzhen(t testing.TB) schemas.City {
	c, err := schemas.LookupCity("shenzhen")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// plainBusiness is a Shenzhen business registration with a legal
// representative, in plaintext.
func plainBusiness(t testing.TB) *schemas.Tx {
	ev := &schemas.Event{EventID: "sz-1", Kind: schemas.KindBusiness, Action: schemas.ActionIssue, OccurredAt: "2026-03-01T08:00:00Z",
		Record: schemas.Record{ID: "91440304MAEP50P95F", Name: schemas.Text{schemas.LangHans: "深圳市卓越物流有限公司"},
			People: []schemas.Party{{Name: schemas.Text{schemas.LangHans: "王秀英"}, Role: schemas.Text{schemas.LangHans: "法定代表人"}},
				{Name: schemas.Text{schemas.LangHans: "某某投资有限公司"}, IDKind: "uscc", IDNumber: "91440300MA5FXXXX1X"}},
			Authority: schemas.Text{schemas.LangHans: "深圳市市场监督管理局"}, IssuedOn: "2026-03-01", EstablishedOn: "2019-03-01",
			Address: schemas.Text{schemas.LangHans: "深圳市前海深港合作区"}, Scope: schemas.Text{schemas.LangHans: "软件开发"}}}
	return schemas.NewTx("gba", shenzhen(t), ev)
}

func redact(t testing.TB, tx *schemas.Tx) *schemas.Tx {
	out, _, err := disclose.Redact(tx, disclose.RandomSalter{R: rand.NewChaCha8([32]byte{9})})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func rule(err error) string {
	if fe, ok := schemas.AsFieldError(err); ok {
		return fe.Rule
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func TestCheckRedacted(t *testing.T) {
	plain := plainBusiness(t)
	if err := schemas.CheckTx(plain); err != nil {
		t.Fatalf("the plaintext record is valid by rules version 2: %v", err)
	}
	red := redact(t, plain)
	if err := schemas.CheckTx3(red); err != nil {
		t.Fatalf("the redacted record: %v", err)
	}
	if got := rule(schemas.CheckTx(red)); got != "additionalProperties" {
		t.Fatalf("rules version 2 took digests (%q)", got)
	}
	mutate := func(f func(tx *schemas.Tx)) *schemas.Tx {
		c := redact(t, plain)
		f(c)
		return c
	}
	digest := red.Record.People[0].SD["name"]
	for name, c := range map[string]struct {
		tx   *schemas.Tx
		rule string
	}{
		"plaintext person":        {plain, "personal"},
		"value beside its digest": {mutate(func(tx *schemas.Tx) { tx.Record.People[0].Name = schemas.Text{"en": "x"} }), "personal"},
		"digest of a public field": {mutate(func(tx *schemas.Tx) {
			tx.Record.SD = schemas.Digests{"address": digest}
		}), "digest-place"},
		"organisation hidden": {mutate(func(tx *schemas.Tx) {
			tx.Record.People[1].SD = schemas.Digests{"name": digest}
			tx.Record.People[1].Name = nil
		}), "digest-place"},
		"not a digest":    {mutate(func(tx *schemas.Tx) { tx.Record.People[0].SD["name"] = "abc" }), "digest"},
		"padded digest":   {mutate(func(tx *schemas.Tx) { tx.Record.People[0].SD["name"] = digest[:42] + "=" }), "digest"},
		"a grant beside":  {mutate(func(tx *schemas.Tx) { tx.Grant = &schemas.Grant{} }), "additionalProperties"},
		"a schema broken": {mutate(func(tx *schemas.Tx) { tx.Record.IssuedOn = "2026-02-30" }), "date"},
	} {
		if got := rule(schemas.CheckTx3(c.tx)); got != c.rule {
			t.Errorf("%s: rule %q, want %q", name, got, c.rule)
		}
	}
	// A certificate: the holder's name and number are hidden; the shape the
	// identifiers are checked in drops the hidden number and its kind.
	cert := schemas.NewTx("gba", shenzhen(t), &schemas.Event{EventID: "c-1", Kind: schemas.KindCertificate, Action: schemas.ActionIssue,
		OccurredAt: "2026-03-01T08:00:00Z", Record: schemas.Record{ID: "S4403002019430498",
			Holder: &schemas.Party{Name: schemas.Text{schemas.LangHans: "杨艳"}, IDKind: "cn-rid", IDNumber: "440304197110038700"},
			Title:  schemas.Text{schemas.LangHans: "企业人力资源管理师"}, Authority: schemas.Text{schemas.LangHans: "深圳市人力资源和社会保障局"}, IssuedOn: "2019-01-19"}})
	rc := redact(t, cert)
	if err := schemas.CheckTx3(rc); err != nil {
		t.Fatal(err)
	}
	shape, err := schemas.RedactedShape(rc)
	if err != nil {
		t.Fatal(err)
	}
	ids := schemas.IdentifierShape(shape, &rc.Record)
	if ids.Holder.IDKind != "" || ids.Holder.IDNumber != "" {
		t.Fatalf("identifier shape keeps a hidden number: %+v", ids.Holder)
	}
	// A status change carries only the id: nothing to hide.
	st := schemas.NewTx("gba", shenzhen(t), &schemas.Event{EventID: "s-1", Kind: schemas.KindBusiness, Action: schemas.ActionSuspend,
		OccurredAt: "2026-03-01T08:00:00Z", Reason: "audit", Record: schemas.Record{ID: "91440304MAEP50P95F"}})
	if err := schemas.CheckTx3(st); err != nil {
		t.Fatal(err)
	}
}

func grantTx(t testing.TB) *schemas.Tx {
	return schemas.NewGrantTx("gba", shenzhen(t), "g-2026-001", schemas.Grant{Reader: "hk-bank",
		Kinds: []schemas.Kind{schemas.KindBusiness}, Fields: []string{"people.name"}, Purpose: "kyc", Limit: 3},
		"2026-01-01", "2026-12-31", "2026-01-01T09:00:00+08:00")
}

func request(op string) schemas.ShareRequest {
	r := schemas.ShareRequest{Chain: "gba", Reader: "hk-bank", City: "shenzhen", Op: op, Kind: schemas.KindBusiness,
		Purpose: "kyc", At: "2026-03-02T10:00:00+08:00", Nonce: base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{5}, 16))}
	if op == schemas.OpDisclose {
		r.License, r.Fields = "CN/91440304MAEP50P95F", []string{"people.name"}
	} else {
		d, _ := disclose.New(bytes.Repeat([]byte{6}, 16), "idNumber", "440304197110038700")
		r.Subject = d.Digest()
	}
	return r
}

func accessTx(t testing.TB, op, outcome string) *schemas.Tx {
	a := schemas.Access{Request: request(op), KeyID: "reader/hk-bank/1", Signature: base64.StdEncoding.EncodeToString([]byte("sig")), Outcome: outcome}
	if outcome == schemas.OutcomeGranted {
		a.Grant = "g-2026-001"
		if op == schemas.OpMatch {
			yes := true
			a.Result = &yes
		}
	} else {
		a.Reason = schemas.RefuseNoGrant
	}
	tx, err := schemas.NewAccessTx("gba", shenzhen(t), a, "2026-03-02T10:00:01+08:00")
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestCheckShare(t *testing.T) {
	for name, tx := range map[string]*schemas.Tx{
		"grant":            grantTx(t),
		"revoke":           schemas.NewRevokeTx("gba", shenzhen(t), "g-2026-001", "contract ended", "2026-06-01T09:00:00+08:00"),
		"disclose granted": accessTx(t, schemas.OpDisclose, schemas.OutcomeGranted),
		"disclose refused": accessTx(t, schemas.OpDisclose, schemas.OutcomeRefused),
		"match granted":    accessTx(t, schemas.OpMatch, schemas.OutcomeGranted),
	} {
		if err := schemas.CheckTx3(tx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		raw, err := schemas.EncodeTx(tx)
		if err != nil {
			t.Fatal(err)
		}
		if schemas.HasEmptyValue(raw) {
			t.Errorf("%s encodes an empty value: %s", name, raw)
		}
		back, err := schemas.DecodeTx(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := schemas.CheckTx3(back); err != nil {
			t.Errorf("%s decoded: %v", name, err)
		}
		if got := rule(schemas.CheckTx(back)); got == "" {
			t.Errorf("%s passes rules version 2", name)
		}
	}
	g := func(f func(tx *schemas.Tx)) *schemas.Tx { tx := grantTx(t); f(tx); return tx }
	a := func(op, outcome string, f func(tx *schemas.Tx)) *schemas.Tx {
		tx := accessTx(t, op, outcome)
		f(tx)
		return tx
	}
	for name, c := range map[string]struct {
		tx   *schemas.Tx
		rule string
	}{
		"no window":          {g(func(tx *schemas.Tx) { tx.Record.Validity = nil }), "required"},
		"window reversed":    {g(func(tx *schemas.Tx) { tx.Record.Validity.To = "2025-12-31" }), "window"},
		"unknown field":      {g(func(tx *schemas.Tx) { tx.Grant.Fields = []string{"address"} }), "enum"},
		"unsorted fields":    {g(func(tx *schemas.Tx) { tx.Grant.Fields = []string{"people.name", "holder.name"} }), "sorted"},
		"a share kind":       {g(func(tx *schemas.Tx) { tx.Grant.Kinds = []schemas.Kind{schemas.KindShareGrant} }), "enum"},
		"nothing granted":    {g(func(tx *schemas.Tx) { tx.Grant.Fields = nil }), "required"},
		"negative limit":     {g(func(tx *schemas.Tx) { tx.Grant.Limit = -1 }), "range"},
		"bad purpose":        {g(func(tx *schemas.Tx) { tx.Grant.Purpose = "Know Your Customer" }), "pattern"},
		"record fields":      {g(func(tx *schemas.Tx) { tx.Record.Name = schemas.Text{"en": "x"} }), "share"},
		"revoke with terms":  {g(func(tx *schemas.Tx) { tx.Action = schemas.ActionRevoke; tx.Reason = "x" }), "share"},
		"another city asked": {a(schemas.OpDisclose, schemas.OutcomeGranted, func(tx *schemas.Tx) { tx.Access.Request.City = "guangzhou" }), "envelope"},
		"id not the request's": {a(schemas.OpDisclose, schemas.OutcomeGranted, func(tx *schemas.Tx) {
			tx.Access.Request.Purpose = "audit"
		}), "access-id"},
		"granted without grant": {a(schemas.OpDisclose, schemas.OutcomeGranted, func(tx *schemas.Tx) { tx.Access.Grant = "" }), "required"},
		"refused for no reason": {a(schemas.OpDisclose, schemas.OutcomeRefused, func(tx *schemas.Tx) { tx.Access.Reason = "because" }), "enum"},
		"match without result":  {a(schemas.OpMatch, schemas.OutcomeGranted, func(tx *schemas.Tx) { tx.Access.Result = nil }), "share"},
		"disclose of another jurisdiction": {a(schemas.OpDisclose, schemas.OutcomeRefused, func(tx *schemas.Tx) {
			tx.Access.Request.License = "HK/32558131"
		}), "envelope"},
		"bad nonce": {a(schemas.OpDisclose, schemas.OutcomeRefused, func(tx *schemas.Tx) { tx.Access.Request.Nonce = "x" }), "pattern"},
	} {
		if got := rule(schemas.CheckTx3(c.tx)); got != c.rule {
			t.Errorf("%s: rule %q, want %q", name, got, c.rule)
		}
	}
	if got, want := accessTx(t, schemas.OpDisclose, schemas.OutcomeGranted).StateKeys(), []string{"access/shenzhen/" + accessTx(t, schemas.OpDisclose, schemas.OutcomeGranted).Record.ID, "grant/shenzhen/g-2026-001"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("StateKeys %v, want %v", got, want)
	}
	if got := grantTx(t).LicenseKey(); got != "grant/shenzhen/g-2026-001" {
		t.Fatalf("grant key %q", got)
	}
}

func TestGrantTermsCover(t *testing.T) {
	tx := grantTx(t)
	raw, err := schemas.TermsOf(tx)
	if err != nil {
		t.Fatal(err)
	}
	terms, err := schemas.ParseTerms(raw)
	if err != nil {
		t.Fatal(err)
	}
	if terms.From != "2026-01-01" || terms.Limit != 3 || terms.Reader != "hk-bank" {
		t.Fatalf("terms %+v", terms)
	}
	r := request(schemas.OpDisclose)
	for name, c := range map[string]struct {
		f    func(r *schemas.ShareRequest)
		want schemas.Refusal
	}{
		"covered":       {func(*schemas.ShareRequest) {}, schemas.NoRefusal},
		"other reader":  {func(r *schemas.ShareRequest) { r.Reader = "mo-bank" }, schemas.RefuseNoGrant},
		"other purpose": {func(r *schemas.ShareRequest) { r.Purpose = "marketing" }, schemas.RefusePurpose},
		"other kind":    {func(r *schemas.ShareRequest) { r.Kind = schemas.KindCertificate }, schemas.RefuseKind},
		"field outside": {func(r *schemas.ShareRequest) { r.Fields = []string{"people.idNumber", "people.name"} }, schemas.RefuseField},
		"match":         {func(r *schemas.ShareRequest) { r.Op, r.Fields = schemas.OpMatch, nil }, schemas.RefuseMatch},
	} {
		q := r
		c.f(&q)
		if got := terms.Covers(&q); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
	at := func(s string) schemas.Refusal {
		tm, _ := schemas.ParseTime(s)
		return terms.GrantWindow("2026-12-31", tm)
	}
	if at("2025-12-31T15:59:59Z") != schemas.RefuseNotYet || at("2025-12-31T16:00:00Z") != schemas.NoRefusal ||
		at("2026-12-31T15:59:59Z") != schemas.NoRefusal || at("2026-12-31T16:00:00Z") != schemas.RefuseExpired {
		t.Fatal("the window is the days from and to, GBA time, inclusive")
	}
}

// FuzzCheckTx3 decodes fuzzed transactions and checks them by rules
// version 3: never a panic; what passes encodes, and passes again.
func FuzzCheckTx3(f *testing.F) {
	for _, tx := range []*schemas.Tx{grantTx(f), accessTx(f, schemas.OpDisclose, schemas.OutcomeGranted),
		accessTx(f, schemas.OpMatch, schemas.OutcomeGranted), redact(f, plainBusiness(f))} {
		raw, err := schemas.EncodeTx(tx)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := schemas.DecodeTx(raw)
		if err != nil {
			return
		}
		if schemas.CheckTx3(tx) != nil {
			return
		}
		out, err := schemas.EncodeTx(tx)
		if err != nil {
			t.Fatalf("a transaction CheckTx3 accepts does not encode: %v", err)
		}
		back, err := schemas.DecodeTx(out)
		if err != nil || schemas.CheckTx3(back) != nil {
			t.Fatalf("re-encoded, it no longer passes: %v", err)
		}
	})
}
