// Package ordertest builds chains of real sealed blocks for tests outside
// the orderer: signed batches assembled over a real license state, with
// quorum certificates of orderer votes, their vote messages and the
// consensus metadata, as blocklog.Records that blocklog.VerifyRecord
// accepts.
package ordertest

import (
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// State is a license state the sealer assembles over and commits to
// (a *licenses.State).
type State interface {
	block.State
	Commit(height uint64, ups []block.StateUpdate) error
}

// Sealer seals one block after another on top of the last. Each block is
// proposed by "macao" at a timestamp equal to its height, and certified by
// the votes of Signers.
type Sealer struct {
	Cons    *keys.Consortium
	Signers []string // orderers whose votes make each quorum certificate
	State   State
	Chain   *blocktest.Chain // nil: a new one

	parent *block.Header
	height uint64
}

// Seal assembles the next block of batches, commits its state updates and
// returns its record (whole block, quorum certificate, vote messages) and
// the block.
func (s *Sealer) Seal(tb testing.TB, batches ...*schemas.Batch) (*blocklog.Record, *block.Block) {
	tb.Helper()
	if s.Chain == nil {
		s.Chain = blocktest.NewChain()
	}
	s.height++
	blk, ups, err := block.Assemble(s.Cons.Bundle, block.Limits{}, block.Input{Parent: s.parent, Batches: batches,
		Timestamp: int64(s.height), Proposer: "macao", Consensus: blocklogtest.Metadata(s.height)}, s.Chain, s.State)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.State.Commit(s.height, ups); err != nil {
		tb.Fatal(err)
	}
	s.Chain.Add(blk)
	rec := blocklogtest.Certify(s.Cons, blk, s.Signers...)
	hdr := blk.Header
	s.parent = &hdr
	return rec, blk
}
