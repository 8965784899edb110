package orderer

import (
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/bft"
)

// After every orderer is killed at once, the leader can restore from its
// engine WAL a proposal that only some followers had received. On restart
// the engine sends again only its own prepare or commit for it, never the
// pre-prepare, so the followers that never saw the proposal cannot vote,
// and with a quorum of 4 of 5 needing them the sequence waits for the
// request timers to force a view change: 25 s with the node's defaults,
// seen in cmd/baybus's TestUpSealsSoonAfterKill9 under load. The leader
// therefore sends that pre-prepare again until the block is sealed or the
// view moves on. A follower that has the proposal keeps the copy in its
// pre-prepare slot, which the engine clears when the sequence advances.
//
// When to send matters. A follower that verifies a proposal naming a batch
// it cannot get within BatchWait refuses it and gives up the view. After a
// whole-cluster restart no orderer holds the batches of the restored
// proposal (they lived in memory) until JetStream delivers them again,
// which it does AckWait after it first delivered them, so at most AckWait
// after the restart. The first copy goes out at AckWait - BatchWait, so
// that the follower's wait for the batch ends after the redelivery; the
// others, every AckWait, reach a peer that was not yet listening.

// restoredResends bounds the copies sent.
const restoredResends = 3

// restoredPrePrepare returns the pre-prepare of the proposal the engine
// WAL holds in flight for sequence next, or nil: the last entry is that
// proposal's record (prepare sent), or its commit preceded by the record.
func restoredPrePrepare(entries [][]byte, next uint64) *protos.PrePrepare {
	for i := len(entries) - 1; i >= 0 && i >= len(entries)-2; i-- {
		m := &protos.SavedMessage{}
		if proto.Unmarshal(entries[i], m) != nil {
			return nil
		}
		if pp := m.GetProposedRecord().GetPrePrepare(); pp != nil {
			if pp.GetSeq() != next || pp.GetProposal() == nil {
				return nil
			}
			return pp
		}
		if m.GetCommit().GetCommit() == nil {
			return nil // a view change record: the engine handles it
		}
	}
	return nil
}

// resendRestored runs while the node does (wg): it sends pp again to every
// peer while this orderer leads pp's view and pp's block is not sealed.
func (n *Node) resendRestored(comm bft.Comm, pp *protos.PrePrepare) {
	defer n.wg.Done()
	msg := &protos.Message{Content: &protos.Message_PrePrepare{PrePrepare: pp}}
	wait := max(0, n.cfg.AckWait-n.cfg.BatchWait)
	for range restoredResends {
		t := time.NewTimer(wait)
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if n.store.Height() >= pp.GetSeq() || n.view.current() > pp.GetView() || n.engine.GetLeaderID() != n.self {
			return
		}
		for _, id := range n.rep.Trust().ConsensusIDs() {
			if id != n.self {
				comm.SendConsensus(id, msg)
			}
		}
		n.log.Info("sent again the pre-prepare of the proposal restored from the engine WAL", "seq", pp.GetSeq(), "view", pp.GetView())
		wait = n.cfg.AckWait
	}
}
