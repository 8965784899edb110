package orderer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/ledger/wal/waltest"
	"github.com/baybus/baybus/schemas"
)

func TestBatchInfoMatchesSchemas(t *testing.T) {
	cons := blocklogtest.Consortium(t)
	b := blocktest.Batch(cons, "macao", 9, blocktest.Tx(cons.Bundle.Chain, "macao", "M1", schemas.ActionIssue))
	info, ok := batchInfo(b.Encode())
	if !ok || info.ID != b.ID() || info.ClientID != "macao" {
		t.Fatalf("got %+v, want id %s city macao", info, b.ID())
	}
	if _, ok := batchInfo([]byte("GBB1\x05")); ok {
		t.Fatal("truncated frame accepted")
	}
}

func FuzzBatchInfo(f *testing.F) {
	cons := blocklogtest.Consortium(f)
	f.Add(blocktest.Batch(cons, "macao", 1, blocktest.Tx(cons.Bundle.Chain, "macao", "M1", schemas.ActionIssue)).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		info, ok := batchInfo(data)
		if b, err := schemas.DecodeBatch(data); err == nil && (!ok || info.ID != b.ID() || info.ClientID != b.City) {
			t.Fatalf("batchInfo %+v disagrees with DecodeBatch (%s, %s)", info, b.ID(), b.City)
		}
	})
}

// Opening a node replays the block log into a fresh state and a missing
// index, and finds every transaction again.
func TestNodeOpenRebuildsIndexAndState(t *testing.T) {
	cons := blocklogtest.Consortium(t)
	recs := blocklogtest.Chain(t, cons, 6, 2, 3)
	dir := t.TempDir()
	s, err := blocklog.OpenStore(filepath.Join(dir, "blocks"), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	open := func() (*Node, *memState) {
		st := newMemState()
		n, err := New(Config{Name: cons.Bundle.Orderers[0], Trust: cons.Bundle, Key: cons.Orderers[cons.Bundle.Orderers[0]],
			DataDir: dir, State: st, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return n, st
	}
	check := func(n *Node, st *memState) {
		t.Helper()
		if n.Height() != 6 || st.Height() != 6 || n.idx.Height() != 6 {
			t.Fatalf("heights: chain %d state %d index %d", n.Height(), st.Height(), n.idx.Height())
		}
		for h, r := range recs {
			b, _ := block.Decode(r.BlockData)
			for i, id := range b.OKIDs() {
				loc, ok := n.Lookup(id)
				if !ok || loc.Height != uint64(h+1) || loc.Leaf != i || loc.BlockHash != r.Header.Hash() {
					t.Fatalf("block %d tx %d: %+v", h+1, i, loc)
				}
			}
		}
	}
	n, st := open() // index and state from scratch
	check(n, st)
	n.closeFiles()
	n, st = open() // index kept, state from scratch (replayed against the index as of each block)
	check(n, st)
	n.closeFiles()
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	n, st = open()
	check(n, st)
	n.closeFiles()
}

// TestPublishedByAnother: JetStream's "duplicate message id is in process"
// (another orderer is storing the same header on a clustered stream) counts
// as published; any other error does not.
func TestPublishedByAnother(t *testing.T) {
	dup := fmt.Errorf("publish: %w", &jetstream.APIError{Code: 409, ErrorCode: 10158, Description: "duplicate message id is in process"})
	if !publishedByAnother(dup) {
		t.Error("10158 not taken as published")
	}
	for _, err := range []error{
		errors.New("timeout"),
		&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"},
	} {
		if publishedByAnother(err) {
			t.Errorf("%v taken as published", err)
		}
	}
}

// TestNodeOpenRefusesCorruptLastRecord: an orderer whose last block record
// is whole but fails its CRC (damaged after it was written, not torn by a
// crash) does not silently cut it on open: New fails with wal.ErrCorrupt,
// naming the height, and leaves the block log as it found it for a repair.
func TestNodeOpenRefusesCorruptLastRecord(t *testing.T) {
	cons := blocklogtest.Consortium(t)
	recs := blocklogtest.Chain(t, cons, 3, 1, 2)
	dir := t.TempDir()
	blocks := filepath.Join(dir, "blocks")
	s, err := blocklog.OpenStore(blocks, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := filepath.Join(blocks, "00000000000000000001")
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-20] ^= 0x01
	if err := os.WriteFile(seg, raw, 0o640); err != nil {
		t.Fatal(err)
	}
	name := cons.Bundle.Orderers[0]
	waltest.Unchanged(t, blocks, func() {
		_, err = New(Config{Name: name, Trust: cons.Bundle, Key: cons.Orderers[name], DataDir: dir, State: newMemState(), Logger: testLogger(t)})
	})
	var ce *wal.CorruptError
	if !errors.Is(err, wal.ErrCorrupt) || !errors.As(err, &ce) || ce.Index != 3 {
		t.Fatalf("New returned %v, want wal.ErrCorrupt at block 3", err)
	}
}
