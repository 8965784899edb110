package block_test

import (
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
)

func TestSealedRoundTrip(t *testing.T) {
	rec := blocklogtest.Chain(t, blocklogtest.Consortium(t), 1, 1, 1)[0]
	h, qc, err := block.DecodeSealed(block.EncodeSealed(&rec.Header, &rec.QC))
	if err != nil {
		t.Fatal(err)
	}
	if h.Hash() != rec.Header.Hash() || len(qc.Votes) != len(rec.QC.Votes) {
		t.Fatal("sealed header does not round-trip")
	}
}

func FuzzDecodeSealed(f *testing.F) {
	rec := blocklogtest.Chain(f, blocklogtest.Consortium(f), 1, 1, 1)[0]
	f.Add(block.EncodeSealed(&rec.Header, &rec.QC)) // rules version 2: GBH2
	v1 := rec.Header
	v1.Rules = 0
	f.Add(block.EncodeSealed(&v1, &rec.QC)) // rules version 1: GBH1
	f.Fuzz(func(t *testing.T, data []byte) {
		h, qc, err := block.DecodeSealed(data)
		if err != nil {
			return
		}
		if _, _, err := block.DecodeSealed(block.EncodeSealed(h, qc)); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
