package orderer

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/wire"
)

// Batch fetch: a proposal names its batches by reference, and a follower
// whose ingester has not delivered one yet (its pull was lost with a NATS
// server, JetStream is redelivering, it just restarted) asks its peers for
// the batch instead of refusing the proposal. Without it, a follower that
// lags on GBA_TX refuses every block, and one such follower plus one
// orderer down leaves no quorum.
//
// On gba.sync.<peer>, the request is an envelope (bft.KindSyncReq) signed
// by the asking orderer and addressed to the peer, whose payload is
//
//	"GSQ1" | op batches | uvarint n | n x bytes(batch id)
//
// Only orderers may ask: batches not yet sealed are not for the services
// that may read blocks through the same subject. The replies are the
// frames (schemas.Batch.Encode) of those batches the peer holds, one
// signed message each, then an empty one. A fetched batch is trusted only
// if it is exactly the one referenced (block.RefOf: city, id and a hash of
// the city's signature) and passes the ingestion checks (signature, every
// transaction), so a peer can withhold a batch but not substitute one.

const (
	opBatches = 3
	// maxFetchIDs bounds one batches request (a block's batches fit).
	maxFetchIDs = 1024
)

func encodeBatchesReq(ids []string) []byte {
	b := append([]byte(syncReqMagic), opBatches)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = wire.AppendString(b, id)
	}
	return b
}

func parseBatchesReq(d []byte) ([]string, bool) {
	r := wire.NewReader(d)
	count := r.Count(maxFetchIDs)
	if r.Err() != nil || count == 0 {
		return nil, false
	}
	ids := make([]string, 0, count)
	for range count {
		ids = append(ids, r.String(128))
	}
	if r.Err() != nil || r.Len() != 0 {
		return nil, false
	}
	return ids, true
}

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
	if n.app != nil {
		if v := n.app.last(); v != nil {
			for _, bt := range v.blk.Batches {
				if bt.ID() == id {
					return bt
				}
			}
		}
	}
	return nil
}

// handleSigned answers a signed request: for now, a batches request from
// another orderer. Anything else is ignored.
func (s *syncer) handleSigned(m *nats.Msg) {
	n := s.n
	e, err := bft.DecodeEnvelope(m.Data)
	if err != nil || e.Kind != bft.KindSyncReq || e.To != n.cfg.Name || e.Parts != 1 || e.From == n.cfg.Name {
		return
	}
	if err := e.Verify(n.cfg.Trust, n.store.Height()+1); err != nil {
		n.log.Warn("fetch: refused a batches request", "from", e.From, "err", err)
		return
	}
	d := e.Payload
	if len(d) < len(syncReqMagic)+1 || string(d[:len(syncReqMagic)]) != syncReqMagic || d[len(syncReqMagic)] != opBatches {
		return
	}
	if ids, ok := parseBatchesReq(d[len(syncReqMagic)+1:]); ok {
		s.serveBatches(m.Reply, ids)
	}
}

// serveBatches answers a batches request with the batches held here.
func (s *syncer) serveBatches(to string, ids []string) {
	size := 0
	for _, id := range ids {
		bt := s.n.heldBatch(id)
		if bt == nil {
			continue
		}
		frame := bt.Encode()
		if size += len(frame); size > MaxSyncReplyBytes || s.reply(to, frame) != nil {
			break
		}
	}
	_ = s.reply(to, nil)
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
	for _, p := range n.cfg.Trust.Orderers {
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

// askForBatches sends one batches request to each peer in parallel and
// keeps, under ackMu, every reply that is a wanted batch and verifies;
// want loses what was found. It returns once every wanted batch is found
// or every peer has answered or timed out: a silent peer does not hold it
// once another has answered.
func (s *syncer) askForBatches(ctx context.Context, peers []string, want map[string]block.BatchRef, timeout time.Duration) int {
	n := s.n
	if len(peers) == 0 || timeout <= 0 {
		return 0
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	if len(ids) > maxFetchIDs {
		ids = ids[:maxFetchIDs]
	}
	var (
		mu  sync.Mutex
		got int
		wg  sync.WaitGroup
	)
	height := n.store.Height() + 1
	for _, p := range peers {
		req, err := bft.Seal(n.cfg.Trust.Chain, n.cfg.Key, bft.KindSyncReq, n.cfg.Name, p, s.reqID.Add(1), encodeBatchesReq(ids), n.transport.Chunk())
		if err != nil || len(req) != 1 {
			n.log.Error("fetch: cannot seal a batches request", "ids", len(ids), "err", err)
			return 0
		}
		wg.Go(func() {
			frames, _ := s.request(ctx, p, req[0], timeout, 0)
			for _, f := range frames {
				bt, err := schemas.DecodeBatch(f)
				if err != nil {
					n.stats.fetchRefused.Add(1)
					continue
				}
				id := bt.ID()
				mu.Lock()
				ref, wanted := want[id]
				mu.Unlock()
				if !wanted {
					continue
				}
				if block.RefOf(bt) != ref {
					n.stats.fetchRefused.Add(1)
					n.log.Warn("fetch: peer sent another batch under a referenced id", "peer", p, "batch", id, "city", ref.City)
					continue
				}
				if _, err := n.checks.Batch(n.cfg.Trust, bt, height); err != nil {
					n.stats.fetchRefused.Add(1)
					n.log.Warn("fetch: peer sent a batch that fails its checks", "peer", p, "batch", id, "err", err)
					continue
				}
				mu.Lock()
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
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}
