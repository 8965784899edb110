package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/orderer/ordertest"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/ledger/wal/waltest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// execVerifyChain runs `baybus verify-chain args...` and returns its stdout
// and stderr and exit status.
func execVerifyChain(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCmd(t, newVerifyChainCmd(), "", args...)
}

// chainDir writes an orderer data directory (trust.json, blocks/) holding
// the first n of four real blocks (signed batches, real license state,
// quorum certificates) and, if torn, half of the next block's record, as a
// crash in the middle of its write leaves it.
func chainDir(t *testing.T, n int, torn bool) string {
	t.Helper()
	orderers := []string{"hongkong", "macao", "qianhai", "hengqin"}
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := licenses.Open(t.TempDir(), state.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data := t.TempDir()
	raw, err := c.Bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, keys.TrustFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := wal.Open(filepath.Join(data, "blocks"), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sealer := &ordertest.Sealer{Cons: c, Signers: orderers[:3], State: st}
	for h := 1; h <= n+1; h++ {
		id := fmt.Sprintf("VC-%d", h)
		rec, _ := sealer.Seal(t, blocktest.Batch(c, "zhuhai", uint64(h), blocktest.Tx(c.Bundle.Chain, "zhuhai", id, schemas.ActionIssue)))
		enc := rec.Encode()
		if h <= n {
			if _, err := l.Append(enc); err != nil {
				t.Fatal(err)
			}
		} else if torn {
			// The crash closes l.
			if _, err := wal.CrashAfter(l, 0, len(enc)/2).Append(enc); !errors.Is(err, wal.ErrInjected) {
				t.Fatalf("crashing append: %v", err)
			}
		}
	}
	if !torn {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// TestVerifyChainCmdTornTail: a block log that ends in a torn write (a crash
// in the middle of an append) verifies up to the block before it, with a
// warning, and verify-chain leaves the directory exactly as it found it.
func TestVerifyChainCmdTornTail(t *testing.T) {
	data := chainDir(t, 3, true)
	before := waltest.Fingerprint(t, data)
	out, errOut, code := execVerifyChain(t, "--data", data)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	t.Log(out)
	for _, want := range []string{"ok: height 3,", "warning: the block log ends in a torn write at height 4", "left as found"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if after := waltest.Fingerprint(t, data); after != before {
		t.Fatalf("verify-chain changed %s:\nbefore:\n%s\nafter:\n%s", data, before, after)
	}
}

// TestVerifyChainCmdFault: damage a later record proves was on disk is a
// fault (exit 1, at the damaged height), and is left as found too.
func TestVerifyChainCmdFault(t *testing.T) {
	data := chainDir(t, 3, false)
	out, errOut, code := execVerifyChain(t, "--data", data)
	if code != 0 || !strings.Contains(out, "ok: height 3,") || strings.Contains(out, "warning") {
		t.Fatalf("clean chain: exit %d:\n%s%s", code, out, errOut)
	}
	seg := filepath.Join(data, "blocks", "00000000000000000001")
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x40 // inside block 2 of 3
	if err := os.WriteFile(seg, raw, 0o640); err != nil {
		t.Fatal(err)
	}
	before := waltest.Fingerprint(t, data)
	out, errOut, code = execVerifyChain(t, "--data", data)
	if code != 1 || !strings.Contains(errOut, "FAULT at height 2") || !strings.Contains(errOut, "corrupt record 2") {
		t.Fatalf("flipped byte: exit %d:\n%s%s", code, out, errOut)
	}
	if after := waltest.Fingerprint(t, data); after != before {
		t.Fatalf("verify-chain changed %s", data)
	}
}

// TestVerifyChainCmdDamagedLastRecord damages the last record of an
// orderer's block log the three ways issue 13 names. A crash leaves a tail
// cut short or zero-filled: torn, a warning, exit 0, verified up to the
// block before. A flipped byte inside the whole last record is corruption:
// exit 1 naming its height. The directory is left as found every time.
func TestVerifyChainCmdDamagedLastRecord(t *testing.T) {
	data := chainDir(t, 4, false)
	seg := filepath.Join(data, "blocks", "00000000000000000001")
	clean, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		code   int
		want   []string
	}{
		{"cut 7 bytes", func(b []byte) []byte { return b[:len(b)-7] }, 0,
			[]string{"ok: height 3,", "warning: the block log ends in a torn write at height 4"}},
		{"zero-filled tail", func(b []byte) []byte { clear(b[len(b)/512*512:]); return b }, 0,
			[]string{"ok: height 3,", "warning: the block log ends in a torn write at height 4"}},
		{"zeros after the last record", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, 0,
			[]string{"ok: height 4,", "warning: the block log ends in a torn write at height 5"}},
		{"flipped byte in the last record", func(b []byte) []byte { b[len(b)-40] ^= 0x01; return b }, 1,
			[]string{"FAULT at height 4", "corrupt record 4", "not torn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(seg, tc.damage(bytes.Clone(clean)), 0o640); err != nil {
				t.Fatal(err)
			}
			before := waltest.Fingerprint(t, data)
			out, errOut, code := execVerifyChain(t, "--data", data)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
			if after := waltest.Fingerprint(t, data); after != before {
				t.Fatalf("verify-chain changed %s", data)
			}
		})
	}
}

// TestVerifyChainCmdFork: a `baybus up` data directory where one orderer
// lags on a fork. Every chain verifies on its own, but verify-chain
// compares them and exits 1 naming the forked orderer and the height where
// its chain leaves the others'.
func TestVerifyChainCmdFork(t *testing.T) {
	orderers := []string{"hongkong", "macao", "qianhai", "hengqin"}
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	raw, err := c.Bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, keys.TrustFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	// seal writes n blocks to the orderer's log; from height fork on its
	// blocks hold other transactions than the others'.
	seal := func(name string, n, fork int) {
		st, err := licenses.Open(t.TempDir(), state.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		l, err := wal.Open(filepath.Join(data, "orderers", name, "blocks"), wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		sealer := &ordertest.Sealer{Cons: c, Signers: orderers[:3], State: st}
		for h := 1; h <= n; h++ {
			id := fmt.Sprintf("VC-%d", h)
			if h >= fork {
				id = fmt.Sprintf("FORK-%d", h)
			}
			rec, _ := sealer.Seal(t, blocktest.Batch(c, "zhuhai", uint64(h), blocktest.Tx(c.Bundle.Chain, "zhuhai", id, schemas.ActionIssue)))
			if _, err := l.Append(rec.Encode()); err != nil {
				t.Fatal(err)
			}
		}
	}
	seal("hongkong", 5, 99)
	seal("macao", 5, 99)
	seal("qianhai", 4, 99)
	seal("hengqin", 4, 3) // lags, and on a fork from block 3
	out, errOut, code := execVerifyChain(t, "--data", data)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"hongkong: ok: height 5,", "qianhai: ok: height 4,", "hengqin: ok: height 4,", "hengqin: FAULT at height 3: fork"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "hengqin: FAULT at height 3: fork") || strings.Contains(out, "qianhai: FAULT") {
		t.Fatalf("stderr:\n%s\nstdout:\n%s", errOut, out)
	}
	t.Log(out, errOut)
}
