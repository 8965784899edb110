package config_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

var (
	cities   = []string{"guangzhou", "shenzhen", "zhuhai", "hongkong"}
	orderers = []string{"hk", "macao", "qianhai", "hengqin", "nansha"}
)

// fixture is a consortium of four cities and five orderers (quorum 4),
// with every private key at hand.
type fixture struct {
	t    testing.TB
	rnd  *rand.ChaCha8
	c    *keys.Consortium
	priv map[string]*keys.PrivateKey // by key id
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	rnd := rand.NewChaCha8([32]byte{17})
	c, err := keys.NewConsortiumRules("gba-test", cities, orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, 3, rnd)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, rnd: rnd, c: c, priv: map[string]*keys.PrivateKey{}}
	for _, k := range c.Cities {
		f.priv[k.KeyID()] = k
	}
	for _, k := range c.Orderers {
		f.priv[k.KeyID()] = k
	}
	return f
}

// newKey makes a key for role/member with the next id of d.
func (f *fixture) newKey(d *config.Draft, role keys.Role, member string) keys.TrustedKey {
	f.t.Helper()
	k, err := keys.Generate(d.NextKeyID(role, member), keys.Ed25519, f.rnd)
	if err != nil {
		f.t.Fatal(err)
	}
	f.priv[k.KeyID()] = k
	return config.TrustedKeyOf(k.Public(), role, member, 0)
}

// sign adds the signature of key id, as its owner.
func (f *fixture) sign(tx *config.Tx, trust *keys.Bundle, ids ...string) {
	f.t.Helper()
	for _, id := range ids {
		_, tk, ok := trust.KeyByID(id)
		if !ok {
			_, tk, ok = tx.Next.KeyByID(id)
		}
		if !ok {
			f.t.Fatalf("no key %s", id)
		}
		config.Sign(tx, f.priv[id], tk.Role, tk.Member)
	}
}

func ordererKeys(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "orderer/" + n + "/1"
	}
	return out
}

func proposal(t *testing.T, d *config.Draft) *config.Tx {
	t.Helper()
	tx, err := d.Proposal("test")
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestScheduledRotation(t *testing.T) {
	f := newFixture(t)
	genesis := f.c.Bundle
	d := config.NewDraft(genesis)
	nk := f.newKey(d, keys.RoleCity, "shenzhen")
	if err := d.RotateKey(nk, 20); err != nil {
		t.Fatal(err)
	}
	tx := proposal(t, d)
	f.sign(tx, genesis, ordererKeys("hk", "macao", "qianhai", "nansha")...)
	f.sign(tx, genesis, "city/shenzhen/1", "city/shenzhen/2")

	h := config.NewHistory(genesis)
	next, err := h.Apply(10, tx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id     string
		height uint64
		ok     bool
	}{
		{"city/shenzhen/1", 19, true},
		{"city/shenzhen/1", 20, false},
		{"city/shenzhen/2", 19, false},
		{"city/shenzhen/2", 20, true},
	} {
		_, err := next.KeyAt(c.id, keys.RoleCity, "shenzhen", c.height)
		if got := err == nil; got != c.ok {
			t.Errorf("KeyAt(%s, %d): %v, want valid %v", c.id, c.height, err, c.ok)
		}
	}
	if h.At(10) != genesis || h.At(11) != next || h.At(1000) != next || h.Current() != next {
		t.Error("History.At does not switch at the height after the configuration block")
	}
	// The new key is what the member uses from now on.
	if id, _ := next.CurrentKey(keys.RoleCity, "shenzhen"); id != "city/shenzhen/2" {
		t.Errorf("current key %s", id)
	}
	// Heights must rise.
	if _, err := h.Apply(10, tx); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("a second configuration at the same height: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	d := config.NewDraft(f.c.Bundle)
	if err := d.RemoveOrderer("nansha"); err != nil {
		t.Fatal(err)
	}
	tx := proposal(t, d)
	f.sign(tx, f.c.Bundle, ordererKeys("hk", "macao", "qianhai", "hengqin")...)
	raw := config.Encode(tx)
	got, err := config.DecodeCanonical(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(config.Encode(got), raw) || config.ID(got) != config.ID(tx) {
		t.Error("decode does not round-trip")
	}
	if _, err := config.DecodeCanonical(config.MarshalIndent(tx)); !errors.Is(err, config.ErrFormat) {
		t.Errorf("an indented transaction as canonical bytes: %v", err)
	}
	if p, err := config.Parse(config.MarshalIndent(tx)); err != nil || config.ID(p) != config.ID(tx) {
		t.Errorf("a proposal file: %v", err)
	}
	if _, err := config.Check(f.c.Bundle, got, 5); err != nil {
		t.Errorf("decoded transaction: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	f := newFixture(t)
	tx := proposal(t, config.NewDraft(f.c.Bundle))
	f.sign(tx, f.c.Bundle, "orderer/hk/1")
	good := string(config.Encode(tx))
	for name, raw := range map[string]string{
		"empty":          ``,
		"not json":       `{`,
		"unknown member": `{"v":1,"x":2}`,
		"version":        `{"v":2}`,
		"base":           `{"v":1,"chain":"gba-test","base":"zz","next":null,"signatures":[]}`,
		"no next":        `{"v":1,"chain":"gba-test","base":"` + good[len(`{"v":1,"chain":"gba-test","base":"`):len(`{"v":1,"chain":"gba-test","base":"`)+64] + `","signatures":[]}`,
		"trailing":       good + `{}`,
		"signed twice":   good[:len(good)-2] + `,` + good[bytes.LastIndex([]byte(good), []byte(`{"role"`)):],
		"bad role":       replace(good, `"role":"orderer","member":"hk","keyId"`, `"role":"root","member":"hk","keyId"`),
		"other chain":    replace(good, `"chain":"gba-test","base"`, `"chain":"gba-other","base"`),
		"no sig":         replace(good, `"sig":"`, `"sig":"","x":"`),
	} {
		if _, err := config.Parse([]byte(raw)); !errors.Is(err, config.ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

func replace(s, old, new string) string {
	i := bytes.Index([]byte(s), []byte(old))
	if i < 0 {
		panic("replace: " + old)
	}
	return s[:i] + new + s[i+len(old):]
}
