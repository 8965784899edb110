package natsserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

func testIdentities(t *testing.T) *bus.Identities {
	t.Helper()
	ids, err := bus.NewIdentities(schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// busyPort holds a loopback port open for the test.
func busyPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// Issue 13 §7: a busy port is reported at once, naming the listener, and
// the store directory is not created.
func TestStartServerBusyPort(t *testing.T) {
	ids := testIdentities(t)
	ports := freePorts(t, 4)
	free := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	busy := busyPort(t)
	for _, tc := range []struct {
		name     string
		cfg      func(*ServerConfig)
		listener string
	}{
		{"client", func(c *ServerConfig) { c.Listen = busy }, ListenerClient},
		{"cluster", func(c *ServerConfig) {
			c.ClusterName, c.ClusterListen, c.Routes = "gba", busy, []string{"nats-route://" + busy}
		}, ListenerCluster},
		{"gateway", func(c *ServerConfig) {
			c.ClusterName, c.ClusterListen = "gba", free(1)
			c.Gateway = &GatewayConfig{Name: "gba", Listen: busy}
		}, ListenerGateway},
		{"monitoring", func(c *ServerConfig) { c.Monitor = busy }, ListenerMonitor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "js")
			cfg := ServerConfig{StoreDir: store, Listen: free(0), Identities: ids}
			tc.cfg(&cfg)
			srv, err := StartServer(cfg)
			if err == nil {
				srv.Shutdown()
				t.Fatal("started on a busy port")
			}
			var le *ListenError
			if !errors.As(err, &le) || le.Listener != tc.listener || le.Addr != busy || !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("got %v, want a ListenError of the %s listener on %s (EADDRINUSE)", err, tc.listener, busy)
			}
			if !strings.Contains(err.Error(), "in use") {
				t.Errorf("error %q does not say the address is in use", err)
			}
			if _, err := os.Stat(store); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("store directory made by a start that failed: %v", err)
			}
		})
	}
}

// A fatal start error that no check caught (here a port taken between the
// check and the start) comes back with the server's reason, not as a
// time-out.
func TestStartReportsTheServersReason(t *testing.T) {
	busy := busyPort(t)
	cfg := ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: busy, Identities: testIdentities(t)}
	text, err := cfg.Config()
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(text); err != nil {
		t.Fatal(err)
	}
	opts.NoSigs = true
	srv, err := Start(opts, nil, 0)
	if err == nil {
		srv.Shutdown()
		t.Fatal("started on a busy port")
	}
	if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want ErrStart with the server's reason (address already in use)", err)
	}
}

func TestConfigGateway(t *testing.T) {
	ids := testIdentities(t)
	cfg := ServerConfig{Name: "gd-1", StoreDir: "/tmp/js", Listen: "127.0.0.1:4222", Identities: ids,
		ClusterName: "guangdong", ClusterListen: "127.0.0.1:6222", Routes: []string{"nats-route://127.0.0.1:6223"},
		Tags: []string{"region:guangdong"}, Monitor: "127.0.0.1:8222",
		Gateway: &GatewayConfig{Name: "guangdong", Listen: "127.0.0.1:7222", Advertise: "127.0.0.1:7322",
			Remotes: []RemoteGateway{{Name: "hongkong", URLs: []string{"nats://127.0.0.1:7232"}}}}}
	text, err := cfg.Config()
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(text); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	g := opts.Gateway
	if g.Name != "guangdong" || g.Port != 7222 || g.Advertise != "127.0.0.1:7322" || len(g.Gateways) != 1 ||
		g.Gateways[0].Name != "hongkong" || g.Gateways[0].URLs[0].Host != "127.0.0.1:7232" {
		t.Errorf("gateway options %+v from\n%s", g, text)
	}
	if len(opts.Tags) != 1 || opts.Tags[0] != "region:guangdong" || opts.HTTPPort != 8222 {
		t.Errorf("tags %v, monitoring port %d", opts.Tags, opts.HTTPPort)
	}

	cfg.Gateway.Name = "hongkong"
	if _, err := cfg.Config(); err == nil || !strings.Contains(err.Error(), "must be the cluster name") {
		t.Errorf("a gateway named apart from its cluster: %v", err)
	}
}

func TestCheckListen(t *testing.T) {
	busy := busyPort(t)
	var le *ListenError
	if err := CheckListen(busy); !errors.As(err, &le) || le.Listener != ListenerClient || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("busy %s: %v", busy, err)
	}
	for _, ok := range []string{"127.0.0.1:-1", "127.0.0.1:0", fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])} {
		if err := CheckListen(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := CheckListen("no port"); !errors.As(err, &le) {
		t.Errorf("an address without a port: %v", err)
	}
}
