package orderer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// chainOf builds count sealed blocks of batches txs transactions each,
// with quorum certificates, as records.
func chainOf(t testing.TB, cons *keys.Consortium, count, batches, txs int) []*Record {
	t.Helper()
	st, idx := newMemState(), blocktest.NewChain()
	var parent *block.Header
	var out []*Record
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
		if err := st.Commit(h, ups); err != nil {
			t.Fatal(err)
		}
		idx.Add(blk)
		rec := &Record{Header: blk.Header, BlockData: block.Encode(blk)}
		hash := blk.Header.Hash()
		for _, o := range cons.Bundle.Orderers[:cons.Bundle.Quorum()] {
			k := cons.Orderers[o]
			rec.QC.Votes = append(rec.QC.Votes, block.SignVote(k, o, &blk.Header))
			vm := bft.VoteMsg{HeaderHash: hash, KeyID: k.KeyID(), AuxSig: bft.SignAux(cons.Bundle.Chain, k, hash, nil)}
			rec.VoteMsgs = append(rec.VoteMsgs, vm.Encode())
		}
		out = append(out, rec)
		hdr := blk.Header
		parent = &hdr
	}
	return out
}

func testConsortium(t testing.TB) *keys.Consortium {
	c, err := keys.NewConsortium("gba-test", schemas.CityTokens(), ordererNames[:4], keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordRoundTrip(t *testing.T) {
	recs := chainOf(t, testConsortium(t), 1, 2, 3)
	raw := recs[0].Encode()
	got, err := DecodeRecord(raw, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), raw) {
		t.Fatal("record does not round-trip")
	}
	hdr, err := DecodeRecord(raw, true)
	if err != nil || hdr.Header.Hash() != recs[0].Header.Hash() {
		t.Fatalf("header-only decode: %v", err)
	}
	for i := range raw {
		if _, err := DecodeRecord(raw[:i], false); err == nil {
			t.Fatalf("truncated record (%d of %d bytes) decoded", i, len(raw))
		}
	}
}

func TestStoreAppendReopen(t *testing.T) {
	cons := testConsortium(t)
	recs := chainOf(t, cons, 5, 1, 2)
	dir := t.TempDir()
	s, err := OpenStore(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(recs[1]); !errors.Is(err, ErrNotNext) {
		t.Fatalf("appending block 2 first: %v", err)
	}
	for _, r := range recs {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(recs[4]); !errors.Is(err, ErrNotNext) {
		t.Fatalf("appending block 5 twice: %v", err)
	}
	s.Close()

	var seen []uint64
	s, err = OpenStore(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Scan(1, func(r *Record) error { seen = append(seen, r.Header.Height); return nil }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := s.Height(), uint64(5); got != want || len(seen) != 5 {
		t.Fatalf("height %d, visited %v", got, seen)
	}
	for h := uint64(1); h <= 5; h++ {
		b, err := s.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		qc, err := s.QC(h)
		if err != nil {
			t.Fatal(err)
		}
		var parent *block.Header
		if h > 1 {
			parent, _ = s.Header(h - 1)
		}
		if err := block.VerifyStored(cons.Bundle, parent, b, qc); err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		if hash, _ := s.Hash(h); hash != b.Header.Hash() {
			t.Fatalf("block %d: hash", h)
		}
	}
	if _, err := s.Block(6); !errors.Is(err, ErrNoBlock) {
		t.Fatalf("block 6: %v", err)
	}
}

// A crash in the middle of an append leaves the store at the last whole
// block; the block can then be appended again.
func TestStoreCrashDuringAppend(t *testing.T) {
	recs := chainOf(t, testConsortium(t), 4, 1, 2)
	for _, keep := range []int{0, 10, len(recs[3].Encode()) / 2, wal.KeepAll} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			dir := t.TempDir()
			l, err := wal.Open(dir, wal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := newStore(wal.CrashAfter(l, 3, keep))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs[:3] {
				if err := s.Append(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Append(recs[3]); !errors.Is(err, wal.ErrInjected) {
				t.Fatalf("crashing append: %v", err)
			}
			s, err = OpenStore(dir, wal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := uint64(3)
			if keep == wal.KeepAll {
				want = 4 // every byte reached the disk
			}
			if s.Height() != want {
				t.Fatalf("height after crash %d, want %d", s.Height(), want)
			}
			if want == 3 {
				if err := s.Append(recs[3]); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestBatchInfoMatchesSchemas(t *testing.T) {
	cons := testConsortium(t)
	b := blocktest.Batch(cons, "macao", 9, blocktest.Tx(cons.Bundle.Chain, "macao", "M1", schemas.ActionIssue))
	info, ok := batchInfo(b.Encode())
	if !ok || info.ID != b.ID() || info.ClientID != "macao" {
		t.Fatalf("got %+v, want id %s city macao", info, b.ID())
	}
	if _, ok := batchInfo([]byte("GBB1\x05")); ok {
		t.Fatal("truncated frame accepted")
	}
}

func TestSealedRoundTrip(t *testing.T) {
	rec := chainOf(t, testConsortium(t), 1, 1, 1)[0]
	h, qc, err := DecodeSealed(EncodeSealed(&rec.Header, &rec.QC))
	if err != nil {
		t.Fatal(err)
	}
	if h.Hash() != rec.Header.Hash() || len(qc.Votes) != len(rec.QC.Votes) {
		t.Fatal("sealed header does not round-trip")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(chainOf(f, testConsortium(f), 1, 1, 2)[0].Encode())
	f.Add([]byte(recordMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data, false)
		if err != nil {
			return
		}
		if _, err := DecodeRecord(r.Encode(), false); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzDecodeSealed(f *testing.F) {
	rec := chainOf(f, testConsortium(f), 1, 1, 1)[0]
	f.Add(EncodeSealed(&rec.Header, &rec.QC))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, qc, err := DecodeSealed(data)
		if err != nil {
			return
		}
		if _, _, err := DecodeSealed(EncodeSealed(h, qc)); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzBatchInfo(f *testing.F) {
	cons := testConsortium(f)
	f.Add(blocktest.Batch(cons, "macao", 1, blocktest.Tx(cons.Bundle.Chain, "macao", "M1", schemas.ActionIssue)).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		info, ok := batchInfo(data)
		if b, err := schemas.DecodeBatch(data); err == nil && (!ok || info.ID != b.ID() || info.ClientID != b.City) {
			t.Fatalf("batchInfo %+v disagrees with DecodeBatch (%s, %s)", info, b.ID(), b.City)
		}
	})
}

// BenchmarkStoreAppend appends blocks of 16 batches of 16 transactions
// (about 100 KiB per record) with an fsync per block, as the orderer does.
func BenchmarkStoreAppend(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			recs := chainOf(b, testConsortium(b), 64, 16, 16)
			raw := recs[0].Encode()
			b.SetBytes(int64(len(raw)))
			s, err := OpenStore(b.TempDir(), wal.Options{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Re-link a pre-built record so that only the append is timed.
				r := *recs[i%len(recs)]
				r.Header.Height = uint64(i + 1)
				if last := s.Last(); last != nil {
					r.Header.Prev = last.Hash()
				} else {
					r.Header.Prev = [32]byte{}
				}
				if err := s.Append(&r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Opening a node replays the block log into a fresh state and a missing
// index, and finds every transaction again.
func TestNodeOpenRebuildsIndexAndState(t *testing.T) {
	cons := testConsortium(t)
	recs := chainOf(t, cons, 6, 2, 3)
	dir := t.TempDir()
	s, err := OpenStore(filepath.Join(dir, "blocks"), wal.Options{})
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
