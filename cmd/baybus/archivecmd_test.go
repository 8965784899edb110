package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas/keys"
)

// baybus archive moves a stopped orderer's old blocks to a directory;
// snapshot create reads the block it needs from there; verify and restore
// accept the snapshot and refuse it with one byte changed.
func TestArchiveAndSnapshotCommands(t *testing.T) {
	c, dir := prooftest.BuildDataDir(t)
	ord := filepath.Join(dir, "orderers", prooftest.Orderers[0])
	trust := filepath.Join(dir, keys.TrustFile)
	arch := t.TempDir()

	out, errOut, code := runCmd(t, newRootCmd(), "", "archive", "--data", ord, "--keep", "1", "--chunk", "1", "--archive-dir", arch)
	if code != 0 || !strings.Contains(out, "archived 3 blocks") || !strings.Contains(out, "the live log 4..4") {
		t.Fatalf("archive: %d %q %q", code, out, errOut)
	}
	if out, errOut, code := runCmd(t, newRootCmd(), "", "verify-chain", "--data", ord, "--trust", trust, "--archive-dir", arch); code != 0 || !strings.Contains(out, "ok: height 4") {
		t.Fatalf("verify-chain over the archive: %d %q %q", code, out, errOut)
	}
	// proof of a license whose last change is in an archived block (cn-extra,
	// block 2), from the `up` data directory, over the orderer's archive.
	pf := filepath.Join(t.TempDir(), "p.json")
	if out, errOut, code := runCmd(t, newRootCmd(), "", "proof", "--data", dir, "--orderer", prooftest.Orderers[0], "--license", c.Keys["cn-extra"],
		"--archive-dir", arch, "--out", pf); code != 0 {
		t.Fatalf("proof over the archive: %d %q %q", code, out, errOut)
	}
	// cn-extra is suspended: verify says the proof is valid and exits 2
	// for a license that is not valid.
	if out, errOut, _ := runCmd(t, newRootCmd(), "", "verify", "--trust", trust, pf); !strings.Contains(out, "proof valid") || !strings.Contains(out, "sealed at height 2") {
		t.Fatalf("verify of a proof of an archived block: %q %q", out, errOut)
	}
	if _, errOut, code := runCmd(t, newRootCmd(), "", "proof", "--data", dir, "--license", c.Keys["cn-extra"], "--archive-dir", arch); code != 2 || !strings.Contains(errOut, "--orderer") {
		t.Fatalf("proof over an archive without --orderer: %d %q", code, errOut)
	}
	if _, errOut, code := runCmd(t, newRootCmd(), "", "verify-chain", "--data", ord, "--trust", trust); code != 1 {
		t.Fatalf("verify-chain of a cut log without its archive: %d %q", code, errOut)
	}
	if _, errOut, code := runCmd(t, newRootCmd(), "", "snapshot", "create", "--data", ord, "--trust", trust, "--height", "2", "--out", t.TempDir()); code == 0 {
		t.Fatalf("snapshot of an archived block without the archive: accepted (%q)", errOut)
	}
	snaps := t.TempDir()
	out, errOut, code = runCmd(t, newRootCmd(), "", "snapshot", "create", "--data", ord, "--trust", trust, "--height", "2", "--out", snaps, "--archive-dir", arch)
	if code != 0 || !strings.Contains(out, "at block 2") {
		t.Fatalf("snapshot create: %d %q %q", code, out, errOut)
	}
	file := strings.SplitN(out, "\n", 2)[0]
	if out, errOut, code := runCmd(t, newRootCmd(), "", "snapshot", "verify", file, "--trust", trust); code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("snapshot verify: %d %q %q", code, out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "state")
	if out, errOut, code := runCmd(t, newRootCmd(), "", "snapshot", "restore", file, "--trust", trust, "--state", restored); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("snapshot restore: %d %q %q", code, out, errOut)
	}
	// join: a new orderer's directory from the snapshot at 2 and the
	// archive (blocks 1..3), its log continuing at 4.
	joined, own := t.TempDir(), t.TempDir()
	out, errOut, code = runCmd(t, newRootCmd(), "", "snapshot", "join", file, "--trust", trust, "--data", joined, "--from-archive-dir", arch, "--archive-dir", own)
	if code != 0 || !strings.Contains(out, "continues at 4") {
		t.Fatalf("snapshot join: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := runCmd(t, newRootCmd(), "", "snapshot", "join", file, "--trust", trust, "--data", joined, "--from-archive-dir", arch, "--archive-dir", own); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("snapshot join into a used directory: %d %q", code, errOut)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/3] ^= 1
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCmd(t, newRootCmd(), "", "snapshot", "verify", file, "--trust", trust); code != 1 || !strings.Contains(errOut, "snapshot:") {
		t.Fatalf("snapshot verify of a changed file: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := runCmd(t, newRootCmd(), "", "archive", "--data", ord, "--archive-dir", arch, "--archive-s3", "127.0.0.1:9000"); code == 0 || !strings.Contains(errOut, "exclude") {
		t.Fatalf("two archives: %d %q", code, errOut)
	}
}
