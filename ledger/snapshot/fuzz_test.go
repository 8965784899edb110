package snapshot_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/snapshot"
	"github.com/baybus/baybus/ledger/state/smt"
)

var update = flag.Bool("update", false, "rewrite the fuzz seeds made from a real chain")

// FuzzScan: a snapshot's bytes, whatever they are, are read or refused,
// never panic, and what is read accounts for every byte. Its seeds are
// real snapshots (testdata/fuzz/FuzzScan, written by TestWriteScanSeeds
// with -update).
func FuzzScan(f *testing.F) {
	f.Add([]byte("GSN1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var leaves uint64
		info, rec, err := snapshot.Scan(context.Background(), bytes.NewReader(data),
			func(snapshot.Info, *blocklog.Record) error { return nil },
			func(smt.Leaf) error { leaves++; return nil })
		if err != nil {
			return
		}
		if rec == nil || info.Bytes != int64(len(data)) || leaves != info.Licenses || rec.Header.Height != info.Height {
			t.Fatalf("accepted %d bytes as %+v with %d leaves", len(data), info, leaves)
		}
	})
}

func TestWriteScanSeeds(t *testing.T) {
	if !*update {
		t.Skip("-update rewrites the seeds")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzScan")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, h := range []uint64{1, 4} {
		_, _, path := build(t, h)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("height-%d", h)), []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
