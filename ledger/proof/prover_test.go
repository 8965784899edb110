package proof_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	baybusproof "github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas/merkle"
)

// countingSource counts the blocks a prover reads.
type countingSource struct {
	*prooftest.Chain
	reads atomic.Int64
}

func (s *countingSource) Block(h uint64) (*block.Block, *block.QC, error) {
	s.reads.Add(1)
	return s.Chain.Block(h)
}

// TestProverReadsEachBlockOnce: fresh proofs of every license, asked for
// many times from many goroutines, read each block once while it stays
// cached, and equal what Latest makes without a cache.
func TestProverReadsEachBlockOnce(t *testing.T) {
	c := prooftest.Build(t, t.TempDir())
	src := &countingSource{Chain: c}
	p := baybusproof.NewProver(src, baybusproof.NewBlockCache(0))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for name, key := range c.Keys {
				got, err := p.Latest(key)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				want, err := baybusproof.Latest(c, key)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				g, _ := got.MarshalBinary()
				w, _ := want.MarshalBinary()
				if string(g) != string(w) {
					t.Errorf("%s: the cached prover's bundle differs from Latest's", name)
				}
			}
		})
	}
	wg.Wait()
	if n := src.reads.Load(); n > int64(c.Height()) {
		t.Fatalf("%d block reads for %d blocks", n, c.Height())
	}
	if blocks, bytes := p.Cache().Stats(); blocks == 0 || bytes == 0 {
		t.Fatalf("cache holds %d blocks, %d bytes", blocks, bytes)
	}

	// With no room for a block, every bundle reads its blocks again.
	none := &countingSource{Chain: c}
	if _, err := baybusproof.NewProver(none, baybusproof.NewBlockCache(-1)).Latest(c.Keys["cn-business"]); err != nil {
		t.Fatal(err)
	}
	if none.reads.Load() == 0 {
		t.Fatal("a prover without a cache read no block")
	}
}

// TestKeptTreesPlaceTransactions: with each block's tree kept at commit,
// the path of any OK transaction and a block's results come without a
// block read, and the path leads to the header's TxRoot; past the kept
// trees a block is read.
func TestKeptTreesPlaceTransactions(t *testing.T) {
	c := prooftest.Build(t, t.TempDir())
	src := &countingSource{Chain: c}
	cache := baybusproof.NewBlockCache(-1) // no whole blocks: only the trees
	p := baybusproof.NewProver(src, cache)
	for i, blk := range c.Blocks {
		cache.KeepTree(blk, &c.Records[i].QC)
	}
	for _, blk := range c.Blocks {
		h := blk.Header.Height
		rs, err := p.Results(h)
		if err != nil || len(rs) != len(blk.Results) {
			t.Fatalf("results of %d: %v %v", h, rs, err)
		}
		for _, tx := range blk.Txs() {
			if tx.Result != block.OK {
				continue
			}
			path, err := p.LeafPath(h, tx.Leaf)
			if err != nil {
				t.Fatal(err)
			}
			ms := make([]merkle.Hash, len(path))
			for i, x := range path {
				ms[i] = merkle.Hash(x)
			}
			if err := merkle.VerifyInclusion(tx.ID, uint64(tx.Leaf), uint64(blk.Header.TxCount), ms, blk.Header.TxRoot); err != nil {
				t.Fatalf("block %d leaf %d: %v", h, tx.Leaf, err)
			}
		}
		if _, err := p.LeafPath(h, int(blk.Header.TxCount)); err == nil {
			t.Errorf("block %d: a path past its last leaf", h)
		}
		if hdr, _, err := p.Sealed(h); err != nil || hdr.Hash() != blk.Header.Hash() {
			t.Fatalf("sealed %d: %v", h, err)
		}
	}
	if n := src.reads.Load(); n != 0 {
		t.Fatalf("%d block reads with every tree kept", n)
	}
}
