package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof/prooftest"
)

// TestVerifyConfigChain: a proof sealed after nansha joined the orderers
// verifies with the genesis trust and --config-chain, not with the
// genesis alone; a forged chain is refused (exit 1).
func TestVerifyConfigChain(t *testing.T) {
	c := prooftest.BuildConfig(t, t.TempDir())
	dir := t.TempDir()
	write := func(name string, raw []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	genesis, err := c.Trust.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	trust := write("genesis.json", genesis)
	raw, err := json.Marshal(c.Find(t, 3, "cn-business"))
	if err != nil {
		t.Fatal(err)
	}
	after := write("after.json", raw)
	chain := write("chain.json", block.EncodeConfigChain(prooftest.ChainID, c.ConfigChain))
	forgedLinks := append([]block.ConfigLink(nil), c.ConfigChain...)
	forgedLinks[0].QC.Votes = forgedLinks[0].QC.Votes[:2]
	forged := write("forged.json", block.EncodeConfigChain(prooftest.ChainID, forgedLinks))
	other := write("other.json", block.EncodeConfigChain("gba-other", nil))

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"genesis alone", []string{"--trust", trust, after}, 1, `key not in trust bundle: "orderer/nansha/1"`},
		{"with the configuration chain", []string{"--trust", trust, "--config-chain", chain, after}, 2, "is SUSPENDED at height 3"},
		{"a forged chain", []string{"--trust", trust, "--config-chain", forged, after}, 1, "quorum certificate invalid"},
		{"a chain of another chain id", []string{"--trust", trust, "--config-chain", other, after}, 1, `of "gba-other"`},
		{"no such chain file", []string{"--trust", trust, "--config-chain", filepath.Join(dir, "none.json"), after}, 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCmd(t, newVerifyCmd(), "", append([]string{"--at", at}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant %q", code, tc.code, out, errOut, tc.want)
			}
		})
	}
}

// TestConsortiumShowData: the configuration blocks read from an
// orderer's block log give the history and the chain file that verify
// takes.
func TestConsortiumShowData(t *testing.T) {
	c := prooftest.BuildConfig(t, t.TempDir())
	dir := t.TempDir()
	c.WriteBlocks(t, dir)
	genesis, err := c.Trust.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(dir, "genesis.json")
	if err := os.WriteFile(trust, genesis, 0o644); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "chain.json")
	out, errOut, code := runCmd(t, newConsortiumCmd(), "", "show", "--trust", trust, "--data", dir, "--chain-out", chain)
	if code != 0 || !strings.Contains(out, "orderers (5, quorum 4): hongkong, macao, qianhai, hengqin, nansha") ||
		!strings.Contains(out, "block 2") || !strings.Contains(out, "nansha joins") {
		t.Fatalf("show --data: exit %d\n%s\n%s", code, out, errOut)
	}
	raw, err := json.Marshal(c.Find(t, 3, "cn-business"))
	if err != nil {
		t.Fatal(err)
	}
	proofFile := filepath.Join(dir, "after.json")
	if err := os.WriteFile(proofFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCmd(t, newVerifyCmd(), "", "--at", at, "--trust", trust, "--config-chain", chain, proofFile)
	if code != 2 || !strings.Contains(out, "is SUSPENDED at height 3") {
		t.Errorf("verify with the chain read from the log: exit %d\n%s\n%s", code, out, errOut)
	}
}
