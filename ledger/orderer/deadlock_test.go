package orderer

import (
	"context"
	"testing"
	"time"
)

// TestSlowDeliverDuringViewChange is issue 13 §2's "SmartBFT may deadlock
// between Decide and abort when Deliver is slow", tried against our glue.
//
// In SmartBFT before PR #622 a view's goroutine waited in Decide for the
// controller to deliver, while the controller, told to abort that view,
// waited for the view's goroutine to end: a node whose Deliver was slow
// when a view change came stopped for good. v1.0.1 (go.mod) has the fix
// (Decide also returns when its view aborts, and the decision channel has
// room for one); what remains is ours: a Deliver that waited on something
// the abort path needs would deadlock the same way.
//
// So: one follower's Deliver blocks (its commit lock is held, as a slow
// disk or a long catch-up would hold it) while its engine has a decision
// to deliver and the others seal on; the leader dies, which forces a view
// change; the follower's Deliver stays blocked through the view change's
// timeouts and is then released. With four orderers and the leader gone,
// every vote of the three left is needed, the blocked follower's
// included: if it had deadlocked, nothing would be sealed again.
func TestSlowDeliverDuringViewChange(t *testing.T) {
	c := newCluster(t, 4)
	defer c.close()
	c.startAll()
	c.load(10, 5, 0, nil)
	c.waitSealed(60 * time.Second * timeScale)

	leader := c.leader()
	var slow string
	for _, name := range c.names {
		if name != leader {
			slow = name
			break
		}
	}
	n := c.node(slow)
	h := n.Height()
	n.commitMu.Lock()
	locked := true
	defer func() {
		if locked {
			n.commitMu.Unlock()
		}
	}()

	// Load goes on: the others seal past the slow follower, whose engine
	// decides the next block and waits in Deliver.
	stop := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		c.load(1000, 5, 20*time.Millisecond, stop)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-loaded
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*timeScale)
	defer cancel()
	if err := c.node(leader).WaitHeight(ctx, h+3); err != nil {
		t.Fatalf("the others do not seal past %s (height %d): %v", slow, h, err)
	}
	if got := n.Height(); got != h {
		t.Fatalf("%s sealed to %d with its Deliver blocked at %d", slow, got, h)
	}

	// The leader dies: a view change, while the follower's Deliver is
	// blocked, longer than it takes the others to complain and time out.
	c.stop(leader)
	t.Logf("leader %s stopped; %s's Deliver blocked at height %d while the others reached %d", leader, slow, h, h+3)
	time.Sleep(2 * c.engine.HeartbeatTimeout)
	n.commitMu.Unlock()
	locked = false

	// Sealing resumes: the three left (the slow follower's vote needed)
	// seal well past where the others were.
	top := uint64(0)
	for _, m := range c.running() {
		top = max(top, m.Height())
	}
	c.waitHeight(top+5, 90*time.Second*timeScale)
	close(stop)
	<-loaded
	c.waitSealed(90 * time.Second * timeScale)
	c.checkChains()
	t.Logf("after the view change %s delivered on to height %d; leader now %s", slow, n.Height(), c.leader())
}
