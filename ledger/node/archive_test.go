package node_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/node/nodetest"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/snapshot"
)

// A running node archives its block log's cold part (issue 17 §6), and
// after a restart, with its transaction index gone, rebuilds the index
// from the archive and serves proofs of archived blocks that verify with
// the trust bundle alone.
func TestNodeArchivesAndProvesAcrossRestart(t *testing.T) {
	objects := archive.Dir{Path: t.TempDir()}
	c := nodetest.Start(t, nodetest.Options{Config: func(i int, cfg *node.Config) {
		if i == 0 {
			cfg.Archive = node.ArchiveConfig{Objects: objects, KeepBlocks: 1, Every: 20 * time.Millisecond, ChunkBytes: 1}
		}
	}})
	n := c.Nodes[0]
	var keys []string
	for _, id := range []string{"AR01", "AR02", "AR03", "AR04"} {
		ids := c.Issue("foshan", id)
		if l, err := n.WaitTx(ctxFor(t, 30*time.Second), ids[0]); err != nil || l.Result != block.OK {
			t.Fatalf("issue %s: %+v %v", id, l, err)
		}
		keys = append(keys, "CN/"+id)
	}
	waitFor(t, "blocks archived", func() bool { return n.Store().Archived() >= 2 })
	h := n.Height()
	n.Stop()

	cfg := c.Config(0)
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "index")); err != nil {
		t.Fatal(err)
	}
	again, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if again.Store().First() <= 2 || again.Store().Height() < h {
		t.Fatalf("reopened: live log %d..%d, archived to %d", again.Store().First(), again.Store().Height(), again.Store().Archived())
	}
	trust := c.Cons.Bundle()
	archived := 0
	for _, k := range keys {
		b, err := again.LatestProof(k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if _, err := proof.Verify(trust, b); err != nil {
			t.Fatalf("%s (block %d, live log from %d): %v", k, b.Tx.Height, again.Store().First(), err)
		}
		if b.Tx.Height < again.Store().First() {
			archived++
		}
	}
	if archived == 0 {
		t.Fatalf("no proof of an archived block: live log from %d", again.Store().First())
	}
	if err := again.Store().Scan(1, nil); err != nil {
		t.Fatalf("scan across the archive: %v", err)
	}
}

// Issue 17 §5: an orderer whose data is gone joins again from a snapshot
// of a peer's state and a copy of the peer's archive, without replaying
// the blocks below the snapshot into its state, then seals new blocks
// with the others and proves old licenses.
func TestNodeJoinsFromSnapshot(t *testing.T) {
	peerArchive := archive.Dir{Path: t.TempDir()}
	logs := &syncWriter{w: new(bytes.Buffer)}
	c := nodetest.Start(t, nodetest.Options{Config: func(i int, cfg *node.Config) {
		if i == 0 {
			cfg.Archive = node.ArchiveConfig{Objects: peerArchive, KeepBlocks: 1, Every: 20 * time.Millisecond, ChunkBytes: 1}
		}
	}})
	peer, joiner := c.Nodes[0], c.Nodes[3]
	var keys []string
	for _, id := range []string{"JN01", "JN02", "JN03", "JN04", "JN05"} {
		ids := c.Issue("foshan", id)
		if l, err := peer.WaitTx(ctxFor(t, 30*time.Second), ids[0]); err != nil || l.Result != block.OK {
			t.Fatalf("issue %s: %+v %v", id, l, err)
		}
		keys = append(keys, "CN/"+id)
	}
	waitFor(t, "blocks archived", func() bool { return peer.Store().Archived() >= 3 })

	// A snapshot of the peer's state, running, at a height its archive holds.
	trust := c.Cons.Bundle()
	config, err := snapshot.ConfigHash(trust)
	if err != nil {
		t.Fatal(err)
	}
	src := peer.Source()
	s := src.Blocks.Archived() - 1
	rec, err := src.Blocks.Record(s)
	if err != nil {
		t.Fatal(err)
	}
	snaps := t.TempDir()
	info, err := snapshot.Create(ctxFor(t, time.Minute), snaps, src.State, rec, config)
	if err != nil {
		t.Fatal(err)
	}

	// The joiner loses everything, and joins.
	joiner.Stop()
	cfg := c.Config(3)
	if err := os.RemoveAll(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	own := archive.Dir{Path: t.TempDir()}
	res, err := node.Join(ctxFor(t, time.Minute), node.JoinConfig{DataDir: cfg.DataDir, Trust: trust,
		Snapshot: filepath.Join(snaps, info.Name+snapshot.Ext), From: peerArchive, Archive: own})
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied == 0 || res.Archived < s || res.Snapshot.Height != s {
		t.Fatalf("join: %+v", res)
	}
	cfg.Archive = node.ArchiveConfig{Objects: own, KeepBlocks: 1, Every: 20 * time.Millisecond, ChunkBytes: 1}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	again, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if err := again.Start(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Replayed into the state: only the blocks between the snapshot and
	// the archive's top; indexed: every block, read from the archive.
	want := fmt.Sprintf("replayed=%d indexed=%d", res.Archived-s, res.Archived)
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("the joiner's open did not log %q:\n%s", want, logs.String())
	}
	// Its scrub reads the live log from the archive's last block.
	waitFor(t, "the joiner's first scrub", func() bool { return strings.Contains(logs.String(), "scrub: ") })
	if out := logs.String(); !strings.Contains(out, "scrub: block log whole") {
		t.Fatalf("the joiner's scrub:\n%s", out)
	}
	ids := c.Issue("foshan", "JN06")
	if l, err := again.WaitTx(ctxFor(t, 60*time.Second), ids[0]); err != nil || l.Result != block.OK {
		t.Fatalf("a new license after the join, seen by the joiner: %+v %v", l, err)
	}
	for _, k := range append(keys, "CN/JN06") {
		b, err := again.LatestProof(k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if _, err := proof.Verify(trust, b); err != nil {
			t.Fatalf("%s (block %d): %v", k, b.Tx.Height, err)
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
