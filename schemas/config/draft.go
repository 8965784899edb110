package config

import (
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/baybus/baybus/schemas/keys"
)

// Draft builds the next configuration from the one in force, one change
// at a time, for a proposal (`baybus consortium propose`). Each change
// checks what it can alone; Check judges the whole.
type Draft struct {
	cur  *keys.Bundle
	next keys.Bundle
}

// NewDraft starts a draft over cur, the configuration in force.
func NewDraft(cur *keys.Bundle) *Draft {
	return &Draft{cur: cur, next: keys.Bundle{
		Version: cur.Version, Chain: cur.Chain, Orderers: slices.Clone(cur.Orderers), Rules: cur.Rules,
		OrdererIDs: slices.Clone(cur.OrdererIDs), NextOrdererID: cur.NextOrdererID,
		Keys: cloneKeys(cur.Keys), Readers: slices.Clone(cur.Readers), HPKEKeys: cloneKeys(cur.HPKEKeys),
	}}
}

func cloneKeys(ks []keys.TrustedKey) []keys.TrustedKey {
	out := slices.Clone(ks)
	for i := range out {
		if u := out[i].ValidUntil; u != nil {
			v := *u
			out[i].ValidUntil = &v
		}
	}
	return out
}

// TrustedKeyOf is the trust bundle's entry for a public key of role and
// member, valid from height from.
func TrustedKeyOf(pk *keys.PublicKey, role keys.Role, member string, from uint64) keys.TrustedKey {
	return keys.TrustedKey{ID: pk.ID, Role: role, Member: member, Scheme: pk.Scheme(),
		Public: base64.StdEncoding.EncodeToString(pk.Bytes()), ValidFrom: from}
}

// NextKeyID is the id the member's next key takes: "<role>/<member>/<n>"
// with n one more than its keys so far.
func (d *Draft) NextKeyID(role keys.Role, member string) string {
	n := 1
	for {
		id := fmt.Sprintf("%s/%s/%d", role, member, n)
		if !slices.ContainsFunc(d.next.Keys, func(k keys.TrustedKey) bool { return k.ID == id }) {
			return id
		}
		n++
	}
}

// AddKey adds a key (a new member's, or a second key of one).
func (d *Draft) AddKey(k keys.TrustedKey) error {
	if slices.ContainsFunc(d.next.Keys, func(o keys.TrustedKey) bool { return o.ID == k.ID }) {
		return fmt.Errorf("config: key %s is already in the configuration", k.ID)
	}
	d.next.Keys = append(d.next.Keys, k)
	return nil
}

// RotateKey ends every open signing key of the member at from-1 and adds
// k (the new key, which must be the member's) from height from.
func (d *Draft) RotateKey(k keys.TrustedKey, from uint64) error {
	if from == 0 {
		return fmt.Errorf("config: a rotation starts above height 0")
	}
	ended := 0
	for i := range d.next.Keys {
		o := &d.next.Keys[i]
		if o.Role == k.Role && o.Member == k.Member && (o.ValidUntil == nil || *o.ValidUntil >= from) {
			until := from - 1
			o.ValidUntil = &until
			ended++
		}
	}
	if ended == 0 {
		return fmt.Errorf("config: %s/%s has no key in force to rotate", k.Role, k.Member)
	}
	k.ValidFrom = from
	return d.AddKey(k)
}

// RevokeKey refuses the key's signatures from height from: its validity
// ends at from-1.
func (d *Draft) RevokeKey(id string, from uint64) error {
	if from == 0 {
		return fmt.Errorf("config: a revocation starts above height 0")
	}
	for _, list := range [][]keys.TrustedKey{d.next.Keys, d.next.HPKEKeys} {
		for i := range list {
			if list[i].ID == id {
				until := from - 1
				list[i].ValidUntil = &until
				return nil
			}
		}
	}
	return fmt.Errorf("config: no key %s in the configuration", id)
}

// explicitIDs writes the orderers' consensus ids and the next id into
// the draft, so a change to the orderers leaves every other id as it was
// and never gives an id again.
func (d *Draft) explicitIDs() {
	if len(d.next.OrdererIDs) == 0 {
		for i := range d.next.Orderers {
			d.next.OrdererIDs = append(d.next.OrdererIDs, uint64(i+1))
		}
	}
	d.next.NextOrdererID = d.next.NextConsensusID()
}

// AddOrderer appends an orderer with its key; it takes the lowest
// consensus id never given.
func (d *Draft) AddOrderer(name string, k keys.TrustedKey) error {
	if d.next.OrdererIndex(name) >= 0 {
		return fmt.Errorf("config: %s is already an orderer", name)
	}
	if k.Role != keys.RoleOrderer || k.Member != name {
		return fmt.Errorf("config: key %s is %s/%s's, not orderer/%s's", k.ID, k.Role, k.Member, name)
	}
	d.explicitIDs()
	d.next.Orderers = append(d.next.Orderers, name)
	d.next.OrdererIDs = append(d.next.OrdererIDs, d.next.NextOrdererID)
	d.next.NextOrdererID++
	return d.AddKey(k)
}

// RemoveOrderer takes an orderer out of the set: its votes stop counting
// from the height after the configuration block. Its keys stay, so what
// it signed before stays verifiable.
func (d *Draft) RemoveOrderer(name string) error {
	i := d.next.OrdererIndex(name)
	if i < 0 {
		return fmt.Errorf("config: %s is not an orderer", name)
	}
	d.explicitIDs()
	d.next.Orderers = slices.Delete(d.next.Orderers, i, i+1)
	d.next.OrdererIDs = slices.Delete(d.next.OrdererIDs, i, i+1)
	return nil
}

// SetRules names the rules version of the next configuration (which Check
// refuses unless it is the one in force: see the package documentation).
func (d *Draft) SetRules(v int) { d.next.Rules = v }

// Proposal returns the unsigned transaction for the drafted
// configuration. The bundle must be well formed (keys.ParseBundle).
func (d *Draft) Proposal(note string) (*Tx, error) {
	raw, err := d.next.Marshal()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	next, err := keys.ParseBundle(raw)
	if err != nil {
		return nil, fmt.Errorf("config: the drafted configuration: %w", err)
	}
	return &Tx{Chain: d.cur.Chain, Base: Digest(d.cur), Next: next, Note: note}, nil
}
