package consortium

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// ErrReaderExists is returned by AddReader for a name already in the
// trust bundle.
var ErrReaderExists = errors.New("consortium: reader already in the trust bundle")

// ReaderSpec describes a reader to add (issue 14 §4).
type ReaderSpec struct {
	Name string // lower-case letters, digits and '-', at most 32
	// Grants name the proofs it may read: "<JUR>.<kind>" with the kind's
	// short form (schemas.Kind.Short), or "<JUR>.*" for every kind.
	Grants []string
	// Scheme of its signing key; default Ed25519.
	Scheme string
	// ValidFrom is the first height its keys count at (default 0; a reader
	// added to a running chain gets the next height).
	ValidFrom uint64
	Rand      io.Reader // default crypto/rand
}

// CheckGrant parses a grant against the jurisdictions and kinds of
// schemas: "CN.business", "HK.*".
func CheckGrant(g string) error {
	jur, kind, err := keys.ParseGrant(g)
	if err != nil {
		return err
	}
	if _, err := schemas.ParseJurisdiction(jur); err != nil {
		return fmt.Errorf("%w: %w", keys.ErrGrant, err)
	}
	if kind == "*" {
		return nil
	}
	k, err := schemas.ParseKind(kind)
	if err != nil || k.Short() != kind {
		return fmt.Errorf("%w %q: kind %q (use business, certificate, approval or *)", keys.ErrGrant, g, kind)
	}
	return nil
}

// AddReader adds a named reader to the consortium in dir: a bus identity
// (nats/reader-<name>.nk) whose permissions allow only the proof subjects
// of its grants and its own durables, a signing key and an HPKE key
// (keys/reader-<name>.key, .hpke), all 0600 for the reader to take away,
// and its entry in trust.json, written last. Servers read the new
// permissions when they next start.
func AddReader(dir string, spec ReaderSpec) (*keys.ReaderKeys, error) {
	for _, g := range spec.Grants {
		if err := CheckGrant(g); err != nil {
			return nil, err
		}
	}
	if spec.Scheme == "" {
		spec.Scheme = keys.Ed25519
	}
	if spec.Rand == nil {
		spec.Rand = rand.Reader
	}
	trustPath := filepath.Join(dir, keys.TrustFile)
	b, err := keys.LoadBundle(trustPath)
	if err != nil {
		return nil, err
	}
	if _, ok := b.Reader(spec.Name); ok {
		return nil, fmt.Errorf("%w: %s", ErrReaderExists, spec.Name)
	}
	public, seed, err := bus.NewUserKey()
	if err != nil {
		return nil, err
	}
	rk, err := keys.NewReaderKeys(spec.Name, public, slices.Clone(spec.Grants), spec.Scheme, spec.Rand)
	if err != nil {
		return nil, err
	}
	nb, err := b.WithReader(rk, spec.ValidFrom)
	if err != nil {
		return nil, err
	}
	name := bus.IdentityName(bus.RoleReader, spec.Name)
	if err := bus.WriteSeed(dir, name, seed); err != nil {
		return nil, err
	}
	if err := rk.Sign.WriteFile(keys.ReaderKeyPath(dir, spec.Name), string(keys.RoleReader), spec.Name); err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	if err := rk.HPKE.WriteFile(keys.ReaderHPKEPath(dir, spec.Name), string(keys.RoleReader), spec.Name); err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	raw, err := nb.Marshal()
	if err != nil {
		return nil, err
	}
	if err := keys.WriteFileAtomic(trustPath, raw, 0o644); err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	return rk, nil
}

// addReaders gives ids the bundle's readers, with their seeds where dir
// holds them (in-process connections need them; a deployed server needs
// only the public keys).
func addReaders(dir string, b *keys.Bundle, ids *bus.Identities) error {
	for _, r := range b.Readers {
		seed, err := bus.ReadSeed(dir, bus.IdentityName(bus.RoleReader, r.Name))
		if err != nil {
			return err
		}
		if err := ids.AddReader(r.Name, r.NATS, seed, r.Grants); err != nil {
			return err
		}
	}
	return nil
}

// RotateReader gives a reader of the consortium in dir new keys (issue 15
// §6): a signing key (of scheme) and an HPKE key valid from height from,
// the keys in force ending at from-1. The old private key files stay
// beside the new ones as <file>.<n> (n the old key's number), for the
// reader to open what was sealed to it before; the new ones take the
// usual names. trust.json is written last. Every orderer must hold the
// new trust bundle before the chain reaches from.
func RotateReader(dir, name, scheme string, from uint64, rnd io.Reader) (*keys.ReaderKeys, error) {
	if scheme == "" {
		scheme = keys.Ed25519
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	trustPath := filepath.Join(dir, keys.TrustFile)
	b, err := keys.LoadBundle(trustPath)
	if err != nil {
		return nil, err
	}
	old, ok := b.CurrentKey(keys.RoleReader, name)
	if !ok {
		return nil, fmt.Errorf("consortium: no reader %q with a key in force", name)
	}
	nb, rk, err := b.RotateReader(name, scheme, from, rnd)
	if err != nil {
		return nil, err
	}
	n := old[strings.LastIndexByte(old, '/')+1:]
	for _, p := range []string{keys.ReaderKeyPath(dir, name), keys.ReaderHPKEPath(dir, name)} {
		if err := os.Rename(p, p+"."+n); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("consortium: %w", err)
		}
	}
	if err := rk.Sign.WriteFile(keys.ReaderKeyPath(dir, name), string(keys.RoleReader), name); err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	if err := rk.HPKE.WriteFile(keys.ReaderHPKEPath(dir, name), string(keys.RoleReader), name); err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	raw, err := nb.Marshal()
	if err != nil {
		return nil, err
	}
	if err := keys.WriteFileAtomic(trustPath, raw, 0o644); err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	return rk, nil
}
