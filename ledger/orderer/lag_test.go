package orderer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"

	"github.com/baybus/baybus/ledger/bft"
)

// missOneDecision is a transport that loses every proposal and vote of
// one sequence sent to one orderer.
type missOneDecision struct {
	bft.Comm
	to  uint64
	seq *atomic.Uint64 // 0: lose nothing
}

func (m *missOneDecision) SendConsensus(target uint64, msg *protos.Message) {
	if s := m.seq.Load(); s != 0 && target == m.to && seqOf(msg) == s {
		return
	}
	m.Comm.SendConsensus(target, msg)
}

func seqOf(m *protos.Message) uint64 {
	switch c := m.GetContent().(type) {
	case *protos.Message_PrePrepare:
		return c.PrePrepare.GetSeq()
	case *protos.Message_Prepare:
		return c.Prepare.GetSeq()
	case *protos.Message_Commit:
		return c.Commit.GetSeq()
	}
	return 0
}

// TestFollowerOneDecisionBehindVotesAgain is the soak's 20-25 s stalls
// after whole-deployment kills (docs/faults.md): a follower missed every
// message of one decision, so its engine waits for a proposal of a
// sequence the others have decided; its lag watcher fetches that block,
// but the engine's view went on waiting, and once another orderer is down
// its vote is needed: nothing was sealed until the request timers (25 s
// at up's defaults, set here) forced a view change. Now the watcher has
// the engine sync, and the leader sends its proposal again to the
// followers that have not prepared it.
func TestFollowerOneDecisionBehindVotesAgain(t *testing.T) {
	c := newCluster(t, 5)
	c.engine.ForwardTimeout = 5 * time.Second * timeScale
	c.engine.ComplainTimeout = 20 * time.Second * timeScale
	c.engine.DecisionsPerLeader = 0 // orderer 1 leads throughout
	const behind = 5                // nansha, a follower
	var seq atomic.Uint64
	for _, name := range c.names[:behind-1] {
		c.wrap[name] = func(comm bft.Comm) bft.Comm { return &missOneDecision{Comm: comm, to: behind, seq: &seq} }
	}
	c.startAll()
	c.load(5, 4, 0, nil)
	c.waitSealed(60 * time.Second)
	h := c.node(c.names[0]).Height()

	seq.Store(h + 1)
	c.load(1, 4, 0, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*timeScale)
	defer cancel()
	for _, name := range c.names[:behind-1] {
		if err := c.node(name).WaitHeight(ctx, h+1); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if got := c.node(c.names[behind-1]).Height(); got > h {
		t.Fatalf("the follower left out is at height %d: it got block %d", got, h+1)
	}
	seq.Store(0)
	// Every vote is needed from now on, the one left behind's too.
	c.stop(c.names[behind-2])
	c.load(3, 4, 0, nil)
	c.waitSealed(10 * time.Second)
	c.checkChains()
}

// TestLeaderProposesAfterASync: a sync on the leader (its lag watcher's,
// or one its heartbeats' answers start) closed its batcher, and when the
// sync found the view as it was, the engine left it closed: the leader
// went on heartbeating and proposed nothing until the followers' request
// timers replaced it (a 25 s stall in the thirty-minute soak,
// docs/faults.md).
func TestLeaderProposesAfterASync(t *testing.T) {
	c := newCluster(t, 4)
	c.engine.ForwardTimeout = 5 * time.Second * timeScale
	c.engine.ComplainTimeout = 20 * time.Second * timeScale
	c.engine.DecisionsPerLeader = 0
	c.startAll()
	c.load(5, 4, 0, nil)
	c.waitSealed(60 * time.Second)
	leader := c.node(c.leader())
	leader.engine.RequestSync()
	time.Sleep(500 * time.Millisecond * timeScale) // the sync has run
	c.load(3, 4, 0, nil)
	c.waitSealed(10 * time.Second)
	if got := c.leader(); got != leader.Name() {
		t.Fatalf("leader %s replaced by %s: it stopped proposing after the sync", leader.Name(), got)
	}
	c.checkChains()
}
