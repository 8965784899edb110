package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"
)

// HPKE keys: what a payload for one reader is sealed to (DESIGN.md,
// "Cryptography"; issue 15 §3): RFC 9180 HPKE with the X-Wing KEM
// (X25519 + ML-KEM-768, post-quantum hybrid), HKDF-SHA256 and
// AES-256-GCM, all from circl. The HPKE info is the Domain prefix, so a
// payload sealed for one chain and purpose never opens as another.

// XWing is the scheme name of HPKE keys in the trust bundle.
const XWing = "X-Wing"

// hpkeSuite is the one suite baybus seals with.
var hpkeSuite = hpke.NewSuite(hpke.KEM_XWING, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES256GCM)

func xwingScheme() kem.Scheme { return hpke.KEM_XWING.Scheme() }

// Errors of sealing.
var (
	ErrSealed = errors.New("keys: sealed payload does not open")
)

// HPKEPrivateKey is a reader's HPKE (X-Wing) private key with its id.
type HPKEPrivateKey struct {
	id   string
	priv kem.PrivateKey
	pub  kem.PublicKey
}

// HPKEPublicKey is the public half, as the trust bundle holds it.
type HPKEPublicKey struct {
	ID  string
	pub kem.PublicKey
}

// GenerateHPKE makes a new X-Wing key from rand's bytes.
func GenerateHPKE(id string, rand io.Reader) (*HPKEPrivateKey, error) {
	sch := xwingScheme()
	seed := make([]byte, sch.SeedSize())
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("keys: read randomness: %w", err)
	}
	pub, priv := sch.DeriveKeyPair(seed)
	return &HPKEPrivateKey{id: id, priv: priv, pub: pub}, nil
}

// KeyID returns the key's id.
func (k *HPKEPrivateKey) KeyID() string { return k.id }

// Public returns the public half.
func (k *HPKEPrivateKey) Public() *HPKEPublicKey { return &HPKEPublicKey{ID: k.id, pub: k.pub} }

// ParseHPKEPublicKey decodes an X-Wing public key.
func ParseHPKEPublicKey(id, scheme string, raw []byte) (*HPKEPublicKey, error) {
	if scheme != XWing {
		return nil, fmt.Errorf("%w %q for an HPKE key (supported: %s)", ErrUnknownScheme, scheme, XWing)
	}
	pub, err := xwingScheme().UnmarshalBinaryPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKey, id, err)
	}
	return &HPKEPublicKey{ID: id, pub: pub}, nil
}

// Bytes returns the key's binary encoding.
func (p *HPKEPublicKey) Bytes() []byte {
	b, _ := p.pub.MarshalBinary()
	return b
}

// Seal encrypts plaintext to the key, bound to d and aad: the result is
// the KEM encapsulation followed by the AEAD ciphertext.
func (p *HPKEPublicKey) Seal(d Domain, aad, plaintext []byte, rand io.Reader) ([]byte, error) {
	sender, err := hpkeSuite.NewSender(p.pub, d.Prefix())
	if err != nil {
		return nil, fmt.Errorf("keys: hpke: %w", err)
	}
	enc, sealer, err := sender.Setup(rand)
	if err != nil {
		return nil, fmt.Errorf("keys: hpke: %w", err)
	}
	ct, err := sealer.Seal(plaintext, aad)
	if err != nil {
		return nil, fmt.Errorf("keys: hpke: %w", err)
	}
	return append(enc, ct...), nil
}

// Open decrypts what Seal made for this key with the same d and aad. Any
// other key, domain, aad or a changed byte gives ErrSealed.
func (k *HPKEPrivateKey) Open(d Domain, aad, sealed []byte) ([]byte, error) {
	n := xwingScheme().CiphertextSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the encapsulation", ErrSealed, len(sealed))
	}
	receiver, err := hpkeSuite.NewReceiver(k.priv, d.Prefix())
	if err != nil {
		return nil, fmt.Errorf("keys: hpke: %w", err)
	}
	opener, err := receiver.Setup(sealed[:n])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSealed, err)
	}
	pt, err := opener.Open(sealed[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w (key %s)", ErrSealed, k.id)
	}
	return pt, nil
}

// WriteFile writes the key as JSON with mode 0600 (the keyFile form, its
// scheme X-Wing).
func (k *HPKEPrivateKey) WriteFile(path, role, member string) error {
	priv, err := k.priv.MarshalBinary()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(keyFile{ID: k.id, Role: role, Member: member, Scheme: XWing,
		Public: base64.StdEncoding.EncodeToString(k.Public().Bytes()), Private: base64.StdEncoding.EncodeToString(priv)}, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// ReadHPKEFile loads an HPKE private key file written by WriteFile.
func ReadHPKEFile(path string) (*HPKEPrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKey, path, err)
	}
	if kf.Scheme != XWing {
		return nil, fmt.Errorf("%w %q in %s (want %s)", ErrUnknownScheme, kf.Scheme, path, XWing)
	}
	raw, err := base64.StdEncoding.DecodeString(kf.Private)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: private: %w", ErrBadKey, path, err)
	}
	priv, err := xwingScheme().UnmarshalBinaryPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKey, path, err)
	}
	return &HPKEPrivateKey{id: kf.ID, priv: priv, pub: priv.Public()}, nil
}
