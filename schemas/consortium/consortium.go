// Package consortium creates and loads a consortium directory: the signing
// keys of every city gateway and orderer, the trust bundle that verifiers
// hold, and the NATS identities of every member. `baybus keys init`, `baybus
// up` and the deployment scripts all create one through Create, so there is
// one layout:
//
//	trust.json               the trust bundle (public keys, roles, schemes)
//	keys/city-<city>.key     each city gateway's signing key (0600)
//	keys/orderer-<name>.key  each orderer's signing key (0600)
//	nats/<identity>.nk       each NATS identity's NKey seed (0600)
//	keys/reader-<name>.key   a reader's signing key, .hpke its HPKE key (0600;
//	                         AddReader, for the reader to take away)
//	tls/ca.crt, tls/ca.key   the consortium CA (ca.go), key 0600
//	tls/<name>.crt/.key      certificates it issued (EnsureCert)
//
// A directory is created whole or not at all: Create writes into a
// temporary sibling and renames it into place, so a failed first start
// leaves nothing half-made behind.
package consortium

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// Errors.
var (
	// ErrExists is returned by Create for a directory that already holds a
	// consortium.
	ErrExists = errors.New("consortium: directory already holds a consortium")
	// ErrMismatch is returned by Open when the directory holds another
	// consortium than the one asked for.
	ErrMismatch = errors.New("consortium: mismatch")
)

// Spec describes a consortium to create.
type Spec struct {
	Chain    string // chain id (required)
	Orderers int    // 4..11: the first n names of schemas.OrdererNames
	Scheme   string // signature scheme of every key; default Ed25519
	// CityScheme and OrdererScheme, when set, override Scheme for that
	// role's keys: a mixed consortium (cities on SM2, orderers on Ed25519).
	CityScheme, OrdererScheme string
	// Rules is the chain's rules version (ledger/block); default
	// keys.DefaultRules, the newest.
	Rules int
	Rand  io.Reader // default crypto/rand
	CA    CAConfig  // the consortium CA; zero: ECDSA P-256, 10 years
}

// Consortium is a consortium directory's contents.
type Consortium struct {
	Dir        string
	Keys       *keys.Consortium
	Identities *bus.Identities
	CA         *CA
}

// Bundle returns the trust bundle.
func (c *Consortium) Bundle() *keys.Bundle { return c.Keys.Bundle }

// Exists reports whether dir holds a consortium (its trust bundle).
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, keys.TrustFile))
	return err == nil
}

// Create makes a new consortium in dir, which must not hold one yet (it may
// exist and hold other things). Keys and identities are written to a
// temporary directory beside dir first and moved into dir only when all of
// them are written.
func Create(dir string, spec Spec) (*Consortium, error) {
	if Exists(dir) {
		return nil, fmt.Errorf("%w: %s", ErrExists, dir)
	}
	orderers, err := schemas.OrdererNames(spec.Orderers)
	if err != nil {
		return nil, err
	}
	if spec.Scheme == "" {
		spec.Scheme = keys.Ed25519
	}
	if spec.Rand == nil {
		spec.Rand = rand.Reader
	}
	if spec.Chain == "" {
		return nil, errors.New("consortium: chain id required")
	}
	cities := schemas.CityTokens()
	schemes := keys.Schemes{City: cmp.Or(spec.CityScheme, spec.Scheme), Orderer: cmp.Or(spec.OrdererScheme, spec.Scheme)}
	kc, err := keys.NewConsortiumRules(spec.Chain, cities, orderers, schemes, cmp.Or(spec.Rules, keys.DefaultRules), spec.Rand)
	if err != nil {
		return nil, err
	}
	ids, err := bus.NewIdentities(cities, orderers)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-")
	if err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := ids.Write(tmp); err != nil {
		return nil, err
	}
	if err := kc.Write(tmp); err != nil {
		return nil, err
	}
	ca, err := NewCA(spec.Chain, spec.CA)
	if err != nil {
		return nil, err
	}
	if err := ca.Write(tmp); err != nil {
		return nil, err
	}
	if err := moveInto(tmp, dir); err != nil {
		return nil, err
	}
	return &Consortium{Dir: dir, Keys: kc, Identities: ids, CA: ca}, nil
}

// moveInto moves the entries of src into dst (created if missing), the
// trust bundle last, so a crash part-way leaves a directory Exists calls
// empty, and the next Create replaces what was moved.
func moveInto(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("consortium: %w", err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("consortium: %w", err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int {
		switch {
		case a.Name() == keys.TrustFile:
			return 1
		case b.Name() == keys.TrustFile:
			return -1
		}
		return 0
	})
	for _, e := range entries {
		to := filepath.Join(dst, e.Name())
		if e.Name() != keys.TrustFile {
			if err := os.RemoveAll(to); err != nil {
				return fmt.Errorf("consortium: %w", err)
			}
		}
		if err := os.Rename(filepath.Join(src, e.Name()), to); err != nil {
			return fmt.Errorf("consortium: %w", err)
		}
	}
	return keys.SyncDir(dst)
}

// Open loads the consortium kept in dir. With want non-zero (Chain or
// Orderers set), a directory holding another chain or orderer set is an
// error wrapping ErrMismatch. A directory made before the consortium CA
// existed gets one (want.CA), written into dir/tls.
func Open(dir string, want Spec) (*Consortium, error) {
	cities := schemas.CityTokens()
	kc, err := keys.LoadConsortium(dir, cities)
	if err != nil {
		return nil, err
	}
	b := kc.Bundle
	if want.Orderers != 0 {
		orderers, err := schemas.OrdererNames(want.Orderers)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(b.Orderers, orderers) {
			return nil, fmt.Errorf("%w: %s holds chain %q with orderers %v; asked for %d orderers (use another --data directory)",
				ErrMismatch, dir, b.Chain, b.Orderers, want.Orderers)
		}
	}
	if want.Chain != "" && b.Chain != want.Chain {
		return nil, fmt.Errorf("%w: %s holds chain %q; asked for chain %q (use another --data directory)", ErrMismatch, dir, b.Chain, want.Chain)
	}
	ids, err := bus.LoadIdentities(dir, cities, b.Orderers)
	if err != nil {
		return nil, err
	}
	if err := addReaders(dir, b, ids); err != nil {
		return nil, err
	}
	ca, err := openCA(dir, b.Chain, want.CA)
	if err != nil {
		return nil, err
	}
	return &Consortium{Dir: dir, Keys: kc, Identities: ids, CA: ca}, nil
}

// openCA loads dir's CA, creating it in a directory that has none.
func openCA(dir, chain string, cfg CAConfig) (*CA, error) {
	certPath, _ := CAPaths(dir)
	if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
		ca, err := NewCA(chain, cfg)
		if err != nil {
			return nil, err
		}
		return ca, ca.Write(dir)
	}
	return LoadCA(dir, cfg.Now)
}

// OpenOrCreate opens the consortium in dir, creating it from spec on first
// use.
func OpenOrCreate(dir string, spec Spec) (*Consortium, error) {
	if Exists(dir) {
		return Open(dir, spec)
	}
	return Create(dir, spec)
}
