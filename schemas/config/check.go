package config

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/baybus/baybus/schemas/keys"
)

// member names one member of the consortium in one role.
type member struct {
	role keys.Role
	name string
}

func (m member) String() string { return string(m.role) + "/" + m.name }

// Check decides whether tx may be sealed at height under cur, the
// configuration in force there, and returns the configuration in force
// from height+1. Every refusal wraps ErrInvalid and a specific sentinel
// (see the package documentation for the rules).
func Check(cur *keys.Bundle, tx *Tx, height uint64) (*keys.Bundle, error) {
	next := tx.Next
	if next == nil {
		return nil, fmt.Errorf("%w: no next configuration", ErrChange)
	}
	if tx.Chain != cur.Chain || next.Chain != cur.Chain {
		return nil, fmt.Errorf("%w: chain %q, the configuration in force is of chain %q", ErrChange, next.Chain, cur.Chain)
	}
	if tx.Base != Digest(cur) {
		return nil, fmt.Errorf("%w: the proposal follows configuration %x, the one in force at height %d is %x", ErrStale, tx.Base[:8], height, digestShort(cur))
	}
	if rulesOf(next) != rulesOf(cur) {
		return nil, fmt.Errorf("%w: rules version %d to %d: a chain keeps the rules version it was made with", ErrChange, rulesOf(cur), rulesOf(next))
	}
	if err := checkOrderers(cur, next, height); err != nil {
		return nil, err
	}
	concerned := map[member]bool{}
	newKeys := map[string]keys.TrustedKey{}
	if err := checkKeys(cur.Keys, next.Keys, height, concerned, newKeys); err != nil {
		return nil, err
	}
	if err := checkKeys(cur.HPKEKeys, next.HPKEKeys, height, concerned, nil); err != nil {
		return nil, err
	}
	for _, r := range cur.Readers {
		nr, ok := next.Reader(r.Name)
		if !ok {
			return nil, fmt.Errorf("%w: reader %s removed: what it signed must stay verifiable", ErrChange, r.Name)
		}
		if nr.NATS != r.NATS || !slices.Equal(nr.Grants, r.Grants) {
			concerned[member{keys.RoleReader, r.Name}] = true
		}
	}

	signed, possession, err := checkSignatures(cur, next, tx, height, newKeys)
	if err != nil {
		return nil, err
	}
	orderers := 0
	for _, o := range cur.Orderers {
		if signed[member{keys.RoleOrderer, o}] {
			orderers++
		}
	}
	if orderers < cur.Quorum() {
		return nil, fmt.Errorf("%w: %d of the %d orderers in force signed, a quorum is %d", ErrTooFewSignatures, orderers, cur.N(), cur.Quorum())
	}
	for _, id := range sortedKeys(newKeys) {
		if !possession[id] {
			return nil, fmt.Errorf("%w: key %s of %s/%s", ErrNoPossession, id, newKeys[id].Role, newKeys[id].Member)
		}
	}
	cities := membersOf(cur, keys.RoleCity)
	for _, m := range sortedMembers(concerned) {
		if signed[m] || !hasKeys(cur, m) {
			// Its own signature, or a new member (whose new keys proved
			// possession above).
			continue
		}
		if others, need := othersSigned(cur, cities, signed, m); others < need {
			return nil, fmt.Errorf("%w: %s's keys change without its signature, and %d of the others signed for it (%d needed)", ErrNotAuthorized, m, others, need)
		}
	}
	return next, nil
}

// othersSigned counts the signatures that replace member m's own (a lost
// key): the other orderers for an orderer, the other cities for a city or
// a reader; need is how many it takes.
func othersSigned(cur *keys.Bundle, cities []string, signed map[member]bool, m member) (got, need int) {
	if m.role == keys.RoleOrderer {
		for _, o := range cur.Orderers {
			if o != m.name && signed[member{keys.RoleOrderer, o}] {
				got++
			}
		}
		return got, cur.Quorum()
	}
	others := 0
	for _, c := range cities {
		if c == m.name && m.role == keys.RoleCity {
			continue
		}
		others++
		if signed[member{keys.RoleCity, c}] {
			got++
		}
	}
	// More than two thirds of the others.
	return got, others*2/3 + 1
}

// checkOrderers: an orderer in force keeps its consensus id, a new one
// takes an id never given before (at least cur's next id), the next id
// never goes down, and every orderer of next has a key of role orderer
// that is still valid after height. An orderer's place in the list means
// nothing: SmartBFT knows it by its id.
func checkOrderers(cur, next *keys.Bundle, height uint64) error {
	if next.NextConsensusID() < cur.NextConsensusID() {
		return fmt.Errorf("%w: next orderer id %d below %d: a removed orderer's id would be given again", ErrChange, next.NextConsensusID(), cur.NextConsensusID())
	}
	for _, o := range next.Orderers {
		id, was := next.ConsensusID(o), cur.ConsensusID(o)
		switch {
		case was != 0 && id != was:
			return fmt.Errorf("%w: orderer %s's consensus id changes from %d to %d", ErrChange, o, was, id)
		case was == 0 && id < cur.NextConsensusID():
			return fmt.Errorf("%w: new orderer %s takes consensus id %d, given before (new ids start at %d)", ErrChange, o, id, cur.NextConsensusID())
		}
	}
	for _, o := range next.Orderers {
		if !slices.ContainsFunc(next.Keys, func(k keys.TrustedKey) bool {
			return k.Role == keys.RoleOrderer && k.Member == o && (k.ValidUntil == nil || *k.ValidUntil > height)
		}) {
			return fmt.Errorf("%w: orderer %s has no key valid after height %d", ErrChange, o, height)
		}
	}
	return nil
}

// checkKeys compares one list of keys: none removed or altered but for an
// end of validity set or lowered (never below height), new ones valid
// from above height. It marks the members concerned and, if newKeys is
// not nil, collects the new keys.
func checkKeys(cur, next []keys.TrustedKey, height uint64, concerned map[member]bool, newKeys map[string]keys.TrustedKey) error {
	byID := make(map[string]keys.TrustedKey, len(next))
	for _, k := range next {
		byID[k.ID] = k
	}
	old := make(map[string]bool, len(cur))
	for _, k := range cur {
		old[k.ID] = true
		n, ok := byID[k.ID]
		if !ok {
			return fmt.Errorf("%w: key %s removed: what it signed must stay verifiable (end its validity instead)", ErrChange, k.ID)
		}
		if n.Role != k.Role || n.Member != k.Member || n.Scheme != k.Scheme || n.Public != k.Public || n.ValidFrom != k.ValidFrom {
			return fmt.Errorf("%w: key %s altered: only its end of validity may change", ErrChange, k.ID)
		}
		switch {
		case sameEnd(k.ValidUntil, n.ValidUntil):
			continue
		case n.ValidUntil == nil:
			return fmt.Errorf("%w: key %s: an end of validity cannot be lifted", ErrChange, k.ID)
		case k.ValidUntil != nil && *n.ValidUntil > *k.ValidUntil:
			return fmt.Errorf("%w: key %s: its validity ends at %d and cannot be extended to %d", ErrChange, k.ID, *k.ValidUntil, *n.ValidUntil)
		case *n.ValidUntil < height:
			return fmt.Errorf("%w: key %s: its validity cannot end at %d, below the configuration's height %d (sealed blocks keep their meaning)", ErrChange, k.ID, *n.ValidUntil, height)
		}
		concerned[member{k.Role, k.Member}] = true
	}
	for _, k := range next {
		if old[k.ID] {
			continue
		}
		if k.ValidFrom <= height {
			return fmt.Errorf("%w: new key %s valid from %d: a new key counts from above the configuration's height %d", ErrChange, k.ID, k.ValidFrom, height)
		}
		if k.ValidUntil != nil && *k.ValidUntil < k.ValidFrom {
			return fmt.Errorf("%w: new key %s ends at %d before it begins at %d", ErrChange, k.ID, *k.ValidUntil, k.ValidFrom)
		}
		concerned[member{k.Role, k.Member}] = true
		if newKeys != nil {
			newKeys[k.ID] = k
		}
	}
	return nil
}

// checkSignatures verifies every signature and returns the members that
// signed with a key in force and the new keys that proved possession.
func checkSignatures(cur, next *keys.Bundle, tx *Tx, height uint64, newKeys map[string]keys.TrustedKey) (map[member]bool, map[string]bool, error) {
	h := ProposalHash(tx)
	d := keys.Domain{Chain: cur.Chain, Purpose: keys.PurposeConfig}
	signed, possession := map[member]bool{}, map[string]bool{}
	for _, s := range tx.Signatures {
		m := member{s.Role, s.Member}
		if nk, ok := newKeys[s.KeyID]; ok {
			if nk.Role != s.Role || nk.Member != s.Member {
				return nil, nil, fmt.Errorf("%w: new key %s is %s/%s's, signed as %s", ErrSignature, s.KeyID, nk.Role, nk.Member, m)
			}
			pk, _, _ := next.KeyByID(s.KeyID)
			if err := pk.Verify(d, h[:], s.Sig); err != nil {
				return nil, nil, fmt.Errorf("%w: proof of possession of %s: %w", ErrSignature, s.KeyID, err)
			}
			possession[s.KeyID] = true
			continue
		}
		pk, err := cur.KeyAt(s.KeyID, s.Role, s.Member, height)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s at height %d: %w", ErrSignature, m, height, err)
		}
		if s.Role == keys.RoleOrderer && cur.OrdererIndex(s.Member) < 0 {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotMember, m)
		}
		if err := pk.Verify(d, h[:], s.Sig); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrSignature, m, err)
		}
		signed[m] = true
	}
	return signed, possession, nil
}

func sameEnd(a, b *uint64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// rulesOf is the bundle's rules version, 0 read as 1 (block.RulesOf).
func rulesOf(b *keys.Bundle) int { return max(b.Rules, 1) }

func hasKeys(b *keys.Bundle, m member) bool {
	return slices.ContainsFunc(b.Keys, func(k keys.TrustedKey) bool { return k.Role == m.role && k.Member == m.name })
}

// membersOf lists the members with keys of role, sorted.
func membersOf(b *keys.Bundle, role keys.Role) []string {
	var out []string
	for _, k := range b.Keys {
		if k.Role == role && !slices.Contains(out, k.Member) {
			out = append(out, k.Member)
		}
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedMembers(m map[member]bool) []member {
	out := make([]member, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b member) int {
		return cmp.Or(cmp.Compare(a.role, b.role), cmp.Compare(a.name, b.name))
	})
	return out
}

func digestShort(b *keys.Bundle) []byte {
	d := Digest(b)
	return d[:8]
}
