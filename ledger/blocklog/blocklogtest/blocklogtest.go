// Package blocklogtest builds chains of real block-log records for tests:
// signed batches assembled over a real license state, quorum certificates,
// vote messages with their auxiliary signatures, and the consensus metadata
// the orderers write, so that blocklog.VerifyRecord accepts them.
package blocklogtest

import (
	"crypto/rand"
	"fmt"
	"testing"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

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
		md, _ := proto.Marshal(&protos.ViewMetadata{LatestSequence: h})
		blk, ups, err := block.Assemble(cons.Bundle, block.Limits{}, block.Input{Parent: parent, Batches: bts,
			Timestamp: int64(h), Proposer: cons.Bundle.Orderers[0], Consensus: md}, idx, st)
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(ups)
		idx.Add(blk)
		rec := &blocklog.Record{Header: blk.Header, BlockData: block.Encode(blk)}
		hash := blk.Header.Hash()
		for _, o := range cons.Bundle.Orderers[:cons.Bundle.Quorum()] {
			k := cons.Orderers[o]
			rec.QC.Votes = append(rec.QC.Votes, block.SignVote(k, o, &blk.Header))
			vm := blocklog.VoteMsg{HeaderHash: hash, KeyID: k.KeyID(), AuxSig: blocklog.SignAux(cons.Bundle.Chain, k, hash, nil)}
			rec.VoteMsgs = append(rec.VoteMsgs, vm.Encode())
		}
		out = append(out, rec)
		hdr := blk.Header
		parent = &hdr
	}
	return out
}

// Consortium is a four-orderer consortium of chain gba-test.
func Consortium(t testing.TB) *keys.Consortium {
	orderers, _ := schemas.OrdererNames(4)
	c, err := keys.NewConsortium("gba-test", schemas.CityTokens(), orderers, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
