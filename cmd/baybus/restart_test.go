package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// upProc is a `baybus up` OS process (this test binary running main),
// restartable on the same data directory; its output goes to logPath.
type upProc struct {
	t       *testing.T
	data    string
	nats    string // host:port of its NATS listener
	logPath string
	orders  int

	cmd  *exec.Cmd
	done chan error
}

// start starts up and returns once it printed that it is up.
func (p *upProc) start(ctx context.Context) {
	p.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		p.t.Fatal(err)
	}
	out, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(out, "=== %s: start\n", time.Now().Format(time.TimeOnly+".000"))
	// Rules version 2: the load publishes signed batches straight to the
	// bus, records with natural persons' names in plaintext, which rules
	// version 3 (up's default, docs/sharing.md) seals invalid.
	cmd := exec.Command(exe, "up", "--data", p.data, "--listen", "-", "--nats-listen", p.nats,
		"--orderers", fmt.Sprint(p.orders), "--log-level", p.level(), "--rules", "2")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stderr = out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
			if strings.HasPrefix(sc.Text(), "baybus up:") {
				once.Do(func() { close(up) })
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); out.Close() }()
	p.cmd, p.done = cmd, done
	select {
	case <-up:
	case err := <-done:
		p.t.Fatalf("up exited while starting: %v (log %s)", err, p.logPath)
	case <-ctx.Done():
		p.t.Fatalf("up did not start: %v (log %s)", ctx.Err(), p.logPath)
	}
}

func (p *upProc) kill() {
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.cmd = nil
	}
}

func (p *upProc) terminate() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("up exited with %v after SIGTERM (log %s)", err, p.logPath)
		}
	case <-time.After(60 * time.Second):
		p.kill()
		p.t.Fatal("up did not stop within 60 s of SIGTERM")
	}
	p.cmd = nil
}

// TestUpSealsSoonAfterKill9 is issue 13's whole-consortium crash: `baybus
// up` (bus, orderers, all in one process) is killed with SIGKILL under load
// and started again on its data directory, and the test reports how long
// after the restart a batch published after it is sealed (the target is
// 5 s on the 2-core machine; only a generous bound is asserted). Then every
// batch the stream acknowledged is on every orderer's chain exactly once.
func TestUpSealsSoonAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs up as a process under load")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	data := t.TempDir()
	p := &upProc{t: t, data: data, nats: fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0]),
		logPath: upLogPath(t), orders: 5}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			raw, _ := os.ReadFile(p.logPath)
			lines := strings.Split(string(raw), "\n")
			t.Logf("up's log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	p.start(ctx)
	cons, err := keys.LoadConsortium(data, schemas.CityTokens())
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + p.nats
	dial := func(name string) *nats.Conn {
		t.Helper()
		nc, err := bus.Connect(url, bus.SeedPath(data, name), "test-"+name, nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	var (
		mu    sync.Mutex
		acked []ackedBatch
	)
	ld := &loadGen{chain: cons.Bundle.Chain, keys: cons.Cities, txPerBatch: 8, pause: 50 * time.Millisecond,
		acked: map[schemas.TxID]bool{}, sent: map[schemas.TxID]bool{},
		onAck: func(b *schemas.Batch) {
			mu.Lock()
			acked = append(acked, ackedBatch{id: b.IDs[0], at: time.Now()})
			mu.Unlock()
		}}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, city := range []string{"shenzhen", "guangzhou", "hongkong", "macao"} {
		pub, err := bus.NewPublisher(dial(bus.IdentityName(bus.RoleCity, city)))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { ld.run(loadCtx, city, pub) })
	}
	defer func() { stopLoad(); wg.Wait() }()
	qc, err := query.NewClient(query.ClientConfig{Conn: dial(bus.IdentityName(bus.RoleService, "")), Trust: cons.Bundle, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	firstAfter := func(at time.Time) schemas.TxID {
		for {
			mu.Lock()
			for _, b := range acked {
				if b.at.After(at) {
					mu.Unlock()
					return b.id
				}
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
				t.Fatalf("no batch acknowledged after %v (%s)", at.Format(time.TimeOnly), ld.summary())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if _, err := qc.Wait(ctx, firstAfter(time.Now().Add(2*time.Second))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	p.kill()
	t.Logf("up killed with SIGKILL under load (%s)", ld.summary())
	restart := time.Now()
	p.start(ctx)
	started := time.Since(restart)
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	defer wcancel()
	id := firstAfter(restart)
	if _, err := qc.Wait(wctx, id); err != nil {
		t.Fatalf("a batch published after the restart was not sealed: %v", err)
	}
	t.Logf("RESTART: up was up %v after its restart; a batch published after the restart sealed %v after it",
		started.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))

	stopLoad()
	wg.Wait()
	// Every acknowledged batch is sealed everywhere before up stops.
	for id := range ld.acked {
		if _, err := qc.Wait(wctx, id); err != nil {
			t.Fatalf("acknowledged transaction %s not sealed: %v", schemas.FormatID(id), err)
		}
	}
	p.terminate()
	var ref *chainView
	for _, name := range cons.Bundle.Orderers {
		dir := filepath.Join(data, "orderers", name, "blocks")
		if _, err := audit.VerifyChain(ctx, dir, cons.Bundle); err != nil {
			t.Fatalf("orderer %s: %v", name, err)
		}
		ch, err := readChain(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = ch
		}
		if ch.head() != ref.head() && ch.height() == ref.height() {
			t.Fatalf("orderer %s holds another chain", name)
		}
		if ch.height() == ref.height() {
			ch.checkExactlyOnce(t, name, ld)
		}
	}
}

type ackedBatch struct {
	id schemas.TxID
	at time.Time
}

// upLogPath is where the up process logs: $BAYBUS_TEST_LOG if set (kept
// for a look after the test), else a file of the test's.
func upLogPath(t *testing.T) string {
	if p := os.Getenv("BAYBUS_TEST_LOG"); p != "" {
		return p
	}
	return filepath.Join(t.TempDir(), "up.log")
}

func (p *upProc) level() string {
	if os.Getenv("BAYBUS_TEST_LOG") != "" {
		return "debug"
	}
	return "info"
}
