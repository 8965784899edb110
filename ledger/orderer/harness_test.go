package orderer

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"crypto/rand"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

var (
	long     = flag.Bool("long", false, "run the long variants of the cluster tests")
	logLevel = flag.String("log", "", "log level for orderer logs in tests (debug, info, warn, error); empty: none")
)

// scale multiplies the load of the cluster tests under -long.
func scale(n int) int {
	if *long {
		return 5 * n
	}
	return n
}

// memState is an in-memory StateMachine for tests: blocktest.State with a
// height.
type memState struct {
	*blocktest.State
	mu sync.Mutex
	h  uint64
}

func newMemState() *memState { return &memState{State: blocktest.NewState()} }

func (s *memState) Commit(h uint64, ups []block.StateUpdate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h != s.h+1 {
		return fmt.Errorf("memstate: commit %d at height %d", h, s.h)
	}
	s.Apply(ups)
	s.h = h
	return nil
}

func (s *memState) Height() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.h }

var ordererNames = []string{"hongkong", "macao", "qianhai", "hengqin", "nansha", "dongguan", "foshan", "zhongshan", "jiangmen", "zhaoqing", "huizhou"}

var testCities = []string{"shenzhen", "guangzhou", "hongkong", "macao", "zhuhai"}

// timeScale stretches the tests' engine timeouts and their waits (5 under
// the race detector, which slows everything about tenfold on a busy
// machine). The waits are bounds for a stuck test, never measurements.
var timeScale time.Duration = 1

// fastEngine is the engine timing the tests use: failures are detected in
// about a second instead of tens of seconds. The timeouts must stay well
// above the time a node takes to verify a block, or the cluster changes
// views forever.
func fastEngine(n int) bft.Options {
	// Every orderer of the cluster shares this machine's cores: larger
	// clusters get proportionally more time.
	timeScale := timeScale * time.Duration(max(1, (n+3)/4))
	return bft.Options{
		BlockMaxBatches:   16,
		BlockInterval:     5 * time.Millisecond,
		ForwardTimeout:    500 * time.Millisecond * timeScale,
		ComplainTimeout:   1500 * time.Millisecond * timeScale,
		AutoRemoveTimeout: time.Minute * timeScale,
		HeartbeatTimeout:  1500 * time.Millisecond * timeScale,
		HeartbeatCount:    10,
		ViewChangeResend:  500 * time.Millisecond * timeScale,
		ViewChangeTimeout: 3 * time.Second * timeScale,
		CollectTimeout:    200 * time.Millisecond * timeScale,
		Tick:              25 * time.Millisecond * timeScale,
		// Rotate often so that the tests see several leaders.
		DecisionsPerLeader: 10,
	}
}

type cluster struct {
	t      testing.TB
	srv    *natsserver.Embedded
	cons   *keys.Consortium
	names  []string
	root   string
	engine bft.Options
	log    *slog.Logger

	mu     sync.Mutex
	nodes  map[string]*Node
	conns  map[string]*nats.Conn
	wrap   map[string]func(bft.Comm) bft.Comm
	city   map[string]jetstream.JetStream
	seq    uint64
	txs    []schemas.TxID // every distinct transaction published
	txSeen map[schemas.TxID]bool
}

func testLogger(t testing.TB) *slog.Logger {
	if *logLevel == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		t.Fatal(err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	names := ordererNames[:n]
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	cons, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), names, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Every name an orderer may take has a NATS identity, so a test can
	// add one to the consortium (an operator issues its credentials).
	ids, err := bus.NewIdentities(schemas.CityTokens(), ordererNames)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(root, "js"), Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, srv: srv, cons: cons, names: names, root: root, engine: fastEngine(n), log: testLogger(t),
		nodes: map[string]*Node{}, conns: map[string]*nats.Conn{}, wrap: map[string]func(bft.Comm) bft.Comm{},
		city: map[string]jetstream.JetStream{}, txSeen: map[schemas.TxID]bool{},
	}
	t.Cleanup(c.close)
	op, err := srv.Connect("operator")
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	js, _ := jetstream.New(op)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{MemoryForProofs: true}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) close() {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = map[string]*Node{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(n.Stop)
	}
	wg.Wait()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.srv.Shutdown()
}

func (c *cluster) config(name string) Config {
	return Config{
		Name: name, Trust: c.cons.Bundle, Key: c.cons.Orderers[name],
		DataDir: filepath.Join(c.root, "orderer", name), State: newMemState(),
		Engine: c.engine, SyncTimeout: 3 * time.Second * timeScale, AckWait: 2 * time.Second * timeScale, BatchWait: 500 * time.Millisecond * timeScale,
		Logger: c.log, WrapComm: c.wrap[name],
		// An orderer a configuration block added joins from the chain.
		Join: c.cons.Bundle.OrdererIndex(name) < 0,
	}
}

// start opens (or reopens) and starts one orderer.
func (c *cluster) start(name string) *Node {
	c.t.Helper()
	nc, err := c.srv.Connect(bus.IdentityName(bus.RoleOrderer, name))
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := c.config(name)
	cfg.Conn = nc
	n, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	if old := c.conns[name]; old != nil {
		old.Close()
	}
	c.nodes[name], c.conns[name] = n, nc
	c.mu.Unlock()
	return n
}

func (c *cluster) startAll() {
	var wg sync.WaitGroup
	for _, name := range c.names {
		wg.Go(func() { c.start(name) })
	}
	wg.Wait()
}

// stop stops an orderer (as a crash would, as far as its peers can tell).
func (c *cluster) stop(name string) {
	c.mu.Lock()
	n := c.nodes[name]
	delete(c.nodes, name)
	c.mu.Unlock()
	if n != nil {
		n.Stop()
	}
}

func (c *cluster) running() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, name := range c.names {
		if n := c.nodes[name]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

func (c *cluster) conn(name string) *nats.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns[name]
}

func (c *cluster) node(name string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

// leader returns the leader most running nodes agree on.
func (c *cluster) leader() string {
	votes := map[string]int{}
	best := ""
	for _, n := range c.running() {
		l := n.Leader()
		votes[l]++
		if l != "" && votes[l] > votes[best] {
			best = l
		}
	}
	return best
}

func (c *cluster) cityJS(city string) jetstream.JetStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	if js, ok := c.city[city]; ok {
		return js
	}
	nc, err := c.srv.Connect(bus.IdentityName(bus.RoleCity, city))
	if err != nil {
		c.t.Fatal(err)
	}
	c.conns["city-"+city] = nc
	js, _ := jetstream.New(nc)
	c.city[city] = js
	return js
}

// batch seals count new issue transactions (plus any extra raw ones) for city.
func (c *cluster) batch(city string, count int, extra ...[]byte) *schemas.Batch {
	c.mu.Lock()
	c.seq++
	seq := c.seq
	var txs [][]byte
	for i := range count {
		txs = append(txs, blocktest.Tx(c.cons.Bundle.Chain, city, fmt.Sprintf("L%06d-%03d", seq, i), schemas.ActionIssue))
	}
	txs = append(txs, extra...)
	c.mu.Unlock()
	b, err := schemas.SealBatch(c.cons.Bundle.Chain, city, int64(seq), seq, txs, c.cons.Cities[city])
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// publish publishes a batch on its city's subject and records its
// transactions as expected on the chain.
func (c *cluster) publish(b *schemas.Batch) {
	c.t.Helper()
	c.publishRaw(b.City, b.ID(), b.Encode())
	c.mu.Lock()
	for _, id := range b.IDs {
		if !c.txSeen[id] {
			c.txSeen[id] = true
			c.txs = append(c.txs, id)
		}
	}
	c.mu.Unlock()
}

func (c *cluster) publishRaw(city, msgID string, data []byte) {
	c.t.Helper()
	js := c.cityJS(city)
	m := nats.NewMsg(bus.TxSubject(city))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, m); err != nil {
		c.t.Fatal(err)
	}
}

// load publishes batches round-robin over the test cities until stop is
// closed or count batches are out; it returns when done.
func (c *cluster) load(count, txPerBatch int, every time.Duration, stop <-chan struct{}) {
	for i := 0; i < count; i++ {
		select {
		case <-stop:
			return
		default:
		}
		c.publish(c.batch(testCities[i%len(testCities)], txPerBatch))
		if every > 0 {
			time.Sleep(every)
		}
	}
}

func (c *cluster) expected() []schemas.TxID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]schemas.TxID(nil), c.txs...)
}

// waitPublished waits until the load has published at least n
// transactions in all.
func (c *cluster) waitPublished(n int, timeout time.Duration) {
	c.t.Helper()
	timeout *= timeScale
	deadline := time.Now().Add(timeout)
	for len(c.expected()) < n {
		if time.Now().After(deadline) {
			c.t.Fatalf("the load published %d transactions, want %d within %v", len(c.expected()), n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSealed waits until every published transaction is sealed on every
// running node.
func (c *cluster) waitSealed(timeout time.Duration) {
	c.t.Helper()
	timeout *= timeScale
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, n := range c.running() {
		for _, id := range c.expected() {
			if _, err := n.WaitTx(ctx, id); err != nil {
				c.t.Fatalf("%s: transaction %x not sealed within %v (height %d, stats %+v)", n.Name(), id[:6], timeout, n.Height(), n.Stats())
			}
		}
	}
}

// waitHeight waits until every running node is at least at height h.
func (c *cluster) waitHeight(h uint64, timeout time.Duration) {
	c.t.Helper()
	timeout *= timeScale
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, n := range c.running() {
		if err := n.WaitHeight(ctx, h); err != nil {
			c.t.Fatalf("%s: height %d, want %d within %v", n.Name(), n.Height(), h, timeout)
		}
	}
}

// checkChains checks that the running nodes hold the same chain up to the
// lowest common height (and all reach maxHeight if not 0), and that every
// published transaction is sealed exactly once, no other transaction is.
func (c *cluster) checkChains() {
	c.t.Helper()
	nodes := c.running()
	low := nodes[0].Height()
	for _, n := range nodes {
		low = min(low, n.Height())
	}
	ref := nodes[0]
	for h := uint64(1); h <= low; h++ {
		want, _ := ref.Store().Hash(h)
		for _, n := range nodes[1:] {
			if got, _ := n.Store().Hash(h); got != want {
				c.t.Fatalf("block %d: %s has %x, %s has %x", h, ref.Name(), want[:6], n.Name(), got[:6])
			}
		}
	}
	okCount := map[schemas.TxID]int{}
	hist := c.followChain(ref)
	for h := uint64(1); h <= ref.Height(); h++ {
		b, err := ref.Store().Block(h)
		if err != nil {
			c.t.Fatal(err)
		}
		qc, err := ref.Store().QC(h)
		if err != nil {
			c.t.Fatal(err)
		}
		if err := block.VerifyQC(hist.At(h), &b.Header, qc); err != nil {
			c.t.Fatalf("block %d: %v", h, err)
		}
		if b.Config != nil {
			continue // a configuration transaction is not one of the published
		}
		for _, id := range b.OKIDs() {
			okCount[id]++
		}
	}
	exp := c.expected()
	for _, id := range exp {
		if okCount[id] != 1 {
			c.t.Errorf("transaction %x sealed %d times", id[:6], okCount[id])
		}
	}
	if len(okCount) != len(exp) {
		c.t.Errorf("%d transactions sealed, %d published", len(okCount), len(exp))
	}
}

// followChain rebuilds the configuration history of n's chain from the
// genesis trust and its configuration blocks with their certificates, as
// a verifier does (block.FollowConfig): each configuration block judged by
// the configuration before it.
func (c *cluster) followChain(n *Node) *config.History {
	c.t.Helper()
	var links []block.ConfigLink
	for _, e := range n.Config().Entries() {
		b, err := n.Store().Block(e.Height)
		if err != nil {
			c.t.Fatal(err)
		}
		qc, err := n.Store().QC(e.Height)
		if err != nil {
			c.t.Fatal(err)
		}
		l, err := block.ConfigLinkOf(b, qc)
		if err != nil {
			c.t.Fatal(err)
		}
		links = append(links, l)
	}
	hist, err := block.FollowConfig(c.cons.Bundle, links)
	if err != nil {
		c.t.Fatalf("%s's configuration chain: %v", n.Name(), err)
	}
	return hist
}

// operator returns the operator's connection to the cluster's server and
// its JetStream context; the connection closes with the test.
func (c *cluster) operator() (*nats.Conn, jetstream.JetStream) {
	c.t.Helper()
	op, err := c.srv.Connect("operator")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(op.Close)
	js, err := jetstream.New(op)
	if err != nil {
		c.t.Fatal(err)
	}
	return op, js
}

// waitAcked waits until every running node's consumer has nothing pending.
func (c *cluster) waitAcked(timeout time.Duration) {
	c.t.Helper()
	_, js := c.operator()
	deadline := time.Now().Add(timeout * timeScale)
	for _, n := range c.running() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cons, err := js.Consumer(ctx, bus.StreamTx, bus.OrdererConsumer(n.Name()))
			var info *jetstream.ConsumerInfo
			if err == nil {
				info, err = cons.Info(ctx)
			}
			cancel()
			if err != nil {
				c.t.Fatal(err)
			}
			if info.NumAckPending == 0 && info.NumPending == 0 {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s: consumer has %d unacked, %d undelivered", n.Name(), info.NumAckPending, info.NumPending)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// checkPublished checks that GBA_BLOCKS holds every block header once,
// in order, each with a valid quorum certificate.
func (c *cluster) checkPublished(height uint64) {
	c.t.Helper()
	_, js := c.operator()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second*timeScale)
	defer cancel()
	for {
		st, err := js.Stream(ctx, bus.StreamBlocks)
		if err != nil {
			c.t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		if info.State.Msgs >= height {
			hist := c.followChain(c.running()[0])
			if info.State.Msgs != height {
				c.t.Fatalf("GBA_BLOCKS holds %d headers, chain height %d", info.State.Msgs, height)
			}
			for seq := uint64(1); seq <= height; seq++ {
				m, err := st.GetMsg(ctx, seq)
				if err != nil {
					c.t.Fatal(err)
				}
				h, qc, err := block.DecodeSealed(m.Data)
				if err != nil {
					c.t.Fatal(err)
				}
				if err := block.VerifyQC(hist.At(h.Height), h, qc); err != nil {
					c.t.Fatalf("published header %d: %v", h.Height, err)
				}
				want, _ := c.running()[0].Store().Hash(h.Height)
				if h.Hash() != want {
					c.t.Fatalf("published header %d is not the chain's", h.Height)
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("GBA_BLOCKS holds %d headers, want %d", info.State.Msgs, height)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
