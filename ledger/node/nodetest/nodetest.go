// Package nodetest runs real ordering services for tests: an embedded NATS
// server with JetStream and the consortium's identities, and n ledger nodes
// (real SmartBFT, real fsyncs, real signatures) in one process, with
// helpers that publish signed batches as a city gateway would.
package nodetest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
)

// Options of Start. Zero fields take the defaults given.
type Options struct {
	Orderers int    // default 4
	Chain    string // default "gba-test"
	// Config, if set, changes node i's configuration before it opens.
	Config func(i int, c *node.Config)
	Logger *slog.Logger // default: discard
	// Listen, if set, is the bus's client address ("127.0.0.1:-1"), for
	// clients in another process or through a URL; default in-process only.
	Listen string
}

// Cluster is a running ordering service.
type Cluster struct {
	T     testing.TB
	Dir   string
	Cons  *consortium.Consortium
	Bus   *natsserver.Embedded
	Nodes []*node.Node

	cfgs  []node.Config
	mu    sync.Mutex
	seq   uint64
	pubs  map[string]*bus.Publisher
	conns []*nats.Conn
}

// Start creates a consortium in a temporary directory, starts the bus with
// its streams (GBA_PROOFS in memory) and the nodes, and stops everything
// when the test ends.
func Start(t testing.TB, opt Options) *Cluster {
	t.Helper()
	if opt.Orderers == 0 {
		opt.Orderers = 4
	}
	if opt.Chain == "" {
		opt.Chain = "gba-test"
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir := t.TempDir()
	// Rules version 2 by name: Issue publishes records that name persons
	// in plaintext, which a chain of version 3 (the default) seals as
	// invalid.
	cc, err := consortium.Create(filepath.Join(dir, "consortium"), consortium.Spec{Chain: opt.Chain, Orderers: opt.Orderers, Rules: block.Rules2})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(dir, "jetstream"), Identities: cc.Identities, Logger: opt.Logger, Listen: opt.Listen})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{T: t, Dir: dir, Cons: cc, Bus: srv, pubs: map[string]*bus.Publisher{}}
	t.Cleanup(c.stop)
	js, err := jetstream.New(c.Connect(bus.IdentityName(bus.RoleOperator, "")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	trust := cc.Bundle()
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{Orderers: trust.Orderers, MemoryForProofs: true}); err != nil {
		t.Fatal(err)
	}
	for i, name := range trust.Orderers {
		cfg := node.Config{Name: name, Trust: trust, Key: cc.Keys.Orderers[name], Conn: c.Connect(bus.IdentityName(bus.RoleOrderer, name)),
			DataDir: filepath.Join(dir, "orderers", name), ObserveEvery: 200 * time.Millisecond, Logger: opt.Logger.With("orderer", name),
			MemTableSize: 4 << 20, StateCacheSize: 4 << 20}
		if opt.Config != nil {
			opt.Config(i, &cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
		n, err := node.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes))
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.Start(context.Background()) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *Cluster) stop() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.Stop() }()
	}
	wg.Wait()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.Bus.Shutdown()
}

// Connect returns a connection to the bus as the named identity, closed
// when the cluster stops.
func (c *Cluster) Connect(identity string) *nats.Conn {
	c.T.Helper()
	nc, err := c.Bus.Connect(identity)
	if err != nil {
		c.T.Fatal(err)
	}
	c.mu.Lock()
	c.conns = append(c.conns, nc)
	c.mu.Unlock()
	return nc
}

// Publish seals txs as a batch of city, signed with the city's key, and
// publishes it on gba.tx.<city> as the city's gateway would. It returns
// the transactions' ids.
func (c *Cluster) Publish(city string, txs ...[]byte) []schemas.TxID {
	c.T.Helper()
	c.mu.Lock()
	c.seq++
	seq := c.seq
	pub := c.pubs[city]
	c.mu.Unlock()
	if pub == nil {
		var err error
		if pub, err = bus.NewPublisher(c.Connect(bus.IdentityName(bus.RoleCity, city))); err != nil {
			c.T.Fatal(err)
		}
		c.mu.Lock()
		c.pubs[city] = pub
		c.mu.Unlock()
	}
	b := blocktest.Batch(c.Cons.Keys, city, seq, txs...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pub.Publish(ctx, bus.TxSubject(city), b.ID(), b.Encode()); err != nil {
		c.T.Fatal(err)
	}
	return b.IDs
}

// Issue publishes, as city, one issue transaction per license id and
// returns their ids.
func (c *Cluster) Issue(city string, ids ...string) []schemas.TxID {
	c.T.Helper()
	txs := make([][]byte, len(ids))
	for i, id := range ids {
		txs[i] = blocktest.Tx(c.Cons.Bundle().Chain, city, id, schemas.ActionIssue)
	}
	return c.Publish(city, txs...)
}

// WaitHeight waits until every node is at height h.
func (c *Cluster) WaitHeight(h uint64) {
	c.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		if err := n.WaitHeight(ctx, h); err != nil {
			c.T.Fatalf("node %s at height %d, want %d: %v", n.Name(), n.Height(), h, err)
		}
	}
}

// Config returns node i's configuration (to open it again).
func (c *Cluster) Config(i int) node.Config { return c.cfgs[i] }
