package orderer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/api"
	"github.com/hyperledger-labs/SmartBFT/pkg/types"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/wire"
)

// Verification errors.
var (
	ErrProposal = errors.New("orderer: bad proposal")
	ErrRequest  = errors.New("orderer: bad request")
	ErrVote     = errors.New("orderer: bad consenter signature")
)

// app is the SmartBFT application: it turns requests (batch frames) into
// block proposals, checks other orderers' proposals by recomputing them,
// signs and checks votes, and hands decided blocks to the commit path.
//
// How SmartBFT's values map to ours:
//
//	request            a batch frame; RequestInfo = {ClientID: city, ID: batch id}
//	proposal.Payload   the block's references (block.Refs): header, results and,
//	                   per batch, its city, id and a hash of its signature; the
//	                   followers take the batches from what they ingested
//	                   (Node.resolve), and the block log keeps block.Encode
//	proposal.Header    the block header's MarshalBinary
//	proposal.Metadata  the engine's ViewMetadata, also the header's Consensus field
//	sequence           block height (checked: ViewMetadata.LatestSequence == Height)
//	Signature.Value    the orderer's block vote (goes into the QC)
//	Signature.Msg      blocklog.VoteMsg: key id, the engine's auxiliary data and its signature
//
// Concurrency: the engine calls the verifier from several goroutines
// (commit votes are checked in parallel); everything here reads the store,
// index and state, which are safe for concurrent use, and the proposal cache,
// which has its own mutex.
type app struct {
	n *Node

	mu     sync.Mutex
	cached *verified // the last proposal assembled or verified
}

// verified is a proposal already checked, with the state updates it makes.
type verified struct {
	payload []byte
	blk     *block.Block
	updates []block.StateUpdate
}

var (
	_ api.Application        = (*app)(nil)
	_ api.Assembler          = (*app)(nil)
	_ api.Verifier           = (*app)(nil)
	_ api.Signer             = (*app)(nil)
	_ api.RequestInspector   = (*app)(nil)
	_ api.MembershipNotifier = (*app)(nil)
	_ api.Synchronizer       = (*app)(nil)
)

func (a *app) trust() *keys.Bundle { return a.n.cfg.Trust }

func (a *app) remember(v *verified) {
	a.mu.Lock()
	a.cached = v
	a.mu.Unlock()
}

// last returns the proposal last assembled or verified, if any.
func (a *app) last() *verified {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cached
}

func (a *app) recall(payload []byte) *verified {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cached != nil && bytes.Equal(a.cached.payload, payload) {
		return a.cached
	}
	return nil
}

// ---- RequestInspector ----

// batchInfo reads a batch frame's id and city from its signed header
// without decoding the transactions: the id is a hash of the header, which
// is the frame's prefix (see schemas.BatchHeader.SignedBytes).
func batchInfo(frame []byte) (types.RequestInfo, bool) {
	const magic = "GBB1"
	if len(frame) < len(magic) || string(frame[:len(magic)]) != magic {
		return types.RequestInfo{}, false
	}
	r := wire.NewReader(frame[len(magic):])
	r.Bytes(64) // chain
	city := string(r.Bytes(64))
	r.Take(8 + 8 + 4 + 32) // createdAt, seq, count, root
	if r.Err() != nil {
		return types.RequestInfo{}, false
	}
	sum := sha256.Sum256(frame[:len(frame)-r.Len()])
	return types.RequestInfo{ClientID: city, ID: hex.EncodeToString(sum[:16])}, true
}

// RequestID implements api.RequestInspector.
func (a *app) RequestID(req []byte) types.RequestInfo {
	if info, ok := batchInfo(req); ok {
		return info
	}
	sum := sha256.Sum256(req)
	return types.RequestInfo{ClientID: "?", ID: hex.EncodeToString(sum[:16])}
}

// ---- Assembler ----

// AssembleProposal implements api.Assembler: the block at the engine's next
// sequence over our last block, from the requests the engine batched.
// Requests already on the chain are dropped from the engine's pool (they
// reached it after their block was decided); batches past the block limits
// stay in the pool for the next block.
func (a *app) AssembleProposal(metadata []byte, requests [][]byte) types.Proposal {
	n := a.n
	start := time.Now()
	bad := types.Proposal{Metadata: metadata}
	md := &protos.ViewMetadata{}
	if err := proto.Unmarshal(metadata, md); err != nil {
		n.log.Error("assemble: engine metadata", "err", err)
		return bad
	}
	parent := n.store.Last()
	if n.store.Height()+1 != md.LatestSequence {
		n.log.Error("assemble: engine sequence is not our next height", "seq", md.LatestSequence, "height", n.store.Height())
		return bad
	}
	lim := n.limits()
	height := md.LatestSequence
	var batches []*schemas.Batch
	seen := map[string]bool{}
	txs := 0
	for _, req := range requests {
		bt, err := a.ingested(req)
		if err == nil {
			_, err = n.checks.Batch(a.trust(), bt, height)
		}
		if err != nil {
			n.log.Warn("assemble: dropping bad request", "err", err)
			n.removeRequest(a.RequestID(req))
			continue
		}
		id := bt.ID()
		if seen[id] {
			continue
		}
		if n.idx.BatchSeen(id) {
			n.removeRequest(types.RequestInfo{ClientID: bt.City, ID: id})
			continue
		}
		if len(batches) == lim.MaxBatches || txs+len(bt.Txs) > lim.MaxTxs {
			break
		}
		seen[id] = true
		txs += len(bt.Txs)
		batches = append(batches, bt)
	}
	blk, updates, err := n.checks.Assemble(a.trust(), lim, block.Input{
		Parent: parent, Batches: batches, Timestamp: n.clock.Now().UnixNano(), Proposer: n.cfg.Name, Consensus: metadata,
	}, n.idx, n.state)
	if err != nil {
		n.log.Error("assemble", "err", err, "height", height)
		return bad
	}
	payload := block.RefsOf(blk).Encode()
	hb, _ := blk.Header.MarshalBinary()
	a.remember(&verified{payload: payload, blk: blk, updates: updates})
	n.log.Debug("assembled", "height", height, "batches", len(batches), "txs", txs, "took", time.Since(start))
	return types.Proposal{Payload: payload, Header: hb, Metadata: metadata}
}

// ingested returns the batch of a request frame: the one our ingester
// decoded, if it holds the batch (most requests are our own submissions),
// else the frame decoded now.
func (a *app) ingested(req []byte) (*schemas.Batch, error) {
	if info, ok := batchInfo(req); ok {
		a.n.ackMu.Lock()
		m, held := a.n.pending[info.ID]
		a.n.ackMu.Unlock()
		if held {
			return m.batch, nil
		}
	}
	return schemas.DecodeBatch(req)
}

// ---- Verifier ----

func requestInfos(b *block.Block) []types.RequestInfo {
	out := make([]types.RequestInfo, len(b.Batches))
	for i, bt := range b.Batches {
		out[i] = types.RequestInfo{ClientID: bt.City, ID: bt.ID()}
	}
	return out
}

// VerifyProposal implements api.Verifier: the proposal must be the block
// this orderer would build from the same batches over its own last block.
func (a *app) VerifyProposal(p types.Proposal) ([]types.RequestInfo, error) {
	v, err := a.verify(p)
	if err != nil {
		a.n.stats.badProposals.Add(1)
		return nil, err
	}
	return requestInfos(v.blk), nil
}

func (a *app) verify(p types.Proposal) (*verified, error) {
	n := a.n
	if p.VerificationSequence != 0 {
		return nil, fmt.Errorf("%w: verification sequence %d", ErrProposal, p.VerificationSequence)
	}
	if v := a.recall(p.Payload); v != nil {
		if err := checkEnvelope(p, &v.blk.Header); err != nil {
			return nil, err
		}
		return v, nil
	}
	refs, err := block.DecodeRefs(p.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProposal, err)
	}
	if err := checkEnvelope(p, &refs.Header); err != nil {
		return nil, err
	}
	if skew := n.cfg.MaxClockSkew; skew > 0 {
		if limit := n.clock.Now().Add(skew).UnixNano(); refs.Header.Timestamp > limit {
			return nil, fmt.Errorf("%w: timestamp %d is more than %v ahead of our clock", ErrProposal, refs.Header.Timestamp, skew)
		}
	}
	start := time.Now()
	batches, err := n.resolve(refs.Batches)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	blk, err := refs.Block(batches)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProposal, err)
	}
	updates, err := n.checks.Verify(a.trust(), n.limits(), n.store.Last(), blk, n.idx, n.state)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProposal, err)
	}
	n.log.Debug("verified", "height", blk.Header.Height, "batches", len(blk.Batches), "took", time.Since(start))
	v := &verified{payload: p.Payload, blk: blk, updates: updates}
	a.remember(v)
	return v, nil
}

// checkEnvelope checks that the proposal's header and metadata are the
// block's, and that the engine's sequence is the block's height.
func checkEnvelope(p types.Proposal, h *block.Header) error {
	hb, _ := h.MarshalBinary()
	if !bytes.Equal(hb, p.Header) {
		return fmt.Errorf("%w: proposal header is not the block's", ErrProposal)
	}
	if !bytes.Equal(h.Consensus, p.Metadata) {
		return fmt.Errorf("%w: proposal metadata is not the block's", ErrProposal)
	}
	md := &protos.ViewMetadata{}
	if err := proto.Unmarshal(p.Metadata, md); err != nil {
		return fmt.Errorf("%w: metadata: %v", ErrProposal, err)
	}
	if md.LatestSequence != h.Height {
		return fmt.Errorf("%w: sequence %d for height %d", ErrProposal, md.LatestSequence, h.Height)
	}
	return nil
}

// VerifyRequest implements api.Verifier for requests forwarded by other
// orderers: a well-formed batch signed by its city, not yet on the chain.
func (a *app) VerifyRequest(req []byte) (types.RequestInfo, error) {
	bt, err := schemas.DecodeBatch(req)
	if err != nil {
		return types.RequestInfo{}, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if _, err := a.n.checks.Batch(a.trust(), bt, a.n.store.Height()+1); err != nil {
		return types.RequestInfo{}, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	id := bt.ID()
	if a.n.idx.BatchSeen(id) {
		return types.RequestInfo{}, fmt.Errorf("%w: batch %s already ordered", ErrRequest, id)
	}
	return types.RequestInfo{ClientID: bt.City, ID: id}, nil
}

func (a *app) ordererName(id uint64) (string, bool) {
	o := a.trust().Orderers
	if id == 0 || id > uint64(len(o)) {
		return "", false
	}
	return o[id-1], true
}

// VerifyConsenterSig implements api.Verifier: sig must be a valid block
// vote by orderer sig.ID over the proposal's header, with a valid signature
// over its auxiliary data, which it returns.
func (a *app) VerifyConsenterSig(sig types.Signature, p types.Proposal) ([]byte, error) {
	name, ok := a.ordererName(sig.ID)
	if !ok {
		return nil, fmt.Errorf("%w: unknown signer %d", ErrVote, sig.ID)
	}
	var h block.Header
	if err := h.UnmarshalBinary(p.Header); err != nil {
		return nil, fmt.Errorf("%w: proposal header: %v", ErrVote, err)
	}
	vm, err := blocklog.DecodeVoteMsg(sig.Msg)
	if err != nil {
		return nil, err
	}
	if vm.HeaderHash != h.Hash() {
		return nil, fmt.Errorf("%w: vote of %s is for another header", ErrVote, name)
	}
	if err := block.VerifyVote(a.trust(), &h, block.Vote{Signer: name, KeyID: vm.KeyID, Sig: sig.Value}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVote, err)
	}
	pk, err := a.trust().KeyAt(vm.KeyID, keys.RoleOrderer, name, h.Height)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVote, err)
	}
	if err := blocklog.VerifyAux(a.trust().Chain, pk, vm); err != nil {
		return nil, fmt.Errorf("%w: auxiliary data of %s: %v", ErrVote, name, err)
	}
	return vm.Aux, nil
}

// VerifySignature implements api.Verifier for view-change data.
func (a *app) VerifySignature(sig types.Signature) error {
	name, ok := a.ordererName(sig.ID)
	if !ok {
		return fmt.Errorf("%w: unknown signer %d", ErrVote, sig.ID)
	}
	return bft.VerifyPlain(a.trust(), name, a.n.store.Height()+1, sig.Msg, sig.Value)
}

// VerificationSequence implements api.Verifier: the orderer set and keys
// come from the trust bundle and do not change while a node runs.
func (a *app) VerificationSequence() uint64 { return 0 }

// RequestsFromProposal implements api.Verifier. It reads the batch
// references only.
func (a *app) RequestsFromProposal(p types.Proposal) []types.RequestInfo {
	refs, err := block.DecodeRefs(p.Payload)
	if err != nil {
		return nil
	}
	out := make([]types.RequestInfo, len(refs.Batches))
	for i, b := range refs.Batches {
		out[i] = types.RequestInfo{ClientID: b.City, ID: b.ID}
	}
	return out
}

// AuxiliaryData implements api.Verifier.
func (a *app) AuxiliaryData(msg []byte) []byte {
	vm, err := blocklog.DecodeVoteMsg(msg)
	if err != nil {
		return nil
	}
	return vm.Aux
}

// ---- Signer ----

// Sign implements api.Signer (view-change data).
func (a *app) Sign(msg []byte) []byte { return bft.SignPlain(a.trust().Chain, a.n.cfg.Key, msg) }

// SignProposal implements api.Signer: our block vote over the proposal's
// header, and a signature over the engine's auxiliary input.
func (a *app) SignProposal(p types.Proposal, aux []byte) *types.Signature {
	var h block.Header
	if err := h.UnmarshalBinary(p.Header); err != nil {
		// The engine signs only proposals we verified.
		a.n.log.Error("sign proposal: header", "err", err)
		return &types.Signature{ID: a.n.self}
	}
	vote := block.SignVote(a.n.cfg.Key, a.n.cfg.Name, &h)
	hash := h.Hash()
	vm := blocklog.VoteMsg{HeaderHash: hash, KeyID: vote.KeyID, Aux: aux, AuxSig: blocklog.SignAux(a.trust().Chain, a.n.cfg.Key, hash, aux)}
	return &types.Signature{ID: a.n.self, Value: vote.Sig, Msg: vm.Encode()}
}

// ---- MembershipNotifier ----

// MembershipChange implements api.MembershipNotifier: the set is fixed.
func (a *app) MembershipChange() bool { return false }

// ---- Application ----

// Deliver implements api.Application: the decided block is made durable
// before Deliver returns (the engine's contract), then acknowledged,
// published and announced.
func (a *app) Deliver(p types.Proposal, sigs []types.Signature) types.Reconfig {
	if err := a.n.deliver(p, sigs); err != nil && !errors.Is(err, ErrStopped) {
		// A decided block we cannot store or that our own state refuses
		// means this replica can no longer follow the chain: it stops (and
		// only it: the process and the other orderers in it go on). The
		// engine must not move to the next sequence meanwhile, so Deliver
		// returns only once the stop has begun.
		a.n.fail(fmt.Errorf("orderer: deliver: %w", err))
		<-a.n.ctx.Done()
	}
	return types.Reconfig{}
}

// ---- Synchronizer ----

// Sync implements api.Synchronizer: fetch what peers have decided beyond
// our height, then report our latest decision.
func (a *app) Sync() types.SyncResponse {
	a.n.syncer.catchUp(a.n.ctx, 0)
	return types.SyncResponse{Latest: a.n.latestDecision()}
}

// decisionOf rebuilds the engine's view of a stored block: the proposal
// as it was decided, with the block's references for payload.
func decisionOf(trust *keys.Bundle, rec *blocklog.Record) (types.Decision, error) {
	blk, err := block.Decode(rec.BlockData)
	if err != nil {
		return types.Decision{}, fmt.Errorf("orderer: block %d: %w", rec.Header.Height, err)
	}
	hb, _ := rec.Header.MarshalBinary()
	d := types.Decision{Proposal: types.Proposal{Payload: block.RefsOf(blk).Encode(), Header: hb, Metadata: rec.Header.Consensus}}
	for i, v := range rec.QC.Votes {
		d.Signatures = append(d.Signatures, types.Signature{ID: uint64(trust.OrdererIndex(v.Signer) + 1), Value: v.Sig, Msg: rec.VoteMsgs[i]})
	}
	return d, nil
}

// recordOf builds the stored record of a decided block from the engine's
// signatures, keeping only valid votes and checking they make a quorum.
func recordOf(trust *keys.Bundle, blk *block.Block, sigs []types.Signature) (*blocklog.Record, error) {
	rec := &blocklog.Record{Header: blk.Header, BlockData: block.Encode(blk)}
	hash := blk.Header.Hash()
	seen := map[uint64]bool{}
	for _, s := range sigs {
		if seen[s.ID] || s.ID == 0 || s.ID > uint64(trust.N()) {
			continue
		}
		vm, err := blocklog.DecodeVoteMsg(s.Msg)
		if err != nil || vm.HeaderHash != hash {
			continue
		}
		v := block.Vote{Signer: trust.Orderers[s.ID-1], KeyID: vm.KeyID, Sig: s.Value}
		if block.VerifyVote(trust, &blk.Header, v) != nil {
			continue
		}
		seen[s.ID] = true
		rec.QC.Votes = append(rec.QC.Votes, v)
		rec.VoteMsgs = append(rec.VoteMsgs, s.Msg)
	}
	if len(rec.QC.Votes) < trust.Quorum() { // each vote was verified above
		return nil, fmt.Errorf("%w: %d valid votes, quorum is %d", block.ErrQuorum, len(rec.QC.Votes), trust.Quorum())
	}
	return rec, nil
}
