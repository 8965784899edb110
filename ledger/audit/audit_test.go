package audit_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/orderer/ordertest"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/ledger/wal/waltest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

var orderers = []string{"hongkong", "macao", "qianhai", "hengqin"}

// buildChain makes n real blocks (signed batches, real license state, QCs
// of three of the four orderers) and returns their records.
func buildChain(t *testing.T, c *keys.Consortium, n int) []*blocklog.Record {
	return buildFork(t, c, n, n+1)
}

// buildFork is buildChain whose blocks from height fork on hold other
// transactions: the same chain as buildChain's below fork, another one from
// there (signatures are deterministic, so equal blocks are equal bytes).
func buildFork(t *testing.T, c *keys.Consortium, n, fork int) []*blocklog.Record {
	t.Helper()
	st, err := licenses.Open(t.TempDir(), state.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sealer := &ordertest.Sealer{Cons: c, Signers: orderers[:3], State: st}
	var recs []*blocklog.Record
	for h := 1; h <= n; h++ {
		id := string(rune('A' + h))
		if h >= fork {
			id = "fork-" + id
		}
		txs := [][]byte{blocktest.Tx(c.Bundle.Chain, "zhuhai", id+"1", schemas.ActionIssue), blocktest.Tx(c.Bundle.Chain, "zhuhai", id+"2", schemas.ActionIssue)}
		if h > 1 {
			txs = append(txs, blocktest.Tx(c.Bundle.Chain, "zhuhai", string(rune('A'+h-1))+"1", schemas.ActionRevoke))
		}
		rec, _ := sealer.Seal(t, blocktest.Batch(c, "zhuhai", uint64(h), txs...))
		recs = append(recs, rec)
	}
	return recs
}

func writeLog(t *testing.T, dir string, recs []*blocklog.Record) []int64 {
	t.Helper()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var ends []int64
	for _, r := range recs {
		if _, err := l.Append(r.Encode()); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, segmentSize(t, dir))
	}
	return ends
}

func segmentSize(t *testing.T, dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var total int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && !e.IsDir() {
			total += fi.Size()
		}
	}
	return total
}

func segmentFile(t *testing.T, dir string) string {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() {
			return filepath.Join(dir, e.Name())
		}
	}
	t.Fatal("no segment")
	return ""
}

func TestVerifyChain(t *testing.T) {
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	recs := buildChain(t, c, 4)
	ctx := context.Background()

	t.Run("valid", func(t *testing.T) {
		dir := t.TempDir()
		writeLog(t, dir, recs)
		rep, err := audit.VerifyChain(ctx, dir, c.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Height != 4 || rep.Transactions != 11 || rep.Licenses != 8 || rep.StateRoot != recs[3].Header.StateRoot {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("flipped byte", func(t *testing.T) {
		dir := t.TempDir()
		ends := writeLog(t, dir, recs)
		f := segmentFile(t, dir)
		raw, _ := os.ReadFile(f)
		raw[(ends[0]+ends[1])/2] ^= 0x40 // inside block 2
		os.WriteFile(f, raw, 0o640)
		_, err := audit.VerifyChain(ctx, dir, c.Bundle)
		var fault *audit.Fault
		if !errors.As(err, &fault) || fault.Height != 2 || !errors.Is(err, wal.ErrCorrupt) {
			t.Fatalf("err %v, want a fault at block 2 wrapping wal.ErrCorrupt", err)
		}
	})
	t.Run("removed block", func(t *testing.T) {
		dir := t.TempDir()
		writeLog(t, dir, []*blocklog.Record{recs[0], recs[2], recs[3]})
		_, err := audit.VerifyChain(ctx, dir, c.Bundle)
		var fault *audit.Fault
		if !errors.As(err, &fault) || fault.Height != 2 || fault.What != "hash chain" || !errors.Is(err, blocklog.ErrBrokenChain) {
			t.Fatalf("err %v, want a broken chain at block 2 (block 3 in its place)", err)
		}
	})
	t.Run("forged certificate", func(t *testing.T) {
		forged := *recs[2]
		forged.QC = block.QC{Votes: append([]block.Vote(nil), recs[2].QC.Votes...)}
		mallory, _ := keys.Generate("orderer/qianhai/1", keys.Ed25519, rand.Reader)
		forged.QC.Votes[2] = block.SignVote(mallory, "qianhai", &forged.Header)
		dir := t.TempDir()
		writeLog(t, dir, []*blocklog.Record{recs[0], recs[1], &forged, recs[3]})
		_, err := audit.VerifyChain(ctx, dir, c.Bundle)
		var fault *audit.Fault
		if !errors.As(err, &fault) || fault.Height != 3 || !errors.Is(err, block.ErrQuorum) {
			t.Fatalf("err %v, want a certificate fault at block 3", err)
		}
	})
	t.Run("certificate below quorum", func(t *testing.T) {
		short := *recs[1]
		short.QC = block.QC{Votes: recs[1].QC.Votes[:2]}
		short.VoteMsgs = recs[1].VoteMsgs[:2]
		dir := t.TempDir()
		writeLog(t, dir, []*blocklog.Record{recs[0], &short, recs[2], recs[3]})
		_, err := audit.VerifyChain(ctx, dir, c.Bundle)
		var fault *audit.Fault
		if !errors.As(err, &fault) || fault.Height != 2 || !errors.Is(err, block.ErrQuorum) {
			t.Fatalf("err %v, want a certificate fault at block 2", err)
		}
	})
	t.Run("another chain's trust bundle", func(t *testing.T) {
		dir := t.TempDir()
		writeLog(t, dir, recs)
		// The chain's rules version, other keys.
		other, _ := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
		if _, err := audit.VerifyChain(ctx, dir, other.Bundle); err == nil {
			t.Fatal("chain verified against foreign keys")
		}
	})
	t.Run("torn tail", func(t *testing.T) {
		dir := t.TempDir()
		l, err := wal.Open(dir, wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Blocks 1..3 written; the process dies half-way through block 4.
		crashing := wal.CrashAfter(l, 3, len(recs[3].Encode())/2)
		for _, r := range recs {
			crashing.Append(r.Encode())
		}
		var rep *audit.Report
		waltest.Unchanged(t, dir, func() { rep, err = audit.VerifyChain(ctx, dir, c.Bundle) })
		if err != nil {
			t.Fatalf("torn tail is a fault: %v", err)
		}
		if rep.Height != 3 || rep.StateRoot != recs[2].Header.StateRoot || rep.TornTail == nil || rep.TornTail.Index != 4 {
			t.Fatalf("report %+v, want height 3 and a torn tail at 4", rep)
		}
		if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "torn write at height 4") || !strings.Contains(rep.Warnings[0], "left as found") {
			t.Fatalf("warnings %q", rep.Warnings)
		}
	})
	t.Run("damaged last record", func(t *testing.T) {
		// A whole last record that fails its CRC was damaged after it was
		// written, not torn by a crash (ledger/wal): a fault at its height.
		dir := t.TempDir()
		ends := writeLog(t, dir, recs)
		f := segmentFile(t, dir)
		raw, _ := os.ReadFile(f)
		raw[(ends[2]+ends[3])/2] ^= 0x40 // inside block 4
		os.WriteFile(f, raw, 0o640)
		var err error
		waltest.Unchanged(t, dir, func() { _, err = audit.VerifyChain(ctx, dir, c.Bundle) })
		var fault *audit.Fault
		if !errors.As(err, &fault) || fault.Height != 4 || !errors.Is(err, wal.ErrCorrupt) {
			t.Fatalf("err %v, want a fault at block 4 wrapping wal.ErrCorrupt", err)
		}
	})
	t.Run("flipped byte leaves the log as found", func(t *testing.T) {
		dir := t.TempDir()
		ends := writeLog(t, dir, recs)
		f := segmentFile(t, dir)
		raw, _ := os.ReadFile(f)
		raw[(ends[1]+ends[2])/2] ^= 0x40 // inside block 3
		os.WriteFile(f, raw, 0o640)
		var err error
		waltest.Unchanged(t, dir, func() { _, err = audit.VerifyChain(ctx, dir, c.Bundle) })
		var fault *audit.Fault
		if !errors.As(err, &fault) || fault.Height != 3 || !errors.Is(err, wal.ErrCorrupt) {
			t.Fatalf("err %v, want a fault at block 3 wrapping wal.ErrCorrupt", err)
		}
	})
	t.Run("interrupted truncation", func(t *testing.T) {
		dir := t.TempDir()
		writeLog(t, dir, recs)
		os.WriteFile(segmentFile(t, dir)+".END", nil, 0o640)
		var err error
		waltest.Unchanged(t, dir, func() { _, err = audit.VerifyChain(ctx, dir, c.Bundle) })
		var fault *audit.Fault
		if !errors.As(err, &fault) || !errors.Is(err, wal.ErrTruncating) {
			t.Fatalf("err %v, want a fault wrapping wal.ErrTruncating", err)
		}
	})
}

// unchanged runs fn and fails if it changed anything in dir: a file's

// TestVerifyCluster compares orderers' chains: they may lag, but a chain
// that is not a prefix of the reference (the one most others agree with)
// is a fork fault at the first height where it differs, a lagging orderer
// on a fork included.
func TestVerifyCluster(t *testing.T) {
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	main := buildChain(t, c, 6)
	fork := buildFork(t, c, 6, 4) // blocks 1..3 are main's
	if main[2].Header.Hash() != fork[2].Header.Hash() || main[3].Header.Hash() == fork[3].Header.Hash() {
		t.Fatal("the fork does not start at block 4")
	}
	ctx := context.Background()
	type chain struct {
		recs    []*blocklog.Record
		corrupt bool // flip a byte in block 2
	}
	for _, tc := range []struct {
		name   string
		chains map[string]chain
		faults map[string]uint64 // orderer -> fault height
		what   string
	}{
		{name: "same chain", chains: map[string]chain{"hongkong": {recs: main}, "macao": {recs: main}, "qianhai": {recs: main}, "hengqin": {recs: main}}},
		{name: "lagging orderers", chains: map[string]chain{"hongkong": {recs: main}, "macao": {recs: main[:5]}, "qianhai": {recs: main[:2]}, "hengqin": {recs: nil}}},
		{name: "lagging orderer on a fork", chains: map[string]chain{"hongkong": {recs: main}, "macao": {recs: main}, "qianhai": {recs: main[:5]}, "hengqin": {recs: fork[:5]}},
			faults: map[string]uint64{"hengqin": 4}, what: "fork"},
		{name: "fork at the same height", chains: map[string]chain{"hongkong": {recs: main}, "macao": {recs: fork}, "qianhai": {recs: main}},
			faults: map[string]uint64{"macao": 4}, what: "fork"},
		{name: "the longest chain is the odd one out", chains: map[string]chain{"hongkong": {recs: main}, "macao": {recs: fork[:5]}, "qianhai": {recs: fork[:4]}},
			faults: map[string]uint64{"hongkong": 4}, what: "fork"},
		{name: "a damaged chain is its own fault, not a fork", chains: map[string]chain{"hongkong": {recs: main}, "macao": {recs: main, corrupt: true}, "qianhai": {recs: main[:4]}},
			faults: map[string]uint64{"macao": 2}, what: "read block log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			for name, ch := range tc.chains {
				dir := filepath.Join(data, "orderers", name, "blocks")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				ends := writeLog(t, dir, ch.recs)
				if ch.corrupt {
					f := segmentFile(t, dir)
					raw, _ := os.ReadFile(f)
					raw[(ends[0]+ends[1])/2] ^= 0x40
					os.WriteFile(f, raw, 0o640)
				}
			}
			logs := audit.OrdererLogs(data, c.Bundle)
			if len(logs) != len(tc.chains) {
				t.Fatalf("found %d logs, want %d", len(logs), len(tc.chains))
			}
			var rep *audit.ClusterReport
			waltest.Unchanged(t, data, func() { rep, err = audit.VerifyCluster(ctx, logs, c.Bundle) })
			if rep == nil {
				t.Fatalf("no report: %v", err)
			}
			got := map[string]uint64{}
			for _, f := range rep.Faults() {
				got[f.Orderer] = f.Height
				if f.What != tc.what || (tc.what == "fork") != errors.Is(f, audit.ErrFork) {
					t.Errorf("%s: fault %v, want %q", f.Orderer, f, tc.what)
				}
			}
			if len(got) != len(tc.faults) {
				t.Fatalf("faults %v, want %v", got, tc.faults)
			}
			for name, h := range tc.faults {
				if got[name] != h {
					t.Fatalf("faults %v, want %v", got, tc.faults)
				}
			}
			var first *audit.Fault
			if (err != nil) != (len(tc.faults) > 0) || err != nil && (!errors.As(err, &first) || got[first.Orderer] != first.Height) {
				t.Fatalf("err %v with faults %v", err, got)
			}
			for _, ch := range rep.Chains {
				want := len(tc.chains[ch.Name].recs)
				if _, faulty := tc.faults[ch.Name]; faulty && tc.what != "fork" {
					if ch.Report != nil {
						t.Fatalf("%s: a report for a faulty chain", ch.Name)
					}
					continue
				}
				if ch.Report == nil || ch.Report.Height != uint64(want) {
					t.Fatalf("%s: report %+v, want height %d", ch.Name, ch.Report, want)
				}
			}
		})
	}
}

// TestVerifyClusterProgress: the progress hook hears of every block of
// every chain, in order, with the chain's last height, and the report is
// the one VerifyCluster gives.
func TestVerifyClusterProgress(t *testing.T) {
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	main := buildChain(t, c, 5)
	data := t.TempDir()
	for name, recs := range map[string][]*blocklog.Record{"hongkong": main, "macao": main[:3]} {
		dir := filepath.Join(data, "orderers", name, "blocks")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeLog(t, dir, recs)
	}
	logs := audit.OrdererLogs(data, c.Bundle)
	type step struct{ height, last uint64 }
	heard := map[int][]step{}
	rep, err := audit.VerifyClusterProgress(context.Background(), logs, c.Bundle, func(log int, height, last uint64) {
		heard[log] = append(heard[log], step{height, last})
	})
	if err != nil || len(rep.Chains) != 2 {
		t.Fatalf("%v %+v", err, rep)
	}
	for i, l := range logs {
		want := uint64(len(main))
		if l.Name == "macao" {
			want = 3
		}
		if len(heard[i]) != int(want) {
			t.Fatalf("%s: heard %v, want %d blocks", l.Name, heard[i], want)
		}
		for j, s := range heard[i] {
			if s.height != uint64(j+1) || s.last != want {
				t.Fatalf("%s: heard %v", l.Name, heard[i])
			}
		}
	}
}

// TestVerifyChainFollowsConfiguration: a chain on which an orderer joined
// at a configuration block verifies from the genesis trust (the blocks
// after it are certified by a quorum the genesis does not know); a
// configuration block forged in the log is a fault at its height.
func TestVerifyChainFollowsConfiguration(t *testing.T) {
	c := prooftest.BuildConfig(t, t.TempDir())
	dir := t.TempDir()
	c.WriteBlocks(t, dir)
	rep, err := audit.VerifyChain(context.Background(), filepath.Join(dir, "blocks"), c.Trust)
	if err != nil {
		t.Fatalf("a chain with a configuration block: %v", err)
	}
	if rep.Height != 3 {
		t.Errorf("verified to %d, want 3", rep.Height)
	}
}
