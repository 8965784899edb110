package block_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

var orderers = []string{"hongkong", "macao", "qianhai", "hengqin", "nansha"}

func consortium(t testing.TB) *keys.Consortium {
	t.Helper()
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAssembleVerifyAndResults(t *testing.T) {
	c := consortium(t)
	chain, st := blocktest.NewChain(), blocktest.NewState()
	tx1 := blocktest.Tx("gba-test", "shenzhen", "A1", schemas.ActionIssue)
	tx2 := blocktest.Tx("gba-test", "shenzhen", "A2", schemas.ActionIssue)
	amendUnknown := blocktest.Tx("gba-test", "shenzhen", "ZZ", schemas.ActionSuspend)
	bad := []byte(`{"v":1}`)
	b1 := blocktest.Batch(c, "shenzhen", 1, tx1, tx2, tx1) // tx1 twice: second is a duplicate
	b2 := blocktest.Batch(c, "shenzhen", 2, amendUnknown, bad)

	blk, ups, err := block.Assemble(c.Bundle, block.Limits{}, block.Input{Batches: []*schemas.Batch{b1, b2}, Timestamp: 5, Proposer: "macao"}, chain, st)
	if err != nil {
		t.Fatal(err)
	}
	want := []block.Result{block.OK, block.OK, block.Duplicate, block.Rejected, block.Invalid}
	if got := blk.Results; !equal(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	if blk.Header.TxCount != 2 || len(ups) != 2 {
		t.Fatalf("txcount %d updates %d, want 2 and 2", blk.Header.TxCount, len(ups))
	}

	// Encoding round trip and follower verification.
	dec, err := block.Decode(block.Encode(blk))
	if err != nil {
		t.Fatal(err)
	}
	if dec.Header.Hash() != blk.Header.Hash() {
		t.Fatal("header hash changed through encoding")
	}
	if _, err := block.Verify(c.Bundle, block.Limits{}, nil, dec, chain, st); err != nil {
		t.Fatalf("follower refuses an honest block: %v", err)
	}

	// Tampered proposals are refused.
	for name, mutate := range map[string]func(b *block.Block){
		"results":    func(b *block.Block) { b.Results[2] = block.OK },
		"tx root":    func(b *block.Block) { b.Header.TxRoot[0] ^= 1 },
		"state root": func(b *block.Block) { b.Header.StateRoot[0] ^= 1 },
		"height":     func(b *block.Block) { b.Header.Height = 7 },
		"proposer":   func(b *block.Block) { b.Header.Proposer = "mallory" },
		"signature":  func(b *block.Block) { b.Batches[0].Signature[0] ^= 1 },
		"foreign city key": func(b *block.Block) {
			b.Batches[0].City = "macao" // signed by shenzhen's key
		},
	} {
		t.Run(name, func(t *testing.T) {
			cp, _ := block.Decode(block.Encode(blk))
			mutate(cp)
			if _, err := block.Verify(c.Bundle, block.Limits{}, nil, cp, chain, st); err == nil {
				t.Fatal("tampered block accepted")
			}
		})
	}

	// Commit, then the same batch again is a bad batch and the same tx a duplicate.
	chain.Add(blk)
	st.Apply(ups)
	if _, _, err := block.Assemble(c.Bundle, block.Limits{}, block.Input{Parent: &blk.Header, Batches: []*schemas.Batch{b1}}, chain, st); !errors.Is(err, block.ErrBadBatch) {
		t.Fatalf("re-ordered batch: err %v, want ErrBadBatch", err)
	}
	b3 := blocktest.Batch(c, "shenzhen", 3, tx2, blocktest.Tx("gba-test", "shenzhen", "A1", schemas.ActionRevoke))
	blk2, _, err := block.Assemble(c.Bundle, block.Limits{}, block.Input{Parent: &blk.Header, Batches: []*schemas.Batch{b3}, Timestamp: 1}, chain, st)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(blk2.Results, []block.Result{block.Duplicate, block.OK}) {
		t.Fatalf("results %v", blk2.Results)
	}
	if blk2.Header.Timestamp != 5 {
		t.Fatalf("timestamp %d went below the parent's", blk2.Header.Timestamp)
	}
}

func TestQC(t *testing.T) {
	c := consortium(t)
	h := &block.Header{Chain: "gba-test", Height: 3, Proposer: "macao"}
	var qc block.QC
	for _, o := range orderers[:4] {
		qc.Votes = append(qc.Votes, block.SignVote(c.Orderers[o], o, h))
	}
	if err := block.VerifyQC(c.Bundle, h, &qc); err != nil {
		t.Fatalf("valid QC refused: %v", err)
	}
	below := block.QC{Votes: qc.Votes[:3]}
	twice := block.QC{Votes: append(append([]block.Vote(nil), qc.Votes[:3]...), qc.Votes[0])}
	forged := block.QC{Votes: append([]block.Vote(nil), qc.Votes...)}
	forged.Votes[1].Sig = bytes.Clone(forged.Votes[1].Sig)
	forged.Votes[1].Sig[3] ^= 1
	other := *h
	other.Height = 4
	for name, tc := range map[string]struct {
		h  *block.Header
		qc *block.QC
	}{"below quorum": {h, &below}, "signer twice": {h, &twice}, "forged": {h, &forged}, "other header": {&other, &qc}} {
		if err := block.VerifyQC(c.Bundle, tc.h, tc.qc); !errors.Is(err, block.ErrQuorum) {
			t.Errorf("%s: err %v, want ErrQuorum", name, err)
		}
	}
}

// seedBlock is a block of one batch of one transaction, the fuzzers' seed.
func seedBlock(f *testing.F) *block.Block {
	c := consortium(f)
	b := blocktest.Batch(c, "macao", 1, blocktest.Tx("gba-test", "macao", "M1", schemas.ActionIssue))
	blk, _, err := block.Assemble(c.Bundle, block.Limits{}, block.Input{Batches: []*schemas.Batch{b}}, blocktest.NewChain(), blocktest.NewState())
	if err != nil {
		f.Fatal(err)
	}
	return blk
}

func FuzzDecode(f *testing.F) {
	blk := seedBlock(f)
	f.Add(block.Encode(blk))
	f.Add([]byte("GBK1"))
	// A rules version 2 block with a reason among its results.
	c := consortium(f)
	trust := blocktest.WithRules(c.Bundle, block.Rules2)
	b := blocktest.Batch(c, "macao", 1, blocktest.Tx("gba-test", "macao", "M1", schemas.ActionIssue), blocktest.Tx("gba-test", "macao", "M2", schemas.ActionSuspend))
	if v2, _, err := block.Assemble(trust, block.Limits{}, block.Input{Batches: []*schemas.Batch{b}}, blocktest.NewChain(), blocktest.NewState()); err == nil {
		f.Add(block.Encode(v2))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := block.Decode(p)
		if err != nil {
			return
		}
		if again, err := block.Decode(block.Encode(b)); err != nil || again.Header.Hash() != b.Header.Hash() {
			t.Fatalf("re-encoding a decoded block changed it: %v", err)
		}
	})
}

// BenchmarkAssemble: a block of 8 batches of 128 transactions, checked
// (each batch's signature and every transaction's record check) and
// assembled, under each rules version: rules version 2 adds the schemas'
// and the identifiers' checks on every transaction.
func BenchmarkAssemble(b *testing.B) {
	c := consortium(b)
	var batches []*schemas.Batch
	for i := range 8 {
		var txs [][]byte
		for j := range 128 {
			txs = append(txs, blocktest.Tx("gba-test", "shenzhen", string(rune('A'+i))+string(rune('a'+j%26))+string(rune('0'+j/26)), schemas.ActionIssue))
		}
		batches = append(batches, blocktest.Batch(c, "shenzhen", uint64(i+1), txs...))
	}
	for _, v := range []int{block.Rules1, block.Rules2} {
		trust := blocktest.WithRules(c.Bundle, v)
		b.Run(fmt.Sprintf("rules%d", v), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := block.Assemble(trust, block.Limits{}, block.Input{Batches: batches}, blocktest.NewChain(), blocktest.NewState()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(8*128*b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

// equal compares the outcomes of results, without their reasons.
func equal(a, b []block.Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Outcome() != b[i].Outcome() {
			return false
		}
	}
	return true
}
