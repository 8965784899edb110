package natsserver

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// freePorts returns n distinct loopback ports that were free a moment ago.
// A clustered server needs its peers' route addresses before any of them
// listens, so the ports are chosen up front (as nats-server's own cluster
// tests do with fixed ports) instead of with "-1".
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// testCluster is three embedded servers routed to each other on loopback.
type testCluster struct {
	t       testing.TB
	configs []ServerConfig
	servers []*Embedded // nil while stopped
}

func newTestCluster(t testing.TB, ids *bus.Identities, opts ...func(*ServerConfig)) *testCluster {
	t.Helper()
	const n = 3
	ports := freePorts(t, 2*n)
	root := t.TempDir()
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	c := &testCluster{t: t, servers: make([]*Embedded, n)}
	for i := range n {
		c.configs = append(c.configs, ServerConfig{
			Name: fmt.Sprintf("n%d", i+1), StoreDir: filepath.Join(root, fmt.Sprintf("n%d", i+1)),
			Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Identities: ids,
			ClusterName: "gba-test", ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[n+i]), Routes: routes,
		})
		for _, o := range opts {
			o(&c.configs[i])
		}
	}
	t.Cleanup(func() {
		for i := range c.servers {
			c.stop(i)
		}
	})
	// StartServer returns once a server takes clients, which a clustered
	// server does before it has its peers: start all three, then wait for
	// the JetStream meta leader.
	for i := range n {
		c.start(i)
	}
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	srv, err := StartServer(c.configs[i])
	if err != nil {
		c.t.Fatal(err)
	}
	c.servers[i] = srv
}

func (c *testCluster) stop(i int) {
	if c.servers[i] != nil {
		c.servers[i].Shutdown()
		c.servers[i] = nil
	}
}

func (c *testCluster) urls() string {
	var out string
	for i, cfg := range c.configs {
		if i > 0 {
			out += ","
		}
		out += "nats://" + cfg.Listen
	}
	return out
}

func (c *testCluster) index(name string) int {
	return slices.IndexFunc(c.configs, func(cfg ServerConfig) bool { return cfg.Name == name })
}

// poll calls try until it succeeds or ctx ends, giving each attempt three
// seconds: a clustered JetStream API request that no leader answers (a
// stream between leaders) is never answered at all.
func poll(ctx context.Context, try func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := try(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// streamCurrent waits until the stream has a leader and every replica is
// current, and returns its info.
func streamCurrent(ctx context.Context, js jetstream.JetStream, name string, replicas int) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	err := poll(ctx, func(ctx context.Context) error {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		if info, err = st.Info(ctx); err != nil {
			return err
		}
		cl := info.Cluster
		switch {
		case cl == nil || cl.Leader == "":
			return fmt.Errorf("stream %s has no leader", name)
		case len(cl.Replicas) != replicas-1:
			return fmt.Errorf("stream %s leader %s has %d followers, want %d", name, cl.Leader, len(cl.Replicas), replicas-1)
		case slices.ContainsFunc(cl.Replicas, func(p *jetstream.PeerInfo) bool { return !p.Current || p.Offline }):
			return fmt.Errorf("stream %s: a follower is not current", name)
		}
		return nil
	})
	return info, err
}

func TestClusterReplicatedStreamsSurviveAServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	ids, err := bus.NewIdentities(schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("%5.2fs "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	c := newTestCluster(t, ids)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Clients dial the whole cluster, as the orderer processes do.
	op, err := bus.Connect(c.urls(), bus.SeedPath(dir, "operator"), "operator", nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if err := bus.WaitJetStream(ctx, op); err != nil {
		t.Fatal(err)
	}
	logf("JetStream meta leader elected")
	js, _ := jetstream.New(op)
	for range 2 { // idempotent on a cluster too
		if err := poll(ctx, func(ctx context.Context) error { return bus.EnsureStreams(ctx, js, bus.StreamConfig{Replicas: 3}) }); err != nil {
			t.Fatal(err)
		}
	}
	info, err := streamCurrent(ctx, js, bus.StreamTx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 {
		t.Fatalf("%s has %d replicas, want 3", bus.StreamTx, info.Config.Replicas)
	}
	logf("streams created, %s led by %s", bus.StreamTx, info.Cluster.Leader)

	city, err := bus.Connect(c.urls(), bus.SeedPath(dir, "city-zhuhai"), "zhuhai", nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer city.Close()
	pub, err := bus.NewPublisher(city)
	if err != nil {
		t.Fatal(err)
	}
	// publish sends the next message until the stream acknowledges it: while
	// the stream elects a new leader a publish may time out or find no
	// responders, and the message id makes the retry safe. Each message
	// must be stored once, at the next sequence.
	seq := uint64(0)
	publish := func() {
		t.Helper()
		seq++
		id := fmt.Sprintf("z%d", seq)
		var ack *jetstream.PubAck
		if err := poll(ctx, func(ctx context.Context) (err error) {
			ack, err = pub.Publish(ctx, bus.TxSubject("zhuhai"), id, []byte(id))
			return err
		}); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
		if ack.Sequence != seq {
			t.Fatalf("%s stored at sequence %d (duplicate %v), want %d", id, ack.Sequence, ack.Duplicate, seq)
		}
	}
	for range 10 {
		publish()
	}

	// Take down the server that leads GBA_TX: the others elect a new
	// leader and keep accepting.
	down := c.index(info.Cluster.Leader)
	if down < 0 {
		t.Fatalf("leader %q is not one of ours", info.Cluster.Leader)
	}
	c.stop(down)
	logf("stopped %s", c.configs[down].Name)
	for range 10 {
		publish()
	}
	if err := poll(ctx, func(ctx context.Context) error {
		st, err := js.Stream(ctx, bus.StreamTx)
		if err == nil {
			info, err = st.Info(ctx)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if info.Cluster.Leader == c.configs[down].Name || info.State.Msgs != 20 {
		t.Fatalf("after stopping %s: leader %s, %d messages, want another leader and 20", c.configs[down].Name, info.Cluster.Leader, info.State.Msgs)
	}
	logf("%d messages, %s led by %s", info.State.Msgs, bus.StreamTx, info.Cluster.Leader)

	// The restarted server catches up from its store and its peers; then,
	// with another server down, it is one of the two that make the quorum.
	c.start(down)
	if _, err := streamCurrent(ctx, js, bus.StreamTx, 3); err != nil {
		t.Fatal(err)
	}
	logf("restarted %s, all replicas current", c.configs[down].Name)
	other := (down + 1) % len(c.servers)
	c.stop(other)
	logf("stopped %s", c.configs[other].Name)
	for range 5 {
		publish()
	}
	for want := uint64(1); want <= seq; want++ {
		var m *jetstream.RawStreamMsg
		if err := poll(ctx, func(ctx context.Context) error {
			st, err := js.Stream(ctx, bus.StreamTx)
			if err == nil {
				m, err = st.GetMsg(ctx, want)
			}
			return err
		}); err != nil {
			t.Fatalf("message %d: %v", want, err)
		}
		if got := string(m.Data); got != fmt.Sprintf("z%d", want) {
			t.Fatalf("message %d is %q", want, got)
		}
	}
	logf("all %d messages read back", seq)
	c.start(other)
	if _, err := streamCurrent(ctx, js, bus.StreamTx, 3); err != nil {
		t.Fatal(err)
	}
	logf("restarted %s, all replicas current", c.configs[other].Name)
}
