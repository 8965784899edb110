package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

func holdPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// Issue 13 §7: `up` on a busy NATS port fails at once, naming the flag
// (it used to wait 30 s and say only that the server was not ready).
func TestUpBusyNATSPortNamesTheFlag(t *testing.T) {
	busy := holdPort(t)
	data := filepath.Join(t.TempDir(), "data")
	root := newRootCmd()
	root.SetArgs([]string{"up", "--data", data, "--nats-listen", busy, "--listen", "127.0.0.1:0", "--log-level", "error"})
	root.SetOut(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "--nats-listen") || !strings.Contains(err.Error(), busy) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("got %v, want an error naming --nats-listen and the busy address %s", err, busy)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a first start that failed left %s behind (%v)", data, err)
	}
}

func natsConfigFile(t *testing.T, cfg natsserver.ServerConfig) string {
	t.Helper()
	text, err := cfg.Config()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNATSCmd(t *testing.T) {
	ids, err := bus.NewIdentities(schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	client, monitor := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])

	t.Run("busy port names the key", func(t *testing.T) {
		busy := holdPort(t)
		path := natsConfigFile(t, natsserver.ServerConfig{StoreDir: filepath.Join(dir, "js-busy"), Listen: client, Monitor: busy, Identities: ids})
		root := newRootCmd()
		root.SetArgs([]string{"nats", "--config", path})
		root.SetOut(io.Discard)
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), "change monitoring (http) in "+path) || !strings.Contains(err.Error(), busy) {
			t.Fatalf("got %v, want the monitoring listener on %s named", err, busy)
		}
		if _, err := os.Stat(filepath.Join(dir, "js-busy")); err == nil {
			t.Error("the store directory was made by a start that failed")
		}
	})

	t.Run("serves until stopped", func(t *testing.T) {
		path := natsConfigFile(t, natsserver.ServerConfig{Name: "solo", StoreDir: filepath.Join(dir, "js"), Listen: client, Monitor: monitor, Identities: ids})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pr, pw := io.Pipe()
		root := newRootCmd()
		root.SetArgs([]string{"nats", "--config", path, "--log-level", "error"})
		root.SetOut(pw)
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx); pw.Close() }()
		line, err := bufio.NewReader(pr).ReadString('\n')
		if err != nil {
			t.Fatalf("no start line: %v (command: %v)", err, <-done)
		}
		go io.Copy(io.Discard, pr)
		if !strings.Contains(line, "nats server solo: clients on nats://"+client) || !strings.Contains(line, "monitoring on http://"+monitor) {
			t.Errorf("start line %q", line)
		}
		nc, err := bus.Connect("nats://"+client, bus.SeedPath(dir, "operator"), "test")
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if err := bus.WaitJetStream(wctx, nc); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("nats: %v", err)
		}
		if c, err := net.Dial("tcp", client); err == nil {
			c.Close()
			t.Error("the server still takes clients after it was stopped")
		}
	})
}
