package node

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// BenchmarkCatalogAdd: what the catalogue costs each orderer per
// transaction (b.N blocks of 1,000 issues of 1 KiB, 4 batches each):
// ns/tx is the figure to weigh against the commit path's.
func BenchmarkCatalogAdd(b *testing.B) {
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	cons, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"}, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	pad := strings.Repeat("x", 700)
	mk := func(h int) *block.Block {
		var batches []*schemas.Batch
		for bi := range 4 {
			var txs [][]byte
			for i := range 250 {
				raw := blocktest.Tx(cons.Bundle.Chain, "shenzhen", fmt.Sprintf("B%04d%d%03d%s", h, bi, i, pad[:1]), schemas.ActionIssue)
				txs = append(txs, raw)
			}
			batches = append(batches, blocktest.Batch(cons, "shenzhen", uint64(h*4+bi), txs...))
		}
		blk := &block.Block{Header: block.Header{Height: uint64(h)}, Batches: batches, Results: make([]block.Result, 1000)}
		return blk
	}
	c, err := openCatalog(b.TempDir(), 8<<20, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.close()
	c.observe = func(schemas.Kind, schemas.Action, block.Result) {}
	blocks := make([]*block.Block, 0, 64)
	for h := 1; h <= 64; h++ {
		blocks = append(blocks, mk(h))
	}
	valid := func(string, uint64) (schemas.Status, error) { return schemas.StatusValid, nil }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		blk := blocks[i%len(blocks)]
		blk.Header.Height = uint64(i + 1)
		if err := c.add(blk, valid); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/tx")
}
