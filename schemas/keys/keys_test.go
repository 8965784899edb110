package keys

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSignVerifyEveryScheme(t *testing.T) {
	d := Domain{Chain: "gba", Purpose: PurposeBatch}
	msg := []byte("batch header")
	for _, scheme := range SupportedSchemes {
		t.Run(scheme, func(t *testing.T) {
			k, err := Generate("city/shenzhen/1", scheme, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			other, _ := Generate("city/macao/1", scheme, rand.Reader)
			sig := k.Sign(d, msg)
			if err := k.Public().Verify(d, msg, sig); err != nil {
				t.Fatalf("valid signature refused: %v", err)
			}
			tampered := bytes.Clone(msg)
			tampered[0] ^= 1
			badSig := bytes.Clone(sig)
			badSig[len(badSig)/2] ^= 1
			for name, tc := range map[string]struct {
				pk  *PublicKey
				d   Domain
				msg []byte
				sig []byte
			}{
				"tampered payload": {k.Public(), d, tampered, sig},
				"tampered sig":     {k.Public(), d, msg, badSig},
				"wrong key":        {other.Public(), d, msg, sig},
				"wrong purpose":    {k.Public(), Domain{Chain: "gba", Purpose: PurposeBlock}, msg, sig},
				"wrong chain":      {k.Public(), Domain{Chain: "gba-test", Purpose: PurposeBatch}, msg, sig},
				"short sig":        {k.Public(), d, msg, sig[:10]},
			} {
				if err := tc.pk.Verify(tc.d, tc.msg, tc.sig); !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s: err %v, want ErrBadSignature", name, err)
				}
			}
		})
	}
	if _, err := Generate("x", "RSA", rand.Reader); !errors.Is(err, ErrUnknownScheme) {
		t.Fatalf("unknown scheme: %v", err)
	}
}

func TestChainIDIsValidated(t *testing.T) {
	// The domain prefix separates chain and purpose with NUL; a chain id
	// holding one could shift the split, so bundles refuse it.
	c, err := NewConsortium("gba", []string{"zhuhai"}, []string{"a", "b", "c", "d"}, Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, chain := range []string{"gba\x00batch", "GBA", "", "a very long chain id that goes past thirty-two characters"} {
		c.Bundle.Chain = chain
		raw, _ := c.Bundle.Marshal()
		if _, err := ParseBundle(raw); err == nil {
			t.Errorf("chain id %q accepted", chain)
		}
	}
}

func TestConsortiumFilesAndBundle(t *testing.T) {
	dir := t.TempDir()
	c, err := NewConsortium("gba", []string{"shenzhen", "macao"}, []string{"hongkong", "macao", "qianhai", "hengqin"}, MLDSA65, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{CityKeyPath(dir, "shenzhen"), OrdererKeyPath(dir, "hengqin")} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v err %v, want 0600", p, fi.Mode().Perm(), err)
		}
	}
	back, err := LoadConsortium(dir, []string{"shenzhen", "macao"})
	if err != nil {
		t.Fatal(err)
	}
	d := Domain{Chain: "gba", Purpose: PurposeBatch}
	sig := back.Cities["shenzhen"].Sign(d, []byte("m"))
	pk, err := back.Bundle.KeyAt("city/shenzhen/1", RoleCity, "shenzhen", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.Verify(d, []byte("m"), sig); err != nil {
		t.Fatal(err)
	}
	if _, err := back.Bundle.KeyAt("city/shenzhen/1", RoleCity, "macao", 10); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("key of another member: %v", err)
	}
	if _, err := back.Bundle.KeyAt("city/taipei/1", RoleCity, "taipei", 10); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if n, f, q := back.Bundle.N(), back.Bundle.F(), back.Bundle.Quorum(); n != 4 || f != 1 || q != 3 {
		t.Fatalf("n f q = %d %d %d, want 4 1 3", n, f, q)
	}
}

func TestKeyRotationHeights(t *testing.T) {
	c, err := NewConsortium("gba", []string{"zhuhai"}, []string{"a", "b", "c", "d"}, Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	until := uint64(99)
	c.Bundle.Keys[0].ValidUntil = &until
	next, _ := Generate("city/zhuhai/2", Ed25519, rand.Reader)
	raw, _ := c.Bundle.Marshal()
	b, err := ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	b.Keys = append(b.Keys, TrustedKey{ID: "city/zhuhai/2", Role: RoleCity, Member: "zhuhai", Scheme: Ed25519, ValidFrom: 100,
		Public: encodePublic(next)})
	raw, _ = b.Marshal()
	if b, err = ParseBundle(raw); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id     string
		height uint64
		ok     bool
	}{{"city/zhuhai/1", 99, true}, {"city/zhuhai/1", 100, false}, {"city/zhuhai/2", 99, false}, {"city/zhuhai/2", 100, true}} {
		_, err := b.KeyAt(tc.id, RoleCity, "zhuhai", tc.height)
		if (err == nil) != tc.ok {
			t.Errorf("%s at %d: err %v, want ok=%v", tc.id, tc.height, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrKeyNotValid) {
			t.Errorf("%s at %d: err %v, want ErrKeyNotValid", tc.id, tc.height, err)
		}
	}
	if id, _ := b.CurrentKey(RoleCity, "zhuhai"); id != "city/zhuhai/2" {
		t.Fatalf("current key %s", id)
	}
}

func TestBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage.key": "not json",
		"scheme.key":  `{"id":"x","role":"city","member":"m","scheme":"RSA","public":"","private":""}`,
		"short.key":   `{"id":"x","role":"city","member":"m","scheme":"Ed25519","public":"","private":"AAAA"}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := ReadFile(p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := ParseBundle([]byte(`{"version":2}`)); err == nil {
		t.Error("bundle of another version accepted")
	}
}
