package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
)

// `baybus up --archive-dir`: every orderer archives its cold blocks into
// a directory of its own, keeps only ArchiveKeep blocks live, and after a
// restart on the same data still serves, through the gateway, a proof of a
// license last changed in an archived block, which verifies with the
// consortium's trust alone.
func TestUpArchivesAndServesArchivedProofsAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system twice")
	}
	dir, arch := t.TempDir(), t.TempDir()
	cfg := system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "-", Orderers: 4,
		ArchiveDir: arch, ArchiveKeep: 2, ArchiveEvery: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	startArchiving := func() *system.System {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sys, err := system.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return sys
	}
	sys := startArchiving()
	stopped := false
	defer func() {
		if !stopped {
			sys.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The license to prove, sealed first; then blocks enough above it
	// (each publication waits for its block) for it to fall out of the
	// live log of every orderer.
	publish := func(sys *system.System, city string, i int) uint64 {
		t.Helper()
		res, err := cityClient(t, sys, city).Publish(ctx, city, []json.RawMessage{event(city, i)}, client.Options{Wait: true})
		if err != nil || res[0].Error != nil || res[0].Receipt.Status != "committed" {
			t.Fatalf("publish %s %d: %v %+v", city, i, err, res)
		}
		return res[0].Height
	}
	sealed := publish(sys, "hongkong", 1)
	var top uint64
	for i := 1; i <= 6; i++ {
		top = publish(sys, "macao", i)
	}
	if top < sealed+4 {
		t.Fatalf("the license sealed at %d, the last event at %d: too few blocks between", sealed, top)
	}
	waitFor(t, "every orderer to archive past the license's block", func() bool {
		for _, n := range sys.Nodes {
			if n.Store().First() <= sealed {
				return false
			}
		}
		return true
	})
	waitTxDrained(ctx, t, sys)
	names := sys.Consortium.Bundle.Orderers
	sys.Stop()
	stopped = true

	// Each orderer's live log was cut (without its archive it does not
	// start at block 1), and its archive is its own directory.
	for _, name := range names {
		objs, err := os.ReadDir(filepath.Join(arch, name, "blocks"))
		if err != nil || len(objs) == 0 {
			t.Fatalf("archive of %s: %d objects, %v", name, len(objs), err)
		}
		if _, err := blocklog.OpenReader(filepath.Join(node.OrdererDir(dir, name), "blocks")); !errors.Is(err, blocklog.ErrBrokenChain) {
			t.Fatalf("the live log of %s read without its archive: %v, want ErrBrokenChain", name, err)
		}
	}

	sys = startArchiving()
	stopped = false
	for _, n := range sys.Nodes {
		if n.Store().First() <= sealed {
			t.Fatalf("%s after restart: live log from %d, the license's block %d was archived", n.Name(), n.Store().First(), sealed)
		}
	}
	// Proofs are read from the orderers' state and, for the license's
	// block, from their archives.
	key := "HK/" + blocktest.BusinessID("hongkong", 1)
	var body []byte
	waitFor(t, "the proof route", func() bool {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+sys.HTTPAddr+"/v1/licenses/"+key+"/proof", nil)
		tok, _ := sys.Token("hongkong")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK
	})
	b, err := proof.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := proof.Verify(sys.Consortium.Bundle, b)
	if err != nil || v.Status != schemas.StatusValid || v.TxHeight != sealed || v.Height < top || !v.LastChange {
		t.Fatalf("proof of a license sealed in archived block %d (top %d): %+v %v", sealed, top, v, err)
	}
	// And the chain goes on above the archive.
	if h := publish(sys, "macao", 7); h <= top {
		t.Fatalf("after restart: sealed at %d, not above %d", h, top)
	}
}
