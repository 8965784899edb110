// Package bus is baybus's NATS layer: the member identities (NKeys) and
// their subject permissions, the embedded nats-server with JetStream, the
// streams, and a JetStream publisher that reports a refused publish as a
// permission error at once instead of a time-out.
//
// The same code serves an embedded server and an external one: Connect
// takes a URL and a credentials file (an NKey seed file, or a JWT .creds
// file issued by an operator).
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
	RoleCity     Role = "city"     // publish only gba.tx.<city>
	RoleOrderer  Role = "orderer"  // consensus, sync, blocks, proofs, consume GBA_TX
	RoleService  Role = "service"  // read blocks and proofs (subscribers, reconcile)
	RoleOperator Role = "operator" // everything in the GBA account (stream set-up, tools)
)

// Identity is one NKey user of the bus.
type Identity struct {
	Name   string // e.g. "city-shenzhen", "orderer-hongkong"
	Role   Role
	Member string // city token or orderer name; empty for service/operator
	Public string // the user's public NKey (U...)
	seed   []byte
}

// Seed returns the identity's NKey seed.
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
		if err := keys.WriteFileAtomic(SeedPath(dir, u.Name), append(bytes.Clone(u.seed), '\n'), 0o600); err != nil {
			return fmt.Errorf("bus: %w", err)
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

// Permissions returns the subjects an identity may publish to and
// subscribe to. Replies to requests are allowed through the response
// permission, so orderers can answer sync requests.
func Permissions(u *Identity) (pub, sub []string) {
	switch u.Role {
	case RoleCity:
		// A gateway publishes batches to its own subject only, asks the
		// orderers' query service, and reads acknowledgements and block
		// headers.
		return []string{"gba.tx." + u.Member, subjectQuery + "*"}, []string{"_INBOX.>", "gba.blocks"}
	case RoleOrderer:
		return []string{"gba.bft.*", "gba.sync.*", "gba.blocks", "gba.proofs.>", "$JS.API.>", "$JS.ACK.GBA_TX.>", "_INBOX.>"},
			[]string{"gba.bft." + u.Member, "gba.sync." + u.Member, subjectQuery + u.Member, "_INBOX.>", "gba.blocks"}
	case RoleService:
		return []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.GBA_*", "$JS.API.CONSUMER.*.GBA_PROOFS.>", "$JS.API.CONSUMER.*.GBA_BLOCKS.>",
				"$JS.API.CONSUMER.*.GBA_PROOFS", "$JS.API.CONSUMER.*.GBA_BLOCKS",
				"$JS.API.CONSUMER.MSG.NEXT.GBA_PROOFS.>", "$JS.API.CONSUMER.MSG.NEXT.GBA_BLOCKS.>", "$JS.API.STREAM.MSG.GET.GBA_*", "$JS.API.DIRECT.GET.GBA_*",
				"$JS.ACK.GBA_PROOFS.>", "$JS.ACK.GBA_BLOCKS.>", "gba.sync.*", subjectQuery + "*", "_INBOX.>"},
			[]string{"_INBOX.>", "gba.proofs.>", "gba.blocks"}
	}
	return []string{">"}, []string{">"}
}

// ErrCreds is returned for a credentials file that is neither an NKey seed
// nor a JWT .creds file.
var ErrCreds = errors.New("bus: unrecognised credentials file")

// isJWTCreds reports whether a credentials file holds a user JWT.
func isJWTCreds(raw []byte) bool {
	return strings.Contains(string(raw), "-----BEGIN NATS USER JWT-----")
}
