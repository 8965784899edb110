package replica_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/schemas"
)

func newMembers(t testing.TB, n int, seed uint64) ([]*member, *fixedClock) {
	t.Helper()
	cons := testConsortium(t, n, seed)
	clock := &fixedClock{now: epoch}
	var out []*member
	for _, name := range cons.Bundle.Orderers {
		out = append(out, newMember(t, cons, name, clock))
	}
	return out, clock
}

func holdAll(members []*member, bts []*schemas.Batch) {
	for _, m := range members {
		m.held.add(bts...)
	}
}

// Every member, led in turn, builds and accepts the same blocks: the
// replica is deterministic given its inputs.
func TestRoundsSealTheSameChain(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	members, clock := newMembers(t, 4, seed)
	var seq uint64
	const heights = 12
	for h := uint64(1); h <= heights; h++ {
		bts := batches(members[0].cons, rng, &seq, 1+rng.IntN(4), 1+rng.IntN(5))
		holdAll(members, bts)
		clock.add(time.Duration(1+rng.IntN(100)) * time.Millisecond)
		round(t, members, int(h)%len(members), h, frames(bts))
	}
	sameChains(t, members)
	root := members[0].state.root(t)
	for _, m := range members {
		if m.store.Height() != heights || m.state.Height() != heights || m.idx.Height() != heights {
			t.Fatalf("%s: log %d, state %d, index %d, want %d", m.name, m.store.Height(), m.state.Height(), m.idx.Height(), heights)
		}
		if got := m.state.root(t); got != root {
			t.Fatalf("%s: state root %x, want %x", m.name, got[:6], root[:6])
		}
	}
}

// A proposal is refused, with a specific error, whenever it is not the
// block the replica would build from the same batches.
func TestVerifyRefusesWhatItWouldNotBuild(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	members, clock := newMembers(t, 4, seed)
	var seq uint64
	sealed := batches(members[0].cons, rng, &seq, 2, 2)
	holdAll(members, sealed)
	round(t, members, 0, 1, frames(sealed))

	fresh := batches(members[0].cons, rng, &seq, 2, 2)
	members[0].held.add(fresh...) // the leader holds them; follower 1 does not yet
	leader, follower := members[0], members[1]
	good := leader.rep.AssembleProposal(blocklogtest.Metadata(2), frames(fresh))
	if len(good.Payload) == 0 {
		t.Fatal("leader assembled nothing")
	}
	// A batch not held: refused at once (no waiting), naming what to fetch.
	_, err := follower.rep.VerifyProposal(good)
	var missing *replica.MissingError
	if !errors.Is(err, replica.ErrBatchMissing) || !errors.As(err, &missing) || len(missing.Refs) != 2 {
		t.Fatalf("batches not held: %v, want a MissingError naming 2 batches", err)
	}
	if got := follower.rep.Missing(missing.Refs); len(got) != 2 {
		t.Fatalf("Missing: %d refs, want 2", len(got))
	}
	follower.held.add(fresh...)
	if _, err := follower.rep.VerifyProposal(good); err != nil {
		t.Fatalf("once held: %v", err)
	}

	other := members[2] // verifies each case afresh (no recalled proposal)
	other.held.add(fresh...)
	otherHeader := leader.rep.AssembleProposal(blocklogtest.Metadata(2), frames(fresh[:1])).Header
	sealedAgain := leader.rep.AssembleProposal(blocklogtest.Metadata(2), frames(fresh))
	cases := []struct {
		name string
		p    func() types.Proposal
		want error
	}{
		{"header of another proposal", func() types.Proposal { p := good; p.Header = otherHeader; return p }, replica.ErrProposal},
		{"metadata not the block's", func() types.Proposal { p := good; p.Metadata = blocklogtest.Metadata(3); return p }, replica.ErrProposal},
		{"verification sequence", func() types.Proposal { p := good; p.VerificationSequence = 1; return p }, replica.ErrProposal},
		{"payload not references", func() types.Proposal { p := good; p.Payload = []byte("junk"); return p }, replica.ErrProposal},
		{"sequence past our next height", func() types.Proposal {
			leader.rep.AssembleProposal(blocklogtest.Metadata(2), frames(fresh)) // refresh the leader's cache
			return types.Proposal{Payload: good.Payload, Header: good.Header, Metadata: blocklogtest.Metadata(5)}
		}, replica.ErrProposal},
		{"unchanged", func() types.Proposal { return sealedAgain }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := other.rep.VerifyProposal(c.p())
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// A proposal from the future: timestamped past the allowed skew.
	clock.add(-2 * time.Minute)
	fresh2 := batches(members[0].cons, rng, &seq, 1, 1)
	holdAll(members, fresh2)
	clock.add(2 * time.Minute)
	ahead := leader.rep.AssembleProposal(blocklogtest.Metadata(2), frames(fresh2))
	clock.add(-2 * time.Minute)
	if _, err := members[3].rep.VerifyProposal(ahead); !errors.Is(err, replica.ErrProposal) {
		t.Fatalf("a proposal two minutes ahead: %v, want ErrProposal", err)
	}
	clock.add(2 * time.Minute)
	if _, err := members[3].rep.VerifyProposal(ahead); err != nil {
		t.Fatalf("the same proposal once the clock caught up: %v", err)
	}
	// A batch already sealed.
	again := leader.rep.AssembleProposal(blocklogtest.Metadata(2), frames(sealed))
	if len(again.Payload) != 0 {
		refs, _ := block.DecodeRefs(again.Payload)
		if len(refs.Batches) != 0 {
			t.Fatalf("the leader proposed %d sealed batches again", len(refs.Batches))
		}
	}
	if got := follower.rep.BadProposals(); got != 1 {
		t.Fatalf("follower counted %d bad proposals, want 1", got)
	}
}

// An equivocating leader's two proposals for one height: votes for one
// never certify the other, and a decision needs a quorum of valid votes.
func TestDecideCertifiesOnlyTheProposalVotedFor(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	members, _ := newMembers(t, 4, seed)
	var seq uint64
	bts := batches(members[0].cons, rng, &seq, 3, 2)
	holdAll(members, bts)
	leader := members[0]
	a := leader.rep.AssembleProposal(blocklogtest.Metadata(1), frames(bts[:2]))
	b := leader.rep.AssembleProposal(blocklogtest.Metadata(1), frames(bts[1:]))
	var forA, forB []types.Signature
	for _, m := range members {
		for _, p := range []types.Proposal{a, b} {
			if _, err := m.rep.VerifyProposal(p); err != nil {
				t.Fatalf("%s: %v", m.name, err)
			}
		}
		forA = append(forA, *m.rep.SignProposal(a, nil))
		forB = append(forB, *m.rep.SignProposal(b, nil))
	}
	f := members[1]
	if _, err := f.rep.VerifyConsenterSig(forB[2], a); !errors.Is(err, replica.ErrVote) {
		t.Fatalf("a vote for b checked against a: %v, want ErrVote", err)
	}
	if _, err := f.rep.Decide(a, forB, f.idx.Hash); !errors.Is(err, block.ErrQuorum) {
		t.Fatalf("a decided with b's votes: %v, want ErrQuorum", err)
	}
	q := f.cons.Bundle.Quorum()
	dup := append([]types.Signature{}, forA[:q-1]...)
	dup = append(dup, forA[0], forA[0])
	if _, err := f.rep.Decide(a, dup, f.idx.Hash); !errors.Is(err, block.ErrQuorum) {
		t.Fatalf("a quorum made of one vote counted twice: %v, want ErrQuorum", err)
	}
	d, err := f.rep.Decide(a, append(forB, forA[:q]...), f.idx.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Record.QC.Votes) != q {
		t.Fatalf("certificate of %d votes, want the %d for a", len(d.Record.QC.Votes), q)
	}
	if _, err := f.rep.Commit(d); err != nil {
		t.Fatal(err)
	}
	// Decided again (sync got there first): nothing to do. The other
	// proposal at the same height is a fork. One past the next is a gap.
	if d, err := f.rep.Decide(a, forA, f.idx.Hash); d != nil || err != nil {
		t.Fatalf("decided again: %v, %v, want nothing", d, err)
	}
	if _, err := f.rep.Decide(b, forB, f.idx.Hash); !errors.Is(err, replica.ErrFork) {
		t.Fatalf("the other proposal at a held height: %v, want ErrFork", err)
	}
	far := leader.rep.AssembleProposal(blocklogtest.Metadata(1), nil)
	var h block.Header
	_ = h.UnmarshalBinary(far.Header)
	h.Height = 3
	far.Header, _ = h.MarshalBinary()
	if _, err := f.rep.Decide(far, nil, f.idx.Hash); !errors.Is(err, replica.ErrGap) {
		t.Fatalf("a decision two past our height: %v, want ErrGap", err)
	}
}

// Requests forwarded by a peer are checked as ingestion checks them.
func TestVerifyRequest(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	members, _ := newMembers(t, 4, seed)
	var seq uint64
	bts := batches(members[0].cons, rng, &seq, 2, 1)
	holdAll(members, bts[:1])
	round(t, members, 0, 1, frames(bts[:1]))
	m := members[1]
	if info, err := m.rep.VerifyRequest(bts[1].Encode()); err != nil || info.ID != bts[1].ID() || info.ClientID != bts[1].City {
		t.Fatalf("a new batch: %+v, %v", info, err)
	}
	if _, err := m.rep.VerifyRequest(bts[0].Encode()); !errors.Is(err, replica.ErrRequest) {
		t.Fatalf("a sealed batch: %v, want ErrRequest", err)
	}
	if _, err := m.rep.VerifyRequest([]byte("GBB1 not a batch")); !errors.Is(err, replica.ErrRequest) {
		t.Fatalf("junk: %v, want ErrRequest", err)
	}
	forged := blocktest.Batch(members[0].cons, "macao", 99, blocktest.Tx(m.cons.Bundle.Chain, "macao", "M-forged", schemas.ActionIssue))
	forged.Signature[0] ^= 1
	if _, err := m.rep.VerifyRequest(forged.Encode()); !errors.Is(err, replica.ErrRequest) {
		t.Fatalf("a batch with a bad signature: %v, want ErrRequest", err)
	}
}

func TestPlainSignatures(t *testing.T) {
	c := testConsortium(t, 4, testSeed(t))
	name := c.Bundle.Orderers[2]
	k := c.Orderers[name]
	sig := replica.SignPlain(c.Bundle.Chain, k, []byte("view data"))
	if err := replica.VerifyPlain(c.Bundle, name, 1, []byte("view data"), sig); err != nil {
		t.Fatal(err)
	}
	if err := replica.VerifyPlain(c.Bundle, c.Bundle.Orderers[1], 1, []byte("view data"), sig); err == nil {
		t.Fatal("signature accepted for another orderer")
	}
	if err := replica.VerifyPlain(c.Bundle, name, 1, []byte("other"), sig); err == nil {
		t.Fatal("signature accepted for another message")
	}
	if err := replica.VerifyPlain(c.Bundle, name, 1, []byte("view data"), []byte{0xff}); !errors.Is(err, replica.ErrSigFormat) {
		t.Fatalf("a truncated signature: %v, want ErrSigFormat", err)
	}
}
