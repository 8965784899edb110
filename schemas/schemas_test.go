package schemas_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors")

func TestCityRegistry(t *testing.T) {
	if n := len(schemas.Cities()); n != 11 {
		t.Fatalf("%d cities, want 11", n)
	}
	for _, tc := range []struct {
		token, div string
		j          schemas.Jurisdiction
	}{{"shenzhen", "440300", schemas.CN}, {"hongkong", "810000", schemas.HK}, {"macao", "820000", schemas.MO}, {"zhongshan", "442000", schemas.CN}} {
		c, err := schemas.LookupCity(tc.token)
		if err != nil || c.Division != tc.div || c.Jurisdiction != tc.j {
			t.Errorf("%s: %+v %v", tc.token, c, err)
		}
	}
	_, err := schemas.LookupCity("taipei")
	if !errors.Is(err, schemas.ErrUnknownCity) || !strings.Contains(err.Error(), "guangzhou, shenzhen") {
		t.Fatalf("unknown city error %v does not list the valid tokens", err)
	}
	if len(schemas.CitiesIn(schemas.CN)) != 9 || len(schemas.CitiesIn(schemas.HK)) != 1 {
		t.Fatal("jurisdiction split is not 9/1/1")
	}
}

const validEvent = `{"eventId":"e1","kind":"business_registration","action":"issue","occurredAt":"2026-03-01T08:00:00Z",
"record":{"id":"91440300MA5FXXXX1X","name":{"zh-Hans":"深圳测试有限公司"},"authority":{"zh-Hans":"深圳市市场监督管理局"},
"issuedOn":"2026-03-01","establishedOn":"2019-03-01","address":{"zh-Hans":"深圳市南山区"},"scope":{"zh-Hans":"软件开发"},
"capital":{"amount":"1000000.00","currency":"CNY"},"validity":{"from":"2019-03-01"}}}`

func mutate(t *testing.T, f func(m map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal([]byte(validEvent), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, _ := json.Marshal(m)
	return b
}

func rec(m map[string]any) map[string]any { return m["record"].(map[string]any) }

func TestEventSchema(t *testing.T) {
	if _, err := schemas.ValidateEventJSON([]byte(validEvent)); err != nil {
		t.Fatalf("valid event refused: %v", err)
	}
	for _, tc := range []struct {
		name, field, rule string
		raw               []byte
	}{
		{"missing event id", "eventId", "required", mutate(t, func(m map[string]any) { delete(m, "eventId") })},
		{"unknown kind", "kind", "enum", mutate(t, func(m map[string]any) { m["kind"] = "permit" })},
		{"unknown action", "action", "enum", mutate(t, func(m map[string]any) { m["action"] = "destroy" })},
		{"bad time", "occurredAt", "pattern", mutate(t, func(m map[string]any) { m["occurredAt"] = "yesterday" })},
		{"extra field", "", "additionalProperties", mutate(t, func(m map[string]any) { m["color"] = "red" })},
		{"missing name on issue", "record.name", "required", mutate(t, func(m map[string]any) { delete(rec(m), "name") })},
		{"bad date", "record.establishedOn", "pattern", mutate(t, func(m map[string]any) { rec(m)["establishedOn"] = "2019/03/01" })},
		{"float money", "record.capital.amount", "type", mutate(t, func(m map[string]any) { rec(m)["capital"] = map[string]any{"amount": 1.5, "currency": "CNY"} })},
		{"bad currency", "record.capital.currency", "enum", mutate(t, func(m map[string]any) { rec(m)["capital"] = map[string]any{"amount": "1", "currency": "BTC"} })},
		{"bad language tag", "record.name", "enum", mutate(t, func(m map[string]any) { rec(m)["name"] = map[string]any{"fr": "x"} })},
		{"revoke without reason", "reason", "required", mutate(t, func(m map[string]any) { m["action"] = "revoke"; m["record"] = map[string]any{"id": "X1"} })},
		{"certificate without holder", "record.holder", "required", mutate(t, func(m map[string]any) { m["kind"] = "professional_certificate" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schemas.ValidateEventJSON(tc.raw)
			fe, ok := schemas.AsFieldError(err)
			if !ok || !errors.Is(err, schemas.ErrInvalid) {
				t.Fatalf("err %v, want a FieldError", err)
			}
			if (tc.field != "" && fe.Field != tc.field) || fe.Rule != tc.rule {
				t.Fatalf("field %q rule %q (%s), want %q %q", fe.Field, fe.Rule, fe.Msg, tc.field, tc.rule)
			}
		})
	}
	// A status change may carry only the id.
	if _, err := schemas.ValidateEventJSON(mutate(t, func(m map[string]any) {
		m["action"] = "suspend"
		m["reason"] = "inspection"
		m["record"] = map[string]any{"id": "X1"}
	})); err != nil {
		t.Fatalf("suspend with id only: %v", err)
	}
	if _, err := schemas.ValidateEventJSON([]byte(`{"eventId":`)); err == nil {
		t.Fatal("malformed JSON accepted")
	}
}

func TestValidateTx(t *testing.T) {
	ev, err := schemas.ValidateEventJSON([]byte(validEvent))
	if err != nil {
		t.Fatal(err)
	}
	sz, _ := schemas.LookupCity("shenzhen")
	tx := schemas.NewTx("gba", sz, ev)
	if err := schemas.ValidateTx(tx); err != nil {
		t.Fatalf("valid tx refused: %v", err)
	}
	wrong := *tx
	wrong.Jurisdiction = schemas.HK
	if fe, ok := schemas.AsFieldError(schemas.ValidateTx(&wrong)); !ok || fe.Rule != "city-jurisdiction" {
		t.Fatalf("city in the wrong jurisdiction: %v", fe)
	}
	wrong = *tx
	wrong.City = "taipei"
	if err := schemas.ValidateTx(&wrong); err == nil {
		t.Fatal("unknown city accepted")
	}
}

func TestStatusAfter(t *testing.T) {
	for _, tc := range []struct {
		prev   schemas.Status
		action schemas.Action
		want   schemas.Status
		ok     bool
	}{
		{"", schemas.ActionIssue, schemas.StatusValid, true},
		{"", schemas.ActionAmend, "", false},
		{schemas.StatusValid, schemas.ActionSuspend, schemas.StatusSuspended, true},
		{schemas.StatusSuspended, schemas.ActionSuspend, "", false},
		{schemas.StatusSuspended, schemas.ActionReinstate, schemas.StatusValid, true},
		{schemas.StatusValid, schemas.ActionRevoke, schemas.StatusRevoked, true},
		{schemas.StatusRevoked, schemas.ActionReinstate, "", false},
		{schemas.StatusRevoked, schemas.ActionIssue, "", false},
		{schemas.StatusValid, schemas.ActionExpire, schemas.StatusExpired, true},
		{schemas.StatusSuspended, schemas.ActionAmend, schemas.StatusSuspended, true},
		{schemas.StatusSuspended, schemas.ActionHandover, schemas.StatusSuspended, true},
		{"", schemas.ActionHandover, "", false},
		{schemas.StatusRevoked, schemas.ActionHandover, "", false},
	} {
		got, ok := schemas.StatusAfter(tc.prev, tc.action)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%q + %s = %q %v, want %q %v", tc.prev, tc.action, got, ok, tc.want, tc.ok)
		}
	}
}

// fixedKey is the test key of the golden vectors: Ed25519 from the seed 00 01 .. 1f.
func fixedKey(t *testing.T) *keys.PrivateKey {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	k, err := keys.Generate("city/shenzhen/1", keys.Ed25519, bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type vector struct {
	Name           string          `json:"name"`
	City           string          `json:"city"`
	Event          json.RawMessage `json:"event"`
	CanonicalTx    string          `json:"canonicalTx"`
	SHA256         string          `json:"sha256"`
	TxID           string          `json:"txId"`
	PublicKey      string          `json:"publicKey"`
	BatchCreatedAt int64           `json:"batchCreatedAt"`
	BatchSigned    string          `json:"batchSignedHex"`
	BatchID        string          `json:"batchId"`
	Signature      string          `json:"signatureHex"`
}

// TestGoldenVectors pins record -> canonical bytes -> SHA-256 -> signature.
// Regenerate with: go test ./schemas -run Golden -update-vectors
func TestGoldenVectors(t *testing.T) {
	key := fixedKey(t)
	cases := []struct{ name, city, event string }{
		{"cn-business-issue", "shenzhen", validEvent},
		{"hk-certificate-issue", "hongkong", `{"eventId":"hk-9","kind":"professional_certificate","action":"issue","occurredAt":"2026-04-02T01:02:03+08:00",
"record":{"id":"CPA-2026-0042","holder":{"name":{"zh-Hant":"陳大文","en":"CHAN Tai Man"},"idKind":"hkid","idNumber":"A1234563"},
"title":{"zh-Hant":"執業會計師","en":"Certified Public Accountant"},"authority":{"en":"HKICPA"},"issuedOn":"2026-04-02"}}`},
		{"mo-business-revoke", "macao", `{"eventId":"mo-3","kind":"business_registration","action":"revoke","occurredAt":"2026-05-05T00:00:00Z",
"reason":"Cancelamento a pedido \"do\" titular\n","record":{"id":"12345"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := schemas.ValidateEventJSON([]byte(tc.event))
			if err != nil {
				t.Fatal(err)
			}
			city, _ := schemas.LookupCity(tc.city)
			raw, err := schemas.EncodeTx(schemas.NewTx("gba-test", city, ev))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256hex(raw)
			id := schemas.ComputeTxID(raw)
			b, err := schemas.SealBatch("gba-test", tc.city, 1767225600000000000, 7, [][]byte{raw}, key)
			if err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			json.Compact(&compact, []byte(tc.event))
			got := vector{Name: tc.name, City: tc.city, Event: compact.Bytes(), CanonicalTx: string(raw), SHA256: sum,
				TxID: schemas.FormatID(id), PublicKey: hex.EncodeToString(key.Public().Bytes()), BatchCreatedAt: b.CreatedAt,
				BatchSigned: hex.EncodeToString(b.SignedBytes()), BatchID: b.ID(), Signature: hex.EncodeToString(b.Signature)}
			path := filepath.Join("testdata", "vectors", tc.name+".json")
			if *updateVectors {
				out, _ := json.MarshalIndent(got, "", "  ")
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantRaw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			var want vector
			if err := json.Unmarshal(wantRaw, &want); err != nil {
				t.Fatal(err)
			}
			if got.CanonicalTx != want.CanonicalTx || got.SHA256 != want.SHA256 || got.TxID != want.TxID ||
				got.BatchSigned != want.BatchSigned || got.BatchID != want.BatchID || got.Signature != want.Signature {
				t.Fatalf("vector changed:\n got %+v\nwant %+v", got, want)
			}
			// The stored signature verifies under the stored public key and the batch domain.
			pub, _ := hex.DecodeString(want.PublicKey)
			pk, err := keys.ParsePublicKey("k", keys.Ed25519, pub)
			if err != nil {
				t.Fatal(err)
			}
			signed, _ := hex.DecodeString(want.BatchSigned)
			sig, _ := hex.DecodeString(want.Signature)
			if err := pk.Verify(keys.Domain{Chain: "gba-test", Purpose: keys.PurposeBatch}, signed, sig); err != nil {
				t.Fatal(err)
			}
			// Decoding the canonical bytes gives them back exactly.
			tx, err := schemas.DecodeTx(raw)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := schemas.EncodeTx(tx)
			if !bytes.Equal(again, raw) {
				t.Fatal("decode/encode changed the canonical bytes")
			}
		})
	}
}

func TestDecodeTxRefusesNonCanonical(t *testing.T) {
	ev, _ := schemas.ValidateEventJSON([]byte(validEvent))
	city, _ := schemas.LookupCity("shenzhen")
	raw, _ := schemas.EncodeTx(schemas.NewTx("gba", city, ev))
	spaced := bytes.Replace(raw, []byte(`,"city"`), []byte(`, "city"`), 1)
	if _, err := schemas.DecodeTx(spaced); !errors.Is(err, schemas.ErrNotCanonical) {
		t.Fatalf("spaced: %v, want ErrNotCanonical", err)
	}
	if _, err := schemas.DecodeTx([]byte(`{"v":1,"unknown":2}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
	if _, err := schemas.DecodeTx(bytes.Repeat([]byte("x"), schemas.MaxTxBytes+1)); err == nil {
		t.Fatal("oversize accepted")
	}
}

func sha256hex(b []byte) string {
	s := sha256sum(b)
	return hex.EncodeToString(s[:])
}

// TestHostileText: control and bidirectional formatting characters are
// refused in text (tab and newline only in the multi-line fields), and
// strings not in NFC are refused, at the gateway (ValidateEventJSON) and by
// the ledger's check (CheckTx) alike.
func TestHostileText(t *testing.T) {
	for _, tc := range []struct {
		name, field, rule string
		set               func(m map[string]any)
	}{
		{"NUL in a name", "record.name.zh-Hans", "text-control", func(m map[string]any) { rec(m)["name"] = map[string]any{"zh-Hans": "深圳\x00公司"} }},
		{"newline in a name", "record.name.en", "text-control", func(m map[string]any) { rec(m)["name"] = map[string]any{"en": "Acme\nLtd"} }},
		{"tab in an event id", "eventId", "text-control", func(m map[string]any) { m["eventId"] = "e\t1" }},
		{"C1 control in authority", "record.authority.en", "text-control", func(m map[string]any) { rec(m)["authority"] = map[string]any{"en": "Reg\u0085istry"} }},
		{"DEL in a holder id", "record.people.0.idNumber", "text-control", func(m map[string]any) {
			rec(m)["people"] = []any{map[string]any{"name": map[string]any{"en": "A"}, "idKind": "passport", "idNumber": "E12\x7f"}}
		}},
		{"right-to-left override in a name", "record.name.en", "text-bidi", func(m map[string]any) { rec(m)["name"] = map[string]any{"en": "Acme \u202eLtd"} }},
		{"isolate in scope", "record.scope.zh-Hans", "text-bidi", func(m map[string]any) { rec(m)["scope"] = map[string]any{"zh-Hans": "软件\u2067开发"} }},
		{"override in a reason", "reason", "text-bidi", func(m map[string]any) {
			m["action"], m["reason"], m["record"] = "revoke", "fraud\u202d", map[string]any{"id": "X1"}
		}},
		{"NFD event id", "eventId", "nfc", func(m map[string]any) { m["eventId"] = "cafe\u0301-1" }},
		{"NFD name", "record.name.pt", "nfc", func(m map[string]any) { rec(m)["name"] = map[string]any{"pt": "Associac\u0327a\u0303o"} }},
		{"a day that does not exist", "record.establishedOn", "date", func(m map[string]any) { rec(m)["establishedOn"] = "2019-02-29" }},
		{"an hour that does not exist", "occurredAt", "rfc3339", func(m map[string]any) { m["occurredAt"] = "2026-03-01T24:00:00Z" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := mutate(t, tc.set)
			_, err := schemas.ValidateEventJSON(raw)
			fe, ok := schemas.AsFieldError(err)
			if !ok || fe.Field != tc.field || fe.Rule != tc.rule {
				t.Fatalf("gateway: err %v, want field %s rule %s", err, tc.field, tc.rule)
			}
			var ev schemas.Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			sz, _ := schemas.LookupCity("shenzhen")
			fe, ok = schemas.AsFieldError(schemas.CheckTx(schemas.NewTx("gba", sz, &ev)))
			if !ok || fe.Field != tc.field || fe.Rule != tc.rule {
				t.Fatalf("ledger: err %v, want field %s rule %s", fe, tc.field, tc.rule)
			}
		})
	}
	// Tab and newline are text in the multi-line fields.
	for _, set := range []func(m map[string]any){
		func(m map[string]any) { rec(m)["scope"] = map[string]any{"zh-Hans": "软件开发\n\t数据处理"} },
		func(m map[string]any) { rec(m)["address"] = map[string]any{"en": "1 Road\nKowloon"} },
		func(m map[string]any) {
			m["action"], m["reason"], m["record"] = "revoke", "line 1\nline 2", map[string]any{"id": "X1"}
		},
		func(m map[string]any) { rec(m)["name"] = map[string]any{"pt": "Associação"} }, // NFC
	} {
		if _, err := schemas.ValidateEventJSON(mutate(t, set)); err != nil {
			t.Errorf("multi-line or NFC text refused: %v", err)
		}
	}
}

// TestNFCEventIDsAreOneTransaction: two event ids that differ only in
// Unicode normalization cannot become two transactions: the NFD one is
// refused before it is hashed.
func TestNFCEventIDsAreOneTransaction(t *testing.T) {
	nfc := mutate(t, func(m map[string]any) { m["eventId"] = "résumé-7" })
	nfd := mutate(t, func(m map[string]any) { m["eventId"] = "re\u0301sume\u0301-7" })
	if _, err := schemas.ValidateEventJSON(nfc); err != nil {
		t.Fatalf("NFC id refused: %v", err)
	}
	if fe, ok := schemas.AsFieldError(func() error { _, err := schemas.ValidateEventJSON(nfd); return err }()); !ok || fe.Rule != "nfc" {
		t.Fatalf("NFD id: %v, want rule nfc", fe)
	}
}

func TestHandoverEvent(t *testing.T) {
	handover := func(to string) func(m map[string]any) {
		return func(m map[string]any) {
			m["action"], m["record"] = "handover", map[string]any{"id": "91440300MA5FXXXX1X"}
			if to != "" {
				m["to"] = to
			}
		}
	}
	raw := mutate(t, handover("guangzhou"))
	ev, err := schemas.ValidateEventJSON(raw)
	if err != nil {
		t.Fatalf("handover refused: %v", err)
	}
	sz, _ := schemas.LookupCity("shenzhen")
	tx := schemas.NewTx("gba", sz, ev)
	if tx.To != "guangzhou" {
		t.Fatalf("NewTx lost the handover's city: %+v", tx)
	}
	if err := schemas.ValidateTx(tx); err != nil {
		t.Fatalf("handover tx refused: %v", err)
	}
	for _, tc := range []struct {
		name, field, rule string
		raw               []byte
		tx                func(tx *schemas.Tx)
	}{
		{"no city", "to", "required", mutate(t, handover("")), nil},
		{"not a city", "to", "enum", mutate(t, handover("taipei")), nil},
		{"to on an issue", "to", "", mutate(t, func(m map[string]any) { m["to"] = "guangzhou" }), nil},
		{"to another jurisdiction", "to", "handover-to", nil, func(tx *schemas.Tx) { tx.To = "hongkong" }},
		{"to itself", "to", "handover-to", nil, func(tx *schemas.Tx) { tx.To = "shenzhen" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.raw != nil {
				_, err = schemas.ValidateEventJSON(tc.raw)
			} else {
				cp := *tx
				tc.tx(&cp)
				err = schemas.ValidateTx(&cp)
				if fe, _ := schemas.AsFieldError(schemas.CheckTx(&cp)); fe == nil || fe.Rule != tc.rule {
					t.Fatalf("CheckTx: %v, want rule %s", fe, tc.rule)
				}
			}
			fe, ok := schemas.AsFieldError(err)
			if !ok || (tc.field != "" && fe.Field != tc.field) || (tc.rule != "" && fe.Rule != tc.rule) {
				t.Fatalf("err %v, want field %q rule %q", err, tc.field, tc.rule)
			}
		})
	}
}

// TestEffectiveStatus: a license valid to a date is valid through that day
// in GBA time and expired from the first instant of the next, with no event.
func TestEffectiveStatus(t *testing.T) {
	end := time.Date(2018, 10, 10, 0, 0, 0, 0, schemas.GBATime) // HK/RGI-648009 is valid to 2018-10-09
	if got, err := schemas.ValidityEnd("2018-10-09"); err != nil || !got.Equal(end) {
		t.Fatalf("ValidityEnd = %v %v, want %v", got, err, end)
	}
	if !end.Equal(time.Date(2018, 10, 9, 16, 0, 0, 0, time.UTC)) {
		t.Fatal("GBA time is not UTC+8")
	}
	for _, tc := range []struct {
		recorded schemas.Status
		to       string
		at       time.Time
		want     schemas.Status
	}{
		{schemas.StatusValid, "2018-10-09", end.Add(-time.Nanosecond), schemas.StatusValid},
		{schemas.StatusValid, "2018-10-09", end, schemas.StatusExpired},
		{schemas.StatusValid, "2018-10-09", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), schemas.StatusExpired},
		{schemas.StatusSuspended, "2018-10-09", end, schemas.StatusExpired},
		{schemas.StatusRevoked, "2018-10-09", end, schemas.StatusRevoked},
		{schemas.StatusValid, "", end, schemas.StatusValid},
		{schemas.StatusSuspended, "2018-10-09", end.Add(-1), schemas.StatusSuspended},
		{schemas.StatusValid, "2018-02-30", end, schemas.StatusValid}, // not a date: as recorded
	} {
		if got := schemas.EffectiveStatus(tc.recorded, tc.to, tc.at); got != tc.want {
			t.Errorf("%s to %q at %v: %s, want %s", tc.recorded, tc.to, tc.at, got, tc.want)
		}
	}
	if _, err := schemas.ParseDate("2026-02-29"); err == nil {
		t.Fatal("2026-02-29 parsed")
	}
}
