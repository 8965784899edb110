package orderer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocksync"
	"github.com/baybus/baybus/schemas"
)

// Block sync: a lagging or restarted orderer fetches decided blocks from
// its peers on gba.sync.<peer>. The protocol, its requests and replies and
// the stateless checks of what a peer sends (blocklog.VerifyRecord), are
// ledger/blocksync's; the orderer keeps the policy (whom to ask, for what,
// when) and the commit. The target height is the (f+1)-th highest height
// peers report, so at least one honest orderer vouches for it, and each
// fetched block is replayed over the state (block.Verify) before it is
// committed.

// syncer is the orderer's side of gba.sync: the server that answers its
// peers and the client it catches up and fetches batches with.
type syncer struct {
	n      *Node
	client *blocksync.Client
	server *blocksync.Server
}

// serve starts the sync service on gba.sync.<self> and the client.
func (s *syncer) serve() error {
	n := s.n
	cfg := n.cfg
	var err error
	s.client, err = blocksync.NewClient(blocksync.ClientConfig{
		Conn: cfg.Conn, Trust: cfg.Trust, TrustAt: n.rep.TrustAt, TrustNow: n.rep.Trust, Name: cfg.Name, Key: cfg.Key,
		Timeout: cfg.SyncTimeout, StatusTimeout: min(time.Second, cfg.SyncTimeout),
		KeyHeight: func() uint64 { return n.store.Height() + 1 },
	})
	if err != nil {
		return err
	}
	s.server, err = blocksync.Serve(blocksync.ServerConfig{
		Conn: cfg.Conn, Trust: cfg.Trust, TrustNow: n.rep.Trust, Name: cfg.Name, Key: cfg.Key,
		Store: n.store, Batches: heldBatches{n}, Logger: n.log,
	})
	return err
}

// stop stops the sync service and waits for the request it is serving, so
// the store may be closed afterwards, and ends the client's reply
// subscription.
func (s *syncer) stop() {
	if s.server != nil {
		s.server.Stop()
	}
	if s.client != nil {
		s.client.Close()
	}
}

// heldBatches serves other orderers the batches this one holds unsealed.
type heldBatches struct{ n *Node }

func (h heldBatches) Batch(id string) *schemas.Batch { return h.n.heldBatch(id) }

// peers returns the other orderers in force, in the configuration's order.
func (n *Node) peers() []string {
	var out []string
	for _, p := range n.rep.Trust().Orderers {
		if p != n.cfg.Name {
			out = append(out, p)
		}
	}
	return out
}

// catchUp fetches blocks from peers up to target (0: the height the peers
// vouch for) and commits them.
func (s *syncer) catchUp(ctx context.Context, target uint64) {
	s.n.commitMu.Lock()
	defer s.n.commitMu.Unlock()
	s.catchUpLocked(ctx, target)
}

// catchUpLocked is catchUp with commitMu held.
func (s *syncer) catchUpLocked(ctx context.Context, target uint64) {
	n := s.n
	if ctx.Err() != nil || n.stopped.Load() {
		return
	}
	peers, _ := s.client.Heights(ctx, n.peers())
	if target == 0 {
		if len(peers) == 0 {
			return
		}
		f := n.rep.Trust().F()
		target = peers[min(f, len(peers)-1)].Height
	}
	for n.store.Height() < target && ctx.Err() == nil {
		progress := false
		for _, p := range peers {
			h := n.store.Height()
			if p.Height <= h || h >= target {
				continue
			}
			count := min(uint64(n.cfg.SyncBatch), target-h)
			got, err := s.fetch(ctx, p.Name, uint32(count))
			if got > 0 {
				progress = true
			}
			if err != nil {
				n.log.Warn("sync: fetch failed", "peer", p.Name, "from", h+1, "got", got, "err", err)
			}
		}
		if !progress {
			n.log.Warn("sync: no peer could bring us to the target", "height", n.store.Height(), "target", target)
			return
		}
	}
}

// fetch asks one peer for up to count blocks after our last and commits
// each that verifies; it returns how many it committed.
func (s *syncer) fetch(ctx context.Context, peer string, count uint32) (int, error) {
	n := s.n
	refused := false
	got, err := s.client.Blocks(ctx, peer, n.store.Last(), count, func(rec *blocklog.Record, blk *block.Block) error {
		d, err := n.rep.VerifySynced(rec, blk)
		if err != nil {
			refused = true
			return err
		}
		if err := n.commitLocked(d); err != nil {
			// Verified, but not stored: this orderer cannot go on.
			n.fail(fmt.Errorf("orderer: sync: commit block %d: %w", rec.Header.Height, err))
			return err
		}
		n.stats.synced.Add(1)
		return nil
	})
	var re *blocklog.RecordError
	if refused || errors.As(err, &re) {
		n.stats.syncRefused.Add(1)
	}
	return got, err
}

// watchLag catches up when the engine has left this orderer behind.
//
// SmartBFT notices a follower that is behind by the sequence in the
// leader's heartbeats, but only when it is two sequences behind the
// leader's last decision: a follower that missed the messages of one
// decision (it was syncing, or restarting, as the cluster decided it)
// starts its view at exactly the leader's sequence and waits there for a
// proposal that was made already. Under load the next proposal shows it
// the way; once the load stops, nothing does, and the last block reached
// that orderer only when its request timers forced a view change 25 s
// later (the flaky process cluster test of issue 13). So every
// Config.LagCheck the orderer asks its peers for their heights, and if the
// height they vouch for (the (f+1)-th highest) is above its own at two
// checks in a row while its own has not moved, it fetches the blocks
// itself, then asks the engine to sync, so its view starts at the next
// sequence instead of waiting for a proposal made already.
func (s *syncer) watchLag() {
	n := s.n
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.LagCheck)
	defer t.Stop()
	var behindAt uint64 // our height when we last saw the peers ahead, 0 if we were not behind
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		h := n.store.Height()
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.LagCheck)
		peers, _ := s.client.Heights(ctx, n.peers())
		cancel()
		f := n.rep.Trust().F()
		if len(peers) <= f || peers[f].Height <= h {
			behindAt = 0
			continue
		}
		if behindAt != h+1 {
			behindAt = h + 1 // note it; act if still so at the next check
			continue
		}
		n.log.Info("sync: behind the cluster and the engine has not caught up; fetching", "height", h, "target", peers[f].Height)
		s.catchUp(n.ctx, peers[f].Height)
		behindAt = 0
		// The engine's view still waits for a proposal of a sequence now
		// on our log, and would until a view change (the request timers:
		// the soak's 20-25 s stalls after whole-deployment kills). Its
		// own sync takes our log's last block as its checkpoint and
		// starts its view at the next sequence, whose proposal the
		// leader sends again to every follower that has not prepared it
		// (third_party/smartbft/BAYBUS.md).
		if n.engineUp.Load() && n.store.Height() > h {
			n.engine.RequestSync()
		}
	}
}
