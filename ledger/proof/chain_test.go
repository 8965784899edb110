package proof_test

import (
	"errors"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas"
)

// TestVerifyFollowsTheConfigChain: a proof from after nansha joined is
// certified by four of five orderers, one of which the genesis does not
// know. With the genesis alone it is refused; with the certified
// configuration chain it verifies, and so do proofs from before.
func TestVerifyFollowsTheConfigChain(t *testing.T) {
	c := prooftest.BuildConfig(t, t.TempDir())
	after := c.Find(t, 3, "cn-business")
	before := c.Find(t, 1, "cn-business")

	if _, err := proof.Verify(c.Trust, after); !errors.Is(err, proof.ErrInvalid) {
		t.Fatalf("a proof after the change under the genesis alone: %v", err)
	}
	raw := block.EncodeConfigChain(prooftest.ChainID, c.ConfigChain)
	_, links, err := block.DecodeConfigChain(raw)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := block.FollowConfig(c.Trust, links)
	if err != nil {
		t.Fatal(err)
	}
	vd, err := proof.VerifyChain(hist, after)
	if err != nil {
		t.Fatalf("a proof after the change with the configuration chain: %v", err)
	}
	if vd.Status != schemas.StatusSuspended || vd.Height != 3 {
		t.Errorf("verdict %s at %d", vd.Status, vd.Height)
	}
	v := proof.NewChainVerifier(hist, 0)
	for _, b := range []*proof.Bundle{before, after, after} {
		if _, err := v.Verify(b); err != nil {
			t.Errorf("warm verifier: %v", err)
		}
	}
	if _, err := proof.Verify(c.Trust, before); err != nil {
		t.Errorf("a proof from before the change under the genesis: %v", err)
	}
	// The newest bundle alone judges every certificate by today's
	// orderers and quorum: the proof after the change passes, the one
	// before (three votes, a quorum of four then) does not. That is why
	// a verifier follows the chain.
	if _, err := proof.Verify(c.Latest, after); err != nil {
		t.Errorf("after the change, under the newest bundle: %v", err)
	}
	if _, err := proof.Verify(c.Latest, before); !errors.Is(err, proof.ErrQuorum) {
		t.Errorf("before the change, under the newest bundle: %v", err)
	}
	// A chain whose configuration block was certified by too few is
	// refused before any proof is judged by it.
	forged := append([]block.ConfigLink(nil), links...)
	forged[0].QC = block.QC{Votes: forged[0].QC.Votes[:2]}
	if _, err := block.FollowConfig(c.Trust, forged); !errors.Is(err, block.ErrQuorum) {
		t.Errorf("a forged configuration chain: %v", err)
	}
}
