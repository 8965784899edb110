package sm2_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"testing"

	"github.com/cloudflare/circl/sign"
	gmsm2 "github.com/emmansun/gmsm/sm2"

	"github.com/baybus/baybus/schemas/keys/sm2"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// Vector is one golden verification case: a public key, a message, a
// signature (r || s) and whether it must verify.
type Vector struct {
	Name      string `json:"name"`
	Seed      string `json:"seed,omitempty"` // the key's DeriveKey seed, when derived
	Public    string `json:"public"`
	Message   string `json:"message"`
	Signature string `json:"signature"`
	Valid     bool   `json:"valid"`
	// Chain and Purpose, when set, say Message is that domain's prefix
	// followed by Payload (schemas/keys checks these through its API).
	Chain   string `json:"chain,omitempty"`
	Purpose string `json:"purpose,omitempty"`
	Payload string `json:"payload,omitempty"`
}

const vectorsFile = "testdata/vectors.json"

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshal(t testing.TB, k interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// n is the order of the SM2 curve.
var n, _ = new(big.Int).SetString("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)

// external is a signature made outside this package (gmsm's own test
// data, DER): private key d and the message "encryption standard
// encryption ".
const (
	externalD   = "d6833540d019e0438a5dd73b414f26ab43d8064b99671206944e284dbd969093"
	externalMsg = "encryption standard encryption "
	externalDER = "3045022000cd0b56bf6be810032d28ff27d6f3468f1f1a09bcf8581f30a5de6692c85ea602210096ba29c086134af1be139dd572f2f2908f30e01fd0c28e06a687cbb0ff6e33ce"
)

// makeVectors builds the vector set: valid signatures by derived keys
// (randomized, so regenerated only with -update), the external one, and
// negative cases from each.
func makeVectors(t testing.TB) []Vector {
	sch := sm2.Scheme()
	seed := bytes.Repeat([]byte{0x42}, sm2.SeedSize)
	pk, sk := sch.DeriveKey(seed)
	otherPK, otherSK := sch.DeriveKey(bytes.Repeat([]byte{0x17}, sm2.SeedSize))
	msg := []byte("GB/T 32918 message")
	sig := sch.Sign(sk, msg, nil)
	pub := hex.EncodeToString(marshal(t, pk))
	v := func(name string, p string, m, s []byte, valid bool) Vector {
		return Vector{Name: name, Public: p, Message: hex.EncodeToString(m), Signature: hex.EncodeToString(s), Valid: valid}
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	with := func(r, s *big.Int) []byte {
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	der, err := sm2.EncodeDER(sig)
	if err != nil {
		t.Fatal(err)
	}
	out := []Vector{
		v("valid", pub, msg, sig, true),
		v("empty message", pub, nil, sch.Sign(sk, nil, nil), true),
		v("message changed", pub, flip(msg, 0), sig, false),
		v("r changed", pub, msg, flip(sig, 31), false),
		v("s changed", pub, msg, flip(sig, 63), false),
		v("r zero", pub, msg, with(big.NewInt(0), s), false),
		v("s zero", pub, msg, with(r, big.NewInt(0)), false),
		v("r is n", pub, msg, with(n, s), false),
		v("s is n", pub, msg, with(r, n), false),
		v("r plus n", pub, msg, with(new(big.Int).Add(r, n).Mod(new(big.Int).Add(r, n), new(big.Int).Lsh(big.NewInt(1), 256)), s), false),
		v("another key's signature", pub, msg, sch.Sign(otherSK, msg, nil), false),
		v("signed by this key, checked with another", hex.EncodeToString(marshal(t, otherPK)), msg, sig, false),
		v("DER instead of r||s", pub, msg, der, false),
		v("truncated", pub, msg, sig[:63], false),
	}
	out[0].Seed, out[1].Seed = hex.EncodeToString(seed), hex.EncodeToString(seed)

	// Through baybus's domain separation: what schemas/keys signs.
	prefix := []byte("baybus/v1\x00gba\x00batch\x00")
	payload := []byte("batch header")
	dm := append(bytes.Clone(prefix), payload...)
	d := v("domain gba/batch", pub, dm, sch.Sign(sk, dm, nil), true)
	d.Seed, d.Chain, d.Purpose, d.Payload = hex.EncodeToString(seed), "gba", "batch", hex.EncodeToString(payload)
	out = append(out, d)

	ext, err := gmsm2.NewPrivateKey(unhex(t, externalD))
	if err != nil {
		t.Fatal(err)
	}
	extSig, err := sm2.DecodeDER(unhex(t, externalDER))
	if err != nil {
		t.Fatal(err)
	}
	extPub := make([]byte, 65)
	extPub[0] = 4
	ext.PublicKey.X.FillBytes(extPub[1:33])
	ext.PublicKey.Y.FillBytes(extPub[33:])
	out = append(out,
		v("external (gmsm test data)", hex.EncodeToString(extPub), []byte(externalMsg), extSig, true),
		v("external, message changed", hex.EncodeToString(extPub), []byte(externalMsg[:len(externalMsg)-1]), extSig, false))
	return out
}

func loadVectors(t *testing.T) []Vector {
	t.Helper()
	if *update {
		b, err := json.MarshalIndent(makeVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []Vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestGoldenVectors: every stored vector verifies, or fails, as stored;
// keys derived from the stored seeds are the stored keys.
func TestGoldenVectors(t *testing.T) {
	sch := sm2.Scheme()
	vs := loadVectors(t)
	if len(vs) < 15 {
		t.Fatalf("%d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			pk, err := sch.UnmarshalBinaryPublicKey(unhex(t, v.Public))
			if err != nil {
				t.Fatal(err)
			}
			if got := sch.Verify(pk, unhex(t, v.Message), unhex(t, v.Signature), nil); got != v.Valid {
				t.Fatalf("verify = %v, want %v", got, v.Valid)
			}
			if v.Seed != "" {
				derived, _ := sch.DeriveKey(unhex(t, v.Seed))
				if !derived.Equal(pk) {
					t.Fatal("the seed derives another key")
				}
			}
			// Valid vectors are standard SM2: gmsm's own DER verifier agrees.
			if v.Valid {
				der, err := sm2.EncodeDER(unhex(t, v.Signature))
				if err != nil {
					t.Fatal(err)
				}
				if !gmsm2.VerifyASN1WithSM2(pk.(*sm2.PublicKey).ECDSA(), nil, unhex(t, v.Message), der) {
					t.Fatal("gmsm's VerifyASN1WithSM2 refuses it")
				}
			}
		})
	}
}

func TestSignVerifyAndKeys(t *testing.T) {
	sch := sm2.Scheme()
	pk, sk, err := sch.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello")
	sig := sch.Sign(sk, msg, nil)
	if len(sig) != sm2.SignatureSize || !sch.Verify(pk, msg, sig, nil) {
		t.Fatalf("signature %x does not verify", sig)
	}
	if again := sch.Sign(sk, msg, nil); bytes.Equal(again, sig) {
		t.Fatal("two signatures are equal: the nonce is not random")
	}
	if sch.Sign(sk, msg, &sign.SignatureOpts{Context: "x"}) != nil || sch.Verify(pk, msg, sig, &sign.SignatureOpts{Context: "x"}) {
		t.Fatal("contexts are not supported, yet accepted")
	}
	// crypto.Signer gives the same kind of signature.
	viaSigner, err := sk.Sign(rand.Reader, msg, nil)
	if err != nil || !sch.Verify(pk, msg, viaSigner, nil) {
		t.Fatalf("crypto.Signer: %v", err)
	}
	// Round trips.
	pb, sb := marshal(t, pk), marshal(t, sk)
	if len(pb) != sm2.PublicKeySize || len(sb) != sm2.PrivateKeySize {
		t.Fatalf("sizes %d %d", len(pb), len(sb))
	}
	pk2, err := sch.UnmarshalBinaryPublicKey(pb)
	if err != nil || !pk2.Equal(pk) {
		t.Fatalf("public key round trip: %v", err)
	}
	sk2, err := sch.UnmarshalBinaryPrivateKey(sb)
	if err != nil || !sk2.Equal(sk) || !sk2.Public().(sign.PublicKey).Equal(pk) {
		t.Fatalf("private key round trip: %v", err)
	}
	// Refused keys.
	offCurve := bytes.Clone(pb)
	offCurve[64] ^= 1
	compressed := append([]byte{2}, pb[1:33]...)
	for name, b := range map[string][]byte{"off the curve": offCurve, "compressed": compressed, "empty": nil, "infinity": make([]byte, 65)} {
		if _, err := sch.UnmarshalBinaryPublicKey(b); !errors.Is(err, sm2.ErrPublicKey) {
			t.Errorf("public key %s: %v", name, err)
		}
	}
	nMinus1 := new(big.Int).Sub(n, big.NewInt(1)).FillBytes(make([]byte, 32))
	for name, b := range map[string][]byte{"zero": make([]byte, 32), "n-1": nMinus1, "n": n.FillBytes(make([]byte, 32)), "short": []byte{1}} {
		if _, err := sch.UnmarshalBinaryPrivateKey(b); !errors.Is(err, sm2.ErrPrivateKey) {
			t.Errorf("private key %s: %v", name, err)
		}
	}
	if _, err := sm2.DecodeDER([]byte{0x30, 0}); !errors.Is(err, sm2.ErrSignature) {
		t.Errorf("empty DER: %v", err)
	}
}

// FuzzDecode: keys and signatures from trust bundles, key files and peers
// never panic, and an accepted public key re-encodes to itself.
func FuzzDecode(f *testing.F) {
	sch := sm2.Scheme()
	pk, sk := sch.DeriveKey(bytes.Repeat([]byte{1}, sm2.SeedSize))
	pb, _ := pk.MarshalBinary()
	sb, _ := sk.MarshalBinary()
	sig := sch.Sign(sk, []byte("m"), nil)
	der, _ := sm2.EncodeDER(sig)
	f.Add(pb, sig)
	f.Add(sb, der)
	f.Add([]byte{4}, []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, key, sigIn []byte) {
		if p, err := sch.UnmarshalBinaryPublicKey(key); err == nil {
			back, _ := p.MarshalBinary()
			if !bytes.Equal(back, key) {
				t.Fatalf("public key %x re-encodes as %x", key, back)
			}
			_ = sch.Verify(p, []byte("m"), sigIn, nil)
		}
		if k, err := sch.UnmarshalBinaryPrivateKey(key); err == nil {
			if s := sch.Sign(k, []byte("m"), nil); !sch.Verify(k.Public().(sign.PublicKey), []byte("m"), s, nil) {
				t.Fatal("a signature of an accepted private key does not verify")
			}
		}
		if rs, err := sm2.DecodeDER(sigIn); err == nil {
			if len(rs) != sm2.SignatureSize {
				t.Fatalf("decoded %d bytes", len(rs))
			}
			if _, err := sm2.EncodeDER(rs); err != nil {
				t.Fatal(err)
			}
		}
		_ = sch.Verify(pk, key, sigIn, nil)
	})
}
