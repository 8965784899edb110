package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOrdererCmdServesHealthAndMetrics runs four `baybus orderer`
// commands against one bus: each prints where it serves, /healthz and
// /readyz name the chain and the node and turn ready, /metrics carries the
// orderer metrics; on cancellation each stops cleanly.
func TestOrdererCmdServesHealthAndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four orderers")
	}
	dir := t.TempDir()
	cc, err := consortium.Create(filepath.Join(dir, "c"), consortium.Spec{Chain: "gba-cmd", Orderers: 4})
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, cc.Identities, natstest.Options{Listen: "127.0.0.1:-1", Streams: bus.StreamConfig{Orderers: cc.Bundle().Orderers}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	outs := make([]*syncBuffer, 4)
	for i, name := range cc.Bundle().Orderers {
		outs[i] = &syncBuffer{}
		cmd := newOrdererCmd()
		cmd.SetArgs([]string{"--id", name, "--nats", srv.ClientURL(), "--creds", bus.SeedPath(cc.Dir, bus.IdentityName(bus.RoleOrderer, name)),
			"--data", filepath.Join(dir, name), "--trust", filepath.Join(cc.Dir, keys.TrustFile), "--key", keys.OrdererKeyPath(cc.Dir, name),
			"--listen", "127.0.0.1:0", "--log-level", "error"})
		cmd.SetOut(outs[i])
		cmd.SetErr(io.Discard)
		cmd.SetContext(ctx)
		wg.Go(func() {
			if err := cmd.Execute(); err != nil {
				t.Errorf("orderer %s: %v", name, err)
			}
		})
	}
	re := regexp.MustCompile(`metrics on (http://\S+) `)
	for i, name := range cc.Bundle().Orderers {
		var base string
		deadline := time.Now().Add(60 * time.Second)
		for base == "" {
			if m := re.FindStringSubmatch(outs[i].String()); m != nil {
				base = m[1]
			} else if time.Now().After(deadline) {
				t.Fatalf("orderer %s printed no address: %q", name, outs[i].String())
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		get := func(path string) (int, string) {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		var h node.Health
		if code, body := get("/healthz"); code != 200 || json.Unmarshal([]byte(body), &h) != nil || h.Chain != "gba-cmd" || h.Node != name {
			t.Fatalf("%s /healthz: %d %s", name, code, body)
		}
		for {
			code, body := get("/readyz")
			if code == 200 {
				if json.Unmarshal([]byte(body), &h) != nil || h.Status != "ready" || h.Node != name {
					t.Fatalf("%s /readyz: %s", name, body)
				}
				break
			}
			if code != 503 || time.Now().After(deadline) {
				t.Fatalf("%s /readyz: %d %s", name, code, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `baybus_orderer_height{orderer="`+name+`"}`) ||
			!strings.Contains(body, "baybus_proofs_generated_total") {
			t.Fatalf("%s /metrics: %d", name, code)
		}
	}
	cancel()
	wg.Wait()
}

// TestOrdererCmdRefusesBadSetups: a busy --listen address and a client
// certificate without a CA are refused before the orderer joins anything.
func TestOrdererCmdRefusesBadSetups(t *testing.T) {
	dir := t.TempDir()
	cc, err := consortium.Create(filepath.Join(dir, "c"), consortium.Spec{Chain: "gba-cmd", Orderers: 4})
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	name := cc.Bundle().Orderers[0]
	base := []string{"--id", name, "--nats", "nats://127.0.0.1:1", "--data", filepath.Join(dir, name),
		"--trust", filepath.Join(cc.Dir, keys.TrustFile), "--key", keys.OrdererKeyPath(cc.Dir, name)}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", busy.Addr().String()}, "--listen"},
		{[]string{"--listen", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "--tls-ca"},
	} {
		_, errOut, code := runCmd(t, newOrdererCmd(), "", append(base, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q, want an error naming %s", tc.args, code, errOut, tc.want)
		}
	}
}
