package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds baybus once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "baybus")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestUpServesAndStopsCleanly runs `baybus up` as a process: it answers
// /readyz, accepts a curl-style event, and on SIGINT flushes, closes its
// stores and exits 0. A second `up` on the same data reuses the consortium.
func TestUpServesAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	for run := range 2 {
		cmd := exec.Command(bin, "up", "--data", data, "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1", "--orderers", "4", "--log-level", "warn")
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		addr, dir := make(chan string, 1), make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			re := regexp.MustCompile(`gateways on (http://\S+),`)
			reTok := regexp.MustCompile(`development tokens: (\S+)/<city>\.token`)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					addr <- m[1]
				}
				if m := reTok.FindStringSubmatch(sc.Text()); m != nil {
					dir <- m[1]
				}
			}
		}()
		var base, tokens string
		for base == "" || tokens == "" {
			select {
			case base = <-addr:
			case tokens = <-dir:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("up did not start:\n%s", stderr.String())
			}
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("readyz: %v %v", resp, err)
		}
		resp.Body.Close()
		ev := `{"eventId":"up-` + string(rune('a'+run)) + `","kind":"administrative_approval","action":"issue","occurredAt":"2026-02-01T00:00:00Z","record":{"id":"AP-` + string(rune('a'+run)) + `","holder":{"name":{"en":"Jane"},"idKind":"passport","idNumber":"E1234567"},"title":{"en":"Street trading"},"decision":{"en":"Approved"},"authority":{"en":"Licensing Office"},"issuedOn":"2026-02-01"}}`
		// Without a credential: 401. With macao's development token, which
		// up made and named on its output: committed.
		resp, err = http.Post(base+"/v1/cities/macao/events?wait=commit", "application/json", strings.NewReader(ev))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("publish without a token: %d, want 401", resp.StatusCode)
		}
		tok, err := os.ReadFile(filepath.Join(tokens, "macao.token"))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", base+"/v1/cities/macao/events?wait=commit", strings.NewReader(ev))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		json.NewDecoder(resp.Body).Decode(&rec)
		resp.Body.Close()
		if resp.StatusCode != 200 || rec["status"] != "committed" {
			t.Fatalf("publish: %d %v\n%s", resp.StatusCode, rec, stderr.String())
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("up exited with %v after SIGINT:\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("up did not stop after SIGINT")
		}
	}
	if _, err := os.Stat(filepath.Join(data, "trust.json")); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify-chain", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok: height") {
		t.Fatalf("verify-chain after two runs: %v\n%s", err, out)
	}
}

// --archive-keep and --archive-every without --archive-dir are refused
// before anything is started or written; the archiving itself is tested
// in internal/system (TestUpArchivesAndServesArchivedProofsAfterRestart).
func TestUpArchiveFlagsNeedADirectory(t *testing.T) {
	for _, args := range [][]string{{"--archive-keep", "5"}, {"--archive-every", "1m"}} {
		data := filepath.Join(t.TempDir(), "data")
		_, errOut, code := runCmd(t, newRootCmd(), "", append([]string{"up", "--data", data, "--listen", "127.0.0.1:0", "--nats-listen", "-"}, args...)...)
		if code == 0 || !strings.Contains(errOut, "need --archive-dir") {
			t.Fatalf("up %v: exit %d %q", args, code, errOut)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Fatalf("up %v refused, but it made its data directory: %v", args, err)
		}
	}
}
