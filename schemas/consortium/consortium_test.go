package consortium_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// TestCreateOpen: Create writes the CA with the keys; Open loads the same
// CA, gives an older directory (made before the CA existed) one, and
// refuses another chain.
func TestCreateOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	c, err := consortium.Create(dir, consortium.Spec{Chain: "gba", Orderers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if c.CA == nil {
		t.Fatal("no CA")
	}
	if _, err := consortium.Create(dir, consortium.Spec{Chain: "gba", Orderers: 4}); !errors.Is(err, consortium.ErrExists) {
		t.Fatalf("second Create: %v", err)
	}
	o, err := consortium.Open(dir, consortium.Spec{Chain: "gba", Orderers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !o.CA.Certificate().Equal(c.CA.Certificate()) {
		t.Fatal("Open loaded another CA")
	}
	if _, err := consortium.Open(dir, consortium.Spec{Chain: "other"}); !errors.Is(err, consortium.ErrMismatch) {
		t.Fatalf("other chain: %v", err)
	}

	if err := os.RemoveAll(filepath.Join(dir, consortium.TLSDir)); err != nil {
		t.Fatal(err)
	}
	old, err := consortium.Open(dir, consortium.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if old.CA == nil || old.CA.Certificate().Equal(c.CA.Certificate()) {
		t.Fatal("an older directory got no new CA")
	}
	again, err := consortium.Open(dir, consortium.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if !again.CA.Certificate().Equal(old.CA.Certificate()) {
		t.Fatal("the CA made for an older directory was not kept")
	}
}

// TestAddReader: a reader gets its NATS identity, signing and HPKE keys
// (0600) and its trust bundle entry; Open gives the bus its identity with
// its grants; malformed grants and a second reader of the same name are
// refused without touching the directory.
func TestAddReader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if _, err := consortium.Create(dir, consortium.Spec{Chain: "gba", Orderers: 4}); err != nil {
		t.Fatal(err)
	}
	rk, err := consortium.AddReader(dir, consortium.ReaderSpec{Name: "hk-bank", Grants: []string{"CN.business", "MO.*"}, Scheme: keys.MLDSA65, ValidFrom: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bus.SeedPath(dir, "reader-hk-bank"), keys.ReaderKeyPath(dir, "hk-bank"), keys.ReaderHPKEPath(dir, "hk-bank")} {
		if m := mode(t, p); m != 0o600 {
			t.Errorf("%s: mode %v", p, m)
		}
	}
	c, err := consortium.Open(dir, consortium.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := c.Bundle().Reader("hk-bank")
	if !ok || !r.Allows("CN", "business") || !r.Allows("MO", "approval") || r.Allows("HK", "business") {
		t.Fatalf("reader %+v", r)
	}
	if tk, _ := c.Bundle().CurrentKey(keys.RoleReader, "hk-bank"); tk != rk.Sign.KeyID() {
		t.Fatalf("signing key %q", tk)
	}
	if _, err := c.Bundle().KeyAt(rk.Sign.KeyID(), keys.RoleReader, "hk-bank", 6); !errors.Is(err, keys.ErrKeyNotValid) {
		t.Fatalf("before --valid-from: %v", err)
	}
	u, ok := c.Identities.Get("reader-hk-bank")
	if !ok || u.Role != bus.RoleReader || u.Public != r.NATS || u.Seed() == nil || len(u.Grants) != 2 {
		t.Fatalf("bus identity %+v", u)
	}
	hk, err := keys.ReadHPKEFile(keys.ReaderHPKEPath(dir, "hk-bank"))
	if err != nil || !bytes.Equal(hk.Public().Bytes(), rk.HPKE.Public().Bytes()) {
		t.Fatalf("HPKE key file: %v", err)
	}

	before, _ := os.ReadFile(filepath.Join(dir, keys.TrustFile))
	for name, spec := range map[string]consortium.ReaderSpec{
		"again":          {Name: "hk-bank", Grants: []string{"CN.business"}},
		"unknown kind":   {Name: "x", Grants: []string{"CN.licence"}},
		"long kind name": {Name: "x", Grants: []string{"CN.business_registration"}},
		"jurisdiction":   {Name: "x", Grants: []string{"TW.*"}},
		"no grants":      {Name: "x"},
		"bad name":       {Name: "X Y", Grants: []string{"CN.*"}},
	} {
		if _, err := consortium.AddReader(dir, spec); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := consortium.AddReader(dir, consortium.ReaderSpec{Name: "hk-bank", Grants: []string{"CN.*"}}); !errors.Is(err, consortium.ErrReaderExists) {
		t.Errorf("second hk-bank: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, keys.TrustFile))
	if !bytes.Equal(before, after) {
		t.Error("a refused reader changed trust.json")
	}
	if _, err := os.Stat(bus.SeedPath(dir, "reader-x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused reader left credentials: %v", err)
	}
}
