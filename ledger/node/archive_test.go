package node_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/node/nodetest"
	"github.com/baybus/baybus/ledger/proof"
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
