package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/node/nodetest"
	"github.com/baybus/baybus/ledger/orderer"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas/bus"
)

// smallSegments gives node i's block log 4 KiB segments, so a test chain
// spans several and an older one can be damaged.
func smallSegments(i int, c *node.Config) {
	c.WrapOrderer = func(oc *orderer.Config) { oc.LogSegmentSize = 4 << 10 }
}

// issueBlocks publishes count batches of licenses as foshan, one at a time,
// so that each gets a block of its own, and returns the license ids.
func issueBlocks(t *testing.T, c *nodetest.Cluster, count int) []string {
	t.Helper()
	var ids []string
	for i := range count {
		batch := []string{fmt.Sprintf("F%03d-a", i), fmt.Sprintf("F%03d-b", i)}
		tx := c.Issue("foshan", batch...)
		if _, err := c.Nodes[0].WaitTx(ctxFor(t, 30*time.Second), tx[1]); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, batch...)
	}
	return ids
}

// blocksOf returns node i's block log directory.
func blocksOf(c *nodetest.Cluster, i int) string { return filepath.Join(c.Config(i).DataDir, "blocks") }

// cutTail cuts n bytes off the last segment of a stopped block log that
// holds any (a segment that just started may be empty).
func cutTail(t *testing.T, dir string, n int64) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "0*"))
	for i := len(segs) - 1; i >= 0; i-- {
		fi, err := os.Stat(segs[i])
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			continue
		}
		if err := os.Truncate(segs[i], fi.Size()-n); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no segment in %s holds a record", dir)
}

// flipRecord flips a bit in the record of block h of a stopped block log.

func flipRecord(t *testing.T, dir string, h uint64) {
	t.Helper()
	st, err := blocklog.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := st.Scan(context.Background(), h, h, nil, func(_ uint64, r []byte) error { raw = r; return nil }); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "0*"))
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, raw); i >= 0 {
			b[i+len(raw)/2] ^= 0x10
			if err := os.WriteFile(seg, b, 0o640); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("block %d not found in %s", h, dir)
}

// sameChain checks that node i holds node 0's chain up to node 0's height,
// and that its log passes the audit.
func sameChain(t *testing.T, c *nodetest.Cluster, n *node.Node) {
	t.Helper()
	ref := c.Nodes[0]
	if err := n.WaitHeight(ctxFor(t, time.Minute), ref.Height()); err != nil {
		t.Fatalf("%s at %d, cluster at %d: %v", n.Name(), n.Height(), ref.Height(), err)
	}
	for h := uint64(1); h <= ref.Height(); h++ {
		a, _ := ref.Store().Hash(h)
		b, _ := n.Store().Hash(h)
		if a != b {
			t.Fatalf("block %d differs on %s", h, n.Name())
		}
	}
}

// TestDamagedOrdererRepairsFromItsPeers is issue 13's reproduction: one
// orderer's block log loses its last bytes (cut 7 bytes from its last
// segment), or its last record gets a flipped bit, or a record in an older
// segment does. Before, it refused to start ("state is at height N but the
// block log only at N-1"), every later start too, and a damaged middle
// went unnoticed until a proof of that block failed. Now it keeps the
// damaged log aside, rebuilds its state, fetches the missing blocks from
// its peers and rejoins, with the same chain; the scrub finds the damage
// in the middle at start and the keeper restarts the node into the repair.
// Meanwhile a proof of a license in the damaged block is served by another
// orderer.
func TestDamagedOrdererRepairsFromItsPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an ordering service")
	}
	c := nodetest.Start(t, nodetest.Options{Config: smallSegments})
	ids := issueBlocks(t, c, 8)
	victim := 3
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, height uint64)
	}{
		{"cut 7 bytes", func(t *testing.T, dir string, _ uint64) { cutTail(t, dir, 7) }},
		{"flip a bit in the last record", func(t *testing.T, dir string, h uint64) { flipRecord(t, dir, h) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := c.Nodes[victim]
			h := n.Height()
			n.Stop()
			tc.damage(t, blocksOf(c, victim), h)
			issueBlocks(t, c, 1) // the others go on meanwhile
			again, err := node.Open(c.Config(victim))
			if err != nil {
				t.Fatalf("open after %s: %v", tc.name, err)
			}
			c.Nodes[victim] = again
			if err := again.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			sameChain(t, c, again)
		})
	}

	// Damage in the middle: found by the scrub at start.
	n := c.Nodes[victim]
	n.Stop()
	flipRecord(t, blocksOf(c, victim), 3)
	aside, _ := filepath.Glob(blocksOf(c, victim) + ".damaged-*")

	// Without the scrub the node runs on its damaged log, and a proof of a
	// license in block 3 comes from a healthy orderer.
	cfg := c.Config(victim)
	cfg.WrapOrderer = func(oc *orderer.Config) { oc.LogSegmentSize = 4 << 10; oc.NoScrub = true }
	blind, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := blind.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	key := "CN/" + ids[4] // issued in block 3: issueBlocks seals one batch of two licenses a block
	if _, err := blind.LatestProof(key); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("a proof of %s from the damaged log: %v, want wal.ErrCorrupt", key, err)
	}
	qc, err := query.NewClient(query.ClientConfig{Conn: c.Connect(bus.IdentityName(bus.RoleService, "")), Trust: c.Cons.Bundle(),
		Orderers: append([]string{blind.Name()}, c.Cons.Bundle().Orderers[:victim]...), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	if _, err := qc.LatestProof(ctxFor(t, 30*time.Second), key); err != nil {
		t.Fatalf("a proof of %s with %s's block damaged: %v", key, blind.Name(), err)
	}
	blind.Stop()

	k, err := node.Keep(context.Background(), c.Config(victim), node.KeepConfig{MinBackoff: 50 * time.Millisecond,
		OnStart: func(n *node.Node) { c.Nodes[victim] = n }})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	waitFor(t, "the scrub to find the damage and the keeper to repair the node", func() bool {
		now, _ := filepath.Glob(blocksOf(c, victim) + ".damaged-*")
		return len(now) > len(aside) && k.Err() == nil && k.Node().Ready() == nil
	})
	issueBlocks(t, c, 1)
	sameChain(t, c, k.Node())
	k.Stop()
	if _, err := audit.VerifyChain(context.Background(), blocksOf(c, victim), c.Cons.Bundle()); err != nil {
		t.Fatalf("the repaired log fails the audit: %v", err)
	}
}

// TestDiskFullStopsTheNodeAndResumes: when the data directory's disk is
// short of the node's minimum, its orderer stops before writing anything
// (a clear error, the keeper's metrics), the others go on, and once there
// is room again the keeper starts it and it catches up. A write that finds
// the disk full all the same (ENOSPC from the block log) stops only that
// node, never the process.
func TestDiskFullStopsTheNodeAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an ordering service")
	}
	var full, failWrites atomic.Bool
	victim := 2
	c := nodetest.Start(t, nodetest.Options{Config: func(i int, cfg *node.Config) {
		if i != victim {
			return
		}
		cfg.FreeDisk = func(dir string) (uint64, error) {
			if full.Load() {
				return 1 << 20, nil
			}
			return orderer.FreeDisk(dir)
		}
		cfg.WrapOrderer = func(oc *orderer.Config) {
			oc.DiskCheckEvery = 20 * time.Millisecond
			oc.WrapAppend = func(next func(*blocklog.Record) error) func(*blocklog.Record) error {
				return func(r *blocklog.Record) error {
					if failWrites.Load() {
						return &fs.PathError{Op: "write", Path: "blocks/00000000000000000001", Err: syscall.ENOSPC}
					}
					return next(r)
				}
			}
		}
	}})
	issueBlocks(t, c, 2)
	c.Nodes[victim].Stop()
	reg := prometheus.NewRegistry()
	cfg := c.Config(victim)
	cfg.Registerer = reg
	k, err := node.Keep(context.Background(), cfg, node.KeepConfig{MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		OnStart: func(n *node.Node) { c.Nodes[victim] = n }})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()

	for round, cause := range []func(bool){full.Store, failWrites.Store} {
		first := k.Node()
		cause(true)
		if round == 1 {
			c.Issue("foshan", fmt.Sprintf("W%d", round)) // a block to write
		}
		waitFor(t, "the node to stop for the full disk", func() bool { return errors.Is(k.Err(), orderer.ErrDiskFull) })
		if err := first.Ready(); err == nil || !errors.Is(err, orderer.ErrDiskFull) {
			t.Fatalf("readiness of the stopped node: %v", err)
		}
		if got := gatherNames(t, reg)["baybus_orderer_up"]; got != 0 {
			t.Fatalf("baybus_orderer_up %v while stopped", got)
		}
		// The others seal on; the stopped node wrote nothing meanwhile.
		h := first.Height()
		others := c.Nodes[0]
		tx := c.Issue("foshan", fmt.Sprintf("X%d", round))
		if _, err := others.WaitTx(ctxFor(t, 30*time.Second), tx[0]); err != nil {
			t.Fatal(err)
		}
		if got, err := blocklog.OpenReader(blocksOf(c, victim)); err != nil || got.Height() != h {
			t.Fatalf("the stopped node's log: %v, height %d, want %d", err, got.Height(), h)
		}
		time.Sleep(200 * time.Millisecond)
		if k.Node() != first {
			t.Fatal("the keeper restarted the node while its disk was full")
		}
		cause(false)
		waitFor(t, "the keeper to start the node again", func() bool { return k.Err() == nil && k.Node() != first })
		sameChain(t, c, k.Node())
	}
	m := gatherNames(t, reg)
	if m["baybus_orderer_up"] != 1 || m["baybus_orderer_restarts_total"] != 2 {
		t.Fatalf("keeper metrics after two restarts: %v", m)
	}
}
