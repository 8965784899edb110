package replica_test

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// rotateShenzhen is a configuration over cur that rotates Shenzhen's key
// from height from, signed by the orderers named, Shenzhen and the new
// key.
func rotateShenzhen(t *testing.T, cons *keys.Consortium, cur *keys.Bundle, from uint64, signers []string) (*config.Tx, *keys.PrivateKey) {
	t.Helper()
	d := config.NewDraft(cur)
	nk, err := keys.Generate(d.NextKeyID(keys.RoleCity, "shenzhen"), keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RotateKey(config.TrustedKeyOf(nk.Public(), keys.RoleCity, "shenzhen", 0), from); err != nil {
		t.Fatal(err)
	}
	tx, err := d.Proposal("rotate shenzhen")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range signers {
		config.Sign(tx, cons.Orderers[o], keys.RoleOrderer, o)
	}
	config.Sign(tx, cons.Cities["shenzhen"], keys.RoleCity, "shenzhen")
	config.Sign(tx, nk, keys.RoleCity, "shenzhen")
	return tx, nk
}

// TestConfigurationBlock: a configuration request is sealed alone, ahead
// of the batches that came with it; from the next height every replica
// judges by it (Shenzhen's old key refused from the rotation height, its
// new key accepted), and a replica opened again recovers it from its log.
// A configuration with too few orderer signatures is refused and dropped.
func TestConfigurationBlock(t *testing.T) {
	seed := testSeed(t)
	members, _ := newMembers(t, 4, seed)
	cons := members[0].cons
	orderers := cons.Bundle.Orderers
	var dropped []types.RequestInfo
	members[1].drop = func(info types.RequestInfo) { dropped = append(dropped, info) }
	members[1].newReplica()

	sz := func(seq uint64, key keys.Signer) *schemas.Batch {
		b, err := schemas.SealBatch(cons.Bundle.Chain, "shenzhen", int64(seq)*1000, seq,
			[][]byte{blocktest.Tx(cons.Bundle.Chain, "shenzhen", "SZ-"+string(rune('A'+seq)), schemas.ActionIssue)}, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b1 := sz(1, cons.Cities["shenzhen"])
	holdAll(members, []*schemas.Batch{b1})
	round(t, members, 0, 1, frames([]*schemas.Batch{b1}))

	// Too few signatures: refused on forwarding, dropped by the leader,
	// which proposes the batches instead.
	forged, _ := rotateShenzhen(t, cons, cons.Bundle, 4, orderers[:2])
	if _, err := members[0].rep.VerifyRequest(replica.ConfigRequest(forged)); !errors.Is(err, replica.ErrRequest) || !errors.Is(err, config.ErrTooFewSignatures) {
		t.Errorf("a forwarded configuration of two of four: %v", err)
	}
	b2 := sz(2, cons.Cities["shenzhen"])
	holdAll(members, []*schemas.Batch{b2})
	p := members[1].rep.AssembleProposal(blocklogtest.Metadata(2), append([][]byte{replica.ConfigRequest(forged)}, frames([]*schemas.Batch{b2})...))
	if block.IsConfig(p.Payload) || len(dropped) != 1 || dropped[0].ClientID != replica.ConfigClient {
		t.Fatalf("the forged configuration was proposed (dropped %v)", dropped)
	}
	round(t, members, 1, 2, frames([]*schemas.Batch{b2}))

	// The honest one: sealed alone at 3, ahead of the batch beside it.
	tx, nk := rotateShenzhen(t, cons, cons.Bundle, 5, orderers[:3])
	info, err := members[2].rep.VerifyRequest(replica.ConfigRequest(tx))
	if err != nil || info.ClientID != replica.ConfigClient {
		t.Fatalf("VerifyRequest: %v", err)
	}
	b3 := sz(3, cons.Cities["shenzhen"])
	holdAll(members, []*schemas.Batch{b3})
	p, _ = round(t, members, 2, 3, append(frames([]*schemas.Batch{b3}), replica.ConfigRequest(tx)))
	if !block.IsConfig(p.Payload) {
		t.Fatal("the configuration was not sealed alone")
	}
	infos, err := members[3].rep.VerifyProposal(p)
	if err == nil && (len(infos) != 1 || infos[0] != info) {
		t.Errorf("the engine is told of requests %v, want %v", infos, info)
	}
	for _, m := range members {
		if m.rep.History().LastHeight() != 3 {
			t.Fatalf("%s: history ends at %d", m.name, m.rep.History().LastHeight())
		}
	}
	round(t, members, 3, 4, frames([]*schemas.Batch{b3}))

	// Height 5: the old key is refused, the new one accepted.
	old, fresh := sz(5, cons.Cities["shenzhen"]), sz(6, nk)
	if _, err := members[0].rep.VerifyRequest(old.Encode()); !errors.Is(err, keys.ErrKeyNotValid) {
		t.Errorf("a batch of the rotated key at 5: %v", err)
	}
	if _, err := members[0].rep.VerifyRequest(fresh.Encode()); err != nil {
		t.Errorf("a batch of the new key at 5: %v", err)
	}

	// Opened again, a replica recovers the configuration from its log.
	m := members[0]
	m.close()
	m.log = nil
	m.open()
	if _, err := m.rep.VerifyRequest(fresh.Encode()); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("without the history, the new key is unknown: %v", err)
	}
	hist, err := replica.LoadHistory(cons.Bundle, m.store)
	if err != nil || hist.LastHeight() != 3 {
		t.Fatalf("LoadHistory: %v", err)
	}
	m.rep, err = replica.New(replica.Config{Name: m.name, Trust: cons.Bundle, History: hist, Key: m.key, Log: m.log, State: m.state,
		Index: m.idx, Batches: m.held, Clock: m.clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.rep.VerifyRequest(fresh.Encode()); err != nil {
		t.Errorf("after LoadHistory, the new key: %v", err)
	}
	holdAll(members, []*schemas.Batch{fresh})
	round(t, members, 1, 5, frames([]*schemas.Batch{fresh}))
	sameChains(t, members)
}
