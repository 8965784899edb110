package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"

	"github.com/baybus/baybus/schemas/consortium"
)

func testPlan(t *testing.T, cfg Config) *Plan {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(cfg, "/bin/baybus")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func args(pr *Proc) string { return strings.Join(pr.Args, " ") }

func TestPlanLayout(t *testing.T) {
	p := testPlan(t, Config{Dir: t.TempDir()})
	if len(p.ofKind(KindNATS)) != 9 || len(p.ofKind(KindOrderer)) != 5 || len(p.ofKind(KindGateway)) != 3 || len(p.ofKind(KindWAN)) != 0 {
		t.Fatalf("processes: %d NATS, %d orderers, %d gateways, %d WAN", len(p.ofKind(KindNATS)), len(p.ofKind(KindOrderer)),
			len(p.ofKind(KindGateway)), len(p.ofKind(KindWAN)))
	}
	for _, tc := range []struct{ proc, endpoint, want string }{
		{"nats-guangdong-1", "client", "127.0.0.1:24000"},
		{"nats-hongkong-2", "cluster", "127.0.0.1:24111"},
		{"nats-macao-3", "gateway", "127.0.0.1:24222"},
		{"nats-macao-3", "monitoring", "127.0.0.1:24322"},
		{"orderer-hongkong", "http", "127.0.0.1:24500"},
		{"orderer-nansha", "http", "127.0.0.1:24504"},
		{"gateway-guangdong", "http", "127.0.0.1:24600"},
		{"gateway-macao", "http", "127.0.0.1:24602"},
	} {
		pr, ok := p.Proc(tc.proc)
		if !ok {
			t.Fatalf("no process %s", tc.proc)
		}
		if got := pr.Endpoint(tc.endpoint); got != tc.want {
			t.Errorf("%s %s on %s, want %s", tc.proc, tc.endpoint, got, tc.want)
		}
	}
	for _, tc := range []struct {
		orderer, region string
		proofs          bool
	}{
		{"hongkong", "hongkong", true}, {"macao", "macao", true},
		{"qianhai", "guangdong", false}, {"hengqin", "guangdong", false}, {"nansha", "guangdong", true},
	} {
		pr, _ := p.Proc("orderer-" + tc.orderer)
		reg, _ := p.Region(tc.region)
		if pr.Region != tc.region || !strings.Contains(args(pr), "--nats "+reg.NATS) {
			t.Errorf("orderer %s in %s (%s), want %s's servers", tc.orderer, pr.Region, args(pr), tc.region)
		}
		if got := !strings.Contains(args(pr), "--no-proofs"); got != tc.proofs {
			t.Errorf("orderer %s publishes proofs: %v, want %v", tc.orderer, got, tc.proofs)
		}
		// Its own credentials only, from its own directory.
		if !strings.Contains(args(pr), filepath.Join(pr.Creds, "nats", "orderer-"+tc.orderer+".nk")) {
			t.Errorf("orderer %s: %s", tc.orderer, args(pr))
		}
	}
	gd, _ := p.Proc("gateway-guangdong")
	if len(gd.Cities) != 9 || slices.Contains(gd.Cities, "hongkong") || !strings.Contains(args(gd), "--consortium "+gd.Creds) {
		t.Errorf("Guangdong's gateway serves %v: %s", gd.Cities, args(gd))
	}
	if url, tok, err := p.CityGateway("macao"); err != nil || url != "http://127.0.0.1:24602" || tok != filepath.Join(p.Dir, "clients", "macao.token") {
		t.Errorf("Macao's gateway: %s %s %v", url, tok, err)
	}
	if p.StreamReplicas != 3 || p.StreamRegion != "guangdong" {
		t.Errorf("streams: %d replicas in %s", p.StreamReplicas, p.StreamRegion)
	}

	light := testPlan(t, Config{Dir: t.TempDir(), Servers: []int{1, 1, 1}, Orderers: 4})
	if len(light.ofKind(KindNATS)) != 3 || light.StreamReplicas != 1 || len(light.ofKind(KindOrderer)) != 4 {
		t.Errorf("light plan: %d servers, %d replicas, %d orderers", len(light.ofKind(KindNATS)), light.StreamReplicas, len(light.ofKind(KindOrderer)))
	}
	hk := testPlan(t, Config{Dir: t.TempDir(), Servers: []int{3, 1, 1}, StreamRegion: "hongkong"})
	if hk.StreamRegion != "hongkong" || hk.StreamReplicas != 1 {
		t.Errorf("streams in %s with %d replicas, want hongkong's one server", hk.StreamRegion, hk.StreamReplicas)
	}
	for _, bad := range []Config{{Servers: []int{3, 1}}, {Servers: []int{0}}, {Orderers: 3}, {BasePort: 80}, {ProofOrderers: []string{"foshan"}},
		{StreamRegion: "shanghai"}} {
		bad.Dir = t.TempDir()
		c, err := bad.withDefaults()
		if err == nil {
			_, err = newPlan(c, "")
		}
		if err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}

// Every inter-region gateway connection goes through the WAN: each server
// advertises its proxy, and the remotes it dials are the other regions'
// proxies.
func TestPlanWAN(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Config{Dir: dir, WAN: &WANConfig{}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(cfg, "/bin/baybus")
	if err != nil {
		t.Fatal(err)
	}
	if err := lay(p, cfg); err != nil {
		t.Fatal(err)
	}
	hk, _ := p.Proc("nats-hongkong-1")
	opts, err := server.ProcessConfigFile(filepath.Join(hk.Data, "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Gateway.Advertise != "127.0.0.1:24410" || opts.Gateway.Port != 24210 || opts.Cluster.Name != "hongkong" {
		t.Errorf("hongkong-1 gateway on %d advertising %s", opts.Gateway.Port, opts.Gateway.Advertise)
	}
	for _, g := range opts.Gateway.Gateways {
		for _, u := range g.URLs {
			if !strings.HasPrefix(u.Port(), "244") {
				t.Errorf("hongkong-1 dials %s at %s, not through a proxy", g.Name, u)
			}
		}
	}
	if len(opts.Gateway.Gateways) != 2 || len(opts.Routes) != 3 || opts.Tags[0] != "region:hongkong" {
		t.Errorf("remotes %d, routes %d, tags %v", len(opts.Gateway.Gateways), len(opts.Routes), opts.Tags)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "wan", "wan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f WANFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Proxies) != 9 || f.API != "127.0.0.1:24700" {
		t.Fatalf("%d proxies, API %s", len(f.Proxies), f.API)
	}
	for _, px := range f.Proxies {
		if px.Name == "nats-guangdong-2.gateway" {
			if px.Listen != "127.0.0.1:24401" || px.Upstream != "127.0.0.1:24201" || px.Toxics[0].Attributes["latency"] != float64(3) {
				t.Errorf("proxy %+v", px)
			}
		}
	}

	// Each process got its own secrets and nothing else.
	qh, _ := p.Proc("orderer-qianhai")
	var files []string
	_ = filepath.WalkDir(qh.Creds, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r, _ := filepath.Rel(qh.Creds, path)
			files = append(files, r)
		}
		return nil
	})
	if want := []string{"keys/orderer-qianhai.key", "nats/orderer-qianhai.nk", "trust.json"}; !slices.Equal(files, want) {
		t.Errorf("orderer-qianhai holds %v, want %v", files, want)
	}
	mo, _ := p.Proc("gateway-macao")
	for _, f := range []string{"keys/city-macao.key", "nats/city-macao.nk", "clients/macao.token", "clients/tokens.json", "tls/ca.crt"} {
		if _, err := os.Stat(filepath.Join(mo.Creds, f)); err != nil {
			t.Errorf("gateway-macao: %v", err)
		}
	}
	for _, f := range []string{"keys/city-hongkong.key", "nats/operator.nk", "tls/ca.key"} {
		if _, err := os.Stat(filepath.Join(mo.Creds, f)); err == nil {
			t.Errorf("gateway-macao holds %s", f)
		}
	}
	if st, err := os.Stat(filepath.Join(mo.Creds, "keys", "city-macao.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("city key mode: %v %v", st.Mode(), err)
	}
	if !consortium.Exists(p.ConsortiumDir()) {
		t.Error("no consortium")
	}
}

// A port the plan needs that is taken fails Up before it writes anything.
func TestUpBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "cluster")
	busy := ln.Addr().(*net.TCPAddr).Port
	_, err = Up(context.Background(), Config{Dir: dir, Ports: func(n int) ([]int, error) {
		ports := freePorts(t, n)
		ports[4] = busy // nats-guangdong-2's client port
		return ports, nil
	}}, Options{})
	var pe *PortError
	if !errors.As(err, &pe) || pe.Proc != "nats-guangdong-2" || pe.Endpoint != "client" || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("got %v, want a PortError for nats-guangdong-2's client port", err)
	}
	if !strings.Contains(err.Error(), "--base-port") {
		t.Errorf("%v does not say what to change", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory made by an up that failed: %v", err)
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// RunWAN forwards through its proxies with their toxics, and serves
// toxiproxy's API. The loss toxic at probability 1 holds every read for
// its delay: a round trip through it takes at least that long.
func TestRunWAN(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	ports := freePorts(t, 3)
	f := WANFile{API: fmt.Sprintf("127.0.0.1:%d", ports[0]), Proxies: []WANProxy{
		{Name: "clean", Listen: fmt.Sprintf("127.0.0.1:%d", ports[1]), Upstream: echo.Addr().String()},
		{Name: "lossy", Listen: fmt.Sprintf("127.0.0.1:%d", ports[2]), Upstream: echo.Addr().String(), Toxics: []WANToxic{
			{Name: "loss", Type: LossToxicType, Stream: "upstream", Toxicity: 1, Attributes: map[string]any{"probability": 1.0, "delay": 150, "seed": 7}},
		}},
	}}
	raw, _ := json.Marshal(f)
	path := filepath.Join(t.TempDir(), "wan.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunWAN(ctx, path, zerolog.Disabled) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWAN: %v", err)
		}
	}()
	roundTrip := func(addr string) time.Duration {
		t.Helper()
		var c net.Conn
		var err error
		for range 100 { // the proxies listen once RunWAN has made them
			if c, err = net.Dial("tcp", addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, []byte("ping")) {
			t.Fatalf("echo through %s: %q %v", addr, buf, err)
		}
		return time.Since(start)
	}
	roundTrip(f.Proxies[0].Listen)
	if d := roundTrip(f.Proxies[1].Listen); d < 150*time.Millisecond {
		t.Errorf("a round trip through a proxy losing every read took %v, less than its 150 ms delay", d)
	}
	resp, err := http.Get("http://" + f.API + "/proxies/lossy/toxics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"type":"loss"`) {
		t.Errorf("toxiproxy API: %d %s", resp.StatusCode, body)
	}
}

// Up refuses a state directory whose deployment still runs, and one
// started again with other NATS servers than it had.
func TestUpRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Servers: []int{1}, Binary: "/nonexistent/baybus",
		Ports: func(n int) ([]int, error) { return freePorts(t, n), nil }}
	c, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	old, err := newPlan(c, cfg.Binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := old.write(); err != nil {
		t.Fatal(err)
	}

	// This test's own process stands in for a running NATS server.
	start, ok := procStart(os.Getpid())
	if !ok {
		t.Fatal("no start time for this process")
	}
	pid := old.pidPath("nats-macao-1")
	if err := os.MkdirAll(filepath.Dir(pid), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pid, fmt.Appendf(nil, "%d %d\n", os.Getpid(), start), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Up(context.Background(), cfg, Options{})
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), fmt.Sprintf("nats-macao-1 (pid %d)", os.Getpid())) {
		t.Fatalf("up over a running deployment: %v", err)
	}
	// A pid file of a process that has gone (another start time) is not
	// a running process.
	if err := os.WriteFile(pid, fmt.Appendf(nil, "%d %d\n", os.Getpid(), start+1), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Servers = []int{3, 1, 1}
	_, err = Up(context.Background(), cfg, Options{})
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "nats-guangdong-3") {
		t.Fatalf("up with other servers: %v", err)
	}
}

// TestPlanSyncInterval: the NATS servers keep nats-server's sync_interval
// unless told otherwise; "always" or a duration can be asked for, anything
// else is refused.
func TestPlanSyncInterval(t *testing.T) {
	conf := func(sync string) *server.Options {
		t.Helper()
		cfg, err := Config{Dir: t.TempDir(), SyncInterval: sync}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPlan(cfg, "/bin/baybus")
		if err != nil {
			t.Fatal(err)
		}
		if err := lay(p, cfg); err != nil {
			t.Fatal(err)
		}
		gd, _ := p.Proc("nats-guangdong-1")
		opts, err := server.ProcessConfigFile(filepath.Join(gd.Data, "nats.conf"))
		if err != nil {
			t.Fatal(err)
		}
		return opts
	}
	if o := conf(""); o.SyncAlways || o.SyncInterval != 0 {
		t.Errorf("default: sync_always %v, interval %v; want nats-server's own", o.SyncAlways, o.SyncInterval)
	}
	if o := conf("always"); !o.SyncAlways {
		t.Errorf("always: sync_always %v, interval %v", o.SyncAlways, o.SyncInterval)
	}
	if o := conf("10s"); o.SyncAlways || o.SyncInterval != 10*time.Second {
		t.Errorf("10s: sync_always %v, interval %v", o.SyncAlways, o.SyncInterval)
	}
	for _, bad := range []string{"sometimes", "default", "-1s", "0s"} {
		if _, err := (Config{Dir: t.TempDir(), SyncInterval: bad}).withDefaults(); err == nil || !strings.Contains(err.Error(), "sync interval") {
			t.Errorf("sync interval %q: %v", bad, err)
		}
	}
}
