package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway/server"
	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/schemas/consortium"
)

// TestGatewayBusyPortNamesTheFlag: issue 13 §7. A busy --listen is
// reported at once, naming the flag, before the gateway dials the bus
// (here an address where no bus runs).
func TestGatewayBusyPortNamesTheFlag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if _, err := consortium.Create(dir, consortium.Spec{Chain: "gba-test", Orderers: 4}); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"gateway", "--consortium", dir, "--nats", "nats://127.0.0.1:1", "--listen", busy.Addr().String(), "--log-level", "error"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err = cmd.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "--listen") || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("busy port: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the gateway did not report the busy port before 2 s")
	}
}

// TestGatewayTokensAndPublish: tokens made with `gateway token add` let
// `publish --token-file` through a standalone gateway; without a token,
// publish exits 2 naming the refusal; a revoked token stops working.
func TestGatewayTokensAndPublish(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	cons, err := consortium.Create(dir, consortium.Spec{Chain: "gba-test", Orderers: 4})
	if err != nil {
		t.Fatal(err)
	}
	bus := natstest.Start(t, cons.Identities, natstest.Options{Listen: "127.0.0.1:-1"})
	srv, err := server.Start(context.Background(), server.Config{Consortium: dir, NATS: bus.ClientURL(), Cities: []string{"hongkong"},
		Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	tokFile := filepath.Join(t.TempDir(), "hk.token")
	out, _, code := runCmd(t, newGatewayCmd(), "", "token", "add", "--consortium", dir, "--city", "hongkong", "--role", "publish,read", "--note", "hk cr", "--out", tokFile)
	if code != 0 || !strings.Contains(out, "written to "+tokFile) {
		t.Fatalf("token add: %d %s", code, out)
	}
	var events strings.Builder
	for i := range 3 {
		fmt.Fprintf(&events, `{"eventId":"hk-%d","kind":"business_registration","action":"issue","occurredAt":"2026-03-01T08:00:00Z","record":{"id":"3255813%d","name":{"zh-Hant":"香港測試有限公司"},"authority":{"zh-Hant":"公司註冊處"},"issuedOn":"2026-03-01","establishedOn":"2019-03-01","address":{"zh-Hant":"香港中環"},"scope":{"en":"software"}}}`+"\n", i, i)
	}
	out, errOut, code := runCmd(t, newPublishCmd(), events.String(), "--city", "hongkong", "--url", srv.URL(), "--token-file", tokFile)
	lines := outLines(out)
	if code != 0 || len(lines) != 3 {
		t.Fatalf("publish with a token: %d\n%s\n%s", code, out, errOut)
	}
	var r struct {
		Index  int    `json:"index"`
		TxID   string `json:"txId"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &r); err != nil || r.Index != 2 || r.Status != "accepted" || len(r.TxID) != 64 {
		t.Fatalf("receipt line %q: %+v %v", lines[2], r, err)
	}

	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BAYBUS_TOKEN", strings.TrimSpace(string(tok)))
	if _, errOut, code := runCmd(t, newPublishCmd(), events.String(), "--city", "hongkong", "--url", srv.URL()); code != 0 {
		t.Fatalf("publish with $BAYBUS_TOKEN: %d %s", code, errOut)
	}
	t.Setenv("BAYBUS_TOKEN", "")
	_, errOut, code = runCmd(t, newPublishCmd(), events.String(), "--city", "hongkong", "--url", srv.URL())
	if code != 2 || !strings.Contains(errOut, "401") {
		t.Fatalf("publish without a token: %d %s", code, errOut)
	}

	out, _, code = runCmd(t, newGatewayCmd(), "", "token", "list", "--consortium", dir)
	m := regexp.MustCompile(`(?m)^([0-9a-f]{16})\s+hongkong\s+publish,read\s+\S+\s+-\s+hk cr$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("token list: %d\n%s", code, out)
	}
	if _, _, code := runCmd(t, newGatewayCmd(), "", "token", "revoke", "--consortium", dir, m[1]); code != 0 {
		t.Fatalf("token revoke: %d", code)
	}
	// The gateway re-reads the token file within a second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errOut, code = runCmd(t, newPublishCmd(), events.String(), "--city", "hongkong", "--url", srv.URL(), "--token-file", tokFile)
		if code == 2 && strings.Contains(errOut, "revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked token still works: %d %s", code, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if fi, err := os.Stat(tokFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi, err)
	}
}
