package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
)

// Role is what a key may sign for.
type Role string

// The roles.
const (
	RoleCity    Role = "city"    // signs batches for one city
	RoleOrderer Role = "orderer" // signs consensus messages and block votes
	// RoleReader (readers.go) signs a reader's requests.
)

// chainIDRe is the chain id's form (as in tx.schema.json).
var chainIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// BundleVersion is the version of the trust bundle format.
const BundleVersion = 1

// TrustedKey is one public key in the trust bundle.
type TrustedKey struct {
	ID     string `json:"id"`     // unique, e.g. "city/shenzhen/1"
	Role   Role   `json:"role"`   // city, orderer or reader
	Member string `json:"member"` // city token, orderer or reader name
	Scheme string `json:"scheme"` // circl scheme name
	Public string `json:"public"` // base64 of the scheme's binary public key
	// ValidFrom is the first block height at which the key's signatures count;
	// ValidUntil, if set, the last. Rotation adds a new key with ValidFrom
	// after the old key's ValidUntil, so old proofs keep verifying.
	ValidFrom  uint64  `json:"validFrom"`
	ValidUntil *uint64 `json:"validUntil,omitempty"`
}

// Bundle is the consortium's trust bundle: the chain id, the orderers
// with their consensus ids, every signing key, and the named readers with
// their HPKE keys (readers.go). A Bundle is immutable after Parse.
//
// An orderer's consensus id is SmartBFT's name for it: it never changes
// while the orderer serves and is never given to another, so removing an
// orderer leaves the others' ids as they were (schemas/config.Check holds
// configurations to that). OrdererIDs lists them beside Orderers; a bundle
// without them (every bundle made before orderers could change, and a
// genesis) gives each orderer its index + 1. NextOrdererID is the lowest
// id never given; 0 means one above the highest in use.
//
// Readers and HPKEKeys are left out of the JSON when empty, so a bundle
// without readers reads as before; a verifier older than readers refuses
// a bundle that names some (unknown fields).
type Bundle struct {
	Version  int      `json:"version"`
	Chain    string   `json:"chain"`
	Orderers []string `json:"orderers"`
	// OrdererIDs, when set, holds each orderer's consensus id, in the
	// order of Orderers.
	OrdererIDs []uint64 `json:"ordererIds,omitempty"`
	// NextOrdererID, when set, is the lowest consensus id never given: it
	// keeps a removed orderer's id from being given again.
	NextOrdererID uint64       `json:"nextOrdererId,omitempty"`
	Keys          []TrustedKey `json:"keys"`
	// Rules is the version of the ledger's rules (ledger/block) the chain
	// is sealed under, from its first block: 0 (absent, every bundle made
	// before versions existed) means 1. See block.RulesOf.
	Rules    int          `json:"rules,omitempty"`
	Readers  []Reader     `json:"readers,omitempty"`
	HPKEKeys []TrustedKey `json:"hpkeKeys,omitempty"`

	parsed map[string]*PublicKey
	byID   map[string]TrustedKey
	hpke   map[string]*HPKEPublicKey
}

// ParseBundle decodes and checks a trust bundle.
func ParseBundle(raw []byte) (*Bundle, error) {
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("keys: trust bundle: %w", err)
	}
	if err := b.index(); err != nil {
		return nil, err
	}
	return &b, nil
}

// LoadBundle reads a trust bundle file.
func LoadBundle(path string) (*Bundle, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return ParseBundle(raw)
}

func (b *Bundle) index() error {
	if b.Version != BundleVersion {
		return fmt.Errorf("keys: trust bundle version %d, want %d", b.Version, BundleVersion)
	}
	if !chainIDRe.MatchString(b.Chain) {
		return fmt.Errorf("keys: trust bundle chain id %q: want lower-case letters, digits and '-', at most 32", b.Chain)
	}
	if b.Rules < 0 || b.Rules > MaxRules {
		return fmt.Errorf("keys: trust bundle names rules version %d, this build knows 1 to %d", b.Rules, MaxRules)
	}
	if n := len(b.Orderers); n < 4 || n > 11 {
		return fmt.Errorf("keys: trust bundle has %d orderers, want 4 to 11", n)
	}
	if err := b.indexOrderers(); err != nil {
		return err
	}
	b.parsed = make(map[string]*PublicKey, len(b.Keys))
	b.byID = make(map[string]TrustedKey, len(b.Keys))
	for _, k := range b.Keys {
		if _, dup := b.byID[k.ID]; dup {
			return fmt.Errorf("keys: trust bundle: duplicate key id %q", k.ID)
		}
		raw, err := base64.StdEncoding.DecodeString(k.Public)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadKey, k.ID, err)
		}
		pk, err := ParsePublicKey(k.ID, k.Scheme, raw)
		if err != nil {
			return err
		}
		b.parsed[k.ID] = pk
		b.byID[k.ID] = k
	}
	return b.indexReaders()
}

// Marshal returns the bundle as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// N is the number of orderers.
func (b *Bundle) N() int { return len(b.Orderers) }

// F is the number of Byzantine orderers tolerated: (n-1)/3.
func (b *Bundle) F() int { return (len(b.Orderers) - 1) / 3 }

// Quorum is SmartBFT's quorum: ceil((n+f+1)/2).
func (b *Bundle) Quorum() int {
	n, f := b.N(), b.F()
	return (n + f + 2) / 2
}

// OrdererIndex returns the orderer's position in Orderers, or -1. Its
// consensus id is ConsensusID's, not its position + 1.
func (b *Bundle) OrdererIndex(name string) int {
	for i, o := range b.Orderers {
		if o == name {
			return i
		}
	}
	return -1
}

// indexOrderers checks the orderers' names and consensus ids.
func (b *Bundle) indexOrderers() error {
	if len(b.OrdererIDs) != 0 && len(b.OrdererIDs) != len(b.Orderers) {
		return fmt.Errorf("keys: trust bundle has %d orderers and %d orderer ids", len(b.Orderers), len(b.OrdererIDs))
	}
	names := make(map[string]bool, len(b.Orderers))
	ids := make(map[uint64]bool, len(b.Orderers))
	var top uint64
	for i, o := range b.Orderers {
		if o == "" || names[o] {
			return fmt.Errorf("keys: trust bundle: orderer %q empty or listed twice", o)
		}
		names[o] = true
		id := b.idAt(i)
		if id == 0 || ids[id] {
			return fmt.Errorf("keys: trust bundle: orderer %s has consensus id %d, zero or given twice", o, id)
		}
		ids[id] = true
		top = max(top, id)
	}
	if b.NextOrdererID != 0 && b.NextOrdererID <= top {
		return fmt.Errorf("keys: trust bundle: next orderer id %d is not above the ids in use (up to %d)", b.NextOrdererID, top)
	}
	return nil
}

func (b *Bundle) idAt(i int) uint64 {
	if len(b.OrdererIDs) == 0 {
		return uint64(i + 1)
	}
	return b.OrdererIDs[i]
}

// ConsensusID returns the orderer's consensus id, or 0 if name is not an
// orderer of the bundle.
func (b *Bundle) ConsensusID(name string) uint64 {
	if i := b.OrdererIndex(name); i >= 0 {
		return b.idAt(i)
	}
	return 0
}

// OrdererByID returns the name of the orderer with consensus id id.
func (b *Bundle) OrdererByID(id uint64) (string, bool) {
	for i, o := range b.Orderers {
		if b.idAt(i) == id {
			return o, true
		}
	}
	return "", false
}

// ConsensusIDs returns the orderers' consensus ids in ascending order:
// SmartBFT's node list.
func (b *Bundle) ConsensusIDs() []uint64 {
	out := make([]uint64, len(b.Orderers))
	for i := range b.Orderers {
		out[i] = b.idAt(i)
	}
	slices.Sort(out)
	return out
}

// NextConsensusID returns the lowest consensus id never given: the id a
// new orderer takes.
func (b *Bundle) NextConsensusID() uint64 {
	if b.NextOrdererID != 0 {
		return b.NextOrdererID
	}
	var top uint64
	for i := range b.Orderers {
		top = max(top, b.idAt(i))
	}
	return top + 1
}

// KeyAt returns the key with the given id if it belongs to member in role
// and is valid at height. Errors wrap ErrUnknownKey or ErrKeyNotValid.
func (b *Bundle) KeyAt(id string, role Role, member string, height uint64) (*PublicKey, error) {
	tk, ok := b.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, id)
	}
	if tk.Role != role || tk.Member != member {
		return nil, fmt.Errorf("%w: key %q belongs to %s %s, not %s %s", ErrUnknownKey, id, tk.Role, tk.Member, role, member)
	}
	if height < tk.ValidFrom || (tk.ValidUntil != nil && height > *tk.ValidUntil) {
		return nil, fmt.Errorf("%w: key %q at height %d", ErrKeyNotValid, id, height)
	}
	return b.parsed[id], nil
}

// KeyByID returns the key with the given id, whatever its validity: for a
// check whose height is judged apart (an access record's reader
// signature, verified once per batch and its key's validity at each
// height it is proposed at).
func (b *Bundle) KeyByID(id string) (*PublicKey, TrustedKey, bool) {
	tk, ok := b.byID[id]
	if !ok {
		return nil, TrustedKey{}, false
	}
	return b.parsed[id], tk, true
}

// CurrentKey returns the id of the member's key valid from the highest
// ValidFrom that has no end: the key a signer should use now.
func (b *Bundle) CurrentKey(role Role, member string) (string, bool) {
	return currentOf(b.Keys, role, member)
}

// MaxRules is the newest rules version of ledger/block (which checks that
// it is its CurrentRules): the one `baybus keys init` and `baybus up` give
// a new chain.
const MaxRules = 3

// DefaultRules is the rules version NewConsortium (and a
// consortium.Spec without Rules) gives a chain when none is asked for: the
// newest, MaxRules, as every command that makes a consortium (`baybus
// keys init`, `up`, `demo`, `cluster`) does; --rules N (NewConsortiumRules
// in Go) makes one like an old chain's. Fixtures that publish records with
// personal fields in plaintext, which a chain of version 3 seals as
// invalid, ask for version 2 by name.
const DefaultRules = MaxRules

// Consortium is what InitConsortium creates.
type Consortium struct {
	Bundle   *Bundle
	Cities   map[string]*PrivateKey // by city token
	Orderers map[string]*PrivateKey // by orderer name
}

// NewConsortium makes one key per city and per orderer and the bundle
// naming them all, valid from height 0, for a chain of DefaultRules.
func NewConsortium(chain string, cities, orderers []string, scheme string, rand io.Reader) (*Consortium, error) {
	return NewConsortiumSchemes(chain, cities, orderers, Schemes{City: scheme, Orderer: scheme}, rand)
}

// Schemes names the signature scheme of each role's keys: a consortium may
// mix them (a city signing with SM2 while the orderers use Ed25519), since
// every key names its own scheme.
type Schemes struct {
	City, Orderer string
}

// NewConsortiumSchemes is NewConsortium with a scheme per role.
func NewConsortiumSchemes(chain string, cities, orderers []string, schemes Schemes, rand io.Reader) (*Consortium, error) {
	return NewConsortiumRules(chain, cities, orderers, schemes, DefaultRules, rand)
}

// NewConsortiumRules is NewConsortiumSchemes for a chain of rules version
// rules (1 to MaxRules).
func NewConsortiumRules(chain string, cities, orderers []string, schemes Schemes, rules int, rand io.Reader) (*Consortium, error) {
	if rules < 1 || rules > MaxRules {
		return nil, fmt.Errorf("keys: rules version %d: this build knows 1 to %d", rules, MaxRules)
	}
	c := &Consortium{
		Bundle:   &Bundle{Version: BundleVersion, Chain: chain, Orderers: append([]string(nil), orderers...), Rules: rules},
		Cities:   map[string]*PrivateKey{},
		Orderers: map[string]*PrivateKey{},
	}
	add := func(role Role, member string, dst map[string]*PrivateKey) error {
		id := fmt.Sprintf("%s/%s/1", role, member)
		scheme := schemes.City
		if role == RoleOrderer {
			scheme = schemes.Orderer
		}
		k, err := Generate(id, scheme, rand)
		if err != nil {
			return err
		}
		dst[member] = k
		c.Bundle.Keys = append(c.Bundle.Keys, TrustedKey{ID: id, Role: role, Member: member, Scheme: k.Scheme(), Public: encodePublic(k)})
		return nil
	}
	for _, city := range cities {
		if err := add(RoleCity, city, c.Cities); err != nil {
			return nil, err
		}
	}
	for _, o := range orderers {
		if err := add(RoleOrderer, o, c.Orderers); err != nil {
			return nil, err
		}
	}
	if err := c.Bundle.index(); err != nil {
		return nil, err
	}
	return c, nil
}

// Key file layout inside a consortium directory.
const (
	TrustFile = "trust.json"
	KeysDir   = "keys"
)

// CityKeyPath and OrdererKeyPath name the private key files in dir.
func CityKeyPath(dir, city string) string { return filepath.Join(dir, KeysDir, "city-"+city+".key") }

// OrdererKeyPath names an orderer's private key file in dir.
func OrdererKeyPath(dir, name string) string {
	return filepath.Join(dir, KeysDir, "orderer-"+name+".key")
}

// Write stores the consortium in dir: trust.json (0644) and one 0600 key
// file per member under keys/.
func (c *Consortium) Write(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, KeysDir), 0o700); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	for _, city := range sortedIDs(c.Cities) {
		if err := c.Cities[city].WriteFile(CityKeyPath(dir, city), string(RoleCity), city); err != nil {
			return err
		}
	}
	for _, o := range sortedIDs(c.Orderers) {
		if err := c.Orderers[o].WriteFile(OrdererKeyPath(dir, o), string(RoleOrderer), o); err != nil {
			return err
		}
	}
	raw, err := c.Bundle.Marshal()
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, TrustFile), raw, 0o644)
}

// LoadConsortium reads a consortium written by Write.
func LoadConsortium(dir string, cities []string) (*Consortium, error) {
	b, err := LoadBundle(filepath.Join(dir, TrustFile))
	if err != nil {
		return nil, err
	}
	c := &Consortium{Bundle: b, Cities: map[string]*PrivateKey{}, Orderers: map[string]*PrivateKey{}}
	for _, city := range cities {
		if c.Cities[city], err = ReadFile(CityKeyPath(dir, city)); err != nil {
			return nil, err
		}
	}
	for _, o := range b.Orderers {
		if c.Orderers[o], err = ReadFile(OrdererKeyPath(dir, o)); err != nil {
			return nil, err
		}
	}
	return c, nil
}
