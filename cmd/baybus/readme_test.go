package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is a shell block of README.md.
type readmeBlock struct {
	line    int  // where its fence opens
	run     bool // run by TestREADME
	stopped bool // run once up has stopped (it reads a stopped node's data)
	exit    int  // the status it ends with
	code    string
}

// readmeBlocks returns README.md's shell blocks (fenced sh, bash or
// shell). Each says what the runner does with it in its info string:
// "sh run" (run against the fresh up, in order), "sh run stopped" (run in
// order once up has stopped), "sh norun" (not run; the text says why);
// "exit=N" gives the status a block ends with (default 0). A shell block
// without one of them is an error, so no example escapes the runner
// unmarked.
func readmeBlocks(raw []byte) ([]readmeBlock, error) {
	var out []readmeBlock
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	n := 0
	var cur *readmeBlock
	var body strings.Builder
	skipping := false // inside a fenced block that is not a shell block
	for sc.Scan() {
		n++
		line := sc.Text()
		fence := strings.HasPrefix(line, "```")
		switch {
		case cur != nil && fence:
			cur.code = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line + "\n")
		case skipping:
			skipping = !fence
		case fence:
			fields := strings.Fields(strings.TrimPrefix(line, "```"))
			if len(fields) == 0 || (fields[0] != "sh" && fields[0] != "bash" && fields[0] != "shell") {
				skipping = true // a diagram or a listing
				continue
			}
			b := readmeBlock{line: n}
			marked := false
			for _, f := range fields[1:] {
				switch {
				case f == "run" && !marked:
					b.run, marked = true, true
				case f == "norun" && !marked:
					marked = true
				case f == "stopped" && b.run:
					b.stopped = true
				case strings.HasPrefix(f, "exit="):
					v, err := strconv.Atoi(strings.TrimPrefix(f, "exit="))
					if err != nil {
						return nil, fmt.Errorf("README.md:%d: %q: want exit=N", n, f)
					}
					b.exit = v
				default:
					return nil, fmt.Errorf("README.md:%d: unknown marker %q (want run, run stopped, norun, exit=N)", n, f)
				}
			}
			if !marked {
				return nil, fmt.Errorf("README.md:%d: a shell block marked neither run nor norun: say whether the README runner runs it", n)
			}
			cur = &b
			body.Reset()
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("README.md:%d: a block that never closes", cur.line)
	}
	return out, sc.Err()
}

func TestReadmeBlocksParse(t *testing.T) {
	for _, tc := range []struct {
		name, md string
		want     []readmeBlock
		err      string
	}{
		{"marked", "text\n```sh run\necho a\n```\n```\ndiagram\n```\n```sh norun\nlong-running\n```\n```sh run stopped exit=2\nfalse\n```\n",
			[]readmeBlock{{line: 2, run: true, code: "echo a\n"}, {line: 8, code: "long-running\n"}, {line: 11, run: true, stopped: true, exit: 2, code: "false\n"}}, ""},
		{"unmarked", "```sh\necho\n```\n", nil, "neither run nor norun"},
		{"unknown marker", "```sh run twice\n```\n", nil, "unknown marker"},
		{"bad exit", "```sh run exit=x\n```\n", nil, "exit=N"},
		{"unclosed", "```sh run\necho\n", nil, "never closes"},
		{"a listing holding a fence-like line", "```\n  ```sh\n```\n", nil, ""},
	} {
		got, err := readmeBlocks([]byte(tc.md))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

// TestREADME runs README.md's examples as a new user would: it builds the
// binary, starts `./baybus up` on a fresh data directory (on free ports,
// which it puts in place of 127.0.0.1:8480 and nats://127.0.0.1:4222 in
// the blocks, and in $BAYBUS_URL), runs every block marked run in order
// with bash -e in that directory (with examples/ beside it), then stops
// up and runs the blocks marked run stopped. Each block must end with the
// status it says. Variables a block exports reach the blocks after it, as
// in one terminal.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs up")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the README's examples use curl")
	}
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(raw)
	if err != nil {
		t.Fatal(err)
	}
	run := 0
	for _, b := range blocks {
		if b.run {
			run++
		}
	}
	if run < 5 {
		t.Fatalf("README.md has %d blocks to run", run)
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	if err := os.Rename(bin, filepath.Join(dir, "baybus")); err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	addr, natsAddr := freeAddr(t), freeAddr(t)
	up := exec.Command("./baybus", "up", "--listen", addr, "--nats-listen", natsAddr, "--log-level", "warn")
	up.Dir = dir
	upOut := &syncBuffer{}
	up.Stdout, up.Stderr = upOut, upOut
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	defer func() {
		_ = up.Process.Kill()
		<-exited
	}()
	for !strings.Contains(upOut.String(), "gateways on") {
		select {
		case err := <-exited:
			t.Fatalf("up exited: %v\n%s", err, upOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	env := append(os.Environ(), "BAYBUS_URL=http://"+addr, "BAYBUS_TOKEN=", "HOME="+dir)
	subst := strings.NewReplacer("127.0.0.1:8480", addr, "nats://127.0.0.1:4222", "nats://"+natsAddr)
	for _, b := range blocks {
		if b.run && !b.stopped {
			runBlock(t, dir, env, subst, b, upOut)
		}
	}
	if err := up.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("up on SIGINT: %v\n%s", err, upOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("up did not stop on SIGINT\n%s", upOut.String())
	}
	for _, b := range blocks {
		if b.run && b.stopped {
			runBlock(t, dir, env, subst, b, upOut)
		}
	}
}

// readmeEnv keeps what the blocks export for the blocks after them.
const readmeEnv = ".readme-env"

func runBlock(t *testing.T, dir string, env []string, subst *strings.Replacer, b readmeBlock, up fmt.Stringer) {
	t.Helper()
	script := "set -eo pipefail\n[ -f " + readmeEnv + " ] && . ./" + readmeEnv + "\n" + subst.Replace(b.code) +
		"\nexport -p | grep -E '^declare -x (BAYBUS_|[A-Z_]+=)' | grep -vE '^declare -x (PATH|HOME|PWD|OLDPWD|SHLVL|_)=' > " + readmeEnv + " || true\n"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("README.md:%d: %v", b.line, err)
	}
	t.Logf("README.md:%d: exit %d\n%s", b.line, status, out)
	if status != b.exit {
		t.Fatalf("README.md:%d: the block ended with status %d, the README says %d:\n%s\n--- output:\n%s\n--- up:\n%s",
			b.line, status, b.exit, b.code, out, tail(up.String(), 3000))
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
