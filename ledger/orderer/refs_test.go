package orderer

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
)

// noAck stands in for a JetStream message in the pending map.
type noAck struct{}

func (noAck) Ack() error        { return nil }
func (noAck) InProgress() error { return nil }
func (noAck) Nak() error        { return nil }

// TestResolveReferencedBatches: a proposal's batch references are resolved
// from what the orderer ingested; one that arrives a moment after the
// proposal is waited for; one never received fails with ErrBatchMissing
// after BatchWait; and one already sealed fails at once.
func TestResolveReferencedBatches(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	c.load(3, 5, 0, nil)
	c.waitSealed(60 * time.Second)
	n := c.running()[1]
	h := n.Height()
	sealed, err := n.store.Block(h)
	if err != nil {
		t.Fatal(err)
	}

	late := c.batch("zhuhai", 2) // never published: only this test hands it over
	go func() {
		time.Sleep(50 * time.Millisecond)
		n.ackMu.Lock()
		n.pending[late.ID()] = pendingMsg{msg: noAck{}, batch: late, since: time.Now()}
		n.ackMu.Unlock()
	}()
	waits := n.Stats().BatchWaits
	got, err := n.resolve([]block.BatchRef{block.RefOf(late)})
	if err != nil || len(got) != 1 || got[0] != late {
		t.Fatalf("a batch ingested after its proposal: %v, %v", got, err)
	}
	if n.Stats().BatchWaits != waits+1 {
		t.Errorf("BatchWaits %d, want %d", n.Stats().BatchWaits, waits+1)
	}
	n.ackMu.Lock()
	delete(n.pending, late.ID())
	n.ackMu.Unlock()

	never := c.batch("zhuhai", 1)
	start := time.Now()
	if _, err := n.resolve([]block.BatchRef{block.RefOf(never)}); !errors.Is(err, ErrBatchMissing) {
		t.Fatalf("a batch never received: err %v, want ErrBatchMissing", err)
	}
	if took := time.Since(start); took < n.cfg.BatchWait {
		t.Errorf("gave up after %v, BatchWait is %v", took, n.cfg.BatchWait)
	}

	start = time.Now()
	if _, err := n.resolve([]block.BatchRef{block.RefOf(sealed.Batches[0])}); err == nil || errors.Is(err, ErrBatchMissing) {
		t.Fatalf("a sealed batch: err %v, want already on the chain", err)
	}
	if took := time.Since(start); took >= n.cfg.BatchWait {
		t.Errorf("a sealed batch took %v to refuse: it was waited for", took)
	}

}

// shun drops the consensus messages its orderer sends to one target while
// on is set: that target keeps ingesting batches but misses decisions.
type shun struct {
	bft.Comm
	target uint64
	on     *atomic.Bool
}

func (s *shun) SendConsensus(target uint64, m *protos.Message) {
	if s.on.Load() && target == s.target {
		return
	}
	s.Comm.SendConsensus(target, m)
}

// TestSyncedBlocksLeaveThePool: an orderer cut off from consensus keeps
// ingesting batches into its engine's pool while the others seal them;
// once it catches up by sync, those batches must leave its pool, or they
// time out there and are forwarded to the leader as if censored.
func TestSyncedBlocksLeaveThePool(t *testing.T) {
	c := newCluster(t, 4)
	victim := c.names[3]
	var on atomic.Bool
	for _, name := range c.names[:3] {
		c.wrap[name] = func(inner bft.Comm) bft.Comm { return &shun{Comm: inner, target: 4, on: &on} }
	}
	c.startAll()
	c.load(4, 5, 0, nil)
	c.waitSealed(60 * time.Second)

	on.Store(true)
	x := c.node(victim)
	before := x.Height()
	c.load(8, 5, 5*time.Millisecond, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.node(c.names[0]).WaitHeight(ctx, before+1); err != nil {
		t.Fatal(err)
	}
	for x.engine.Pool.Size() == 0 { // the victim has ingested some of them
		if ctx.Err() != nil {
			t.Fatal("the cut-off orderer never pooled a batch")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if x.Height() != before {
		t.Fatalf("the cut-off orderer sealed blocks (%d -> %d): the test cuts nothing", before, x.Height())
	}
	on.Store(false)
	c.waitSealed(60 * time.Second)
	for x.engine.Pool.Size() != 0 {
		if ctx.Err() != nil {
			t.Fatalf("%d sealed batches stay in the synced orderer's pool", x.engine.Pool.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
