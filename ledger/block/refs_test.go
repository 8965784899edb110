package block_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
)

// TestRefs: a block's references name each batch exactly (id and the hash
// of key id and signature), survive encoding, join back with the batches
// into the same block, and refuse any other batch, count or encoding.
func TestRefs(t *testing.T) {
	c := consortium(t)
	b1 := blocktest.Batch(c, "shenzhen", 1, blocktest.Tx("gba-test", "shenzhen", "A1", schemas.ActionIssue))
	b2 := blocktest.Batch(c, "macao", 1, blocktest.Tx("gba-test", "macao", "M1", schemas.ActionIssue),
		blocktest.Tx("gba-test", "macao", "M2", schemas.ActionIssue))
	blk, _, err := block.Assemble(c.Bundle, block.Limits{}, block.Input{Batches: []*schemas.Batch{b1, b2}, Timestamp: 5, Proposer: "macao"},
		blocktest.NewChain(), blocktest.NewState())
	if err != nil {
		t.Fatal(err)
	}
	enc := block.RefsOf(blk).Encode()
	if full := block.Encode(blk); len(enc) >= len(full) {
		t.Fatalf("references are %d bytes, the block %d", len(enc), len(full))
	}
	refs, err := block.DecodeRefs(enc)
	if err != nil {
		t.Fatal(err)
	}
	if refs.Header.Hash() != blk.Header.Hash() || len(refs.Batches) != 2 || refs.Batches[1] != block.RefOf(b2) ||
		refs.Batches[1].City != "macao" || refs.Batches[1].ID != b2.ID() {
		t.Fatalf("decoded references differ: %+v", refs.Batches)
	}
	joined, err := refs.Block([]*schemas.Batch{b1, b2})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(block.Encode(joined), block.Encode(blk)) {
		t.Fatal("the joined block encodes differently")
	}

	// The same batch signed again (another signature, same id) is not the
	// batch referenced.
	resigned := *b2
	resigned.Signature = bytes.Clone(b2.Signature)
	resigned.Signature[0] ^= 1
	if resigned.ID() != b2.ID() {
		t.Fatal("the signature changed the batch id")
	}
	for name, batches := range map[string][]*schemas.Batch{
		"other signature": {b1, &resigned},
		"swapped":         {b2, b1},
		"one missing":     {b1},
	} {
		if _, err := refs.Block(batches); err == nil {
			t.Errorf("%s: joined", name)
		} else if name != "one missing" && !errors.Is(err, block.ErrBadBatch) {
			t.Errorf("%s: err %v, want ErrBadBatch", name, err)
		}
	}
	short := *refs
	short.Results = short.Results[:2]
	if _, err := short.Block([]*schemas.Batch{b1, b2}); !errors.Is(err, block.ErrFormat) {
		t.Errorf("results short of the transactions: err %v, want ErrFormat", err)
	}

	for name, p := range map[string][]byte{
		"block encoding": block.Encode(blk),
		"truncated":      enc[:len(enc)-1],
		"trailing":       append(bytes.Clone(enc), 0),
		"empty":          nil,
	} {
		if _, err := block.DecodeRefs(p); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeRefs(f *testing.F) {
	blk := seedBlock(f)
	f.Add(block.RefsOf(blk).Encode())
	f.Add([]byte("GBR1"))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := block.DecodeRefs(p)
		if err != nil {
			return
		}
		if again := r.Encode(); !bytes.Equal(again, p) {
			if r2, err := block.DecodeRefs(again); err != nil || r2.Header.Hash() != r.Header.Hash() || len(r2.Batches) != len(r.Batches) {
				t.Fatalf("re-encoding decoded references changed them: %v", err)
			}
		}
	})
}
