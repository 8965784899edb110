package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

func natsUser(t testing.TB) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return pub
}

// bundleWithReader is a four-orderer bundle with reader hk-bank (CN.business,
// CN.certificate) valid from height 5.
func bundleWithReader(t testing.TB) (*Bundle, *ReaderKeys) {
	t.Helper()
	c, err := NewConsortium("gba", []string{"shenzhen"}, []string{"a", "b", "c", "d"}, Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := NewReaderKeys("hk-bank", natsUser(t), []string{"CN.business", "CN.certificate"}, MLDSA65, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Bundle.WithReader(rk, 5)
	if err != nil {
		t.Fatal(err)
	}
	return b, rk
}

func TestReaderInBundle(t *testing.T) {
	b, rk := bundleWithReader(t)
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := back.Reader("hk-bank")
	if !ok || r.NATS != rk.Reader.NATS {
		t.Fatalf("reader %+v %v", r, ok)
	}
	if byNATS, ok := back.ReaderByNATS(rk.Reader.NATS); !ok || byNATS.Name != "hk-bank" {
		t.Fatalf("by NKey: %+v %v", byNATS, ok)
	}
	if _, ok := back.Reader("mo-gov"); ok {
		t.Fatal("unknown reader found")
	}
	for _, tc := range []struct {
		jur, kind string
		want      bool
	}{{"CN", "business", true}, {"CN", "certificate", true}, {"CN", "approval", false}, {"HK", "business", false}, {"CN", "*", false}} {
		if got := r.Allows(tc.jur, tc.kind); got != tc.want {
			t.Errorf("Allows(%s, %s) = %v", tc.jur, tc.kind, got)
		}
	}
	if all := (&Reader{Grants: []string{"HK.*"}}); !all.Allows("HK", "approval") || !all.Allows("HK", "*") || all.Allows("MO", "approval") {
		t.Error("HK.* grant")
	}
	// A personal grant covers what the grant without ".personal" does, and
	// the personal fields of those records; a plain grant never those.
	if r.AllowsPersonal("CN", "business") {
		t.Error("a plain grant allows personal fields")
	}
	pers := &Reader{Grants: []string{"CN.certificate.personal", "HK.*.personal", "MO.business"}}
	for _, tc := range []struct {
		jur, kind      string
		plain, persona bool
	}{{"CN", "certificate", true, true}, {"CN", "business", false, false}, {"HK", "approval", true, true},
		{"HK", "*", true, true}, {"MO", "business", true, false}, {"MO", "certificate", false, false}} {
		if got := pers.Allows(tc.jur, tc.kind); got != tc.plain {
			t.Errorf("personal grants: Allows(%s, %s) = %v", tc.jur, tc.kind, got)
		}
		if got := pers.AllowsPersonal(tc.jur, tc.kind); got != tc.persona {
			t.Errorf("personal grants: AllowsPersonal(%s, %s) = %v", tc.jur, tc.kind, got)
		}
	}
	for g, want := range map[string]bool{"CN.business.personal": true, "HK.*.personal": true, "CN.business": false,
		"CN.personal": false, "CN.business.personal.x": false, "CN.business.Personal": false} {
		if got := IsPersonalGrant(g); got != want {
			t.Errorf("IsPersonalGrant(%q) = %v", g, got)
		}
	}
	r.Grants[0] = "MO.*" // a copy: the bundle stays as parsed
	if again, _ := back.Reader("hk-bank"); again.Grants[0] != "CN.business" {
		t.Fatal("Reader returned the bundle's own slice")
	}

	// The signing key verifies from its height on; the HPKE key opens
	// what is sealed to it.
	d := Domain{Chain: "gba", Purpose: PurposeSealed}
	pk, err := back.KeyAt("reader/hk-bank/1", RoleReader, "hk-bank", 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.Verify(d, []byte("req"), rk.Sign.Sign(d, []byte("req"))); err != nil {
		t.Fatal(err)
	}
	if _, err := back.KeyAt("reader/hk-bank/1", RoleReader, "hk-bank", 4); !errors.Is(err, ErrKeyNotValid) {
		t.Fatalf("before its height: %v", err)
	}
	if _, err := back.KeyAt("reader/hk-bank/1", RoleCity, "hk-bank", 5); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("as a city key: %v", err)
	}
	id, ok := back.CurrentHPKEKey("hk-bank")
	if !ok || id != "reader/hk-bank/hpke/1" {
		t.Fatalf("current HPKE key %q %v", id, ok)
	}
	hk, err := back.HPKEKeyAt(id, "hk-bank", 5)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := hk.Seal(d, []byte("aad"), []byte("field values"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rk.HPKE.Open(d, []byte("aad"), sealed); err != nil || string(pt) != "field values" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := back.HPKEKeyAt(id, "hk-bank", 4); !errors.Is(err, ErrKeyNotValid) {
		t.Fatalf("HPKE key before its height: %v", err)
	}
	if _, err := back.HPKEKeyAt(id, "mo-gov", 5); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("HPKE key of another reader: %v", err)
	}
	if _, err := b.WithReader(rk, 0); err == nil {
		t.Fatal("the same reader added twice")
	}
}

func TestHPKESealNegative(t *testing.T) {
	k, err := GenerateHPKE("reader/x/hpke/1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateHPKE("reader/y/hpke/1", rand.Reader)
	d := Domain{Chain: "gba", Purpose: PurposeSealed}
	sealed, err := k.Public().Seal(d, []byte("aad"), []byte("secret"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	encTampered := bytes.Clone(sealed)
	encTampered[3] ^= 1
	for name, tc := range map[string]struct {
		key    *HPKEPrivateKey
		d      Domain
		aad    []byte
		sealed []byte
	}{
		"another key":       {other, d, []byte("aad"), sealed},
		"another chain":     {k, Domain{Chain: "gba-test", Purpose: PurposeSealed}, []byte("aad"), sealed},
		"another purpose":   {k, Domain{Chain: "gba", Purpose: PurposeBatch}, []byte("aad"), sealed},
		"another aad":       {k, d, []byte("aae"), sealed},
		"ciphertext flip":   {k, d, []byte("aad"), tampered},
		"encapsulation bit": {k, d, []byte("aad"), encTampered},
		"truncated":         {k, d, []byte("aad"), sealed[:100]},
	} {
		if _, err := tc.key.Open(tc.d, tc.aad, tc.sealed); !errors.Is(err, ErrSealed) {
			t.Errorf("%s: %v, want ErrSealed", name, err)
		}
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "r.hpke")
	if err := k.WriteFile(p, string(RoleReader), "x"); err != nil {
		t.Fatal(err)
	}
	back, err := ReadHPKEFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := back.Open(d, []byte("aad"), sealed); err != nil || string(pt) != "secret" {
		t.Fatalf("reloaded key: %q %v", pt, err)
	}
	if _, err := ReadFile(p); err == nil {
		t.Fatal("an HPKE key file read as a signing key")
	}
}

// TestBadReaderBundles: every malformed reader entry is refused with a
// clear error, never a panic.
func TestBadReaderBundles(t *testing.T) {
	good, _ := bundleWithReader(t)
	raw, _ := good.Marshal()
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	reader := func(m map[string]any) map[string]any { return m["readers"].([]any)[0].(map[string]any) }
	hpkeKey := func(m map[string]any) map[string]any { return m["hpkeKeys"].([]any)[0].(map[string]any) }
	for name, tc := range map[string]struct {
		raw  []byte
		want string
	}{
		"bad name":           {edit(func(m map[string]any) { reader(m)["name"] = "HK Bank" }), "reader name"},
		"underscore in name": {edit(func(m map[string]any) { reader(m)["name"] = "hk_bank" }), "reader name"},
		"bad NKey":           {edit(func(m map[string]any) { reader(m)["nats"] = "SUAB" }), "public user NKey"},
		"no grants":          {edit(func(m map[string]any) { reader(m)["grants"] = []any{} }), "has none"},
		"bad grant":          {edit(func(m map[string]any) { reader(m)["grants"] = []any{"TW.business"} }), "bad grant"},
		"wildcard tail":      {edit(func(m map[string]any) { reader(m)["grants"] = []any{"CN.>"} }), "bad grant"},
		"grant twice":        {edit(func(m map[string]any) { reader(m)["grants"] = []any{"CN.*", "CN.*"} }), "twice"},
		"personal tail":      {edit(func(m map[string]any) { reader(m)["grants"] = []any{"CN.business.private"} }), "bad grant"},
		"reader twice": {edit(func(m map[string]any) {
			m["readers"] = append(m["readers"].([]any), m["readers"].([]any)[0])
		}), "twice"},
		"no HPKE key":          {edit(func(m map[string]any) { delete(m, "hpkeKeys") }), "no current HPKE key"},
		"HPKE of unknown":      {edit(func(m map[string]any) { hpkeKey(m)["member"] = "mo-gov" }), "unknown reader"},
		"HPKE scheme":          {edit(func(m map[string]any) { hpkeKey(m)["scheme"] = "Ed25519" }), "unknown signature scheme"},
		"HPKE key short":       {edit(func(m map[string]any) { hpkeKey(m)["public"] = "AAAA" }), "malformed key"},
		"HPKE key not base64":  {edit(func(m map[string]any) { hpkeKey(m)["public"] = "!" }), "malformed key"},
		"HPKE id of a sig key": {edit(func(m map[string]any) { hpkeKey(m)["id"] = "city/shenzhen/1" }), "duplicate key id"},
		"signing key of unknown": {edit(func(m map[string]any) {
			keys := m["keys"].([]any)
			keys[len(keys)-1].(map[string]any)["member"] = "mo-gov"
		}), "unknown reader"},
		"unknown field": {edit(func(m map[string]any) { reader(m)["read"] = "all" }), "unknown field"},
	} {
		_, err := ParseBundle(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}

// FuzzParseBundle: any input is a bundle or an error, never a panic; an
// accepted bundle marshals to a bundle that parses the same.
func FuzzParseBundle(f *testing.F) {
	b, _ := bundleWithReader(f)
	raw, _ := b.Marshal()
	f.Add(raw)
	f.Add([]byte(`{"version":1,"chain":"gba","orderers":["a","b","c","d"],"keys":[],"readers":[{"name":"x","nats":"U","grants":["CN.*"]}]}`))
	f.Add([]byte(`{"version":1,"chain":"gba","orderers":["a","b","c","d"],"keys":[],"hpkeKeys":[{"id":"h","role":"reader","member":"x","scheme":"X-Wing","public":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := ParseBundle(raw)
		if err != nil {
			return
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseBundle(out)
		if err != nil {
			t.Fatalf("re-marshalled bundle refused: %v", err)
		}
		if len(again.Readers) != len(b.Readers) || len(again.Keys) != len(b.Keys) || len(again.HPKEKeys) != len(b.HPKEKeys) {
			t.Fatal("re-marshalled bundle differs")
		}
	})
}
