package replica

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/hyperledger-labs/SmartBFT/pkg/api"
	"github.com/hyperledger-labs/SmartBFT/pkg/types"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/wire"
)

// How SmartBFT's values map to ours:
//
//	request            a batch frame; RequestInfo = {ClientID: city, ID: batch id}
//	proposal.Payload   the block's references (block.Refs): header, results and,
//	                   per batch, its city, id and a hash of its signature; the
//	                   followers take the batches from those they hold
//	                   (Config.Batches), and the block log keeps block.Encode
//	proposal.Header    the block header's MarshalBinary
//	proposal.Metadata  the engine's ViewMetadata, also the header's Consensus field
//	sequence           block height (checked: ViewMetadata.LatestSequence == Height)
//	Signature.Value    the orderer's block vote (goes into the QC)
//	Signature.Msg      blocklog.VoteMsg: key id, the engine's auxiliary data and its signature

var (
	_ api.Assembler          = (*Replica)(nil)
	_ api.Verifier           = (*Replica)(nil)
	_ api.Signer             = (*Replica)(nil)
	_ api.RequestInspector   = (*Replica)(nil)
	_ api.MembershipNotifier = (*Replica)(nil)
)

// BatchInfo reads a batch frame's id and city from its signed header
// without decoding the transactions: the id is a hash of the header, which
// is the frame's prefix (see schemas.BatchHeader.SignedBytes).
func BatchInfo(frame []byte) (types.RequestInfo, bool) {
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
func (r *Replica) RequestID(req []byte) types.RequestInfo {
	if info, ok := BatchInfo(req); ok {
		return info
	}
	if tx, ok, err := configOf(req); ok && err == nil {
		return configInfo(tx)
	}
	sum := sha256.Sum256(req)
	return types.RequestInfo{ClientID: "?", ID: hex.EncodeToString(sum[:16])}
}

// AssembleProposal implements api.Assembler: the block at the engine's next
// sequence over our last block, from the requests the engine batched.
// Requests already on the chain are dropped from the engine's pool (they
// reached it after their block was decided); batches past the block limits
// stay in the pool for the next block.
func (r *Replica) AssembleProposal(metadata []byte, requests [][]byte) types.Proposal {
	bad := types.Proposal{Metadata: metadata}
	md := &protos.ViewMetadata{}
	if err := proto.Unmarshal(metadata, md); err != nil {
		r.log.Error("assemble: engine metadata", "err", err)
		return bad
	}
	parent := r.cfg.Log.Last()
	if r.cfg.Log.Height()+1 != md.LatestSequence {
		r.log.Error("assemble: engine sequence is not our next height", "seq", md.LatestSequence, "height", r.cfg.Log.Height())
		return bad
	}
	lim := r.Limits()
	height := md.LatestSequence
	if p, ok := r.assembleConfig(parent, metadata, height, requests); ok {
		return p
	}
	var batches []*schemas.Batch
	seen := map[string]bool{}
	txs := 0
	for _, req := range requests {
		if _, isConfig, _ := configOf(req); isConfig {
			continue // a configuration that failed its check: dropped by assembleConfig
		}
		bt, err := r.ingested(req)
		if err == nil {
			_, err = r.checks.Batch(r.trust(), bt, height)
		}
		if err != nil {
			r.log.Warn("assemble: dropping bad request", "err", err)
			r.drop(r.RequestID(req))
			continue
		}
		id := bt.ID()
		if seen[id] {
			continue
		}
		if r.cfg.Index.BatchSeen(id) {
			r.drop(types.RequestInfo{ClientID: bt.City, ID: id})
			continue
		}
		if len(batches) == lim.MaxBatches || txs+len(bt.Txs) > lim.MaxTxs {
			break
		}
		seen[id] = true
		txs += len(bt.Txs)
		batches = append(batches, bt)
	}
	blk, updates, err := r.checks.Assemble(r.trust(), lim, block.Input{
		Parent: parent, Batches: batches, Timestamp: r.cfg.Clock.Now().UnixNano(), Proposer: r.cfg.Name, Consensus: metadata,
	}, r.cfg.Index, r.cfg.State)
	if err != nil {
		r.log.Error("assemble", "err", err, "height", height)
		return bad
	}
	payload := block.RefsOf(blk).Encode()
	hb, _ := blk.Header.MarshalBinary()
	r.remember(&Verified{Payload: payload, Block: blk, Updates: updates})
	r.log.Debug("assembled", "height", height, "batches", len(batches), "txs", txs)
	return types.Proposal{Payload: payload, Header: hb, Metadata: metadata}
}

// assembleConfig proposes the first configuration request that passes
// its check under the configuration in force, sealed alone; the others
// that fail it are dropped from the pool. ok is false when there is none.
func (r *Replica) assembleConfig(parent *block.Header, metadata []byte, height uint64, requests [][]byte) (types.Proposal, bool) {
	trust := r.trust()
	for _, req := range requests {
		tx, isConfig, err := configOf(req)
		if !isConfig {
			continue
		}
		if err == nil {
			err = checkConfig(trust, tx, height)
		}
		if err != nil {
			r.log.Warn("assemble: dropping configuration request", "err", err)
			r.drop(r.RequestID(req))
			continue
		}
		blk, updates, err := r.checks.Assemble(trust, r.Limits(), block.Input{
			Parent: parent, Config: tx, Timestamp: r.cfg.Clock.Now().UnixNano(), Proposer: r.cfg.Name, Consensus: metadata,
		}, r.cfg.Index, r.cfg.State)
		if err != nil {
			r.log.Error("assemble configuration", "err", err, "height", height)
			r.drop(configInfo(tx))
			continue
		}
		payload := payloadOf(blk)
		hb, _ := blk.Header.MarshalBinary()
		r.remember(&Verified{Payload: payload, Block: blk, Updates: updates})
		r.log.Info("assembled a configuration block", "height", height, "orderers", len(tx.Next.Orderers))
		return types.Proposal{Payload: payload, Header: hb, Metadata: metadata}, true
	}
	return types.Proposal{}, false
}

// ingested returns the batch of a request frame: the one the driver holds
// decoded, if it does (most requests are our own submissions), else the
// frame decoded now.
func (r *Replica) ingested(req []byte) (*schemas.Batch, error) {
	if info, ok := BatchInfo(req); ok {
		if bt := r.cfg.Batches.Batch(info.ID); bt != nil {
			return bt, nil
		}
	}
	return schemas.DecodeBatch(req)
}

func requestInfos(b *block.Block) []types.RequestInfo {
	if b.Config != nil {
		return []types.RequestInfo{configInfo(b.Config)}
	}
	out := make([]types.RequestInfo, len(b.Batches))
	for i, bt := range b.Batches {
		out[i] = types.RequestInfo{ClientID: bt.City, ID: bt.ID()}
	}
	return out
}

// VerifyProposal implements api.Verifier: the proposal must be the block
// this orderer would build from the same batches over its own last block.
// It never waits: a batch not held fails it with ErrBatchMissing (the
// driver fetches missing batches before it hands a proposal in).
func (r *Replica) VerifyProposal(p types.Proposal) ([]types.RequestInfo, error) {
	v, err := r.Verify(p)
	if err != nil {
		r.badProposals.Add(1)
		return nil, err
	}
	return requestInfos(v.Block), nil
}

// Verify checks a proposal (or recalls the one last checked) and returns
// its block and state updates.
func (r *Replica) Verify(p types.Proposal) (*Verified, error) {
	if p.VerificationSequence != 0 {
		return nil, fmt.Errorf("%w: verification sequence %d", ErrProposal, p.VerificationSequence)
	}
	if v := r.recall(p.Payload); v != nil {
		if err := checkEnvelope(p, &v.Block.Header); err != nil {
			return nil, err
		}
		return v, nil
	}
	if block.IsConfig(p.Payload) {
		return r.verifyConfig(p)
	}
	refs, err := block.DecodeRefs(p.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	if err := checkEnvelope(p, &refs.Header); err != nil {
		return nil, err
	}
	if err := r.checkSkew(refs.Header.Timestamp); err != nil {
		return nil, err
	}
	batches, err := r.resolve(refs.Batches)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	blk, err := refs.Block(batches)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	updates, err := r.checks.Verify(r.trust(), r.Limits(), r.cfg.Log.Last(), blk, r.cfg.Index, r.cfg.State)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	v := &Verified{Payload: p.Payload, Block: blk, Updates: updates}
	r.remember(v)
	return v, nil
}

// checkSkew refuses a proposal whose header time is more than
// MaxClockSkew ahead of this replica's clock (no check when it is 0).
func (r *Replica) checkSkew(timestamp int64) error {
	skew := r.cfg.MaxClockSkew
	if skew <= 0 {
		return nil
	}
	if limit := r.cfg.Clock.Now().Add(skew).UnixNano(); timestamp > limit {
		return fmt.Errorf("%w: timestamp %d is more than %v ahead of our clock", ErrProposal, timestamp, skew)
	}
	return nil
}

// verifyConfig checks a configuration block proposed whole: its
// transaction under the configuration in force, and every derived field.
func (r *Replica) verifyConfig(p types.Proposal) (*Verified, error) {
	blk, err := block.Decode(p.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	if err := checkEnvelope(p, &blk.Header); err != nil {
		return nil, err
	}
	if err := r.checkSkew(blk.Header.Timestamp); err != nil {
		return nil, err
	}
	if blk.Config == nil {
		return nil, fmt.Errorf("%w: a configuration payload without a configuration", ErrProposal)
	}
	if err := checkConfig(r.trust(), blk.Config, blk.Header.Height); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	updates, err := r.checks.Verify(r.trust(), r.Limits(), r.cfg.Log.Last(), blk, r.cfg.Index, r.cfg.State)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	v := &Verified{Payload: p.Payload, Block: blk, Updates: updates}
	r.remember(v)
	return v, nil
}

// resolve returns the batches refs name from those held, or ErrBatchMissing
// naming the first one not held.
func (r *Replica) resolve(refs []block.BatchRef) ([]*schemas.Batch, error) {
	out := make([]*schemas.Batch, len(refs))
	for i, ref := range refs {
		if r.cfg.Index.BatchSeen(ref.ID) {
			return nil, fmt.Errorf("replica: batch %s of %s is already on the chain", ref.ID, ref.City)
		}
		bt := r.held(ref.ID)
		if bt == nil {
			return nil, &MissingError{Refs: r.Missing(refs[i:])}
		}
		out[i] = bt
	}
	return out, nil
}

// held returns the batch with id if the driver holds it or it is in the
// proposal last assembled or verified.
func (r *Replica) held(id string) *schemas.Batch {
	if bt := r.cfg.Batches.Batch(id); bt != nil {
		return bt
	}
	if v := r.Last(); v != nil {
		for _, b := range v.Block.Batches {
			if b.ID() == id {
				return b
			}
		}
	}
	return nil
}

// MissingError names the batches a proposal references that the replica
// does not hold. It is an ErrBatchMissing.
type MissingError struct{ Refs []block.BatchRef }

func (e *MissingError) Error() string {
	if len(e.Refs) == 0 {
		return ErrBatchMissing.Error()
	}
	return fmt.Sprintf("%v: %s of %s (%d missing)", ErrBatchMissing, e.Refs[0].ID, e.Refs[0].City, len(e.Refs))
}

// Is reports whether target is ErrBatchMissing.
func (e *MissingError) Is(target error) bool { return target == ErrBatchMissing }

// Missing returns the refs whose batches the replica neither holds nor
// has seen sealed: what the driver should fetch before verifying.
func (r *Replica) Missing(refs []block.BatchRef) []block.BatchRef {
	var out []block.BatchRef
	for _, ref := range refs {
		if r.cfg.Index.BatchSeen(ref.ID) || r.held(ref.ID) != nil {
			continue
		}
		out = append(out, ref)
	}
	return out
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
		return fmt.Errorf("%w: metadata: %w", ErrProposal, err)
	}
	if md.LatestSequence != h.Height {
		return fmt.Errorf("%w: sequence %d for height %d", ErrProposal, md.LatestSequence, h.Height)
	}
	return nil
}

// VerifyRequest implements api.Verifier for requests forwarded by other
// orderers: a well-formed batch signed by its city, not yet on the chain.
func (r *Replica) VerifyRequest(req []byte) (types.RequestInfo, error) {
	if tx, isConfig, err := configOf(req); isConfig {
		if err == nil {
			err = checkConfig(r.trust(), tx, r.cfg.Log.Height()+1)
		}
		if err != nil {
			return types.RequestInfo{}, fmt.Errorf("%w: %w", ErrRequest, err)
		}
		return configInfo(tx), nil
	}
	bt, err := schemas.DecodeBatch(req)
	if err != nil {
		return types.RequestInfo{}, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if _, err := r.checks.Batch(r.trust(), bt, r.cfg.Log.Height()+1); err != nil {
		return types.RequestInfo{}, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	id := bt.ID()
	if r.cfg.Index.BatchSeen(id) {
		return types.RequestInfo{}, fmt.Errorf("%w: batch %s already ordered", ErrRequest, id)
	}
	return types.RequestInfo{ClientID: bt.City, ID: id}, nil
}

func (r *Replica) ordererName(id uint64) (string, bool) {
	return r.trust().OrdererByID(id)
}

// VerifyConsenterSig implements api.Verifier: sig must be a valid block
// vote by orderer sig.ID over the proposal's header, with a valid signature
// over its auxiliary data, which it returns.
func (r *Replica) VerifyConsenterSig(sig types.Signature, p types.Proposal) ([]byte, error) {
	var h block.Header
	if err := h.UnmarshalBinary(p.Header); err != nil {
		return nil, fmt.Errorf("%w: proposal header: %w", ErrVote, err)
	}
	// The configuration in force at the proposal's height: the votes of a
	// removed orderer stop counting there, a new one's start.
	trust := r.TrustAt(h.Height)
	name, ok := trust.OrdererByID(sig.ID)
	if !ok {
		return nil, fmt.Errorf("%w: signer %d is not an orderer at height %d", ErrVote, sig.ID, h.Height)
	}
	vm, err := blocklog.DecodeVoteMsg(sig.Msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVote, err)
	}
	if vm.HeaderHash != h.Hash() {
		return nil, fmt.Errorf("%w: vote of %s is for another header", ErrVote, name)
	}
	if err := block.VerifyVote(trust, &h, block.Vote{Signer: name, KeyID: vm.KeyID, Sig: sig.Value}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVote, err)
	}
	pk, err := trust.KeyAt(vm.KeyID, keys.RoleOrderer, name, h.Height)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVote, err)
	}
	if err := blocklog.VerifyAux(trust.Chain, pk, vm); err != nil {
		return nil, fmt.Errorf("%w: auxiliary data of %s: %w", ErrVote, name, err)
	}
	return vm.Aux, nil
}

// VerifySignature implements api.Verifier for view-change data.
func (r *Replica) VerifySignature(sig types.Signature) error {
	name, ok := r.ordererName(sig.ID)
	if !ok {
		return fmt.Errorf("%w: unknown signer %d", ErrVote, sig.ID)
	}
	return VerifyPlain(r.trust(), name, r.cfg.Log.Height()+1, sig.Msg, sig.Value)
}

// VerificationSequence implements api.Verifier. It stays 0: a change of
// the orderers is told by MembershipChange and followed through the
// engine's reconfiguration, and every signature is judged by the
// configuration in force at its height (the replica's history).
func (r *Replica) VerificationSequence() uint64 { return 0 }

// RequestsFromProposal implements api.Verifier. It reads the batch
// references only.
func (r *Replica) RequestsFromProposal(p types.Proposal) []types.RequestInfo {
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
func (r *Replica) AuxiliaryData(msg []byte) []byte {
	vm, err := blocklog.DecodeVoteMsg(msg)
	if err != nil {
		return nil
	}
	return vm.Aux
}

// Sign implements api.Signer (view-change data).
func (r *Replica) Sign(msg []byte) []byte { return SignPlain(r.trust().Chain, r.cfg.Key, msg) }

// SignProposal implements api.Signer: our block vote over the proposal's
// header, and a signature over the engine's auxiliary input.
func (r *Replica) SignProposal(p types.Proposal, aux []byte) *types.Signature {
	var h block.Header
	if err := h.UnmarshalBinary(p.Header); err != nil {
		// The engine signs only proposals we verified.
		r.log.Error("sign proposal: header", "err", err)
		return &types.Signature{ID: r.ID()}
	}
	vote := block.SignVote(r.cfg.Key, r.cfg.Name, &h)
	hash := h.Hash()
	vm := blocklog.VoteMsg{HeaderHash: hash, KeyID: vote.KeyID, Aux: aux, AuxSig: blocklog.SignAux(r.trust().Chain, r.cfg.Key, hash, aux)}
	return &types.Signature{ID: r.ID(), Value: vote.Sig, Msg: vm.Encode()}
}

// MembershipChange implements api.MembershipNotifier: whether the last
// block committed changed the orderers. The engine then proposes and
// verifies the next block without the previous block's commit signatures
// (they are the old members'), as after a reconfiguration.
func (r *Replica) MembershipChange() bool {
	h := r.cfg.Log.Height()
	if h == 0 {
		return false
	}
	r.histMu.RLock()
	defer r.histMu.RUnlock()
	return OrdererChange(r.hist.At(h), r.hist.At(h+1))
}
