package node_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/ledger/snapshot"
)

// Join refuses a peer's archive that is not the snapshot's certified
// chain (a block whose body was changed under its header, another chain's
// blocks), one that does not reach the snapshot, and a used directory;
// and leaves no state behind when it refuses.
func TestJoinRefusals(t *testing.T) {
	ctx := context.Background()
	c := prooftest.Build(t, filepath.Join(t.TempDir(), "state"))
	config, err := snapshot.ConfigHash(c.Trust)
	if err != nil {
		t.Fatal(err)
	}
	snaps := t.TempDir()
	info, err := snapshot.Create(ctx, snaps, c.State.Store, c.Records[2], config) // at block 3
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(snaps, info.Name+snapshot.Ext)
	archiveOf := func(t *testing.T, recs []*blocklog.Record) archive.Dir {
		t.Helper()
		obj := archive.Dir{Path: t.TempDir()}
		cold, err := archive.Open(ctx, obj, archive.Config{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if err := cold.Put(ctx, uint64(i+1), [][]byte{r.Encode()}); err != nil {
				t.Fatal(err)
			}
		}
		return obj
	}
	join := func(t *testing.T, from archive.Objects) (string, error) {
		dir := filepath.Join(t.TempDir(), "orderer")
		_, err := node.Join(ctx, node.JoinConfig{DataDir: dir, Trust: c.Trust, Snapshot: file, From: from, Archive: archive.Dir{Path: t.TempDir()}})
		return dir, err
	}

	t.Run("a changed body", func(t *testing.T) {
		recs := append([]*blocklog.Record(nil), c.Records...)
		blk, err := block.Decode(recs[1].BlockData)
		if err != nil {
			t.Fatal(err)
		}
		blk.Results[0] ^= 1
		forged := *recs[1]
		forged.BlockData = block.Encode(blk)
		recs[1] = &forged
		dir, err := join(t, archiveOf(t, recs))
		if !errors.Is(err, block.ErrMismatch) {
			t.Fatalf("join over a changed block 2: %v, want ErrMismatch", err)
		}
		assertNoState(t, dir)
	})
	t.Run("short of the snapshot", func(t *testing.T) {
		dir, err := join(t, archiveOf(t, c.Records[:2]))
		if !errors.Is(err, node.ErrConfig) {
			t.Fatalf("join over an archive to 2 with a snapshot at 3: %v, want ErrConfig", err)
		}
		assertNoState(t, dir)
	})
	t.Run("another chain", func(t *testing.T) {
		other := prooftest.Build2(t, filepath.Join(t.TempDir(), "state"))
		dir, err := join(t, archiveOf(t, other.Records))
		if err == nil {
			t.Fatal("join over another chain's archive: accepted")
		}
		assertNoState(t, dir)
	})
	t.Run("joins, then a used directory", func(t *testing.T) {
		from := archiveOf(t, c.Records)
		dir := filepath.Join(t.TempDir(), "orderer")
		own := archive.Dir{Path: t.TempDir()}
		res, err := node.Join(ctx, node.JoinConfig{DataDir: dir, Trust: c.Trust, Snapshot: file, From: from, Archive: own})
		if err != nil || res.Copied != 4 || res.Archived != 4 || res.Snapshot.Height != 3 {
			t.Fatalf("join: %+v, %v", res, err)
		}
		if _, err := node.Join(ctx, node.JoinConfig{DataDir: dir, Trust: c.Trust, Snapshot: file, From: from, Archive: own}); !errors.Is(err, node.ErrConfig) {
			t.Fatalf("join into a used directory: %v, want ErrConfig", err)
		}
	})
}

func assertNoState(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"state", "blocks"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err == nil {
			t.Fatalf("a refused join left %s", sub)
		}
	}
}
