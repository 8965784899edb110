// Package bus is baybus's NATS layer: the bus identities (NKeys: cities,
// orderers, named readers, 'service', the operator) and their
// least-privilege permissions (permissions.go), the subjects and streams,
// and a JetStream publisher that reports a refused publish as a permission
// error at once instead of a time-out. internal/natsserver renders the
// identities into a server's configuration.
//
// The same code serves an embedded server and an external one: Connect
// takes a URL and a credentials file (an NKey seed file, or a JWT .creds
// file issued by an operator), sets the identity's own inbox prefix, and
// TLSOption adds TLS for a server beyond loopback.
package bus

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/baybus/baybus/schemas/keys"
)

// Role of a bus identity.
type Role string

// The roles and what they may do on the bus.
const (
	RoleCity     Role = "city"     // publish only gba.tx.<city>; ask the orderers' query service
	RoleOrderer  Role = "orderer"  // consensus, sync, blocks, proofs; its own GBA_TX consumer
	RoleService  Role = "service"  // read block headers, ask sync and query (reconcile, tools)
	RoleReader   Role = "reader"   // the proof subjects of its grants, through its own durables
	RoleOperator Role = "operator" // stream administration (the JetStream API) and nothing else
)

// Identity is one NKey user of the bus.
type Identity struct {
	Name   string // e.g. "city-shenzhen", "orderer-hongkong", "reader-hk-bank"
	Role   Role
	Member string // city token, orderer or reader name; empty for service/operator
	Public string // the user's public NKey (U...)
	// Grants are a reader's proof grants, "<JUR>.<kind>" or "<JUR>.*",
	// either with ".personal" after it for the personal subjects too
	// (keys.Reader); empty for the other roles.
	Grants []string
	seed   []byte
}

// Seed returns the identity's NKey seed, nil for an identity known only by
// its public key (a reader whose seed is kept by the reader).
func (id *Identity) Seed() []byte { return id.seed }

// Identities is the set of bus users of one consortium.
type Identities struct {
	Users []*Identity
}

// IdentityName returns the bus user name of a member.
func IdentityName(role Role, member string) string {
	if member == "" {
		return string(role)
	}
	return string(role) + "-" + member
}

// NewIdentities makes one NKey user per city, per orderer, plus one service
// and one operator user.
func NewIdentities(cities, orderers []string) (*Identities, error) {
	ids := &Identities{}
	add := func(role Role, member string) error {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return fmt.Errorf("bus: create nkey: %w", err)
		}
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		ids.Users = append(ids.Users, &Identity{Name: IdentityName(role, member), Role: role, Member: member, Public: pub, seed: seed})
		return nil
	}
	for _, c := range cities {
		if err := add(RoleCity, c); err != nil {
			return nil, err
		}
	}
	for _, o := range orderers {
		if err := add(RoleOrderer, o); err != nil {
			return nil, err
		}
	}
	for _, r := range []Role{RoleService, RoleOperator} {
		if err := add(r, ""); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// AddReader adds a reader known by its public NKey (seed nil) or its seed,
// with its grants. A reader of that name already present is replaced.
func (ids *Identities) AddReader(name, public string, seed []byte, grants []string) error {
	if seed != nil {
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			return fmt.Errorf("bus: reader %s: %w", name, err)
		}
		if pub, _ := kp.PublicKey(); pub != public {
			return fmt.Errorf("bus: reader %s: seed of %s, trust bundle names %s", name, pub, public)
		}
	}
	if !nkeys.IsValidPublicUserKey(public) {
		return fmt.Errorf("bus: reader %s: %q is not a public user NKey", name, public)
	}
	u := &Identity{Name: IdentityName(RoleReader, name), Role: RoleReader, Member: name, Public: public, Grants: slices.Clone(grants), seed: seed}
	if i := slices.IndexFunc(ids.Users, func(x *Identity) bool { return x.Name == u.Name }); i >= 0 {
		ids.Users[i] = u
		return nil
	}
	ids.Users = append(ids.Users, u)
	return nil
}

// NewUserKey makes a fresh NKey user: its public key and seed.
func NewUserKey() (public string, seed []byte, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, fmt.Errorf("bus: create nkey: %w", err)
	}
	public, _ = kp.PublicKey()
	seed, _ = kp.Seed()
	return public, seed, nil
}

// WriteSeed stores one seed as dir/nats/<name>.nk (mode 0600).
func WriteSeed(dir, name string, seed []byte) error {
	if err := os.MkdirAll(filepath.Join(dir, NATSDir), 0o700); err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	if err := keys.WriteFileAtomic(SeedPath(dir, name), append(bytes.Clone(seed), '\n'), 0o600); err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	return nil
}

// ReadSeed reads dir/nats/<name>.nk; a missing file is (nil, nil).
func ReadSeed(dir, name string) ([]byte, error) {
	raw, err := os.ReadFile(SeedPath(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	return bytes.TrimSpace(raw), nil
}

// Get returns the identity with the given name.
func (ids *Identities) Get(name string) (*Identity, bool) {
	i := slices.IndexFunc(ids.Users, func(u *Identity) bool { return u.Name == name })
	if i < 0 {
		return nil, false
	}
	return ids.Users[i], true
}

// NATSDir is the folder of the seed files inside a consortium directory.
const NATSDir = "nats"

// SeedPath is where the seed of a user is kept.
func SeedPath(dir, name string) string { return filepath.Join(dir, NATSDir, name+".nk") }

// Write stores each seed as dir/nats/<name>.nk (mode 0600).
func (ids *Identities) Write(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, NATSDir), 0o700); err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	for _, u := range ids.Users {
		if u.seed == nil {
			continue // a reader known only by its public key
		}
		if err := WriteSeed(dir, u.Name, u.seed); err != nil {
			return err
		}
	}
	return nil
}

// LoadIdentities reads the seeds written by Write for the given members.
func LoadIdentities(dir string, cities, orderers []string) (*Identities, error) {
	ids := &Identities{}
	load := func(role Role, member string) error {
		name := IdentityName(role, member)
		raw, err := os.ReadFile(SeedPath(dir, name))
		if err != nil {
			return fmt.Errorf("bus: %w", err)
		}
		seed := bytes.TrimSpace(raw)
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			return fmt.Errorf("bus: %s: %w", name, err)
		}
		pub, _ := kp.PublicKey()
		ids.Users = append(ids.Users, &Identity{Name: name, Role: role, Member: member, Public: pub, seed: seed})
		return nil
	}
	for _, c := range cities {
		if err := load(RoleCity, c); err != nil {
			return nil, err
		}
	}
	for _, o := range orderers {
		if err := load(RoleOrderer, o); err != nil {
			return nil, err
		}
	}
	for _, r := range []Role{RoleService, RoleOperator} {
		if err := load(r, ""); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// ErrCreds is returned for a credentials file that is neither an NKey seed
// nor a JWT .creds file.
var ErrCreds = errors.New("bus: unrecognised credentials file")

// isJWTCreds reports whether a credentials file holds a user JWT.
func isJWTCreds(raw []byte) bool {
	return strings.Contains(string(raw), "-----BEGIN NATS USER JWT-----")
}
