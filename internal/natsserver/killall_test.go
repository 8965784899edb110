package natsserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// serverConfEnv makes the test binary run one NATS server from the
// configuration file it names instead of the tests, so a test can kill -9
// servers as separate OS processes (a crash, not a clean shutdown).
const serverConfEnv = "BAYBUS_TEST_NATS_CONFIG"

// killRounds turns the kill -9 tests on: each round waits out
// nats-server's elections (4-9 s), too long for every test run.
var killRounds = flag.Int("kill-rounds", 0, "rounds of the kill -9 tests (TestKillAllServers...); 0 skips them")

func TestMain(m *testing.M) {
	if conf := os.Getenv(serverConfEnv); conf != "" {
		os.Exit(serveConfig(conf))
	}
	os.Exit(m.Run())
}

// serveConfig runs a server from a configuration file until SIGTERM.
func serveConfig(conf string) int {
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	opts.NoSigs = true
	srv, err := Start(opts, slog.New(slog.NewTextHandler(os.Stderr, nil)), time.Minute)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
	return 0
}

// procCluster is three NATS servers, each its own OS process, routed to
// each other on loopback.
type procCluster struct {
	t     *testing.T
	confs []string
	logs  []string
	procs []*exec.Cmd
}

func newProcCluster(t *testing.T, ids *bus.Identities, syncInterval string) *procCluster {
	t.Helper()
	const n = 3
	ports := freePorts(t, 2*n)
	root := t.TempDir()
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	c := &procCluster{t: t, procs: make([]*exec.Cmd, n)}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		cfg := ServerConfig{
			Name: name, StoreDir: filepath.Join(root, name), Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Identities: ids,
			ClusterName: "gba-test", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[n+i]), Routes: routes, SyncInterval: syncInterval,
		}
		text, err := cfg.Config()
		if err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(root, name+".conf")
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c.confs = append(c.confs, conf)
		c.logs = append(c.logs, filepath.Join(root, name+".log"))
	}
	t.Cleanup(func() {
		for i := range c.procs {
			c.kill(i)
		}
	})
	for i := range n {
		c.start(i)
	}
	return c
}

func (c *procCluster) start(i int) {
	c.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := os.OpenFile(c.logs[i], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), serverConfEnv+"="+c.confs[i])
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[i] = cmd
}

// stop stops server i cleanly (SIGTERM) and waits for it to be gone.
func (c *procCluster) stop(i int) {
	if p := c.procs[i]; p != nil {
		_ = p.Process.Signal(syscall.SIGTERM)
		_ = p.Wait()
		c.procs[i] = nil
	}
}

// removeMessages removes stream's message blocks and state files from
// server i's store (stopped), as a store that lost its writes would be
// found; it returns how many files it removed.
func (c *procCluster) removeMessages(i int, stream string) int {
	c.t.Helper()
	opts, err := server.ProcessConfigFile(c.confs[i])
	if err != nil {
		c.t.Fatal(err)
	}
	dir := filepath.Join(opts.StoreDir, "jetstream", "GBA", "streams", stream, "msgs")
	entries, err := os.ReadDir(dir)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			c.t.Fatal(err)
		}
	}
	return len(entries)
}

// dialer returns a function that connects as a bus identity (seeds in dir)
// to every server, reconnecting for as long as the test runs.
func (c *procCluster) dialer(dir string) func(name string) *nats.Conn {
	var urls []string
	for _, conf := range c.confs {
		opts, err := server.ProcessConfigFile(conf)
		if err != nil {
			c.t.Fatal(err)
		}
		urls = append(urls, fmt.Sprintf("nats://%s:%d", opts.Host, opts.Port))
	}
	url := strings.Join(urls, ",")
	return func(name string) *nats.Conn {
		c.t.Helper()
		nc, err := bus.Connect(url, bus.SeedPath(dir, name), "test-"+name, nats.ReconnectWait(100*time.Millisecond),
			nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // the kills' resets are expected
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(nc.Close)
		return nc
	}
}

// logTails logs the last n lines of every server's log.
func (c *procCluster) logTails(n int) {
	for i, l := range c.logs {
		raw, _ := os.ReadFile(l)
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		c.t.Logf("n%d's log, last lines:\n%s", i+1, strings.Join(lines[max(0, len(lines)-n):], "\n"))
	}
}

// kill kills server i with SIGKILL and waits for it to be gone.
func (c *procCluster) kill(i int) {
	if p := c.procs[i]; p != nil {
		_ = p.Process.Kill()
		_ = p.Wait()
		c.procs[i] = nil
	}
}

// TestKillAllServersKeepsGBATXLeader kills -9 all three servers of GBA_TX's
// cluster at once, again and again, while batches are published and every
// orderer acknowledges them as they come (interest retention: the stream
// keeps emptying), and requires GBA_TX to have a leader again after every
// restart, with sync_interval always. (With nats-server's default a
// replica's store can come back behind the stream's Raft snapshot on all
// three at once, every replica then waits for a leader to catch it up, and
// none is ever elected: docs/faults.md, "The finding". With always the
// restart truncates the store to the snapshot instead, which nats-server
// 2.15.2 fails on a compressed block: the soak met that twice in 20 kills.)
//
// Each round waits out nats-server's elections (4-9 s); -kill-rounds sets
// how many, and 0 (the default) skips the test.
func TestKillAllServersKeepsGBATXLeader(t *testing.T) {
	if *killRounds <= 0 {
		t.Skip("run with -kill-rounds N: kills and restarts NATS server processes N times")
	}
	testKillAll(t, "always", *killRounds)
}

// TestKillAllServersDefaultSync is the same with nats-server's default
// sync_interval, the deployment's: the reproduction of the finding, run on
// request (-kill-default) since it fails only when a kill lands in the
// window (not met in 12 rounds here: docs/faults.md).
func TestKillAllServersDefaultSync(t *testing.T) {
	if !*killDefault || *killRounds <= 0 {
		t.Skip("run with -kill-default -kill-rounds N: kills and restarts NATS server processes N times, nats-server's default sync")
	}
	testKillAll(t, "", *killRounds)
}

var killDefault = flag.Bool("kill-default", false, "run TestKillAllServersDefaultSync")

func testKillAll(t *testing.T, syncInterval string, rounds int) {
	orderers := []string{"hongkong", "macao", "qianhai", "hengqin", "nansha"}
	ids, err := bus.NewIdentities(schemas.CityTokens(), orderers)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	c := newProcCluster(t, ids, syncInterval)
	dial := c.dialer(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds+2)*time.Minute)
	defer cancel()
	op := dial("operator")
	if err := bus.WaitJetStream(ctx, op); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(op)
	if err := poll(ctx, func(ctx context.Context) error {
		return bus.EnsureStreams(ctx, js, bus.StreamConfig{Replicas: 3, Orderers: orderers})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := streamCurrent(ctx, js, bus.StreamTx, 3); err != nil {
		t.Fatal(err)
	}

	// Load: every city publishes batches one after another; every
	// orderer acknowledges what it is given. Errors while the servers
	// are down are expected and ignored: only the leader matters here.
	lctx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	for _, o := range orderers {
		ojs, _ := jetstream.New(dial(bus.IdentityName(bus.RoleOrderer, o)))
		load.Go(func() {
			for lctx.Err() == nil {
				cons, err := ojs.Consumer(lctx, bus.StreamTx, bus.OrdererConsumer(o))
				if err != nil {
					sleepCtx(lctx, 200*time.Millisecond)
					continue
				}
				it, err := cons.Messages(jetstream.PullExpiry(2 * time.Second))
				if err != nil {
					sleepCtx(lctx, 200*time.Millisecond)
					continue
				}
				stop := context.AfterFunc(lctx, it.Stop)
				for {
					m, err := it.Next()
					if err != nil {
						break
					}
					_ = m.Ack()
				}
				stop()
				it.Stop()
			}
		})
	}
	payload := make([]byte, 1024)
	for i, city := range schemas.CityTokens()[:4] {
		pjs, _ := jetstream.New(dial(bus.IdentityName(bus.RoleCity, city)))
		load.Go(func() {
			for n := 0; lctx.Err() == nil; n++ {
				msg := &nats.Msg{Subject: bus.TxSubject(city), Data: payload, Header: nats.Header{}}
				msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%d-%d-%d", i, n, time.Now().UnixNano()))
				pctx, cancel := context.WithTimeout(lctx, time.Second)
				if _, err := pjs.PublishMsg(pctx, msg); err != nil {
					sleepCtx(lctx, 50*time.Millisecond)
				}
				cancel()
			}
		})
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 1; round <= rounds; round++ {
		sleepCtx(ctx, 1500*time.Millisecond+time.Duration(rng.Int64N(int64(1500*time.Millisecond))))
		for i := range c.procs {
			c.kill(i)
		}
		for i := range c.procs {
			c.start(i)
		}
		start := time.Now()
		wctx, wcancel := context.WithTimeout(ctx, 45*time.Second)
		err := poll(wctx, func(ctx context.Context) error {
			st, err := js.Stream(ctx, bus.StreamTx)
			if err != nil {
				return err
			}
			info, err := st.Info(ctx)
			if err != nil {
				return err
			}
			if info.Cluster == nil || info.Cluster.Leader == "" {
				return errors.New("no leader")
			}
			return nil
		})
		wcancel()
		if err != nil {
			c.logTails(8)
			t.Fatalf("round %d: GBA_TX has no leader %s after every server was killed and started again: %v",
				round, time.Since(start).Round(time.Millisecond), err)
		}
		t.Logf("round %d: GBA_TX led again %s after the restart", round, time.Since(start).Round(time.Millisecond))
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// TestRecreateStreamRevivesALeaderlessGBATX builds the state the
// 30-minute soak stopped on (docs/faults.md, "The finding"): every replica
// of GBA_TX has a Raft snapshot of messages its store no longer holds, so
// each waits for a leader to catch it up and none can lead. (The soak's
// kill -9 lost the store's last writes; here the servers stop cleanly,
// which installs the snapshot, and the stores' message blocks are removed
// before they start again.) The stream stays without a leader, and
// RecreateStream, the operator's step, gives it one: the orderers'
// consumers are back and a batch published is delivered.
func TestRecreateStreamRevivesALeaderlessGBATX(t *testing.T) {
	if testing.Short() {
		t.Skip("starts, stops and restarts NATS server processes")
	}
	orderers := []string{"hongkong", "macao", "qianhai", "hengqin", "nansha"}
	ids, err := bus.NewIdentities(schemas.CityTokens(), orderers)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	c := newProcCluster(t, ids, "")
	dial := c.dialer(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	op := dial("operator")
	if err := bus.WaitJetStream(ctx, op); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(op)
	sc := bus.StreamConfig{Replicas: 3, Orderers: orderers}
	if err := poll(ctx, func(ctx context.Context) error { return bus.EnsureStreams(ctx, js, sc) }); err != nil {
		t.Fatal(err)
	}
	if _, err := streamCurrent(ctx, js, bus.StreamTx, 3); err != nil {
		t.Fatal(err)
	}
	// Batches no orderer has read: the stream keeps them (interest).
	city := schemas.CityTokens()[0]
	pjs, _ := jetstream.New(dial(bus.IdentityName(bus.RoleCity, city)))
	publish := func(i int) error {
		msg := &nats.Msg{Subject: bus.TxSubject(city), Data: []byte(fmt.Sprintf("batch %d", i)), Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("b-%d", i))
		return poll(ctx, func(ctx context.Context) error { _, err := pjs.PublishMsg(ctx, msg); return err })
	}
	for i := range 20 {
		if err := publish(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.procs {
		c.stop(i)
	}
	for i := range c.procs {
		removed := c.removeMessages(i, bus.StreamTx)
		if removed == 0 {
			t.Fatalf("n%d: no message block of %s to remove", i+1, bus.StreamTx)
		}
	}
	for i := range c.procs {
		c.start(i)
	}
	if err := bus.WaitJetStream(ctx, op); err != nil {
		t.Fatal(err)
	}
	// Stuck: the meta leader answers, the stream has no leader, well past
	// nats-server's longest election timeout (9 s).
	stuck := time.Now()
	for time.Since(stuck) < 20*time.Second {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := js.Stream(actx, bus.StreamTx)
		acancel()
		if err == nil && st.CachedInfo().Cluster != nil && st.CachedInfo().Cluster.Leader != "" {
			t.Fatalf("%s elected %s %s after the restart: the stuck state was not built", bus.StreamTx,
				st.CachedInfo().Cluster.Leader, time.Since(stuck).Round(time.Millisecond))
		}
		sleepCtx(ctx, time.Second)
	}
	// Each replica says why, as in the soak's logs.
	for i, l := range c.logs {
		raw, _ := os.ReadFile(l)
		if !strings.Contains(string(raw), "catchup aborted, no leader for stream 'GBA > GBA_TX'") {
			c.logTails(8)
			t.Fatalf("n%d does not say it waits for a leader to catch it up", i+1)
		}
	}
	got, err := Leaderless(ctx, op, 2*time.Second, bus.StreamTx, bus.StreamBlocks)
	if err != nil || len(got) != 1 || got[0] != bus.StreamTx {
		c.logTails(8)
		t.Fatalf("Leaderless: %v, %v; want [%s]", got, err, bus.StreamTx)
	}

	if err := RecreateStream(ctx, op, bus.StreamTx, sc); err != nil {
		t.Fatal(err)
	}
	if _, err := streamCurrent(ctx, js, bus.StreamTx, 3); err != nil {
		t.Fatalf("after RecreateStream: %v", err)
	}
	if got, err := Leaderless(ctx, op, 2*time.Second, bus.StreamTx); err != nil || len(got) != 0 {
		t.Fatalf("Leaderless after RecreateStream: %v, %v", got, err)
	}
	if err := publish(100); err != nil {
		t.Fatal(err)
	}
	ojs, _ := jetstream.New(dial(bus.IdentityName(bus.RoleOrderer, orderers[0])))
	var m jetstream.Msg
	if err := poll(ctx, func(ctx context.Context) error {
		cons, err := ojs.Consumer(ctx, bus.StreamTx, bus.OrdererConsumer(orderers[0]))
		if err != nil {
			return err
		}
		m, err = cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		return err
	}); err != nil {
		t.Fatalf("orderer %s's consumer after RecreateStream: %v", orderers[0], err)
	}
	if string(m.Data()) != "batch 100" {
		t.Fatalf("delivered %q", m.Data())
	}
}
