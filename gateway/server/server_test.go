package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/server"
	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// deployment is a consortium directory and a real bus listening on
// loopback, as a city deploying its gateway alone finds them.
type deployment struct {
	dir  string
	cons *consortium.Consortium
	bus  *natsserver.Embedded
}

func newDeployment(t *testing.T) *deployment {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "consortium")
	// Rules version 2 by name: a gateway with no orderers behind it; on
	// version 3 (the default) it needs their query service for grants.
	cons, err := consortium.Create(dir, consortium.Spec{Chain: "gba-test", Orderers: 4, Rules: block.Rules2})
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, cons.Identities, natstest.Options{Listen: "127.0.0.1:-1"})
	return &deployment{dir: dir, cons: cons, bus: srv}
}

func (d *deployment) config(cities ...string) server.Config {
	return server.Config{Consortium: d.dir, NATS: d.bus.ClientURL(), Cities: cities, Listen: "127.0.0.1:0", Node: "gw-sz-1", Logger: quiet}
}

func start(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func event(id string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"eventId":"ev-%s","kind":"business_registration","action":"issue","occurredAt":"2026-03-01T08:00:00Z",
		"record":{"id":"%s","name":{"zh-Hans":"深圳测试有限公司"},"authority":{"zh-Hans":"深圳市市场监督管理局"},"issuedOn":"2026-03-01",
		"establishedOn":"2019-03-01","address":{"zh-Hans":"深圳市南山区"},"scope":{"zh-Hans":"软件开发"},"capital":{"amount":"1000000.00","currency":"CNY"}}}`, id, id))
}

func get(t *testing.T, hc *http.Client, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestStandaloneGateway: a gateway for two cities against an external
// bus, each with its own credentials: ready (naming chain and node),
// publishing with the city's token, refusing without one, metrics behind
// authentication, and a publish for another city refused by the bus
// itself.
func TestStandaloneGateway(t *testing.T) {
	d := newDeployment(t)
	clients, err := auth.EnsureDevTokens(d.dir, []string{"shenzhen", "macao"}, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, d.config("shenzhen", "macao"))
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("url %s", s.URL())
	}
	tok, err := client.Token(filepath.Join(clients, "shenzhen.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.URL(), nil, client.WithToken(tok))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rd, err := c.Ready(ctx)
	if err != nil || rd.Status != "ready" || rd.Chain != "gba-test" || rd.Node != "gw-sz-1" || strings.Join(rd.Cities, ",") != "macao,shenzhen" {
		t.Fatalf("readiness %+v %v", rd, err)
	}
	res, err := c.Publish(ctx, "shenzhen", []json.RawMessage{event("SA1"), event("SA2")}, client.Options{})
	if err != nil || res[0].Receipt == nil || res[1].Receipt == nil {
		t.Fatalf("publish: %+v %v", res, err)
	}
	_, err = client.New(s.URL(), nil).Publish(ctx, "shenzhen", []json.RawMessage{event("SA3")}, client.Options{})
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("without a token: %v", err)
	}
	_, err = c.Publish(ctx, "macao", []json.RawMessage{event("SA4")}, client.Options{})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || apiErr.Err.Code != api.CodeForbidden {
		t.Fatalf("shenzhen's token for macao: %v", err)
	}
	if code, _ := get(t, http.DefaultClient, s.URL()+"/metrics", ""); code != http.StatusUnauthorized {
		t.Fatalf("metrics without a token: %d", code)
	}
	code, body := get(t, http.DefaultClient, s.URL()+"/metrics", tok)
	if code != http.StatusOK || !regexp.MustCompile(`baybus_gateway_batches_total\{city="shenzhen"\} [1-9]`).Match(body) {
		t.Fatalf("metrics: %d %.300s", code, body)
	}
}

// TestBusyPortFailsAtOnce: issue 13 §7. A busy port is reported before
// anything connects, naming the address; the caller names its flag.
func TestBusyPortFailsAtOnce(t *testing.T) {
	d := newDeployment(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := d.config("shenzhen")
	cfg.Listen = busy.Addr().String()
	cfg.NATS = "nats://127.0.0.1:1" // never dialled: the listener comes first
	_, err = server.Start(context.Background(), cfg)
	var le *server.ListenError
	if !errors.As(err, &le) || le.Addr != cfg.Listen || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("busy port: %v", err)
	}
}

// TestBeyondLoopbackNeedsTLS: issue 14 §6. Plaintext on an address beyond
// loopback needs Insecure; so does serving without authentication, which
// is refused there even then.
func TestBeyondLoopbackNeedsTLS(t *testing.T) {
	d := newDeployment(t)
	cfg := d.config("shenzhen")
	cfg.Listen = "0.0.0.0:0"
	if _, err := server.Start(context.Background(), cfg); !errors.Is(err, server.ErrInsecure) {
		t.Fatalf("plaintext beyond loopback: %v", err)
	}
	cfg.Auth.Unauthenticated, cfg.TLS.Insecure = true, true
	if _, err := server.Start(context.Background(), cfg); !errors.Is(err, server.ErrInsecure) {
		t.Fatalf("no authentication beyond loopback: %v", err)
	}
	cfg.Auth.Unauthenticated = false
	s := start(t, cfg)
	if !strings.HasPrefix(s.URL(), "http://") {
		t.Fatalf("explicitly insecure: %s", s.URL())
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, ":1": false, "0.0.0.0:1": false, "10.1.2.3:1": false} {
		if got, err := server.IsLoopback(addr); err != nil || got != want {
			t.Errorf("IsLoopback(%s) = %v, %v", addr, got, err)
		}
	}
}

// TestTLSAndClientCertificates: beyond loopback with a certificate from
// the consortium CA; a client that trusts the CA and presents a client
// certificate issued by it needs no token; one from another CA is refused
// in the handshake; with RequireClientCert a client without one is too.
func TestTLSAndClientCertificates(t *testing.T) {
	d := newDeployment(t)
	ca, err := consortium.LoadCA(d.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := d.config("shenzhen")
	cfg.Listen = "0.0.0.0:0"
	cfg.TLS.FromConsortium = true
	s := start(t, cfg)
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("url %s", s.URL())
	}
	_, port, _ := net.SplitHostPort(s.Addr())
	url := "https://127.0.0.1:" + port
	httpsClient := func(cert *consortium.Issued, roots *consortium.CA) *http.Client {
		var pair *tls.Certificate
		if cert != nil {
			p, err := cert.TLSCertificate()
			if err != nil {
				t.Fatal(err)
			}
			pair = &p
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: roots.ClientTLS(pair)}, Timeout: 10 * time.Second}
	}
	mine, err := auth.IssueClientCert(ca, "shenzhen", "samr", []auth.Role{auth.RolePublish})
	if err != nil {
		t.Fatal(err)
	}
	macao, err := auth.IssueClientCert(ca, "macao", "", []auth.Role{auth.RolePublish})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.New(url, httpsClient(mine, ca)).Publish(ctx, "shenzhen", []json.RawMessage{event("TLS1")}, client.Options{})
	if err != nil || res[0].Receipt == nil {
		t.Fatalf("client certificate of shenzhen: %+v %v", res, err)
	}
	_, err = client.New(url, httpsClient(macao, ca)).Publish(ctx, "shenzhen", []json.RawMessage{event("TLS2")}, client.Options{})
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden {
		t.Fatalf("macao's certificate for shenzhen: %v", err)
	}
	if code, _ := get(t, httpsClient(nil, ca), url+"/v1/tx/"+strings.Repeat("0", 64), ""); code != http.StatusUnauthorized {
		t.Fatalf("TLS without certificate or token: %d", code)
	}
	// A client that does not trust the consortium CA cannot talk to it.
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("a client without the consortium CA accepted the gateway's certificate")
	}
	// A certificate from another CA is refused in the handshake when the
	// client insists on sending it (Go's client otherwise leaves out a
	// certificate the server's CA list does not name, and is then a client
	// without credential).
	other, err := consortium.NewCA("gba-other", consortium.CAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := auth.IssueClientCert(other, "shenzhen", "samr", []auth.Role{auth.RolePublish})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := stranger.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	insist := ca.ClientTLS(nil)
	insist.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: insist}, Timeout: 10 * time.Second}
	if resp, err := hc.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a client certificate from another CA was accepted")
	}
	if code, _ := get(t, httpsClient(stranger, ca), url+"/v1/tx/"+strings.Repeat("0", 64), ""); code != http.StatusUnauthorized {
		t.Fatalf("a certificate from another CA, left out by the client: %d, want 401", code)
	}

	cfg.TLS.RequireClientCert = true
	cfg.Node = "gw-sz-2" // its own outbox
	strict := start(t, cfg)
	_, port, _ = net.SplitHostPort(strict.Addr())
	if resp, err := httpsClient(nil, ca).Get("https://127.0.0.1:" + port + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("RequireClientCert let a client without a certificate in")
	}
	if code, _ := get(t, httpsClient(mine, ca), "https://127.0.0.1:"+port+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("RequireClientCert with a certificate: %d", code)
	}
}

// TestReadinessFollowsTheBus: when the bus goes away /readyz says which
// city lost its connection; when it is back the gateway is ready again by
// itself.
func TestReadinessFollowsTheBus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "consortium")
	// Rules version 2 by name: a gateway with no orderers behind it; on
	// version 3 (the default) it needs their query service for grants.
	cons, err := consortium.Create(dir, consortium.Spec{Chain: "gba-test", Orderers: 4, Rules: block.Rules2})
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(t.TempDir(), "js")
	startBus := func(listen string) *natsserver.Embedded {
		srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: store, Listen: listen, Identities: cons.Identities})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	b := startBus("127.0.0.1:-1")
	url := b.ClientURL()
	op, err := b.Connect(bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := bus.EnsureStreams(sctx, js, bus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	op.Close()
	s := start(t, server.Config{Consortium: dir, NATS: url, Cities: []string{"zhuhai"}, Listen: "127.0.0.1:0", Logger: quiet,
		Auth: server.AuthConfig{Unauthenticated: true}})
	c := client.New(s.URL(), nil)
	ready := func() *api.Readiness {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rd, err := c.Ready(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rd
	}
	if rd := ready(); rd.Status != "ready" {
		t.Fatalf("at start: %+v", rd)
	}
	b.Shutdown()
	waitFor(t, func() bool {
		rd := ready()
		return rd.Status == "not_ready" && strings.Contains(strings.Join(rd.Problems, ";"), "zhuhai")
	})
	b = startBus(strings.TrimPrefix(url, "nats://"))
	defer b.Shutdown()
	waitFor(t, func() bool { return ready().Status == "ready" })
	// And it publishes again, to the stream kept in the bus's store.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Publish(ctx, "zhuhai", []json.RawMessage{event("RB1")}, client.Options{})
	if err != nil || res[0].Receipt == nil {
		t.Fatalf("publish after the bus came back: %+v %v", res, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSlowBodiesAndConnectionsAreBounded: issue 13 §6. A body that
// trickles is cut at ReadTimeout, so it cannot hold a connection (and a
// file descriptor) for ever; and beyond MaxConns a connection waits until
// another closes.
func TestSlowBodiesAndConnectionsAreBounded(t *testing.T) {
	d := newDeployment(t)
	cfg := d.config("shenzhen")
	cfg.Auth.Unauthenticated = true
	cfg.Ledger.Disabled = true
	cfg.HTTP = server.HTTPConfig{ReadTimeout: 500 * time.Millisecond, MaxConns: 2}
	s := start(t, cfg)

	// A slow body: headers, a few bytes, then nothing. The server closes
	// the connection once ReadTimeout has passed.
	slow, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /v1/cities/shenzhen/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"eventId\":")
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	var answer []byte
	buf := make([]byte, 4096)
	for {
		n, err := slow.Read(buf)
		answer = append(answer, buf[:n]...)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept a connection whose body never came for 30 s")
		}
		if err != nil {
			break // the server closed it
		}
	}
	if strings.Contains(string(answer), " 202 ") {
		t.Fatalf("a body that never arrived was accepted: %s", answer)
	}
	if err := slow.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	// Two idle connections take both slots; a third request waits.
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	waiting := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := waiting.Get(s.URL() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a third connection was served while two were open with MaxConns 2")
	}
	idle[0].Close()
	ok := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := ok.Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	resp.Body.Close()
}
