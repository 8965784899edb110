package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
	"github.com/baybus/baybus/schemas/keys"
)

var update = flag.Bool("update", false, "rewrite testdata/answers")

// goldenAnswer is the answer to access record a1 of prooftest.Build3's
// chain (hk-bank reads cn-business's people.name under g1), sealed to
// hk-bank's HPKE key with a seeded stream: the same bytes on every run.
func goldenAnswer(t *testing.T) (*prooftest.Chain, *Answer) {
	t.Helper()
	c := prooftest.Build3(t, t.TempDir())
	ab, err := proof.Latest(c, c.Keys["a1"])
	if err != nil {
		t.Fatal(err)
	}
	lb := c.Find(t, 1, "cn-business")
	var items []disclose.Item
	for _, it := range c.Disclosures["cn-business"] {
		if it.Field() == "people.name" {
			items = append(items, it)
		}
	}
	d := &Disclosed{V: AnswerVersion, License: c.Keys["cn-business"], Record: schemas.FormatID(lb.Tx.ID), Access: schemas.FormatID(ab.Tx.ID), Items: items}
	sealed, err := seal(c.Trust, "hk-bank", d, ab.Tx.ID, rand.NewChaCha8([32]byte{'a', 'n', 's'}))
	if err != nil {
		t.Fatal(err)
	}
	a := &Answer{V: AnswerVersion, Outcome: schemas.OutcomeGranted, Sealed: sealed}
	if a.Access, err = proof.EncodeJSON(ab); err != nil {
		t.Fatal(err)
	}
	if a.License, err = proof.EncodeJSON(lb); err != nil {
		t.Fatal(err)
	}
	return c, a
}

// TestGoldenAnswer: the answer's bytes are pinned (testdata/answers), and
// what a reader does with them is checked against the file alone: it
// opens with hk-bank's key, shows the name sealed on the ledger, and every
// negative case of issue 15 is refused.
func TestGoldenAnswer(t *testing.T) {
	c, a := goldenAnswer(t)
	dir := filepath.Join("testdata", "answers")
	raw, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	trustRaw, err := c.Trust.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	hpkeFile := filepath.Join(t.TempDir(), "hk-bank.hpke")
	if err := c.Reader.HPKE.WriteFile(hpkeFile, "reader", "hk-bank"); err != nil {
		t.Fatal(err)
	}
	hpkeRaw, err := os.ReadFile(hpkeFile)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"answer.json": append(raw, '\n'), "trust.json": trustRaw, "hk-bank.hpke": hpkeRaw}
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range files {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (go test ./gateway/share -run GoldenAnswer -update)", err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("%s made now differs from testdata/answers: the answer's format or its sealing changed", name)
		}
	}

	// From the files alone.
	trust, err := keys.LoadBundle(filepath.Join(dir, "trust.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.ReadHPKEFile(filepath.Join(dir, "hk-bank.hpke"))
	if err != nil {
		t.Fatal(err)
	}
	var stored Answer
	if err := json.Unmarshal(files["answer.json"], &stored); err != nil {
		t.Fatal(err)
	}
	opened, r, err := Open(trust, key, &stored)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reader != "hk-bank" || r.License != c.Keys["cn-business"] || !slices.Equal(r.Fields, []string{"people.name"}) ||
		len(r.Places) != 1 || r.Places[0].Path != "record.people.0.name" || r.Record.Record.People[0].Name == nil {
		t.Fatalf("reading %+v", r)
	}
	if _, hidden := r.Record.Record.People[0].SD["idNumber"]; !hidden || r.Record.Record.People[0].IDNumber != "" {
		t.Fatal("the identity number, not granted, is not hidden still")
	}

	// The negative cases.
	other := c.Disclosures["hk-certificate"]
	mutate := func(f func(o *Opened)) *Opened {
		o := *opened
		o.Items = slices.Clone(opened.Items)
		f(&o)
		return &o
	}
	d0, _ := disclose.Decode(opened.Items[0].Disclosure)
	for name, cc := range map[string]struct {
		o    *Opened
		want error
	}{
		"a disclosed field changed": {mutate(func(o *Opened) {
			d := d0
			d.Value = json.RawMessage(`{"en":"Someone Else"}`)
			o.Items[0].Disclosure = d.Encode()
		}), disclose.ErrDigest},
		"a salt swapped": {mutate(func(o *Opened) {
			od, _ := disclose.Decode(other[0].Disclosure)
			d := d0
			d.Salt = od.Salt
			o.Items[0].Disclosure = d.Encode()
		}), disclose.ErrDigest},
		"a field not granted": {mutate(func(o *Opened) {
			for _, it := range c.Disclosures["cn-business"] {
				if it.Field() == "people.idNumber" {
					o.Items = append(o.Items, it)
				}
			}
		}), ErrNotGranted},
		"another record's disclosure": {mutate(func(o *Opened) {
			o.Items = []disclose.Item{{Path: "record.people.0.name", Disclosure: other[0].Disclosure}}
		}), disclose.ErrInvalid},
		"the license proof of another license": {mutate(func(o *Opened) {
			b := c.Find(t, 1, "hk-certificate")
			o.License, _ = proof.EncodeJSON(b)
		}), ErrAnswer},
		"a refused access record": {mutate(func(o *Opened) {
			b, _ := proof.Latest(c, c.Keys["a2"])
			o.Access, _ = proof.EncodeJSON(b)
		}), ErrAnswer},
	} {
		if _, err := Check(trust, cc.o); !errors.Is(err, cc.want) || !errors.Is(err, ErrAnswer) {
			t.Errorf("%s: %v, want %v", name, err, cc.want)
		}
	}
	// Opened with another key, or bound to another access record.
	otherKey, err := keys.GenerateHPKE(key.KeyID(), rand.NewChaCha8([32]byte{9}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(trust, otherKey, &stored); !errors.Is(err, ErrAnswer) || !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("opened with another key: %v", err)
	}
	moved := stored
	m1, _ := proof.Latest(c, c.Keys["m1"])
	moved.Access, _ = proof.EncodeJSON(m1)
	if _, _, err := Open(trust, key, &moved); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("the sealed part under another access record's proof: %v", err)
	}
	refused := stored
	refused.Outcome, refused.Reason = schemas.OutcomeRefused, schemas.RefuseNoGrant
	if _, _, err := Open(trust, key, &refused); !errors.Is(err, ErrRefused) {
		t.Fatalf("a refusal opened: %v", err)
	}
}

// TestRequestKeyRotation (§6): after a reader's keys are rotated from a
// height ahead of the chain, the gateway takes requests signed with the
// old key until that height and refuses the new key before it, as the
// orderers will judge them; a request changed after signing is refused.
func TestRequestKeyRotation(t *testing.T) {
	c := prooftest.Build3(t, t.TempDir())
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	rotated, nk, err := c.Trust.RotateReader("hk-bank", keys.Ed25519, 1000, rand.NewChaCha8([32]byte{'r'}))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: Config{Trust: rotated, Now: func() time.Time { return now }, MaxSkew: 5 * time.Minute}}
	rq, err := NewRequest(rotated.Chain, "hk-bank", "shenzhen", schemas.OpDisclose, now, rand.NewChaCha8([32]byte{'q'}))
	if err != nil {
		t.Fatal(err)
	}
	rq.License, rq.Kind, rq.Fields, rq.Purpose = c.Keys["cn-business"], schemas.KindBusiness, []string{"people.name"}, "kyc"
	old, err := Sign(rq, c.Reader.Sign)
	if err != nil {
		t.Fatal(err)
	}
	if e := s.checkRequest(old); e != nil {
		t.Fatalf("the old key before the rotation's height: %+v", e)
	}
	fresh, err := Sign(rq, nk.Sign)
	if err != nil {
		t.Fatal(err)
	}
	if e := s.checkRequest(fresh); e == nil || e.Code != api.CodeForbidden {
		t.Fatalf("the new key before its first height: %+v", e)
	}
	other := *old
	other.Request.Purpose = "marketing" // signed for kyc
	if e := s.checkRequest(&other); e == nil || e.Code != api.CodeForbidden {
		t.Fatalf("a request changed after it was signed: %+v", e)
	}
}
