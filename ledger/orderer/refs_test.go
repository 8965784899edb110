package orderer

import (
	"errors"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/block"
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
