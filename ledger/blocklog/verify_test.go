package blocklog_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/schemas/keys"
)

func TestVerifyRecord(t *testing.T) {
	cons := testConsortium(t)
	recs := chainOf(t, cons, 3, 2, 2)
	trust := cons.Bundle
	var parent *block.Header
	for _, r := range recs {
		rec, blk, err := blocklog.VerifyRecord(trust, parent, r.Encode())
		if err != nil {
			t.Fatalf("block %d: %v", r.Header.Height, err)
		}
		if rec.Header.Hash() != r.Header.Hash() || blk.Header.Hash() != r.Header.Hash() {
			t.Fatalf("block %d: returned another block", r.Header.Height)
		}
		parent = &blk.Header
	}

	// Each case alters a valid block 2 (parent block 1) and must fail with
	// its sentinel.
	parent = &recs[0].Header
	good := recs[1]
	clone := func() *blocklog.Record {
		r := *good
		r.QC = block.QC{Votes: append([]block.Vote(nil), good.QC.Votes...)}
		r.VoteMsgs = append([][]byte(nil), good.VoteMsgs...)
		return &r
	}
	// reseal re-signs the record's header (and the block in it) after a
	// change, so that only the change itself is wrong.
	reseal := func(r *blocklog.Record, change func(*block.Block)) *blocklog.Record {
		blk, err := block.Decode(r.BlockData)
		if err != nil {
			t.Fatal(err)
		}
		change(blk)
		out := blocklogtest.Certify(cons, blk, trust.Orderers[:trust.Quorum()]...)
		return out
	}
	mallory, _ := keys.Generate(cons.Orderers[trust.Orderers[1]].KeyID(), keys.Ed25519, rand.Reader)
	for _, tc := range []struct {
		name   string
		parent *block.Header
		raw    func() []byte
		want   error
	}{
		{"truncated", parent, func() []byte { return good.Encode()[:100] }, blocklog.ErrRecord},
		{"header is not the block's", parent, func() []byte {
			r := clone()
			r.Header.Timestamp++
			return r.Encode()
		}, blocklog.ErrRecord},
		{"no parent", nil, func() []byte { return good.Encode() }, blocklog.ErrBrokenChain},
		{"another parent", &recs[1].Header, func() []byte { return good.Encode() }, blocklog.ErrBrokenChain},
		{"vote message of another header", parent, func() []byte {
			r := clone()
			r.VoteMsgs[1] = recs[2].VoteMsgs[1]
			return r.Encode()
		}, blocklog.ErrVoteMsg},
		{"vote message with another key id", parent, func() []byte {
			r := clone()
			vm, _ := blocklog.DecodeVoteMsg(r.VoteMsgs[0])
			vm.KeyID = r.QC.Votes[1].KeyID
			r.VoteMsgs[0] = vm.Encode()
			return r.Encode()
		}, blocklog.ErrVoteMsg},
		{"altered auxiliary data", parent, func() []byte {
			r := clone()
			vm, _ := blocklog.DecodeVoteMsg(r.VoteMsgs[2])
			vm.Aux = append(vm.Aux, '!')
			r.VoteMsgs[2] = vm.Encode()
			return r.Encode()
		}, blocklog.ErrVoteMsg},
		{"auxiliary data signed by another key", parent, func() []byte {
			r := clone()
			vm, _ := blocklog.DecodeVoteMsg(r.VoteMsgs[1])
			vm.AuxSig = blocklog.SignAux(trust.Chain, mallory, vm.HeaderHash, vm.Aux)
			r.VoteMsgs[1] = vm.Encode()
			return r.Encode()
		}, blocklog.ErrVoteMsg},
		{"vote message that does not parse", parent, func() []byte {
			r := clone()
			r.VoteMsgs[0] = []byte("junk")
			return r.Encode()
		}, blocklog.ErrVoteMsg},
		{"no consensus metadata", parent, func() []byte {
			return reseal(good, func(b *block.Block) { b.Header.Consensus = nil }).Encode()
		}, blocklog.ErrConsensus},
		{"metadata of another sequence", parent, func() []byte {
			return reseal(good, func(b *block.Block) { b.Header.Consensus = blocklogtest.Metadata(3) }).Encode()
		}, blocklog.ErrConsensus},
		{"metadata that is not view metadata", parent, func() []byte {
			return reseal(good, func(b *block.Block) { b.Header.Consensus = []byte{0xff} }).Encode()
		}, blocklog.ErrConsensus},
		{"certificate below quorum", parent, func() []byte {
			r := clone()
			r.QC.Votes, r.VoteMsgs = r.QC.Votes[:1], r.VoteMsgs[:1]
			return r.Encode()
		}, block.ErrQuorum},
		{"forged vote", parent, func() []byte {
			r := clone()
			r.QC.Votes[1] = block.SignVote(mallory, trust.Orderers[1], &r.Header)
			return r.Encode()
		}, block.ErrQuorum},
		{"altered results", parent, func() []byte {
			return reseal(good, func(b *block.Block) { b.Results[0] = block.Refused(block.Rejected, block.ReasonStatus) }).Encode()
		}, block.ErrMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := blocklog.VerifyRecord(trust, tc.parent, tc.raw())
			var re *blocklog.RecordError
			if !errors.Is(err, tc.want) || !errors.As(err, &re) {
				t.Fatalf("err %v, want %v in a *RecordError", err, tc.want)
			}
			if want := uint64(1); tc.parent != nil {
				want = tc.parent.Height + 1
				if re.Height != want {
					t.Fatalf("error at height %d, want %d", re.Height, want)
				}
			}
		})
	}
}

// TestViewMetadataMatchesProto: the protowire codec reads and writes
// SmartBFT's ViewMetadata exactly as the generated code does.
func TestViewMetadataMatchesProto(t *testing.T) {
	for _, m := range []*protos.ViewMetadata{
		{},
		{LatestSequence: 7},
		{ViewId: 3, LatestSequence: 1 << 40, DecisionsInView: 9, BlackList: []uint64{1, 4, 300}, PrevCommitSignatureDigest: []byte{1, 2, 3}},
	} {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := blocklog.DecodeViewMetadata(want)
		if err != nil {
			t.Fatal(err)
		}
		if !sameMetadata(got, m) {
			t.Fatalf("decoded %+v, want %v", got, m)
		}
		if !bytes.Equal(got.Encode(), want) {
			t.Fatalf("encoded %x, proto.Marshal %x", got.Encode(), want)
		}
	}
}

func sameMetadata(got *blocklog.ViewMetadata, want *protos.ViewMetadata) bool {
	if got.ViewID != want.ViewId || got.LatestSequence != want.LatestSequence || got.DecisionsInView != want.DecisionsInView ||
		!bytes.Equal(got.PrevCommitSignatureDigest, want.PrevCommitSignatureDigest) || len(got.BlackList) != len(want.BlackList) {
		return false
	}
	for i := range got.BlackList {
		if got.BlackList[i] != want.BlackList[i] {
			return false
		}
	}
	return true
}

// FuzzDecodeViewMetadata checks the decoder against proto.Unmarshal: the
// same inputs refused, the same fields read, and a round trip through
// Encode.
func FuzzDecodeViewMetadata(f *testing.F) {
	full, _ := proto.Marshal(&protos.ViewMetadata{ViewId: 3, LatestSequence: 12, DecisionsInView: 2, BlackList: []uint64{2, 5}, PrevCommitSignatureDigest: []byte("digest")})
	f.Add(full)
	f.Add(blocklogtest.Metadata(1))
	f.Add([]byte{0x20, 0x05, 0x20, 0x06})       // black_list unpacked
	f.Add([]byte{0x10, 0x01, 0x10, 0x02})       // latest_sequence twice: the last wins
	f.Add([]byte{0x12, 0x01, 0x07})             // field 2 as bytes: unknown, skipped
	f.Add([]byte{0x58, 0x01})                   // unknown field 11
	f.Add([]byte{0x0b, 0x08, 0x01, 0x0c, 0x10}) // a group
	f.Add([]byte{0x22, 0x02, 0x80})             // a packed varint cut short
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := blocklog.DecodeViewMetadata(data)
		var want protos.ViewMetadata
		perr := proto.Unmarshal(data, &want)
		if (err == nil) != (perr == nil) {
			t.Fatalf("DecodeViewMetadata: %v; proto.Unmarshal: %v", err, perr)
		}
		if err != nil {
			return
		}
		if !sameMetadata(got, &want) {
			t.Fatalf("decoded %+v, proto.Unmarshal %v", got, &want)
		}
		again, err := blocklog.DecodeViewMetadata(got.Encode())
		if err != nil || !bytes.Equal(again.Encode(), got.Encode()) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
