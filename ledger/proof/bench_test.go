package proof_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/licenses"
	baybusproof "github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/schemas"
)

// BenchmarkForBlock: bundles for a block of 1,000 license transactions
// (4 batches of 250) over the real state store, as the publisher makes
// them on commit. ns/op is per block; ns/proof per bundle.
func BenchmarkForBlock(b *testing.B) {
	c := prooftest.Build(b, b.TempDir())
	st, err := licenses.Open(b.TempDir(), state.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var batches []*schemas.Batch
	for i := range 4 {
		var txs [][]byte
		for j := range 250 {
			txs = append(txs, blocktest.Tx(prooftest.ChainID, "shenzhen", fmt.Sprintf("BENCH%03d%03d", i, j), schemas.ActionIssue))
		}
		batches = append(batches, blocktest.Batch(c.Consortium, "shenzhen", uint64(i+1), txs...))
	}
	blk, ups, err := block.Assemble(c.Trust, block.Limits{}, block.Input{Batches: batches, Timestamp: prooftest.BaseTime, Proposer: "macao"}, blocktest.NewChain(), st)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Commit(1, ups); err != nil {
		b.Fatal(err)
	}
	qc := c.Sign(&blk.Header)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				bundles, err := baybusproof.Builder{Workers: workers}.ForBlock(&blk.Header, &qc, blk, baybusproof.ProveAt(&blk.Header, st.ProveRoot))
				if err != nil || len(bundles) != 1000 {
					b.Fatal(err, len(bundles))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/proof")
		})
	}
}

// BenchmarkLatest: a fresh proof of a revoked license (three blocks read).
func BenchmarkLatest(b *testing.B) {
	c := prooftest.Build(b, b.TempDir())
	key := c.Keys["cn-business"]
	for b.Loop() {
		if _, err := baybusproof.Latest(c, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCold: every certificate and signature checked (three
// Ed25519 votes, one batch signature).
func BenchmarkVerifyCold(b *testing.B) {
	c := prooftest.Build(b, b.TempDir())
	bundle := c.Find(b, 1, "cn-business")
	for b.Loop() {
		if _, err := baybusproof.Verify(c.Trust, bundle); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyWarm: the header already trusted; the batch signature,
// paths and state proof still checked.
func BenchmarkVerifyWarm(b *testing.B) {
	c := prooftest.Build(b, b.TempDir())
	bundle := c.Find(b, 1, "cn-business")
	v := baybusproof.NewVerifier(c.Trust, 0)
	if _, err := v.Verify(bundle); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := v.Verify(bundle); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	c := prooftest.Build(b, b.TempDir())
	bundle := c.Find(b, 1, "cn-business")
	bin, _ := bundle.MarshalBinary()
	js, _ := baybusproof.EncodeJSON(bundle)
	b.Run(fmt.Sprintf("binary-%dB", len(bin)), func(b *testing.B) {
		for b.Loop() {
			if _, err := baybusproof.DecodeBinary(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("json-%dB", len(js)), func(b *testing.B) {
		for b.Loop() {
			if _, err := baybusproof.DecodeJSON(js); err != nil {
				b.Fatal(err)
			}
		}
	})
}
