package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
)

// Named readers (issue 14 §4, issue 15 §6): a bank, another city's
// department, any service outside the ordering consortium that reads
// license proofs. Each is named in the trust bundle with
//
//   - its bus identity (the public NKey its NATS connection signs with),
//     whose permissions allow only the proof subjects of its grants and
//     its own durable consumers (schemas/bus);
//   - its grants: "<JUR>.<kind>" (e.g. "CN.business") or "<JUR>.*", and
//     with ".personal" after either ("CN.business.personal") the same and
//     the records of a chain of rules version 1 or 2 that hold natural
//     persons' names and identity numbers in plaintext, which the orderers
//     publish apart, on the personal proof subjects (schemas/bus), and the
//     read API shows whole only to such a grant (issue 14 §4);
//   - a signing key among Keys (role reader) and an HPKE key among
//     HPKEKeys, with validity heights like every other key, so rotation
//     leaves what it signed or was sealed before verifiable.

// RoleReader is the role of a reader's keys.
const RoleReader Role = "reader"

// Reader is one named reader in the trust bundle.
type Reader struct {
	Name   string   `json:"name"`   // e.g. "hk-bank": lower-case letters, digits, '-'
	NATS   string   `json:"nats"`   // public NKey (U...) of its bus identity
	Grants []string `json:"grants"` // proof subjects it may read: "CN.business", "HK.*", "CN.business.personal"
}

// ErrGrant is wrapped by errors about a malformed grant.
var ErrGrant = errors.New("keys: bad grant")

var (
	readerNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	grantRe      = regexp.MustCompile(`^(CN|HK|MO)\.(\*|[a-z]+)(\.personal)?$`)
	// natsUserRe is the form of a public user NKey (base32, prefix U);
	// schemas/bus checks its checksum when it builds the server's users.
	// Offline verifiers hold trust bundles, so this package links no NATS
	// code.
	natsUserRe = regexp.MustCompile(`^U[A-Z2-7]{55}$`)
)

// GrantPersonal is the suffix of a grant that covers personal fields
// too: "CN.business" + GrantPersonal.
const GrantPersonal = ".personal"

// ParseGrant splits a grant into its jurisdiction and kind ("*" for all
// kinds); a personal grant ("CN.business.personal") gives the same
// (IsPersonalGrant tells it apart). It checks the form only; the kinds are
// schemas' to name.
func ParseGrant(g string) (jurisdiction, kind string, err error) {
	m := grantRe.FindStringSubmatch(g)
	if m == nil {
		return "", "", fmt.Errorf("%w %q: want <CN|HK|MO>.<kind> or <JUR>.*, optionally followed by %s", ErrGrant, g, GrantPersonal)
	}
	return m[1], m[2], nil
}

// IsPersonalGrant reports whether g is a well-formed grant of personal
// fields ("<JUR>.<kind>.personal", "<JUR>.*.personal").
func IsPersonalGrant(g string) bool {
	m := grantRe.FindStringSubmatch(g)
	return m != nil && m[3] != ""
}

// Allows reports whether the reader's grants cover proofs of the given
// jurisdiction ("CN") and kind's short form ("business"); kind "*" asks
// for every kind, which only a "<JUR>.*" grant covers. A personal grant
// covers what the same grant without ".personal" does.
func (r *Reader) Allows(jurisdiction, kind string) bool {
	return r.allows(jurisdiction, kind, false)
}

// AllowsPersonal reports whether the reader's grants cover the personal
// fields, in plaintext, of records of the given jurisdiction and kind: a
// personal grant of them (issue 14 §4). On a chain of rules version 1 or
// 2 only such a reader gets those records' proofs, on the bus or from the
// read API; on a chain of version 3 personal fields are digests, and
// disclosed only under the city's grants on the ledger (gateway/share).
func (r *Reader) AllowsPersonal(jurisdiction, kind string) bool {
	return r.allows(jurisdiction, kind, true)
}

func (r *Reader) allows(jurisdiction, kind string, personal bool) bool {
	for _, g := range r.Grants {
		j, k, err := ParseGrant(g)
		if err == nil && j == jurisdiction && (k == "*" || k == kind) && (!personal || IsPersonalGrant(g)) {
			return true
		}
	}
	return false
}

func (r *Reader) check() error {
	if !readerNameRe.MatchString(r.Name) {
		return fmt.Errorf("keys: reader name %q: want lower-case letters, digits and '-', at most 32", r.Name)
	}
	if !natsUserRe.MatchString(r.NATS) {
		return fmt.Errorf("keys: reader %s: %q is not a public user NKey", r.Name, r.NATS)
	}
	if len(r.Grants) == 0 {
		return fmt.Errorf("%w: reader %s has none", ErrGrant, r.Name)
	}
	for i, g := range r.Grants {
		if _, _, err := ParseGrant(g); err != nil {
			return fmt.Errorf("keys: reader %s: %w", r.Name, err)
		}
		if slices.Contains(r.Grants[:i], g) {
			return fmt.Errorf("%w: reader %s: %q twice", ErrGrant, r.Name, g)
		}
	}
	return nil
}

// Reader returns the named reader.
func (b *Bundle) Reader(name string) (*Reader, bool) {
	i := slices.IndexFunc(b.Readers, func(r Reader) bool { return r.Name == name })
	if i < 0 {
		return nil, false
	}
	r := b.Readers[i]
	r.Grants = slices.Clone(r.Grants)
	return &r, true
}

// ReaderByNATS returns the reader whose bus identity has the given public
// NKey.
func (b *Bundle) ReaderByNATS(public string) (*Reader, bool) {
	i := slices.IndexFunc(b.Readers, func(r Reader) bool { return r.NATS == public })
	if i < 0 {
		return nil, false
	}
	return b.Reader(b.Readers[i].Name)
}

// HPKEKeyAt returns a reader's HPKE key with the given id if it is valid
// at height. Errors wrap ErrUnknownKey or ErrKeyNotValid.
func (b *Bundle) HPKEKeyAt(id, reader string, height uint64) (*HPKEPublicKey, error) {
	i := slices.IndexFunc(b.HPKEKeys, func(k TrustedKey) bool { return k.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("%w: HPKE key %q", ErrUnknownKey, id)
	}
	tk := b.HPKEKeys[i]
	if tk.Member != reader {
		return nil, fmt.Errorf("%w: HPKE key %q belongs to %s, not %s", ErrUnknownKey, id, tk.Member, reader)
	}
	if height < tk.ValidFrom || (tk.ValidUntil != nil && height > *tk.ValidUntil) {
		return nil, fmt.Errorf("%w: HPKE key %q at height %d", ErrKeyNotValid, id, height)
	}
	return b.hpke[id], nil
}

// CurrentHPKEKey returns the id of the reader's HPKE key to seal to now:
// the one valid from the highest height that has no end.
func (b *Bundle) CurrentHPKEKey(reader string) (string, bool) {
	return currentOf(b.HPKEKeys, RoleReader, reader)
}

func currentOf(list []TrustedKey, role Role, member string) (string, bool) {
	best, found := TrustedKey{}, false
	for _, k := range list {
		if k.Role == role && k.Member == member && k.ValidUntil == nil && (!found || k.ValidFrom >= best.ValidFrom) {
			best, found = k, true
		}
	}
	return best.ID, found
}

// indexReaders checks the readers and their keys: names unique, each
// reader with a signing and an HPKE key, every reader key naming a reader.
func (b *Bundle) indexReaders() error {
	b.hpke = make(map[string]*HPKEPublicKey, len(b.HPKEKeys))
	names := map[string]bool{}
	natsKeys := map[string]bool{}
	for i := range b.Readers {
		r := &b.Readers[i]
		if err := r.check(); err != nil {
			return err
		}
		if names[r.Name] || natsKeys[r.NATS] {
			return fmt.Errorf("keys: trust bundle: reader %q or its NKey twice", r.Name)
		}
		names[r.Name], natsKeys[r.NATS] = true, true
	}
	for _, k := range b.Keys {
		if k.Role == RoleReader && !names[k.Member] {
			return fmt.Errorf("keys: trust bundle: key %q of unknown reader %q", k.ID, k.Member)
		}
	}
	for _, k := range b.HPKEKeys {
		if k.Role != RoleReader || !names[k.Member] {
			return fmt.Errorf("keys: trust bundle: HPKE key %q of unknown reader %s %q", k.ID, k.Role, k.Member)
		}
		if _, dup := b.hpke[k.ID]; dup || b.byID[k.ID].ID != "" {
			return fmt.Errorf("keys: trust bundle: duplicate key id %q", k.ID)
		}
		raw, err := base64.StdEncoding.DecodeString(k.Public)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadKey, k.ID, err)
		}
		pk, err := ParseHPKEPublicKey(k.ID, k.Scheme, raw)
		if err != nil {
			return err
		}
		b.hpke[k.ID] = pk
	}
	for name := range names {
		if _, ok := currentOf(b.Keys, RoleReader, name); !ok {
			return fmt.Errorf("keys: trust bundle: reader %q has no current signing key", name)
		}
		if _, ok := currentOf(b.HPKEKeys, RoleReader, name); !ok {
			return fmt.Errorf("keys: trust bundle: reader %q has no current HPKE key", name)
		}
	}
	return nil
}

// ReaderKeys are what NewReader makes: the reader's entry and its private
// keys.
type ReaderKeys struct {
	Reader Reader
	Sign   *PrivateKey
	HPKE   *HPKEPrivateKey
}

// NewReaderKeys makes a reader's signing key (of scheme) and HPKE key, ids
// "reader/<name>/1" and "reader/<name>/hpke/1", for the reader with the
// given bus identity and grants.
func NewReaderKeys(name, natsPublic string, grants []string, scheme string, rand io.Reader) (*ReaderKeys, error) {
	r := Reader{Name: name, NATS: natsPublic, Grants: slices.Clone(grants)}
	if err := r.check(); err != nil {
		return nil, err
	}
	sk, err := Generate(fmt.Sprintf("%s/%s/1", RoleReader, name), scheme, rand)
	if err != nil {
		return nil, err
	}
	hk, err := GenerateHPKE(fmt.Sprintf("%s/%s/hpke/1", RoleReader, name), rand)
	if err != nil {
		return nil, err
	}
	return &ReaderKeys{Reader: r, Sign: sk, HPKE: hk}, nil
}

// WithReader returns a copy of the bundle with the reader and its public
// keys added, valid from height validFrom. A reader of that name already
// in the bundle is an error.
func (b *Bundle) WithReader(rk *ReaderKeys, validFrom uint64) (*Bundle, error) {
	if _, ok := b.Reader(rk.Reader.Name); ok {
		return nil, fmt.Errorf("keys: reader %q is already in the trust bundle", rk.Reader.Name)
	}
	nb := &Bundle{Version: b.Version, Chain: b.Chain, Orderers: slices.Clone(b.Orderers), Rules: b.Rules,
		OrdererIDs: slices.Clone(b.OrdererIDs), NextOrdererID: b.NextOrdererID,
		Keys: slices.Clone(b.Keys), Readers: slices.Clone(b.Readers), HPKEKeys: slices.Clone(b.HPKEKeys)}
	nb.Readers = append(nb.Readers, rk.Reader)
	nb.Keys = append(nb.Keys, TrustedKey{ID: rk.Sign.KeyID(), Role: RoleReader, Member: rk.Reader.Name, Scheme: rk.Sign.Scheme(),
		Public: encodePublic(rk.Sign), ValidFrom: validFrom})
	nb.HPKEKeys = append(nb.HPKEKeys, TrustedKey{ID: rk.HPKE.KeyID(), Role: RoleReader, Member: rk.Reader.Name, Scheme: XWing,
		Public: base64.StdEncoding.EncodeToString(rk.HPKE.Public().Bytes()), ValidFrom: validFrom})
	if err := nb.index(); err != nil {
		return nil, err
	}
	return nb, nil
}

// ReaderKeyPath and ReaderHPKEPath name a reader's private key files in a
// consortium directory.
func ReaderKeyPath(dir, name string) string {
	return filepath.Join(dir, KeysDir, "reader-"+name+".key")
}

// ReaderHPKEPath names a reader's HPKE private key file.
func ReaderHPKEPath(dir, name string) string {
	return filepath.Join(dir, KeysDir, "reader-"+name+".hpke")
}

// RotateReader returns a copy of the bundle in which the reader's signing
// and HPKE keys in force end at height from-1 and new ones (of scheme,
// ids "reader/<name>/<n>" and "reader/<name>/hpke/<n>" with the next n)
// count from height from, and the new private keys. What the old keys
// signed, or had sealed to them, before from stays verifiable (issue 15
// §6): an access record is checked against the key valid at its height.
func (b *Bundle) RotateReader(name, scheme string, from uint64, rand io.Reader) (*Bundle, *ReaderKeys, error) {
	r, ok := b.Reader(name)
	if !ok {
		return nil, nil, fmt.Errorf("keys: no reader %q in the trust bundle", name)
	}
	if from == 0 {
		return nil, nil, fmt.Errorf("keys: a rotation starts above height 0")
	}
	n := 1
	for _, k := range append(slices.Clone(b.Keys), b.HPKEKeys...) {
		if k.Role != RoleReader || k.Member != name {
			continue
		}
		if k.ValidFrom >= from {
			return nil, nil, fmt.Errorf("keys: reader %s has a key valid from %d, not before the rotation at %d", name, k.ValidFrom, from)
		}
		n++
	}
	sk, err := Generate(fmt.Sprintf("%s/%s/%d", RoleReader, name, n), scheme, rand)
	if err != nil {
		return nil, nil, err
	}
	hk, err := GenerateHPKE(fmt.Sprintf("%s/%s/hpke/%d", RoleReader, name, n), rand)
	if err != nil {
		return nil, nil, err
	}
	until := from - 1
	end := func(list []TrustedKey) []TrustedKey {
		out := slices.Clone(list)
		for i := range out {
			if out[i].Role == RoleReader && out[i].Member == name && out[i].ValidUntil == nil {
				out[i].ValidUntil = &until
			}
		}
		return out
	}
	nb := &Bundle{Version: b.Version, Chain: b.Chain, Orderers: slices.Clone(b.Orderers), Rules: b.Rules,
		OrdererIDs: slices.Clone(b.OrdererIDs), NextOrdererID: b.NextOrdererID,
		Keys: end(b.Keys), Readers: slices.Clone(b.Readers), HPKEKeys: end(b.HPKEKeys)}
	nb.Keys = append(nb.Keys, TrustedKey{ID: sk.KeyID(), Role: RoleReader, Member: name, Scheme: sk.Scheme(), Public: encodePublic(sk), ValidFrom: from})
	nb.HPKEKeys = append(nb.HPKEKeys, TrustedKey{ID: hk.KeyID(), Role: RoleReader, Member: name, Scheme: XWing,
		Public: base64.StdEncoding.EncodeToString(hk.Public().Bytes()), ValidFrom: from})
	if err := nb.index(); err != nil {
		return nil, nil, err
	}
	return nb, &ReaderKeys{Reader: *r, Sign: sk, HPKE: hk}, nil
}
