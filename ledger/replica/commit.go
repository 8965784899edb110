package replica

import (
	"errors"
	"fmt"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// Decision is a decided block ready to commit: its record (header, quorum
// certificate, vote messages, block bytes) and its state updates.
type Decision struct {
	Record  *blocklog.Record
	Block   *block.Block
	Updates []block.StateUpdate
}

// Decide turns the engine's decision into the block to commit: the
// proposal is verified (or recalled), and only valid votes go into its
// quorum certificate, which must make a quorum. It returns (nil, nil) for a
// decision at or below the log's height that is the block held there (sync
// got there first), ErrFork for one that is not, and a MissingError when
// the block names batches the replica does not hold: the driver fetches
// them, or the block, and asks again.
func (r *Replica) Decide(p types.Proposal, sigs []types.Signature, heldHash func(height uint64) ([32]byte, bool)) (*Decision, error) {
	var hdr block.Header
	if err := hdr.UnmarshalBinary(p.Header); err != nil {
		return nil, fmt.Errorf("%w: decided header: %w", ErrProposal, err)
	}
	if hdr.Height <= r.cfg.Log.Height() {
		if hash, ok := heldHash(hdr.Height); !ok || hash != hdr.Hash() {
			return nil, fmt.Errorf("%w: block %d", ErrFork, hdr.Height)
		}
		return nil, nil
	}
	if hdr.Height != r.cfg.Log.Height()+1 {
		return nil, fmt.Errorf("%w: decided block %d is past our next height %d", ErrGap, hdr.Height, r.cfg.Log.Height()+1)
	}
	v, err := r.Verify(p)
	if err != nil {
		return nil, err
	}
	rec, err := RecordOf(r.trust(), v.Block, sigs)
	if err != nil {
		return nil, err
	}
	return &Decision{Record: rec, Block: v.Block, Updates: v.Updates}, nil
}

// ErrGap: a decision beyond the next height; the driver syncs the blocks
// between first.
var ErrGap = errors.New("replica: decided block beyond our next height")

// VerifySynced checks a block fetched from a peer (after the stateless
// checks of blocklog.VerifyRecord) by replaying it over the log's last
// block, the index and the state, and returns it ready to commit.
func (r *Replica) VerifySynced(rec *blocklog.Record, blk *block.Block) (*Decision, error) {
	updates, err := block.Verify(r.trust(), r.Limits(), r.cfg.Log.Last(), blk, r.cfg.Index, r.cfg.State)
	if err != nil {
		return nil, err
	}
	return &Decision{Record: rec, Block: blk, Updates: updates}, nil
}

// Step names a step of the commit path, in order.
type Step int

// The commit path's steps: a crash between any two leaves the stores at
// heights Recover brings together (log ≥ state, log ≥ index).
const (
	StepAppend Step = iota // block log append, fsynced
	StepState              // license state commit
	StepIndex              // transaction index
)

func (s Step) String() string {
	switch s {
	case StepAppend:
		return "append"
	case StepState:
		return "state"
	case StepIndex:
		return "index"
	}
	return fmt.Sprintf("step(%d)", int(s))
}

// Committed is what Commit did, with what each step took (measured, for
// metrics only).
type Committed struct {
	Txs                  []block.Tx
	Append, State, Index time.Duration
}

// Commit makes a decided block durable and visible, in this order: block
// log (fsynced), state, index. The log is the truth: a crash after the
// append leaves the state and the index behind it, and Recover replays
// them. One goroutine at a time (the driver's commit lock).
func (r *Replica) Commit(d *Decision) (Committed, error) {
	var c Committed
	h := d.Record.Header.Height
	t0 := time.Now()
	// A configuration block extends the history before the append: the
	// configuration it makes is in force only from the next height, which
	// the log's height reaches with the append, so no reader of trust()
	// sees the new height judged by the old configuration.
	if err := r.applyConfig(d.Block); err != nil {
		return c, err
	}
	if err := r.cfg.Log.Append(d.Record); err != nil {
		return c, err
	}
	t1 := time.Now()
	if r.cfg.State.Height() < h {
		if err := r.cfg.State.Commit(h, d.Updates); err != nil {
			return c, fmt.Errorf("replica: state commit %d: %w", h, err)
		}
	}
	t2 := time.Now()
	txs, err := r.cfg.Index.Add(d.Block)
	if err != nil {
		return c, fmt.Errorf("replica: index block %d: %w", h, err)
	}
	c.Txs, c.Append, c.State, c.Index = txs, t1.Sub(t0), t2.Sub(t1), time.Since(t2)
	return c, nil
}

// Replayable is a block log that can be read back.
type Replayable interface {
	BlockLog
	Header(height uint64) (*block.Header, error)
	Scan(from uint64, fn func(*blocklog.Record) error) error
}

// StateAheadError: the license state has applied blocks the block log no
// longer holds (it was cut by a repair, or lost blocks it had fsynced).
// The state is derived from the log: the caller, which owns the state,
// rebuilds it (opens it empty) and recovers again, replaying the log.
type StateAheadError struct {
	State, Log uint64 // heights
}

func (e *StateAheadError) Error() string {
	return fmt.Sprintf("replica: the state is at height %d but the block log only at %d: rebuild the state from the log", e.State, e.Log)
}

// Recover brings the index and the state up to the log's height after a
// restart, replaying (block.Verify, then commit) the blocks each lacks:
// the state from its own height, the index from its own. An index ahead of
// the log must be rebuilt by the caller first (it is derived data); a
// state ahead of it is a *StateAheadError.
func Recover(trust *keys.Bundle, lim block.Limits, log Replayable, idx Index, st State) (replayed, indexed int, err error) {
	return RecoverHistory(config.NewHistory(trust), lim, log, idx, st)
}

// RecoverHistory is Recover for a chain with configuration blocks: each
// block is replayed under the configuration in force at its height
// (hist, from LoadHistory).
func RecoverHistory(hist *config.History, lim block.Limits, log Replayable, idx Index, st State) (replayed, indexed int, err error) {
	if lim == (block.Limits{}) {
		lim = block.DefaultLimits
	}
	height := log.Height()
	if st.Height() > height {
		return 0, 0, &StateAheadError{State: st.Height(), Log: height}
	}
	if idx.Height() > height {
		return 0, 0, fmt.Errorf("replica: index at height %d is ahead of the block log at %d", idx.Height(), height)
	}
	from := min(idx.Height(), st.Height()) + 1
	var prev *block.Header
	if from > 1 {
		if prev, err = log.Header(from - 1); err != nil {
			return 0, 0, err
		}
	}
	err = log.Scan(from, func(rec *blocklog.Record) error {
		h := rec.Header.Height
		blk, err := block.Decode(rec.BlockData)
		if err != nil {
			return fmt.Errorf("replica: replay block %d: %w", h, err)
		}
		if h > st.Height() {
			updates, err := block.Verify(hist.At(h), lim, prev, blk, idx.AsOf(h), st)
			if err != nil {
				return fmt.Errorf("replica: replay block %d: %w", h, err)
			}
			if err := st.Commit(h, updates); err != nil {
				return fmt.Errorf("replica: replay block %d: %w", h, err)
			}
			replayed++
		}
		if h > idx.Height() {
			if _, err := idx.Add(blk); err != nil {
				return fmt.Errorf("replica: replay block %d: %w", h, err)
			}
			indexed++
		}
		hdr := rec.Header
		prev = &hdr
		return nil
	})
	return replayed, indexed, err
}

// DecisionOf rebuilds the engine's view of a stored block: the proposal
// as it was decided, with the block's references for payload.
func DecisionOf(trust *keys.Bundle, rec *blocklog.Record) (types.Decision, error) {
	blk, err := block.Decode(rec.BlockData)
	if err != nil {
		return types.Decision{}, fmt.Errorf("replica: block %d: %w", rec.Header.Height, err)
	}
	hb, _ := rec.Header.MarshalBinary()
	d := types.Decision{Proposal: types.Proposal{Payload: payloadOf(blk), Header: hb, Metadata: rec.Header.Consensus}}
	for i, v := range rec.QC.Votes {
		d.Signatures = append(d.Signatures, types.Signature{ID: trust.ConsensusID(v.Signer), Value: v.Sig, Msg: rec.VoteMsgs[i]})
	}
	return d, nil
}

// RecordOf builds the stored record of a decided block from the engine's
// signatures, keeping only valid votes and checking they make a quorum.
func RecordOf(trust *keys.Bundle, blk *block.Block, sigs []types.Signature) (*blocklog.Record, error) {
	rec := &blocklog.Record{Header: blk.Header, BlockData: block.Encode(blk)}
	hash := blk.Header.Hash()
	seen := map[uint64]bool{}
	for _, s := range sigs {
		signer, ok := trust.OrdererByID(s.ID)
		if seen[s.ID] || !ok {
			continue
		}
		vm, err := blocklog.DecodeVoteMsg(s.Msg)
		if err != nil || vm.HeaderHash != hash {
			continue
		}
		v := block.Vote{Signer: signer, KeyID: vm.KeyID, Sig: s.Value}
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
