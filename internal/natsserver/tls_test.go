package natsserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
)

func tlsIdentities(t *testing.T) *bus.Identities {
	t.Helper()
	ids, err := bus.NewIdentities(schemas.CityTokens()[:2], []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func testCA(t *testing.T) *consortium.CA {
	t.Helper()
	ca, err := consortium.NewCA("gba", consortium.CAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func clientCert(t *testing.T, ca *consortium.CA, name string) *tls.Certificate {
	t.Helper()
	iss, err := ca.Issue(consortium.CertSpec{Name: name, Usage: consortium.UsageClient})
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestPlaintextBeyondLoopbackNeedsInsecure: a client port, cluster
// listener or gateway listener bound beyond loopback without TLS is
// refused unless Insecure; loopback stays as simple as before.
func TestPlaintextBeyondLoopbackNeedsInsecure(t *testing.T) {
	ids := tlsIdentities(t)
	for name, cfg := range map[string]ServerConfig{
		"client port on every interface": {Listen: "0.0.0.0:-1"},
		"client port on an empty host":   {Listen: ":-1"},
		"client port on a host name":     {Listen: "nats.example:4222"},
		"cluster listener":               {Listen: "127.0.0.1:-1", ClusterName: "c", ClusterListen: "0.0.0.0:-1"},
		"gateway listener": {Listen: "127.0.0.1:-1", ClusterName: "g", ClusterListen: "127.0.0.1:-1",
			Gateway: &GatewayConfig{Name: "g", Listen: "[::]:-1"}},
		"monitoring port": {Listen: "127.0.0.1:-1", Monitor: "10.1.2.3:8222"},
	} {
		cfg.StoreDir, cfg.Identities = filepath.Join(t.TempDir(), "js"), ids
		srv, err := StartServer(cfg)
		if !errors.Is(err, ErrPlaintext) {
			if srv != nil {
				srv.Shutdown()
			}
			t.Errorf("%s: %v, want ErrPlaintext", name, err)
		}
	}
	for name, listen := range map[string]string{"loopback": "127.0.0.1:-1", "localhost": "localhost:-1", "in-process": ""} {
		srv, err := StartServer(ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Identities: ids, Listen: listen})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		srv.Shutdown()
	}
	srv, err := StartServer(ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Identities: ids, Listen: "0.0.0.0:-1", Insecure: true})
	if err != nil {
		t.Fatalf("plaintext with Insecure: %v", err)
	}
	srv.Shutdown()
}

// TestClientPortTLS: on a TLS client port, a client with the CA and a
// certificate from it connects and publishes; without a certificate, with
// one from another CA, without trusting the CA, or in plaintext it is
// refused. In-process connections are unaffected.
func TestClientPortTLS(t *testing.T) {
	ids := tlsIdentities(t)
	ca, other := testCA(t), testCA(t)
	dir := t.TempDir()
	st, err := ConsortiumTLS(ca, dir, "nats", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := StartServer(ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Identities: ids, Listen: "127.0.0.1:-1", TLS: st})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if !strings.HasPrefix(srv.ClientURL(), "tls://") {
		t.Fatalf("client URL %s", srv.ClientURL())
	}
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	creds := bus.SeedPath(dir, "city-"+schemas.CityTokens()[0])
	dial := func(opts ...nats.Option) (*nats.Conn, error) {
		return bus.Connect(srv.ClientURL(), creds, "test", append(opts, nats.MaxReconnects(0), nats.Timeout(5*time.Second))...)
	}
	good, err := dial(nats.Secure(ca.ClientTLS(clientCert(t, ca, "city-x"))))
	if err != nil {
		t.Fatalf("a client with the consortium's certificate: %v", err)
	}
	defer good.Close()
	if !good.TLSRequired() {
		t.Fatal("connection is not TLS")
	}
	if err := bus.WaitJetStream(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]nats.Option{
		"no certificate":           {nats.Secure(ca.ClientTLS(nil))},
		"another CA's certificate": {nats.Secure(ca.ClientTLS(clientCert(t, other, "city-x")))},
		"not trusting the CA":      {nats.Secure(other.ClientTLS(clientCert(t, ca, "city-x")))},
		"plaintext":                {},
	} {
		nc, err := dial(opts...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}

	// The file-based option the commands use.
	certPath, keyPath := consortium.CertPaths(dir, "reader")
	iss, err := ca.Issue(consortium.CertSpec{Name: "reader", Usage: consortium.UsageClient})
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Write(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	caPath, _ := consortium.CAPaths(dir)
	if err := ca.Write(dir); err != nil {
		t.Fatal(err)
	}
	opt, err := bus.TLSOption(caPath, certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := dial(opt)
	if err != nil {
		t.Fatalf("TLSOption: %v", err)
	}
	nc.Close()
	if _, err := bus.TLSOption(keyPath, "", ""); err == nil {
		t.Error("a key file taken as a CA")
	}

	in, err := srv.Connect("operator")
	if err != nil {
		t.Fatalf("in-process beside a TLS port: %v", err)
	}
	in.Close()
}

// logSink collects a server's log lines.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	s.lines = append(s.lines, r.Message)
	s.mu.Unlock()
	return nil
}
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }
func (s *logSink) has(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if strings.Contains(strings.ToLower(l), sub) {
			return true
		}
	}
	return false
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crosses reports whether a message published on b reaches a subscriber
// on a (core NATS, as orderers' consensus messages travel).
func crosses(t *testing.T, a, b *Embedded) bool {
	t.Helper()
	sub, err := a.Connect("orderer-hongkong")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	s, err := sub.SubscribeSync(bus.BFTSubject("hongkong"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	pub, err := b.Connect("orderer-macao")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err := pub.Publish(bus.BFTSubject("hongkong"), []byte("vote")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.NextMsg(200 * time.Millisecond); err == nil {
			return true
		}
	}
	return false
}

// TestRoutesAndGatewaysTLS: cluster routes and gateway connections with
// certificates from the consortium CA carry messages; a server whose
// certificate comes from another CA is refused by its peers.
func TestRoutesAndGatewaysTLS(t *testing.T) {
	ids := tlsIdentities(t)
	ca, other := testCA(t), testCA(t)
	dirs := map[*consortium.CA]string{ca: t.TempDir(), other: t.TempDir()} // each CA's consortium directory
	tlsOf := func(ca *consortium.CA, name string) *TLS {
		st, err := ConsortiumTLS(ca, dirs[ca], name, []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	ports := freePorts(t, 9)
	start := func(cfg ServerConfig, log *logSink) *Embedded {
		t.Helper()
		cfg.StoreDir, cfg.Identities, cfg.Listen = filepath.Join(t.TempDir(), "js"), ids, "127.0.0.1:-1"
		if log != nil {
			cfg.Logger = slog.New(log)
		} else {
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		srv, err := StartServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		return srv
	}
	route := func(i int) string { return fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i]) }

	t.Run("routes", func(t *testing.T) {
		a := start(ServerConfig{Name: "a", ClusterName: "c", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[0]),
			Routes: []string{route(1)}, TLS: tlsOf(ca, "a")}, nil)
		b := start(ServerConfig{Name: "b", ClusterName: "c", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[1]),
			Routes: []string{route(0)}, TLS: tlsOf(ca, "b")}, nil)
		if !crosses(t, a, b) {
			t.Fatal("no message crossed the TLS route")
		}
		log := &logSink{}
		stranger := start(ServerConfig{Name: "x", ClusterName: "c", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[2]),
			Routes: []string{route(0)}, TLS: tlsOf(other, "x")}, log)
		waitUntil(t, "the stranger's route refused", func() bool { return log.has("tls") && log.has("error") })
		if n := stranger.Server().NumRoutes(); n != 0 {
			t.Fatalf("a server with another CA's certificate has %d routes", n)
		}
		rz, err := a.Server().Routez(&server.RoutezOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rz.Routes {
			if r.RemoteName != "b" {
				t.Fatalf("a has a route to %q", r.RemoteName)
			}
		}
	})

	t.Run("gateways", func(t *testing.T) {
		// Each side of a gateway is a cluster (JetStream in a supercluster
		// needs routes), here of one server routed to itself.
		gw := func(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", ports[i]) }
		side := func(name string, gwPort, routePort int, ca *consortium.CA, remote string, remotePort int, log *logSink) *Embedded {
			return start(ServerConfig{Name: name + "1", ClusterName: name, ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[routePort]),
				Routes: []string{route(routePort)}, TLS: tlsOf(ca, name+"1"),
				Gateway: &GatewayConfig{Name: name, Listen: fmt.Sprintf("127.0.0.1:%d", ports[gwPort]),
					Remotes: []RemoteGateway{{Name: remote, URLs: []string{gw(remotePort)}}}}}, log)
		}
		cn := side("cn", 3, 6, ca, "hk", 4, nil)
		hk := side("hk", 4, 7, ca, "cn", 3, nil)
		if !crosses(t, cn, hk) {
			t.Fatal("no message crossed the TLS gateway")
		}
		log := &logSink{}
		side("mo", 5, 8, other, "cn", 3, log)
		waitUntil(t, "the stranger's gateway refused", func() bool { return log.has("tls") && log.has("error") })
		gz, err := cn.Server().Gatewayz(&server.GatewayzOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := gz.OutboundGateways["mo"]; ok {
			t.Fatal("cn has an outbound gateway to the stranger")
		}
		if _, ok := gz.InboundGateways["mo"]; ok {
			t.Fatal("cn has an inbound gateway from the stranger")
		}
		if _, ok := gz.OutboundGateways["hk"]; !ok {
			t.Fatal("cn lost its gateway to hk")
		}
	})
}
