package orderer

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
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

// TestResolveFetchesFromPeers: a batch a proposal names that this orderer
// never ingested is fetched from a peer that holds it, well within
// BatchWait. A peer that sends another batch under the referenced id, or
// the referenced batch with a signature that does not verify, is refused,
// counted, and the proposal fails with ErrBatchMissing.
func TestResolveFetchesFromPeers(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	c.load(2, 3, 0, nil)
	c.waitSealed(60 * time.Second)
	n, peer := c.running()[1], c.running()[2]
	hold := func(bt *schemas.Batch, as string) {
		peer.ackMu.Lock()
		peer.pending[as] = pendingMsg{msg: noAck{}, batch: bt, since: time.Now()}
		peer.ackMu.Unlock()
		t.Cleanup(func() {
			peer.ackMu.Lock()
			delete(peer.pending, as)
			peer.ackMu.Unlock()
		})
	}

	only := c.batch("zhuhai", 3) // never published: only the peer holds it
	hold(only, only.ID())
	before := n.Stats()
	start := time.Now()
	got, err := n.resolve([]block.BatchRef{block.RefOf(only)})
	if err != nil || len(got) != 1 || got[0].ID() != only.ID() || !bytes.Equal(got[0].Signature, only.Signature) {
		t.Fatalf("a batch only a peer holds: %v, %v", got, err)
	}
	if took := time.Since(start); took >= n.cfg.BatchWait {
		t.Errorf("fetching took %v, BatchWait is %v", took, n.cfg.BatchWait)
	}
	if s := n.Stats(); s.Fetched != before.Fetched+1 || s.FetchRefused != before.FetchRefused {
		t.Errorf("fetched %d refused %d, want %d and %d", s.Fetched, s.FetchRefused, before.Fetched+1, before.FetchRefused)
	}

	// Only orderers may ask: the same request unsigned, as a service on
	// the bus could send it, gets no answer.
	op, err := c.srv.Connect(bus.IdentityName(bus.RoleService, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	status := []byte("GSQ1\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	if _, err := op.Request(bus.SyncSubject(peer.Name()), status, 5*time.Second); err != nil {
		t.Fatalf("a status request, which anyone may send: %v", err)
	}
	unsigned := append([]byte("GSQ1\x03\x01"), byte(len(only.ID())))
	unsigned = append(unsigned, only.ID()...)
	if m, err := op.Request(bus.SyncSubject(peer.Name()), unsigned, 300*time.Millisecond); err == nil {
		t.Errorf("an unsigned batches request was answered: %d bytes", len(m.Data))
	}

	// The peer answers a reference with a different batch (another
	// signature over the same header): not the one referenced.
	wanted := c.batch("zhuhai", 2)
	other := *wanted
	other.Signature = bytes.Clone(wanted.Signature)
	other.Signature[0] ^= 1
	hold(&other, wanted.ID())
	// And with the referenced batch itself, but its signature is bad.
	forged := c.batch("zhuhai", 2)
	forged.Signature = bytes.Clone(forged.Signature)
	forged.Signature[1] ^= 1
	hold(forged, forged.ID())
	for _, ref := range []block.BatchRef{block.RefOf(wanted), block.RefOf(forged)} {
		before := n.Stats()
		if _, err := n.resolve([]block.BatchRef{ref}); !errors.Is(err, ErrBatchMissing) {
			t.Fatalf("a substituted or forged batch: err %v, want ErrBatchMissing", err)
		}
		// The leader and then the other two peers are asked; only the
		// holding peer answers.
		if s := n.Stats(); s.Fetched != before.Fetched || s.FetchRefused != before.FetchRefused+1 {
			t.Errorf("fetched %d refused %d, want %d and %d", s.Fetched, s.FetchRefused, before.Fetched, before.FetchRefused+1)
		}
	}
}

// TestLaggingIngesterDoesNotStallTheCluster: one orderer is down and
// another's GBA_TX consumer delivers nothing (its filter matches no
// subject, as a lost pull would for a while). The two left with batches
// and the lagging one are exactly a quorum, so every block needs the
// lagging orderer's vote: it fetches the batches each proposal names from
// its peers, and the load is sealed everywhere. (Without the fetch it
// refuses the proposals, and the cluster moves only after view changes.)
func TestLaggingIngesterDoesNotStallTheCluster(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	c.load(2, 3, 0, nil)
	c.waitSealed(60 * time.Second)
	leader := c.running()[0].Leader()
	var followers []*Node
	for _, n := range c.running() {
		if n.Name() != leader {
			followers = append(followers, n)
		}
	}
	lagging, down := followers[0], followers[1]

	_, js := c.operator()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc := bus.OrdererConsumerConfig(lagging.Name(), lagging.cfg.AckWait, int(lagging.cfg.Engine.PoolSize))
	cc.FilterSubject = bus.TxSubject("nowhere")
	if _, err := js.UpdateConsumer(ctx, bus.StreamTx, cc); err != nil {
		t.Fatal(err)
	}
	c.stop(down.Name())

	before := lagging.Stats()
	c.load(scale(20), 5, 0, nil)
	c.waitSealed(60 * time.Second)
	c.checkChains()
	s := lagging.Stats()
	if s.Fetched == before.Fetched {
		t.Errorf("%s sealed every block without fetching a batch (stats %+v): its consumer was not cut off", lagging.Name(), s)
	}
	if s.Ingested != before.Ingested {
		t.Errorf("%s ingested %d batches with its consumer cut off", lagging.Name(), s.Ingested-before.Ingested)
	}
	t.Logf("%s: fetched %d batches, %d proposals waited, %d refused", lagging.Name(), s.Fetched-before.Fetched, s.BatchWaits-before.BatchWaits, s.BadProposals-before.BadProposals)
}

// TestIngesterRecreatesADeletedConsumer: an orderer whose GBA_TX consumer
// is deleted under it re-creates the consumer, ingests what is published
// next, and acknowledges everything.
func TestIngesterRecreatesADeletedConsumer(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	c.load(2, 3, 0, nil)
	c.waitSealed(60 * time.Second)
	n := c.running()[2]

	_, js := c.operator()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := n.Stats()
	if err := js.DeleteConsumer(ctx, bus.StreamTx, bus.OrdererConsumer(n.Name())); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second * timeScale)
	for n.Stats().Reopened == before.Reopened {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not re-create its consumer (stats %+v)", n.Name(), n.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.load(scale(10), 3, 0, nil)
	c.waitSealed(60 * time.Second)
	c.waitAcked(20 * time.Second)
	if s := n.Stats(); s.Ingested == before.Ingested {
		t.Errorf("%s ingested nothing after its consumer came back (stats %+v)", n.Name(), s)
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*timeScale)
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
