package keys

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// TestSM2DomainVector: the golden SM2 vector signed through baybus's
// domain separation verifies through this package's API, and only for its
// own chain and purpose.
func TestSM2DomainVector(t *testing.T) {
	raw, err := os.ReadFile("sm2/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Name, Public, Signature, Chain, Purpose, Payload string
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range vs {
		if v.Chain == "" {
			continue
		}
		found = true
		pub, _ := hex.DecodeString(v.Public)
		sig, _ := hex.DecodeString(v.Signature)
		payload, _ := hex.DecodeString(v.Payload)
		pk, err := ParsePublicKey("city/shenzhen/1", SM2, pub)
		if err != nil {
			t.Fatal(err)
		}
		if pk.Scheme() != SM2 {
			t.Fatalf("scheme %s", pk.Scheme())
		}
		d := Domain{Chain: v.Chain, Purpose: Purpose(v.Purpose)}
		if err := pk.Verify(d, payload, sig); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if err := pk.Verify(Domain{Chain: v.Chain, Purpose: PurposeBlock}, payload, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s under another purpose: %v", v.Name, err)
		}
	}
	if !found {
		t.Fatal("no domain vector")
	}
}

// TestMixedConsortium: cities on SM2 and orderers on Ed25519 in one
// bundle; each key names its scheme, files round-trip, and a signature is
// checked with its own key's scheme only.
func TestMixedConsortium(t *testing.T) {
	c, err := NewConsortiumSchemes("gba", []string{"shenzhen"}, []string{"a", "b", "c", "d"}, Schemes{City: SM2, Orderer: Ed25519}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range c.Bundle.Keys {
		want := Ed25519
		if k.Role == RoleCity {
			want = SM2
		}
		if k.Scheme != want {
			t.Errorf("%s: scheme %s, want %s", k.ID, k.Scheme, want)
		}
	}
	dir := t.TempDir()
	if err := c.Write(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConsortium(dir, []string{"shenzhen"})
	if err != nil {
		t.Fatal(err)
	}
	d := Domain{Chain: "gba", Purpose: PurposeBatch}
	citySig := back.Cities["shenzhen"].Sign(d, []byte("batch"))
	voteSig := back.Orderers["a"].Sign(Domain{Chain: "gba", Purpose: PurposeBlock}, []byte("header"))
	city, err := back.Bundle.KeyAt("city/shenzhen/1", RoleCity, "shenzhen", 0)
	if err != nil {
		t.Fatal(err)
	}
	orderer, err := back.Bundle.KeyAt("orderer/a/1", RoleOrderer, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if city.Scheme() != SM2 || orderer.Scheme() != Ed25519 {
		t.Fatalf("schemes %s %s", city.Scheme(), orderer.Scheme())
	}
	if err := city.Verify(d, []byte("batch"), citySig); err != nil {
		t.Fatal(err)
	}
	if err := orderer.Verify(Domain{Chain: "gba", Purpose: PurposeBlock}, []byte("header"), voteSig); err != nil {
		t.Fatal(err)
	}
	if err := orderer.Verify(d, []byte("batch"), citySig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("an SM2 signature checked as Ed25519: %v", err)
	}
	if err := city.Verify(Domain{Chain: "gba", Purpose: PurposeBlock}, []byte("header"), voteSig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("an Ed25519 signature checked as SM2: %v", err)
	}
	if _, err := NewConsortiumSchemes("gba", []string{"x"}, []string{"a", "b", "c", "d"}, Schemes{City: "SM9", Orderer: Ed25519}, rand.Reader); !errors.Is(err, ErrUnknownScheme) {
		t.Fatalf("unknown city scheme: %v", err)
	}
}
