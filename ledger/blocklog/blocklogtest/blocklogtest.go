// Package blocklogtest builds chains of real block-log records for tests:
// signed batches assembled over a real license state, quorum certificates,
// vote messages with their auxiliary signatures, and the consensus metadata
// the orderers write, so that blocklog.VerifyRecord accepts them.
package blocklogtest

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Chain builds count sealed blocks of batches txs transactions each,
// with quorum certificates, as records.
func Chain(t testing.TB, cons *keys.Consortium, count, batches, txs int) []*blocklog.Record {
	t.Helper()
	st, idx := blocktest.NewState(), blocktest.NewChain()
	var parent *block.Header
	var out []*blocklog.Record
	seq := uint64(0)
	for h := uint64(1); h <= uint64(count); h++ {
		var bts []*schemas.Batch
		for range batches {
			seq++
			var raw [][]byte
			for i := range txs {
				raw = append(raw, blocktest.Tx(cons.Bundle.Chain, "shenzhen", fmt.Sprintf("S%d-%d", seq, i), schemas.ActionIssue))
			}
			bts = append(bts, blocktest.Batch(cons, "shenzhen", seq, raw...))
		}
		blk, ups, err := block.Assemble(cons.Bundle, block.Limits{}, block.Input{Parent: parent, Batches: bts,
			Timestamp: int64(h), Proposer: cons.Bundle.Orderers[0], Consensus: Metadata(h)}, idx, st)
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(ups)
		idx.Add(blk)
		out = append(out, Certify(cons, blk, cons.Bundle.Orderers[:cons.Bundle.Quorum()]...))
		hdr := blk.Header
		parent = &hdr
	}
	return out
}

// Consortium is a four-orderer consortium of chain gba-test.
func Consortium(t testing.TB) *keys.Consortium {
	orderers, _ := schemas.OrdererNames(4)
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Metadata is the consensus metadata of the block at height in a view that
// started at block 1: what the orderers' engine puts in the header's
// Consensus field, and what blocklog.VerifyRecord checks.
func Metadata(height uint64) []byte {
	return (&blocklog.ViewMetadata{LatestSequence: height, DecisionsInView: max(height, 1) - 1}).Encode()
}

// Certify returns blk's record with the votes of signers (orderer names of
// cons), each with its vote message, as the orderers' engine delivers them.
func Certify(cons *keys.Consortium, blk *block.Block, signers ...string) *blocklog.Record {
	rec := &blocklog.Record{Header: blk.Header, BlockData: block.Encode(blk)}
	for _, o := range signers {
		rec.AddVote(cons.Orderers[o], o, []byte("prepares seen by "+o))
	}
	return rec
}
