package snapshot_test

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/snapshot"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

var measure = flag.Int("snapshot.licenses", 0, "measure a snapshot of this many licenses (0: skip)")

// TestMeasureJoin measures what a joining orderer's state costs: a
// snapshot of -snapshot.licenses licenses written from a state, its bytes,
// and the time to check and restore it (the state side of a join; the
// blocks above the snapshot are synced as any lagging orderer syncs
// them):
//
//	go test ./ledger/snapshot/ -run TestMeasureJoin -snapshot.licenses 1000000 -v
func TestMeasureJoin(t *testing.T) {
	n := *measure
	if n == 0 {
		t.Skip("-snapshot.licenses N measures a snapshot of N licenses")
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := state.Open(filepath.Join(dir, "source"), state.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	const perBlock = 50_000
	height := uint64(0)
	for i := 0; i < n; i += perBlock {
		ups := make([]state.Update, 0, perBlock)
		for j := i; j < min(i+perBlock, n); j++ {
			var u state.Update
			u.Key = fmt.Sprintf("%s/91440300%010dX", []string{"CN", "HK", "MO"}[j%3], j)
			u.Status = schemas.StatusValid
			rand.Read(u.RecordHash[:])
			rand.Read(u.TxID[:])
			u.Owner = "shenzhen"
			u.ValidTo = "2031-12-31"
			ups = append(ups, u)
		}
		height++
		if _, err := st.Apply(height, ups); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("built %d licenses in %d blocks in %v", n, height, time.Since(start).Round(time.Millisecond))
	orderers, _ := schemas.OrdererNames(4)
	cons, err := keys.NewConsortium("gba-test", schemas.CityTokens(), orderers, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk := &block.Block{Header: block.Header{Rules: uint8(block.CurrentRules), Chain: "gba-test", Height: height, StateRoot: st.Root(), Timestamp: 1,
		Proposer: orderers[0], Consensus: blocklogtest.Metadata(height), ResultsHash: block.ResultsHash(nil), TxRoot: merkle.Root(nil)}}
	rec := blocklogtest.Certify(cons, blk, orderers[:cons.Bundle.Quorum()]...)
	config, _ := snapshot.ConfigHash(cons.Bundle)

	start = time.Now()
	info, err := snapshot.Create(ctx, filepath.Join(dir, "snaps"), st, rec, config)
	if err != nil {
		t.Fatal(err)
	}
	write := time.Since(start)
	start = time.Now()
	got, _, err := snapshot.Restore(ctx, filepath.Join(dir, "snaps", info.Name+snapshot.Ext), cons.Bundle, filepath.Join(dir, "joined"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	restore := time.Since(start)
	var size int64
	filepath.Walk(filepath.Join(dir, "joined"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	t.Logf("snapshot of %d licenses: %d bytes (%.1f B/license), written in %v; checked and restored in %v (%.0f licenses/s), restored state %d bytes",
		got.Licenses, got.Bytes, float64(got.Bytes)/float64(got.Licenses), write.Round(time.Millisecond),
		restore.Round(time.Millisecond), float64(got.Licenses)/restore.Seconds(), size)
}
