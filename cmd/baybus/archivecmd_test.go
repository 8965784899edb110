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
	_, dir := prooftest.BuildDataDir(t)
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
