package orderer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas/bus"
)

// Block sync: a lagging or restarted orderer fetches decided blocks from
// its peers over core NATS request/reply on gba.sync.<peer>.
//
// A request is a small plain frame (anyone the bus lets publish there may
// read blocks; they are self-certifying):
//
//	"GSQ1" | op | from uint64 | count uint32
//
// op status: one signed envelope (bft.KindSyncResp) whose payload is
// "GSS1" | height uint64. op blocks: the records of blocks from..from+count-1
// that the peer holds, one message each (chunked into signed envelopes as
// the consensus transport does), then an envelope with an empty payload.
//
// The fetcher trusts nothing but quorum certificates: each record must link
// to our last block, carry a valid QC and valid vote messages, and replay
// to the state root in its header (block.VerifyStored, then block.Verify).
// The target height is the (f+1)-th highest height peers report, so at
// least one honest orderer vouches for it.

const (
	syncReqMagic    = "GSQ1"
	syncStatusMagic = "GSS1"
	opStatus        = 1
	opBlocks        = 2
	// MaxSyncReplyBytes bounds the records of one blocks reply.
	MaxSyncReplyBytes = 64 << 20
)

// The sync protocol on gba.sync.<orderer>, for clients other than the
// orderers (reconcile reads blocks through it). Every reply message is
// signed by the orderer asked (see syncer.reply).

// SyncStatusRequest asks an orderer for its height; the one reply is read
// with ParseSyncStatus.
func SyncStatusRequest() []byte { return encodeSyncReq(opStatus, 0, 0) }

// SyncBlocksRequest asks for count records from height from: the replies
// are records (blocklog.Store.Raw, DecodeRecord), at most MaxSyncReplyBytes of them,
// then an empty message.
func SyncBlocksRequest(from uint64, count uint32) []byte { return encodeSyncReq(opBlocks, from, count) }

// ParseSyncStatus reads a status reply: the orderer's height.
func ParseSyncStatus(msg []byte) (height uint64, ok bool) {
	if len(msg) != len(syncStatusMagic)+8 || string(msg[:len(syncStatusMagic)]) != syncStatusMagic {
		return 0, false
	}
	return binary.BigEndian.Uint64(msg[len(syncStatusMagic):]), true
}

var errSyncReply = errors.New("orderer: bad sync reply")

type syncer struct {
	n     *Node
	msgID uint64 // guarded by the subscription goroutine
	reqID atomic.Uint64
}

func encodeSyncReq(op byte, from uint64, count uint32) []byte {
	b := append([]byte(syncReqMagic), op)
	b = binary.BigEndian.AppendUint64(b, from)
	return binary.BigEndian.AppendUint32(b, count)
}

// serve answers sync requests on gba.sync.<self>.
func (s *syncer) serve() (*nats.Subscription, error) {
	sub, err := s.n.cfg.Conn.Subscribe(bus.SyncSubject(s.n.cfg.Name), s.handle)
	if err != nil {
		return nil, fmt.Errorf("orderer: sync service: %w", err)
	}
	return sub, nil
}

func (s *syncer) reply(to string, payload []byte) error {
	n := s.n
	s.msgID++
	frames, err := bft.Seal(n.cfg.Trust.Chain, n.cfg.Key, bft.KindSyncResp, n.cfg.Name, "", s.msgID, payload, n.transport.Chunk())
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := n.cfg.Conn.Publish(to, f); err != nil {
			return err
		}
	}
	return nil
}

func (s *syncer) handle(m *nats.Msg) {
	d := m.Data
	if m.Reply == "" {
		return
	}
	if bft.IsEnvelope(d) {
		s.handleSigned(m)
		return
	}
	if len(d) != len(syncReqMagic)+1+8+4 || string(d[:4]) != syncReqMagic {
		return
	}
	op := d[4]
	from := binary.BigEndian.Uint64(d[5:])
	count := uint64(binary.BigEndian.Uint32(d[13:]))
	switch op {
	case opStatus:
		_ = s.reply(m.Reply, binary.BigEndian.AppendUint64([]byte(syncStatusMagic), s.n.store.Height()))
	case opBlocks:
		size := 0
		for h := max(from, 1); h < from+count && h <= s.n.store.Height() && size < MaxSyncReplyBytes; h++ {
			raw, err := s.n.store.Raw(h)
			if err != nil || s.reply(m.Reply, raw) != nil {
				break
			}
			size += len(raw)
		}
		_ = s.reply(m.Reply, nil)
	}
}

// peerStatus is a peer's reported height.
type peerStatus struct {
	name   string
	height uint64
}

// statuses asks every peer for its height, in parallel.
func (s *syncer) statuses(ctx context.Context) []peerStatus {
	n := s.n
	timeout := min(time.Second, n.cfg.SyncTimeout)
	var mu sync.Mutex
	var out []peerStatus
	var wg sync.WaitGroup
	for _, peer := range n.cfg.Trust.Orderers {
		if peer == n.cfg.Name {
			continue
		}
		wg.Go(func() {
			msgs, err := s.request(ctx, peer, SyncStatusRequest(), timeout, 1)
			if err != nil || len(msgs) != 1 {
				return
			}
			h, ok := ParseSyncStatus(msgs[0])
			if !ok {
				return
			}
			mu.Lock()
			out = append(out, peerStatus{peer, h})
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b peerStatus) int { return -cmpU64(a.height, b.height) })
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// request sends req to peer and collects whole, authenticated reply
// messages until want have arrived (status) or an empty message ends the
// stream (want 0).
func (s *syncer) request(ctx context.Context, peer string, req []byte, timeout time.Duration, want int) ([][]byte, error) {
	nc := s.n.cfg.Conn
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(1<<16, MaxSyncReplyBytes+(8<<20))
	if err := nc.PublishRequest(bus.SyncSubject(peer), inbox, req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var re bft.Reassembler
	var out [][]byte
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return out, err
		}
		e, err := bft.DecodeEnvelope(m.Data)
		if err != nil || e.Kind != bft.KindSyncResp || e.From != peer {
			return out, errSyncReply
		}
		if err := e.Verify(s.n.cfg.Trust, s.n.store.Height()+1); err != nil {
			return out, err
		}
		msg, complete, _ := re.Add(e)
		if !complete {
			continue
		}
		if want == 0 && len(msg) == 0 {
			return out, nil
		}
		out = append(out, msg)
		if want > 0 && len(out) == want {
			return out, nil
		}
	}
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
	peers := s.statuses(ctx)
	if target == 0 {
		if len(peers) == 0 {
			return
		}
		f := n.cfg.Trust.F()
		target = peers[min(f, len(peers)-1)].height
	}
	for n.store.Height() < target && ctx.Err() == nil {
		progress := false
		for _, p := range peers {
			h := n.store.Height()
			if p.height <= h || h >= target {
				continue
			}
			count := min(uint64(n.cfg.SyncBatch), target-h)
			got, err := s.fetch(ctx, p.name, h+1, count)
			if got > 0 {
				progress = true
			}
			if err != nil {
				n.log.Warn("sync: fetch failed", "peer", p.name, "from", h+1, "got", got, "err", err)
			}
		}
		if !progress {
			n.log.Warn("sync: no peer could bring us to the target", "height", n.store.Height(), "target", target)
			return
		}
	}
}

// fetch asks one peer for blocks and commits those that verify; it returns
// how many it committed.
func (s *syncer) fetch(ctx context.Context, peer string, from, count uint64) (int, error) {
	n := s.n
	msgs, err := s.request(ctx, peer, SyncBlocksRequest(from, uint32(count)), n.cfg.SyncTimeout, 0)
	got := 0
	for _, raw := range msgs {
		if err := s.apply(raw); err != nil {
			n.stats.syncRefused.Add(1)
			return got, err
		}
		n.stats.synced.Add(1)
		got++
	}
	return got, err
}

// apply verifies a fetched record against our last block (everything that
// needs no state: blocklog.VerifyRecord), replays it over our state
// (block.Verify) and commits it.
func (s *syncer) apply(raw []byte) error {
	n := s.n
	parent := n.store.Last()
	rec, blk, err := blocklog.VerifyRecord(n.cfg.Trust, parent, raw)
	if err != nil {
		return err
	}
	updates, err := block.Verify(n.cfg.Trust, n.limits(), parent, blk, n.idx, n.state)
	if err != nil {
		return err
	}
	return n.commitLocked(rec, blk, updates)
}
