package orderer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// propose drafts a configuration over the one in force at n's next
// height and has signers (orderers in force, by name) sign it.
func (c *cluster) propose(n *Node, note string, signers []string, edit func(*config.Draft)) *config.Tx {
	c.t.Helper()
	d := config.NewDraft(n.Config().At(n.Height() + 1))
	edit(d)
	tx, err := d.Proposal(note)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, o := range signers {
		config.Sign(tx, c.cons.Orderers[o], keys.RoleOrderer, o)
	}
	return tx
}

// TestOrdererRemovedUnderLoad: five orderers seal while load runs; a
// configuration block removes Macao, the second (consensus id 2). The
// other four reconfigure their engines at that block and go on with a
// quorum of three, with the ids they had; Macao stops itself and says
// why. Nothing published is lost or sealed twice, and every block's
// certificate verifies under the configuration the genesis trust and the
// chain's configuration blocks give at its height. A configuration signed
// by too few orderers, or counting Macao's vote, is refused; so is a
// certificate of a later block that counts it.
func TestOrdererRemovedUnderLoad(t *testing.T) {
	c := newCluster(t, 5)
	c.startAll()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.load(scale(120), 4, 15*time.Millisecond, stop) })
	defer func() { close(stop); wg.Wait() }()
	c.waitHeight(3, 20*time.Second)

	n := c.node("hongkong")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*timeScale)
	defer cancel()
	remove := func(d *config.Draft) {
		if err := d.RemoveOrderer("macao"); err != nil {
			t.Fatal(err)
		}
	}
	few := c.propose(n, "retire macao", []string{"hongkong", "qianhai", "hengqin"}, remove)
	if err := n.SubmitConfig(ctx, few); !errors.Is(err, config.ErrTooFewSignatures) {
		t.Fatalf("three of five orderers: %v", err)
	}
	tx := c.propose(n, "retire macao", []string{"hongkong", "qianhai", "hengqin", "nansha"}, remove)
	if err := n.SubmitConfig(ctx, tx); err != nil {
		t.Fatal(err)
	}
	macao := c.node("macao")
	select {
	case <-macao.Done():
	case <-time.After(60 * time.Second * timeScale):
		t.Fatalf("macao still runs at height %d", macao.Height())
	}
	if err := macao.Err(); !errors.Is(err, ErrRemoved) {
		t.Fatalf("macao stopped with %v, want ErrRemoved", err)
	}
	c.stop("macao")
	waitUntil(t, 30*time.Second, "hongkong seals the configuration", func() bool { return n.Config().LastHeight() > 0 })
	at := n.Config().LastHeight()
	after := n.Config().At(at + 1)
	if got, want := after.ConsensusIDs(), []uint64{1, 3, 4, 5}; !slices.Equal(got, want) || after.Quorum() != 3 {
		t.Fatalf("orderers after the removal: ids %v quorum %d, want %v and 3", got, after.Quorum(), want)
	}

	wg.Wait()
	c.waitSealed(60 * time.Second)
	// Sealed beyond the configuration block by the four.
	c.publish(c.batch("zhuhai", 3))
	c.waitSealed(30 * time.Second)
	c.checkChains()
	if h := n.Height(); h <= at {
		t.Fatalf("nothing sealed after the configuration block at %d", at)
	}
	hist := c.followChain(n)
	for h := at + 1; h <= n.Height(); h++ {
		qc, err := n.Store().QC(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range qc.Votes {
			if v.Signer == "macao" {
				t.Fatalf("block %d counts macao's vote", h)
			}
		}
	}
	// A certificate of the last block with Macao's vote in place of one of
	// the four: refused under the configuration in force there, though it
	// was a valid vote under the genesis.
	last, err := n.Store().Block(n.Height())
	if err != nil {
		t.Fatal(err)
	}
	qc, err := n.Store().QC(n.Height())
	if err != nil {
		t.Fatal(err)
	}
	forged := &block.QC{Votes: append(slices.Clone(qc.Votes[:2]), block.SignVote(c.cons.Orderers["macao"], "macao", &last.Header))}
	if err := block.VerifyQC(hist.At(last.Header.Height), &last.Header, forged); err == nil {
		t.Fatal("a certificate counting a removed orderer's vote verifies")
	}

	// A later configuration with Macao's vote: refused, though three of
	// the four signed too.
	padded := c.propose(n, "macao votes", []string{"hongkong", "qianhai", "hengqin", "macao"}, func(d *config.Draft) {
		if err := d.RevokeKey("city/zhuhai/1", n.Height()+100); err != nil {
			t.Fatal(err)
		}
	})
	config.Sign(padded, c.cons.Cities["zhuhai"], keys.RoleCity, "zhuhai")
	if err := n.SubmitConfig(ctx, padded); !errors.Is(err, config.ErrNotMember) {
		t.Fatalf("a removed orderer's vote: %v", err)
	}
}
