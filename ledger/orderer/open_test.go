package orderer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/ledger/wal/waltest"
	"github.com/baybus/baybus/schemas/keys"
)

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

// writeChain writes count blocks to a block log in dir/blocks and returns
// the records.
func writeChain(t *testing.T, dir string, count int, segment int) (*keys.Consortium, []*blocklog.Record) {
	t.Helper()
	cons := blocklogtest.Consortium(t)
	recs := blocklogtest.Chain(t, cons, count, 1, 2)
	s, err := blocklog.OpenStore(filepath.Join(dir, "blocks"), wal.Options{SegmentSize: segment})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return cons, recs
}

// flipInRecord flips a byte inside the record of block h, found in the
// segment files of dir by the record's encoding.
func flipInRecord(t *testing.T, dir string, rec *blocklog.Record) string {
	t.Helper()
	raw := rec.Encode()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		seg, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(seg, raw); i >= 0 {
			seg[i+len(raw)/2] ^= 0x01
			if err := os.WriteFile(path, seg, 0o640); err != nil {
				t.Fatal(err)
			}
			return e.Name()
		}
	}
	t.Fatalf("block %d not found in %s", rec.Header.Height, dir)
	return ""
}

// TestNodeOpenRepairsCorruptLastRecord: an orderer whose last block record
// is whole but fails its CRC (damaged after it was written, not torn by a
// crash) keeps the damaged log aside exactly as it was, cuts the live log
// before the damage, and opens; the state, which had applied that block,
// is reported ahead of the log (StateAheadError) for its owner to rebuild,
// and a state rebuilt from nothing is replayed up to the cut.
func TestNodeOpenRepairsCorruptLastRecord(t *testing.T) {
	dir := t.TempDir()
	cons, recs := writeChain(t, dir, 3, 0)
	blocks := filepath.Join(dir, "blocks")
	flipInRecord(t, blocks, recs[2])
	before := waltest.Fingerprint(t, blocks)
	name := cons.Bundle.Orderers[0]
	cfg := Config{Name: name, Trust: cons.Bundle, Key: cons.Orderers[name], DataDir: dir, State: newMemState(), Logger: testLogger(t)}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New on a log with a corrupt last record: %v", err)
	}
	if n.Height() != 2 || n.repaired != 3 {
		t.Fatalf("height %d after the repair (repaired from %d), want 2 (from 3)", n.Height(), n.repaired)
	}
	n.Stop()
	aside, _ := filepath.Glob(blocks + ".damaged-*")
	if len(aside) != 1 || strings.ReplaceAll(waltest.Fingerprint(t, aside[0]), aside[0], blocks) != before {
		t.Fatalf("the damaged log was not kept aside as it was: %v", aside)
	}

	// A state that had applied block 3 is ahead of the repaired log.
	st := newMemState()
	for _, r := range recs {
		blk, _ := block.Decode(r.BlockData)
		ups, err := block.Verify(cons.Bundle, block.DefaultLimits, prevOf(recs, r), blk, blocktest.NewChain(), st)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Commit(r.Header.Height, ups); err != nil {
			t.Fatal(err)
		}
	}
	cfg.State = st
	_, err = New(cfg)
	var ahead *StateAheadError
	if !errors.As(err, &ahead) || ahead.State != 3 || ahead.Log != 2 {
		t.Fatalf("New with the state at 3 and the log at 2: %v, want a StateAheadError", err)
	}
}

func prevOf(recs []*blocklog.Record, r *blocklog.Record) *block.Header {
	if r.Header.Height == 1 {
		return nil
	}
	return &recs[r.Header.Height-2].Header
}

// TestNodeOpenRepairsDamageInAnOlderSegment: damage in an older segment is
// found by a replay that reads it, or else by the scrub, whose marker
// makes New look for it; either way New keeps the log aside and cuts the
// live log before it (the segments after it go too: their blocks come from
// the peers).
func TestNodeOpenRepairsDamageInAnOlderSegment(t *testing.T) {
	dir := t.TempDir()
	cons, recs := writeChain(t, dir, 12, 2048)
	blocks := filepath.Join(dir, "blocks")
	segs, _ := filepath.Glob(filepath.Join(blocks, "0*"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	name := cons.Bundle.Orderers[1]
	st := newMemState()
	cfg := Config{Name: name, Trust: cons.Bundle, Key: cons.Orderers[name], DataDir: dir, State: st, Logger: testLogger(t), LogSegmentSize: 2048}
	n, err := New(cfg) // replays the whole log into the state and the index
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	seg := flipInRecord(t, blocks, recs[4])
	if seg == filepath.Base(segs[len(segs)-1]) {
		t.Fatal("block 5 is in the last segment")
	}

	// Open reads only the last segment, and nothing needs replaying.
	if n, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if n.Height() != 12 {
		t.Fatalf("New: height %d, want 12", n.Height())
	}
	n.Stop()

	// The scrub's marker: New repairs, and the state (at 12) is ahead.
	if err := os.WriteFile(filepath.Join(dir, RepairFile), []byte("5\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg)
	var ahead *StateAheadError
	if !errors.As(err, &ahead) || ahead.State != 12 || ahead.Log != 4 {
		t.Fatalf("New after the repair: %v, want the state (12) ahead of the log (4)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, RepairFile)); !os.IsNotExist(err) {
		t.Fatalf("repair marker left behind: %v", err)
	}
	cfg.State = newMemState()
	if n, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if n.Height() != 4 || cfg.State.Height() != 4 {
		t.Fatalf("height %d (state %d) after the repair, want 4", n.Height(), cfg.State.Height())
	}

	// Damage that a replay meets is repaired the same way.
	dir2 := t.TempDir()
	cons2, recs2 := writeChain(t, dir2, 12, 2048)
	flipInRecord(t, filepath.Join(dir2, "blocks"), recs2[6])
	cfg2 := Config{Name: name, Trust: cons2.Bundle, Key: cons2.Orderers[name], DataDir: dir2, State: newMemState(), Logger: testLogger(t), LogSegmentSize: 2048}
	n2, err := New(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Stop()
	if n2.Height() != 6 || n2.repaired != 7 {
		t.Fatalf("height %d (repaired from %d) after a replay met the damage, want 6 (7)", n2.Height(), n2.repaired)
	}
}

// TestNodeOpenAfterATornTailThatTheStateApplied is issue 13's reproduction
// at the orderer: 7 bytes cut from the last segment of a log whose state
// had applied its last block. The torn tail is cut, as after a crash, and
// New says the state is ahead (for its owner to rebuild) instead of
// refusing to start, then and on every later start.
func TestNodeOpenAfterATornTailThatTheStateApplied(t *testing.T) {
	dir := t.TempDir()
	cons, _ := writeChain(t, dir, 3, 0)
	name := cons.Bundle.Orderers[2]
	st := newMemState()
	cfg := Config{Name: name, Trust: cons.Bundle, Key: cons.Orderers[name], DataDir: dir, State: st, Logger: testLogger(t)}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	seg := filepath.Join(dir, "blocks", "00000000000000000001")
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = New(cfg)
		var ahead *StateAheadError
		if !errors.As(err, &ahead) || ahead.State != 3 || ahead.Log != 2 {
			t.Fatalf("New after the cut: %v, want the state (3) ahead of the log (2)", err)
		}
	}
	cfg.State = newMemState()
	if n, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if n.Height() != 2 || cfg.State.Height() != 2 {
		t.Fatalf("height %d, state %d; want 2 and 2", n.Height(), cfg.State.Height())
	}
}
