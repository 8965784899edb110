package blocklog

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas/keys"
)

// Verification errors, besides ErrRecord, ErrBrokenChain and ledger/block's
// (ErrChain, ErrBadBatch, ErrMismatch, ErrQuorum).
var (
	// ErrVoteMsg: a vote message does not go with its vote (another header
	// or key), or its auxiliary signature does not verify.
	ErrVoteMsg = errors.New("blocklog: vote message does not match its vote")
	// ErrConsensus: the header's consensus metadata is not SmartBFT view
	// metadata whose latest sequence is the block's height.
	ErrConsensus = errors.New("blocklog: consensus metadata does not match the block")
)

// RecordError is a record that failed VerifyRecord: Height is the height
// it was read as (its parent's plus one), which a record that claims
// another height does not hold.
type RecordError struct {
	Height uint64
	Err    error
}

func (e *RecordError) Error() string { return fmt.Sprintf("blocklog: block %d: %v", e.Height, e.Err) }

// Unwrap returns the reason, so errors.Is finds the sentinels.
func (e *RecordError) Unwrap() error { return e.Err }

// VerifyRecord decodes a block-log record, as read from a log or received
// from a peer, and checks everything about it that needs no license state:
//
//   - the record's header is its block's header, byte for byte;
//   - the header follows parent (Links: the next height, parent's hash; nil
//     parent for block 1);
//   - block.VerifyStored: the batch signatures, the results hash, the
//     transaction root and count, and the quorum certificate;
//   - every vote message goes with its vote (header hash, key id) and its
//     auxiliary signature verifies under the voter's key;
//   - the consensus metadata is SmartBFT view metadata whose latest
//     sequence is the height.
//
// What it cannot check without the state (each transaction's result and
// the state root) is block.Verify's, over a replayed state. Every error is
// a *RecordError.
func VerifyRecord(trust *keys.Bundle, parent *block.Header, raw []byte) (*Record, *block.Block, error) {
	height := uint64(1)
	if parent != nil {
		height = parent.Height + 1
	}
	return verifyRecord(trust, parent, height, true, raw)
}

// VerifyRecordAt is VerifyRecord for a record whose parent is not at hand
// (the block a state snapshot is taken at): every check but the hash link,
// with the record read as block height.
func VerifyRecordAt(trust *keys.Bundle, height uint64, raw []byte) (*Record, *block.Block, error) {
	return verifyRecord(trust, nil, height, false, raw)
}

func verifyRecord(trust *keys.Bundle, parent *block.Header, height uint64, link bool, raw []byte) (*Record, *block.Block, error) {
	fail := func(err error) (*Record, *block.Block, error) {
		return nil, nil, &RecordError{Height: height, Err: err}
	}
	rec, err := DecodeRecord(raw, false)
	if err != nil {
		return fail(err)
	}
	blk, err := block.Decode(rec.BlockData)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrRecord, err))
	}
	hb, _ := rec.Header.MarshalBinary()
	bb, _ := blk.Header.MarshalBinary()
	if !bytes.Equal(hb, bb) {
		return fail(fmt.Errorf("%w: the record's header is not its block's", ErrRecord))
	}
	if !link && blk.Header.Height != height {
		return fail(fmt.Errorf("%w: block %d read as %d", ErrBrokenChain, blk.Header.Height, height))
	}
	if link {
		if err := Links(parent, &blk.Header); err != nil {
			return fail(err)
		}
	}
	md, err := DecodeViewMetadata(blk.Header.Consensus)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrConsensus, err))
	}
	if md.LatestSequence != height {
		return fail(fmt.Errorf("%w: sequence %d at height %d", ErrConsensus, md.LatestSequence, height))
	}
	verify := func() error { return block.VerifyStored(trust, parent, blk, &rec.QC) }
	if !link {
		verify = func() error { return block.VerifyStoredUnlinked(trust, blk, &rec.QC) }
	}
	if err := verify(); err != nil {
		return fail(err)
	}
	if err := verifyVoteMsgs(trust, rec, &blk.Header); err != nil {
		return fail(err)
	}
	return rec, blk, nil
}

// verifyVoteMsgs checks each vote message against its vote in the quorum
// certificate (DecodeRecord has checked there is one per vote).
func verifyVoteMsgs(trust *keys.Bundle, rec *Record, h *block.Header) error {
	hash := h.Hash()
	for i, v := range rec.QC.Votes {
		vm, err := DecodeVoteMsg(rec.VoteMsgs[i])
		if err != nil {
			return fmt.Errorf("%w: vote %d (%s): %w", ErrVoteMsg, i, v.Signer, err)
		}
		if vm.HeaderHash != hash || vm.KeyID != v.KeyID {
			return fmt.Errorf("%w: vote %d (%s) names another header or key", ErrVoteMsg, i, v.Signer)
		}
		pk, err := trust.KeyAt(vm.KeyID, keys.RoleOrderer, v.Signer, h.Height)
		if err != nil {
			return fmt.Errorf("%w: vote %d (%s): %w", ErrVoteMsg, i, v.Signer, err)
		}
		if err := VerifyAux(trust.Chain, pk, vm); err != nil {
			return fmt.Errorf("%w: vote %d (%s): auxiliary signature: %w", ErrVoteMsg, i, v.Signer, err)
		}
	}
	return nil
}

// AddVote signs the record's header as orderer name and appends the vote to
// its quorum certificate, with the vote message the orderer's engine would
// send beside it (aux is the engine's auxiliary input, signed with SignAux).
// It is how tests and tools certify records that VerifyRecord accepts; the
// orderer builds its records from the engine's signatures instead.
func (r *Record) AddVote(k keys.Signer, name string, aux []byte) {
	v := block.SignVote(k, name, &r.Header)
	hash := r.Header.Hash()
	vm := VoteMsg{HeaderHash: hash, KeyID: v.KeyID, Aux: aux, AuxSig: SignAux(r.Header.Chain, k, hash, aux)}
	r.QC.Votes = append(r.QC.Votes, v)
	r.VoteMsgs = append(r.VoteMsgs, vm.Encode())
}
