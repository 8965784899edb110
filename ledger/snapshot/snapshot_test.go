package snapshot_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/ledger/snapshot"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

func configOf(t testing.TB, trust *keys.Bundle) [32]byte {
	t.Helper()
	c, err := snapshot.ConfigHash(trust)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// build makes the prooftest chain and a snapshot of its state at height h
// in a directory of its own.
func build(t *testing.T, h uint64) (*prooftest.Chain, snapshot.Info, string) {
	t.Helper()
	c := prooftest.Build(t, filepath.Join(t.TempDir(), "state"))
	dir := t.TempDir()
	info, err := snapshot.Create(context.Background(), dir, c.State.Store, c.Records[h-1], configOf(t, c.Trust))
	if err != nil {
		t.Fatal(err)
	}
	return c, info, filepath.Join(dir, info.Name+snapshot.Ext)
}

// A snapshot restores to a state with the certified root, the same leaves
// as the state it was taken from as of its height, and which the blocks
// above it then extend to their own certified roots, without replaying
// the blocks below.
func TestSnapshotRestoreThenApplyBlocksAbove(t *testing.T) {
	for _, h := range []uint64{1, 2, 3, 4} {
		c, info, path := build(t, h)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Height != h || info.Bytes != int64(len(raw)) || info.StateRoot != c.Records[h-1].Header.StateRoot {
			t.Fatalf("info %+v for block %d of %d bytes", info, h, len(raw))
		}
		dir := filepath.Join(t.TempDir(), "state")
		got, rec, err := snapshot.Restore(context.Background(), path, c.Trust, dir, state.Options{NoSync: true})
		if err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		if got != info || rec.Header.Hash() != c.Records[h-1].Header.Hash() {
			t.Fatalf("restored %+v (block %x), wrote %+v", got, rec.Header.Hash(), info)
		}
		st, err := licenses.Open(dir, state.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if st.Height() != h || st.Root() != info.StateRoot || st.Len() != info.Licenses {
			t.Fatalf("restored state at %d, root %x, %d licenses", st.Height(), st.Root(), st.Len())
		}
		var want []smt.Leaf
		if err := c.State.IterateAt("", h, func(l smt.Leaf) error { want = append(want, l); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, l := range want {
			g, err := st.Get(l.Key)
			if err != nil || *g != l {
				t.Fatalf("%s: restored %+v, %v; want %+v", l.Key, g, err, l)
			}
			if _, _, err := st.Prove(l.Key); err != nil {
				t.Fatal(err)
			}
		}
		// The blocks above, verified over the restored state as an
		// orderer verifies blocks it syncs, with the transaction index of
		// the blocks below (which a joining orderer must be given too:
		// without it, block 2's repeated transaction is not recognised).
		index := blocktest.NewChain()
		for _, r := range c.Records[:h] {
			blk, err := block.Decode(r.BlockData)
			if err != nil {
				t.Fatal(err)
			}
			index.Add(blk)
		}
		parent := &c.Records[h-1].Header
		if h == 1 {
			blk, _ := block.Decode(c.Records[1].BlockData)
			if _, err := block.Verify(c.Trust, block.Limits{}, parent, blk, blocktest.NewChain(), st); !errors.Is(err, block.ErrMismatch) {
				t.Fatalf("block 2 without the index of block 1: %v, want ErrMismatch", err)
			}
		}
		for _, r := range c.Records[h:] {
			blk, err := block.Decode(r.BlockData)
			if err != nil {
				t.Fatal(err)
			}
			ups, err := block.Verify(c.Trust, block.Limits{}, parent, blk, index, st)
			if err != nil {
				t.Fatalf("block %d over a state restored at %d: %v", blk.Header.Height, h, err)
			}
			if err := st.Commit(blk.Header.Height, ups); err != nil {
				t.Fatal(err)
			}
			if st.Root() != blk.Header.StateRoot {
				t.Fatalf("block %d over a state restored at %d: root %x, header %x", blk.Header.Height, h, st.Root(), blk.Header.StateRoot)
			}
			index.Add(blk)
			parent = &blk.Header
		}
		st.Close()
	}
}

// Issue 17: "A snapshot with one changed byte: refused", wherever the
// byte is (the block record, the configuration, the count, a leaf, the
// trailer); and refused for its content too when it is given the name of
// its new content.
func TestSnapshotOneChangedByteRefused(t *testing.T) {
	c, _, path := build(t, 4)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte would be a pebble store per byte; a stride over the whole
	// file, with the first bytes (magic, lengths) and the last (trailer)
	// all covered, keeps it to a second or so.
	var positions []int
	for i := range raw {
		if i < 16 || i >= len(raw)-40 || i%61 == 0 {
			positions = append(positions, i)
		}
	}
	for _, i := range positions {
		changed := bytes.Clone(raw)
		changed[i] ^= 0x20
		p := filepath.Join(t.TempDir(), filepath.Base(path))
		if err := os.WriteFile(p, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "state")
		_, _, err := snapshot.Restore(context.Background(), p, c.Trust, dir, state.Options{NoSync: true})
		if err == nil {
			t.Fatalf("byte %d of %d changed: restored", i, len(raw))
		}
		if _, serr := os.Stat(dir); serr == nil {
			t.Fatalf("byte %d changed: refused (%v) but %s was left", i, err, dir)
		}
	}
	// Renamed to what its content hashes to, with the trailer fixed: the
	// content checks refuse it (a leaf, the certificate, the root).
	for _, i := range []int{len(raw) - 100, len(raw) / 2, 40} {
		changed := bytes.Clone(raw)
		changed[i] ^= 0x01
		body := changed[:len(changed)-32]
		var buf bytes.Buffer
		info, _, serr := snapshot.Scan(context.Background(), bytes.NewReader(append(bytes.Clone(body), make([]byte, 32)...)), func(snapshot.Info, *blocklog.Record) error { return nil }, func(smt.Leaf) error { return nil })
		if serr == nil || info.Name == "" {
			continue // malformed already: refused by Scan
		}
		buf.Write(body)
		sum := mustHex(t, info.Name)
		buf.Write(sum)
		p := filepath.Join(t.TempDir(), info.Name+snapshot.Ext)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := snapshot.Restore(context.Background(), p, c.Trust, filepath.Join(t.TempDir(), "state"), state.Options{NoSync: true})
		if !errors.Is(err, snapshot.ErrRoot) && !errors.Is(err, snapshot.ErrCertificate) && !errors.Is(err, snapshot.ErrFormat) && !errors.Is(err, snapshot.ErrConfig) {
			t.Fatalf("byte %d changed, renamed to its hash: %v, want a content error", i, err)
		}
	}
}

// Refused: another consortium's trust, a file not named by its content, a
// state directory that exists.
func TestSnapshotRefusals(t *testing.T) {
	c, _, path := build(t, 3)
	ctx := context.Background()
	other, err := keys.NewConsortium(prooftest.ChainID, schemas.CityTokens(), prooftest.Orderers, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := snapshot.Restore(ctx, path, other.Bundle, filepath.Join(t.TempDir(), "s"), state.Options{NoSync: true}); !errors.Is(err, snapshot.ErrCertificate) {
		t.Fatalf("other orderers' trust: %v, want ErrCertificate", err)
	}
	renamed := filepath.Join(t.TempDir(), "latest.snap")
	raw, _ := os.ReadFile(path)
	os.WriteFile(renamed, raw, 0o644)
	if _, _, err := snapshot.Restore(ctx, renamed, c.Trust, filepath.Join(t.TempDir(), "s"), state.Options{NoSync: true}); !errors.Is(err, snapshot.ErrDigest) {
		t.Fatalf("not named by its hash: %v, want ErrDigest", err)
	}
	exists := t.TempDir()
	if _, _, err := snapshot.Restore(ctx, path, c.Trust, exists, state.Options{NoSync: true}); err == nil {
		t.Fatal("restored over an existing directory")
	}
	if _, err := snapshot.Verify(ctx, path, c.Trust, t.TempDir()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b [32]byte
	for i := range b {
		var v byte
		for _, ch := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case ch >= '0' && ch <= '9':
				v |= byte(ch - '0')
			default:
				v |= byte(ch-'a') + 10
			}
		}
		b[i] = v
	}
	return b[:]
}
