package orderer

import (
	"context"
	"sync"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
)

// Batch fetch: a proposal names its batches by reference, and a follower
// whose ingester has not delivered one yet (its pull was lost with a NATS
// server, JetStream is redelivering, it just restarted) asks its peers for
// the batch instead of refusing the proposal. Without it, a follower that
// lags on GBA_TX refuses every block, and one such follower plus one
// orderer down leaves no quorum.
//
// The request (signed by the asking orderer: unsealed batches are for the
// orderers only) and the check that a reply is exactly the batch referenced
// (block.RefOf: city, id and a hash of the city's signature) are
// ledger/blocksync's. The orderer keeps whom to ask (the leader first, then
// the others) and the ingestion checks (signature, every transaction), so a
// peer can withhold a batch but not substitute one.

// fetchedBatch is a batch a peer sent us for a proposal, kept until it is
// sealed or stale.
type fetchedBatch struct {
	batch *schemas.Batch
	since time.Time
}

// heldBatch returns the batch with id if this node holds it: ingested from
// GBA_TX and not yet sealed, fetched from a peer, or in the proposal it
// last assembled or verified (a leader proposes batches forwarded to it,
// and a peer that just sealed a block still serves its batches to one
// that has not).
func (n *Node) heldBatch(id string) *schemas.Batch {
	n.ackMu.Lock()
	m, ok := n.pending[id]
	f, fetched := n.fetched[id]
	n.ackMu.Unlock()
	switch {
	case ok:
		return m.batch
	case fetched:
		return f.batch
	}
	if n.rep != nil {
		if v := n.rep.Last(); v != nil {
			for _, bt := range v.Block.Batches {
				if bt.ID() == id {
					return bt
				}
			}
		}
	}
	return nil
}

// fetchBatches asks peers for the batches of refs this node lacks: the
// leader first (it proposed them), then, for any still missing, the other
// peers at once. It keeps what verifies and returns how many it got.
func (s *syncer) fetchBatches(ctx context.Context, refs []block.BatchRef, timeout time.Duration) int {
	n := s.n
	want := map[string]block.BatchRef{}
	for _, r := range refs {
		if !n.idx.BatchSeen(r.ID) && n.heldBatch(r.ID) == nil {
			want[r.ID] = r
		}
	}
	if len(want) == 0 || timeout <= 0 {
		return 0
	}
	deadline := time.Now().Add(timeout)
	leader := n.Leader()
	var others []string
	for _, p := range n.rep.Trust().Orderers {
		if p != n.cfg.Name && p != leader {
			others = append(others, p)
		}
	}
	got := 0
	if leader != "" && leader != n.cfg.Name {
		got += s.askForBatches(ctx, []string{leader}, want, time.Until(deadline)/2)
	}
	if len(want) > 0 {
		got += s.askForBatches(ctx, others, want, time.Until(deadline))
	}
	return got
}

// askForBatches asks each peer in parallel for the wanted batches and
// keeps, under ackMu, every reply that is a wanted batch (blocksync checks
// it is the one referenced) and passes the ingestion checks; want loses
// what was found. It returns once every wanted batch is found or every peer
// has answered or timed out: a silent peer does not hold it once another
// has answered.
func (s *syncer) askForBatches(ctx context.Context, peers []string, want map[string]block.BatchRef, timeout time.Duration) int {
	n := s.n
	if len(peers) == 0 || timeout <= 0 {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	refs := make([]block.BatchRef, 0, len(want))
	for _, r := range want {
		refs = append(refs, r)
	}
	var (
		mu  sync.Mutex
		got int
		wg  sync.WaitGroup
	)
	height := n.store.Height() + 1
	for _, p := range peers {
		wg.Go(func() {
			refused, _ := s.client.Batches(ctx, p, refs, func(bt *schemas.Batch) error {
				id := bt.ID()
				mu.Lock()
				_, wanted := want[id]
				mu.Unlock()
				if !wanted {
					return nil // another peer's came first
				}
				if _, err := n.checks.Batch(n.rep.TrustAt(height), bt, height); err != nil {
					n.stats.fetchRefused.Add(1)
					n.log.Warn("fetch: peer sent a batch that fails its checks", "peer", p, "batch", id, "err", err)
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				if _, still := want[id]; still {
					delete(want, id)
					got++
					n.ackMu.Lock()
					if !n.idx.BatchSeen(id) { // sealed meanwhile: commitLocked has cleaned up
						n.fetched[id] = fetchedBatch{batch: bt, since: time.Now()}
					}
					n.ackMu.Unlock()
					n.stats.fetched.Add(1)
					if len(want) == 0 {
						cancel()
					}
				}
				return nil
			})
			if refused > 0 {
				n.stats.fetchRefused.Add(uint64(refused))
				n.log.Warn("fetch: peer sent batches other than those referenced", "peer", p, "refused", refused)
			}
		})
	}
	wg.Wait()
	return got
}
