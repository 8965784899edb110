package gateway_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

// TestWithholdPersonal: what anyone but a record's city sees of it on a
// chain of rules version 1 or 2 (issue 14 §4): the personal fields as
// digests that open to nothing, everything public as it was, and records
// without personal fields untouched.
func TestWithholdPersonal(t *testing.T) {
	const name, number = "CHAN Tai Man", "A1234563"
	cert := &schemas.Tx{City: "hongkong", Jurisdiction: schemas.HK, Kind: schemas.KindCertificate, Action: schemas.ActionIssue,
		Record: schemas.Record{ID: "RGI-1", Name: schemas.Text{schemas.LangEN: name},
			Holder: &schemas.Party{Name: schemas.Text{schemas.LangEN: name}, IDKind: "hkid", IDNumber: number}}}
	rng := rand.NewChaCha8([32]byte{7})
	got, paths, err := gateway.WithholdPersonal(cert, rng)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"record.name", "record.holder.name", "record.holder.idNumber"}; !slices.Equal(paths, want) {
		t.Fatalf("withheld %v, want %v", paths, want)
	}
	raw, _ := json.Marshal(got)
	if bytes.Contains(raw, []byte(name)) || bytes.Contains(raw, []byte(number)) || !bytes.Contains(raw, []byte("RGI-1")) || !bytes.Contains(raw, []byte("hkid")) {
		t.Fatalf("withheld record: %s", raw)
	}
	if cert.Record.Holder.IDNumber != number {
		t.Fatal("the caller's transaction was changed")
	}
	// The digests open to nothing: not even the true value under any salt
	// the caller could guess is what they commit to.
	items := []disclose.Item{{Path: "record.holder.idNumber",
		Disclosure: disclose.Disclosure{Salt: "AAAAAAAAAAAAAAAAAAAAAA", Name: "idNumber", Value: json.RawMessage(`"` + number + `"`)}.Encode()}}
	if _, _, err := disclose.Open(got.Kind, &got.Record, items); err == nil {
		t.Fatal("a guessed disclosure opened a withheld field")
	}
	// A company's registration without persons, and a status change, come
	// back as they are.
	for _, tx := range []*schemas.Tx{
		{City: "shenzhen", Jurisdiction: schemas.CN, Kind: schemas.KindBusiness, Action: schemas.ActionIssue,
			Record: schemas.Record{ID: "91440300MA5F000000", Name: schemas.Text{schemas.LangHans: "某公司"}}},
		{City: "hongkong", Jurisdiction: schemas.HK, Kind: schemas.KindCertificate, Action: schemas.ActionSuspend, Record: schemas.Record{ID: "RGI-1"}},
	} {
		if got, paths, err := gateway.WithholdPersonal(tx, rng); err != nil || got != tx || paths != nil {
			t.Errorf("%s %s: %v %v %v", tx.Kind, tx.Action, got, paths, err)
		}
	}
}
