// Package sm2 is the GB/T 32918 SM2 signature scheme (SM3 digests, the
// recommended 256-bit curve) as a circl sign.Scheme, so schemas/keys
// handles SM2 keys beside Ed25519, ML-DSA-65 and Ed25519-Dilithium2.
// The arithmetic is github.com/emmansun/gmsm's.
//
// A signature is GB/T 32918.2's: e = SM3(Z_A || M), Z_A computed with the
// standard's default user identity "1234567812345678", so any compliant
// verifier checks it given the same M (in baybus, the domain-separated
// bytes schemas/keys signs). On the wire it is r || s, 32 bytes each, big
// endian (not ASN.1 DER, whose length varies); EncodeDER and DecodeDER
// convert for tools that want DER.
//
// Keys: public keys are the uncompressed point (0x04 || x || y, 65 bytes),
// private keys the scalar d (32 bytes), d in [1, n-2]. DeriveKey maps a
// 32-byte seed to d by SM3 with rejection sampling, so a seed always gives
// the same key.
//
// Signing draws its nonce from crypto/rand: signatures are randomized, and
// golden vectors are verification vectors.
package sm2

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/cloudflare/circl/sign"
	gmsm2 "github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Name is the scheme's name in key files and trust bundles.
const Name = "SM2"

// Sizes.
const (
	PublicKeySize  = 65
	PrivateKeySize = 32
	SignatureSize  = 64
	SeedSize       = 32
)

// Errors.
var (
	ErrPublicKey  = errors.New("sm2: malformed public key")
	ErrPrivateKey = errors.New("sm2: malformed private key")
	ErrSignature  = errors.New("sm2: malformed signature")
)

type scheme struct{}

// Scheme returns the SM2 scheme.
func Scheme() sign.Scheme { return scheme{} }

var _ sign.Scheme = scheme{}

// PublicKey is an SM2 public key.
type PublicKey struct{ k *ecdsa.PublicKey }

// PrivateKey is an SM2 private key.
type PrivateKey struct {
	k   *gmsm2.PrivateKey
	pub *PublicKey
}

var (
	_ sign.PublicKey  = (*PublicKey)(nil)
	_ sign.PrivateKey = (*PrivateKey)(nil)
)

func (scheme) Name() string          { return Name }
func (scheme) PublicKeySize() int    { return PublicKeySize }
func (scheme) PrivateKeySize() int   { return PrivateKeySize }
func (scheme) SignatureSize() int    { return SignatureSize }
func (scheme) SeedSize() int         { return SeedSize }
func (scheme) SupportsContext() bool { return false }

func (scheme) GenerateKey() (sign.PublicKey, sign.PrivateKey, error) {
	k, err := gmsm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("sm2: generate key: %w", err)
	}
	p := wrap(k)
	return p.pub, p, nil
}

func wrap(k *gmsm2.PrivateKey) *PrivateKey {
	return &PrivateKey{k: k, pub: &PublicKey{k: &k.PublicKey}}
}

// seedLabel separates key derivation from every other use of SM3.
const seedLabel = "baybus/v1\x00SM2 key from seed\x00"

// DeriveKey maps seed to d = SM3(label || seed || counter), the first
// counter (from 0) whose digest is in [1, n-2]. It panics if seed is not
// SeedSize bytes, as circl's schemes do.
func (scheme) DeriveKey(seed []byte) (sign.PublicKey, sign.PrivateKey) {
	if len(seed) != SeedSize {
		panic(sign.ErrSeedSize)
	}
	for ctr := uint32(0); ; ctr++ {
		h := sm3.New()
		h.Write([]byte(seedLabel))
		h.Write(seed)
		h.Write(binary.BigEndian.AppendUint32(nil, ctr))
		if k, err := gmsm2.NewPrivateKey(h.Sum(nil)); err == nil {
			p := wrap(k)
			return p.pub, p
		}
	}
}

func (scheme) UnmarshalBinaryPublicKey(b []byte) (sign.PublicKey, error) {
	if len(b) != PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrPublicKey, len(b), PublicKeySize)
	}
	k, err := gmsm2.NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	return &PublicKey{k: k}, nil
}

func (scheme) UnmarshalBinaryPrivateKey(b []byte) (sign.PrivateKey, error) {
	if len(b) != PrivateKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrPrivateKey, len(b), PrivateKeySize)
	}
	k, err := gmsm2.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPrivateKey, err)
	}
	return wrap(k), nil
}

// Sign signs message (Z_A with the default identity, SM3) and returns
// r || s. It returns nil for a key of another scheme or context options,
// which the scheme does not support.
func (scheme) Sign(sk sign.PrivateKey, message []byte, opts *sign.SignatureOpts) []byte {
	k, ok := sk.(*PrivateKey)
	if !ok || (opts != nil && opts.Context != "") {
		return nil
	}
	der, err := gmsm2.SignASN1(rand.Reader, k.k, message, gmsm2.DefaultSM2SignerOpts)
	if err != nil {
		return nil
	}
	sig, err := DecodeDER(der)
	if err != nil {
		return nil
	}
	return sig
}

// Verify checks an r || s signature of message.
func (scheme) Verify(pk sign.PublicKey, message, signature []byte, opts *sign.SignatureOpts) bool {
	p, ok := pk.(*PublicKey)
	if !ok || len(signature) != SignatureSize || (opts != nil && opts.Context != "") {
		return false
	}
	der, err := EncodeDER(signature)
	if err != nil {
		return false
	}
	return gmsm2.VerifyASN1WithSM2(p.k, nil, message, der)
}

// EncodeDER converts an r || s signature to ASN.1 DER (SEQUENCE of two
// INTEGERs), as GB/T 35276 and X.509 carry it.
func EncodeDER(sig []byte) ([]byte, error) {
	if len(sig) != SignatureSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrSignature, len(sig), SignatureSize)
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(sig[:32]))
		b.AddASN1BigInt(new(big.Int).SetBytes(sig[32:]))
	})
	return b.Bytes()
}

// DecodeDER converts an ASN.1 DER signature to r || s; r and s must fit
// 32 bytes and be positive.
func DecodeDER(der []byte) ([]byte, error) {
	var (
		inner cryptobyte.String
		r, s  = new(big.Int), new(big.Int)
	)
	in := cryptobyte.String(der)
	if !in.ReadASN1(&inner, asn1.SEQUENCE) || !in.Empty() || !inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() {
		return nil, fmt.Errorf("%w: not a DER SEQUENCE of two INTEGERs", ErrSignature)
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 256 || s.BitLen() > 256 {
		return nil, fmt.Errorf("%w: r or s out of range", ErrSignature)
	}
	out := make([]byte, SignatureSize)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// Scheme returns SM2.
func (*PublicKey) Scheme() sign.Scheme { return scheme{} }

// Equal reports whether x is the same SM2 public key.
func (p *PublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(*PublicKey)
	return ok && p.k.Equal(o.k)
}

// MarshalBinary returns the uncompressed point.
func (p *PublicKey) MarshalBinary() ([]byte, error) {
	out := make([]byte, PublicKeySize)
	out[0] = 4
	p.k.X.FillBytes(out[1:33])
	p.k.Y.FillBytes(out[33:])
	return out, nil
}

// ECDSA returns the key as gmsm and crypto/x509 tools take it.
func (p *PublicKey) ECDSA() *ecdsa.PublicKey { return p.k }

// Scheme returns SM2.
func (*PrivateKey) Scheme() sign.Scheme { return scheme{} }

// Equal reports whether x is the same SM2 private key.
func (k *PrivateKey) Equal(x crypto.PrivateKey) bool {
	o, ok := x.(*PrivateKey)
	return ok && k.k.Equal(o.k)
}

// Public returns the public half (a *PublicKey).
func (k *PrivateKey) Public() crypto.PublicKey { return k.pub }

// Sign implements crypto.Signer: SM2 over SM3(Z_A || digest), digest
// taken as the message (GB/T 32918 hashes it itself); the result is r || s.
func (k *PrivateKey) Sign(rand io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	der, err := gmsm2.SignASN1(rand, k.k, digest, gmsm2.DefaultSM2SignerOpts)
	if err != nil {
		return nil, fmt.Errorf("sm2: sign: %w", err)
	}
	return DecodeDER(der)
}

// MarshalBinary returns d, 32 bytes big endian.
func (k *PrivateKey) MarshalBinary() ([]byte, error) {
	return k.k.D.FillBytes(make([]byte, PrivateKeySize)), nil
}
