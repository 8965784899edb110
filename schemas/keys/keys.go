// Package keys holds baybus's signing keys and the consortium trust bundle.
//
// Every key names its circl sign.Scheme (Ed25519 by default, ML-DSA-65 and
// Ed25519-Dilithium2 as post-quantum options, SM2 with SM3 for the national
// standard GB/T 32918, in package keys/sm2); members of one consortium may
// use different schemes (a city signing with SM2 while the orderers use
// Ed25519): a signature is checked with the scheme its key names in the
// trust bundle. Every signature is
// domain-separated: the signed bytes are Domain.Prefix() followed by the
// message, so a batch signature can never be replayed as a block vote, nor a
// signature of one chain on another.
package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/schemes"

	"github.com/baybus/baybus/schemas/keys/sm2"
)

// Scheme names accepted by this package.
const (
	Ed25519           = "Ed25519"
	MLDSA65           = "ML-DSA-65"
	Ed25519Dilithium2 = "Ed25519-Dilithium2"
	SM2               = sm2.Name // GB/T 32918 SM2 over SM3
)

// SupportedSchemes lists the scheme names baybus accepts.
var SupportedSchemes = []string{Ed25519, MLDSA65, Ed25519Dilithium2, SM2}

// Errors.
var (
	ErrUnknownScheme = errors.New("keys: unknown signature scheme")
	ErrBadKey        = errors.New("keys: malformed key")
	ErrBadSignature  = errors.New("keys: signature does not verify")
	ErrUnknownKey    = errors.New("keys: key not in trust bundle")
	ErrKeyNotValid   = errors.New("keys: key not valid at this height")
)

// SchemeByName returns one of the supported circl schemes.
func SchemeByName(name string) (sign.Scheme, error) {
	if strings.EqualFold(name, SM2) {
		return sm2.Scheme(), nil
	}
	for _, s := range SupportedSchemes {
		if strings.EqualFold(s, name) {
			if sch := schemes.ByName(s); sch != nil {
				return sch, nil
			}
		}
	}
	return nil, fmt.Errorf("%w %q (supported: %s)", ErrUnknownScheme, name, strings.Join(SupportedSchemes, ", "))
}

// Purpose says what a signature is for.
type Purpose string

// The purposes baybus signs for.
const (
	PurposeBatch     Purpose = "batch"   // a gateway's batch header
	PurposeBlock     Purpose = "block"   // an orderer's vote on a block header
	PurposeConsensus Purpose = "bft-msg" // an orderer's consensus envelope
	PurposeSync      Purpose = "sync"    // a sync reply
	PurposeSealed    Purpose = "sealed"  // a sealed payload to one reader
	// PurposeShareRequest: a reader's request to an owner's gateway
	// (schemas.ShareRequest), carried whole in its access record.
	PurposeShareRequest Purpose = "share-request"
	// PurposeConfig: a signature on a configuration proposal
	// (schemas/config): an orderer's or a member's vote for the next
	// configuration, or a new key's proof of possession.
	PurposeConfig Purpose = "config"
)

// Domain separates signatures by chain and purpose.
type Domain struct {
	Chain   string
	Purpose Purpose
}

// Prefix returns "baybus/v1\x00<chain>\x00<purpose>\x00".
func (d Domain) Prefix() []byte {
	b := make([]byte, 0, 16+len(d.Chain)+len(d.Purpose))
	b = append(b, "baybus/v1\x00"...)
	b = append(b, d.Chain...)
	b = append(b, 0)
	b = append(b, d.Purpose...)
	return append(b, 0)
}

func (d Domain) message(msg []byte) []byte {
	p := d.Prefix()
	return append(p[:len(p):len(p)], msg...)
}

// Signer signs for one key.
type Signer interface {
	KeyID() string
	Scheme() string
	Sign(d Domain, msg []byte) []byte
}

// PrivateKey is a signing key with its id.
type PrivateKey struct {
	id     string
	scheme sign.Scheme
	priv   sign.PrivateKey
	pub    sign.PublicKey
}

var _ Signer = (*PrivateKey)(nil)

// Generate makes a new key of the named scheme from rand's bytes.
func Generate(id, scheme string, rand io.Reader) (*PrivateKey, error) {
	sch, err := SchemeByName(scheme)
	if err != nil {
		return nil, err
	}
	seed := make([]byte, sch.SeedSize())
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("keys: read randomness: %w", err)
	}
	pub, priv := sch.DeriveKey(seed)
	return &PrivateKey{id: id, scheme: sch, priv: priv, pub: pub}, nil
}

// KeyID returns the key's id.
func (k *PrivateKey) KeyID() string { return k.id }

// Scheme returns the key's scheme name.
func (k *PrivateKey) Scheme() string { return k.scheme.Name() }

// Public returns the public half.
func (k *PrivateKey) Public() *PublicKey {
	return &PublicKey{ID: k.id, scheme: k.scheme, pub: k.pub}
}

// Sign signs d.Prefix() || msg.
func (k *PrivateKey) Sign(d Domain, msg []byte) []byte {
	return k.scheme.Sign(k.priv, d.message(msg), nil)
}

// PublicKey is a verification key with its id.
type PublicKey struct {
	ID     string
	scheme sign.Scheme
	pub    sign.PublicKey
}

// ParsePublicKey decodes a public key of the named scheme.
func ParsePublicKey(id, scheme string, raw []byte) (*PublicKey, error) {
	sch, err := SchemeByName(scheme)
	if err != nil {
		return nil, err
	}
	pub, err := sch.UnmarshalBinaryPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, id, err)
	}
	return &PublicKey{ID: id, scheme: sch, pub: pub}, nil
}

// Scheme returns the key's scheme name.
func (p *PublicKey) Scheme() string { return p.scheme.Name() }

// Bytes returns the key's binary encoding.
func (p *PublicKey) Bytes() []byte {
	b, _ := p.pub.MarshalBinary()
	return b
}

// Verify checks sig over d.Prefix() || msg. It returns ErrBadSignature
// (wrapped with the key id) when the signature does not verify.
func (p *PublicKey) Verify(d Domain, msg, sig []byte) error {
	if len(sig) != p.scheme.SignatureSize() || !p.scheme.Verify(p.pub, d.message(msg), sig, nil) {
		return fmt.Errorf("%w (key %s, %s)", ErrBadSignature, p.ID, d.Purpose)
	}
	return nil
}

// keyFile is the JSON form of a private key file (mode 0600).
type keyFile struct {
	ID      string `json:"id"`
	Role    string `json:"role"`
	Member  string `json:"member"`
	Scheme  string `json:"scheme"`
	Public  string `json:"public"`
	Private string `json:"private"`
}

// WriteFile writes the key as JSON with mode 0600, via a temporary file and
// a rename so that a crash never leaves half a key.
func (k *PrivateKey) WriteFile(path, role, member string) error {
	priv, err := k.priv.MarshalBinary()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(keyFile{ID: k.id, Role: role, Member: member, Scheme: k.Scheme(),
		Public: base64.StdEncoding.EncodeToString(k.Public().Bytes()), Private: base64.StdEncoding.EncodeToString(priv)}, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// ReadFile loads a private key file written by WriteFile.
func ReadFile(path string) (*PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	sch, err := SchemeByName(kf.Scheme)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(kf.Private)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: private: %v", ErrBadKey, path, err)
	}
	priv, err := sch.UnmarshalBinaryPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	pub, ok := priv.Public().(sign.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: no public key", ErrBadKey, path)
	}
	return &PrivateKey{id: kf.ID, scheme: sch, priv: priv, pub: pub}, nil
}

// WriteFileAtomic writes data to a temporary file beside path, fsyncs it,
// renames it over path and fsyncs the directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making the renames and creations inside it
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sortedIDs is a helper for deterministic output.
func sortedIDs[M ~map[string]V, V any](m M) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func encodePublic(k *PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Public().Bytes())
}
