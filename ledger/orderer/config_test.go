package orderer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout * timeScale)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout*timeScale)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConfigurationOnTheChain: a configuration transaction rotating
// Shenzhen's key, submitted to one orderer, is sealed alone; from the
// height after it every orderer judges Shenzhen's batches by it (the new
// key's sealed, the old key's refused at ingestion), and an orderer
// restarted recovers it from its block log. A configuration with too few
// signatures, or one that rotates the key of an orderer that stays (not
// built), is refused at submission.
func TestConfigurationOnTheChain(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	c.publish(c.batch("shenzhen", 2))
	c.publish(c.batch("macao", 2))
	c.waitSealed(20 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*timeScale)
	defer cancel()

	n := c.node(c.names[1])
	h := n.Height()
	cur := n.Config().At(h + 1)
	propose := func(from uint64, signers []string, edit func(*config.Draft)) (*config.Tx, *keys.PrivateKey) {
		d := config.NewDraft(cur)
		nk, err := keys.Generate(d.NextKeyID(keys.RoleCity, "shenzhen"), keys.Ed25519, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.RotateKey(config.TrustedKeyOf(nk.Public(), keys.RoleCity, "shenzhen", 0), from); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(d)
		}
		tx, err := d.Proposal("rotate shenzhen")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range signers {
			config.Sign(tx, c.cons.Orderers[o], keys.RoleOrderer, o)
		}
		config.Sign(tx, c.cons.Cities["shenzhen"], keys.RoleCity, "shenzhen")
		config.Sign(tx, nk, keys.RoleCity, "shenzhen")
		return tx, nk
	}

	forged, _ := propose(h+2, c.names[:2], nil)
	if err := n.SubmitConfig(ctx, forged); !errors.Is(err, config.ErrTooFewSignatures) {
		t.Errorf("two of four orderers: %v", err)
	}
	okey, err := keys.Generate("orderer/"+c.names[0]+"/2", keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	orotate, _ := propose(h+2, c.names[:3], func(d *config.Draft) {
		if err := d.RotateKey(config.TrustedKeyOf(okey.Public(), keys.RoleOrderer, c.names[0], 0), h+2); err != nil {
			t.Fatal(err)
		}
	})
	config.Sign(orotate, okey, keys.RoleOrderer, c.names[0])
	if err := n.SubmitConfig(ctx, orotate); !errors.Is(err, replica.ErrEngineConfig) {
		t.Errorf("a configuration that rotates the key of an orderer that stays: %v", err)
	}

	// The rotation from h+2: sealed at h+1 (no batch is waiting), so the
	// new key counts from the height after it. The fourth orderer is down
	// meanwhile: it syncs the configuration block and what follows later.
	c.stop(c.names[3])
	tx, nk := propose(h+2, c.names[:3], nil)
	if err := n.SubmitConfig(ctx, tx); err != nil {
		t.Fatal(err)
	}
	c.waitHeight(h+1, 20*time.Second)
	for _, o := range c.running() {
		if got := o.Config().LastHeight(); got != h+1 {
			t.Fatalf("%s: the last configuration block is %d, want %d", o.Name(), got, h+1)
		}
	}
	sealed, err := c.node(c.names[0]).Store().Block(h + 1)
	if err != nil || sealed.Config == nil || len(sealed.Batches) != 0 {
		t.Fatalf("block %d is not the configuration alone: %v", h+1, err)
	}

	newBatch := func(seq uint64) *schemas.Batch {
		b, err := schemas.SealBatch(c.cons.Bundle.Chain, "shenzhen", int64(seq), seq,
			[][]byte{blocktest.Tx(c.cons.Bundle.Chain, "shenzhen", fmt.Sprintf("NK%06d", seq), schemas.ActionIssue)}, nk)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c.publish(newBatch(1001))
	c.waitSealed(20 * time.Second)
	lagging := c.start(c.names[3])
	c.waitSealed(30 * time.Second)
	if got := lagging.Config().LastHeight(); got != h+1 {
		t.Fatalf("synced: configuration history ends at %d, want %d", got, h+1)
	}

	bad := make([]uint64, len(c.names))
	for i, name := range c.names {
		bad[i] = c.node(name).Stats().IngestBad
	}
	old := c.batch("shenzhen", 1) // the old key, past its end
	c.publishRaw(old.City, old.ID(), old.Encode())
	for i, name := range c.names {
		o := c.node(name)
		waitUntil(t, 20*time.Second, name+" refuses the old key", func() bool { return o.Stats().IngestBad > bad[i] })
	}

	// Restarted, an orderer recovers the configuration from its log.
	c.stop(c.names[2])
	r := c.start(c.names[2])
	if got := r.Config().LastHeight(); got != h+1 {
		t.Fatalf("restarted: configuration history ends at %d, want %d", got, h+1)
	}
	c.publish(newBatch(1002))
	c.waitSealed(30 * time.Second)
}
