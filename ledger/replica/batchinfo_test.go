package replica_test

import (
	"testing"

	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/schemas"
)

func TestBatchInfoMatchesSchemas(t *testing.T) {
	cons := blocklogtest.Consortium(t)
	b := blocktest.Batch(cons, "macao", 9, blocktest.Tx(cons.Bundle.Chain, "macao", "M1", schemas.ActionIssue))
	info, ok := replica.BatchInfo(b.Encode())
	if !ok || info.ID != b.ID() || info.ClientID != "macao" {
		t.Fatalf("got %+v, want id %s city macao", info, b.ID())
	}
	if _, ok := replica.BatchInfo([]byte("GBB1\x05")); ok {
		t.Fatal("truncated frame accepted")
	}
}

func FuzzBatchInfo(f *testing.F) {
	cons := blocklogtest.Consortium(f)
	f.Add(blocktest.Batch(cons, "macao", 1, blocktest.Tx(cons.Bundle.Chain, "macao", "M1", schemas.ActionIssue)).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		info, ok := replica.BatchInfo(data)
		if b, err := schemas.DecodeBatch(data); err == nil && (!ok || info.ID != b.ID() || info.ClientID != b.City) {
			t.Fatalf("BatchInfo %+v disagrees with DecodeBatch (%s, %s)", info, b.ID(), b.City)
		}
	})
}
