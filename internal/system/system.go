// Package system assembles a whole baybus node on one machine: the
// consortium kept in the data directory, the embedded NATS server with
// JetStream, the orderers and the eleven city gateways behind one HTTP
// listener. `baybus up`, `baybus demo`, `baybus bench` and the end-to-end
// tests all start it the same way.
package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/orderer"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// Defaults.
const (
	DefaultChain      = "gba"
	DefaultListen     = "127.0.0.1:8480"
	DefaultNATSListen = "127.0.0.1:4222"
	DefaultOrderers   = 5
	DefaultDataDir    = "data"
)

// Config configures a System. Zero fields take the defaults above.
type Config struct {
	DataDir    string
	Listen     string // HTTP address of the gateways; "-" for none
	NATSListen string // NATS client address; "-" for in-process only
	Orderers   int    // 4..11; default 5
	Chain      string
	Scheme     string // signature scheme of new keys; default Ed25519
	Batch      gateway.BatchConfig
	Engine     bft.Options
	// JetStreamSync is JetStream's fsync interval ("" = server default,
	// "always" = every write).
	JetStreamSync string
	// NoSyncWAL skips fsync in the orderers' logs (benchmarks of the
	// machine's limits only).
	NoSyncWAL bool
	// MaxBacklog is how many batches may wait on the bus for a block before
	// the gateways hold new events (gateway.Config.MaxBacklog); default two
	// blocks' worth (one being decided, one ready), negative for no limit.
	MaxBacklog int
	Bridges    func(schemas.Jurisdiction) gateway.Bridge
	Logger     *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.NATSListen == "" {
		c.NATSListen = DefaultNATSListen
	}
	if c.Orderers == 0 {
		c.Orderers = DefaultOrderers
	}
	if c.Chain == "" {
		c.Chain = DefaultChain
	}
	if c.Scheme == "" {
		c.Scheme = keys.Ed25519
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Engine = engineDefaults(c.Engine)
	switch {
	case c.MaxBacklog == 0:
		c.MaxBacklog = 2 * int(c.Engine.WithDefaults().BlockMaxBatches)
	case c.MaxBacklog < 0:
		c.MaxBacklog = 0
	}
	return c
}

// engineDefaults sizes the consensus engine for orderers that share one
// small machine. Every orderer re-checks every transaction of a proposal
// (about 0.1 to 0.5 ms each on a busy 2-core machine), so blocks are kept
// to 16 batches, bounding one block's verification, and a follower waits
// 10 s before forwarding a batch the leader has not ordered and 30 s more
// before asking for a view change: under a backlog the leader is slow, not
// censoring, and forwarding whole batches to it only adds to the backlog.
// Explicit settings win.
func engineDefaults(o bft.Options) bft.Options {
	if o.BlockMaxBatches == 0 {
		o.BlockMaxBatches = 16
	}
	if o.ForwardTimeout == 0 {
		o.ForwardTimeout = 10 * time.Second
	}
	if o.ComplainTimeout == 0 {
		o.ComplainTimeout = 30 * time.Second
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = 20 * time.Second
	}
	return o
}

// System is a running node set.
type System struct {
	cfg        Config
	Consortium *keys.Consortium
	Bus        *natsserver.Embedded
	Nodes      []*orderer.Node
	Gateway    *gateway.Gateway
	Registry   *prometheus.Registry
	HTTPAddr   string // where the gateways listen ("" if not)

	cancel  context.CancelFunc
	runCtx  context.Context
	conns   []*nats.Conn
	states  []*licenses.State
	ocfgs   []orderer.Config
	proofs  *ProofPublisher // fed by the first orderer's commits
	nodesMu sync.RWMutex    // guards Nodes[i] replacement by StartOrderer
	httpSrv *http.Server
	stopped sync.Once
}

// Start brings the whole system up and returns once the gateways accept
// events. Stop it with Stop.
func Start(ctx context.Context, cfg Config) (_ *System, err error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	cc, err := consortium.OpenOrCreate(cfg.DataDir, consortium.Spec{Chain: cfg.Chain, Orderers: cfg.Orderers, Scheme: cfg.Scheme})
	if err != nil {
		return nil, err
	}
	cons, ids := cc.Keys, cc.Identities
	s := &System{cfg: cfg, Consortium: cons, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	listen := cfg.NATSListen
	if listen == "-" {
		listen = ""
	}
	s.Bus, err = natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(cfg.DataDir, "jetstream"), Listen: listen,
		Identities: ids, SyncInterval: cfg.JetStreamSync, Logger: log})
	if err != nil {
		return nil, err
	}
	op, err := s.connect(bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(op)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The orderers' consumers are made with the streams, so GBA_TX can keep
	// only what is not yet sealed everywhere.
	if err := bus.EnsureStreams(sctx, js, bus.StreamConfig{Orderers: cons.Bundle.Orderers}); err != nil {
		return nil, err
	}

	runCtx, runCancel := context.WithCancel(context.Background())
	s.cancel, s.runCtx = runCancel, runCtx
	// One orderer publishes the license proofs: in one process every
	// orderer would make each proof n times. It is the last one, not the
	// first: the first leads view 0, and building a block's proofs inside
	// its commit would hold back the next proposal.
	if s.proofs, err = s.NewProofPublisherFor(runCtx, cons.Bundle.Orderers[proofOrderer(len(cons.Bundle.Orderers))]); err != nil {
		return nil, err
	}
	for i, name := range cons.Bundle.Orderers {
		nc, err := s.connect(bus.IdentityName(bus.RoleOrderer, name))
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(cfg.DataDir, "orderers", name)
		ocfg := orderer.Config{Name: name, Trust: cons.Bundle, Key: cons.Orderers[name], Conn: nc,
			DataDir: dir, Engine: cfg.Engine, NoSyncWAL: cfg.NoSyncWAL, Logger: log.With("orderer", name)}
		node, st, err := newOrderer(runCtx, ocfg, memTable(i), s.proofsFor(i))
		if err != nil {
			return nil, err
		}
		s.ocfgs = append(s.ocfgs, ocfg)
		s.states = append(s.states, st)
		s.Nodes = append(s.Nodes, node)
	}
	// Start the orderers together: each waits a moment for its peers.
	startErrs := make([]error, len(s.Nodes))
	var wg sync.WaitGroup
	for i, node := range s.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := node.Start(runCtx); err != nil {
				startErrs[i] = fmt.Errorf("system: orderer %s: %w", node.Name(), err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(startErrs...); err != nil {
		return nil, err
	}

	s.Gateway = gateway.New(gateway.Config{Chain: cons.Bundle.Chain, Batch: cfg.Batch, Bridges: cfg.Bridges,
		Ledger: nodeLedger{s}, MaxBacklog: cfg.MaxBacklog, Registerer: s.Registry, Logger: log,
		Ready: func(ctx context.Context) error {
			if !op.IsConnected() {
				return errors.New("bus connection down")
			}
			_, err := js.Stream(ctx, bus.StreamTx)
			return err
		}})
	for _, city := range schemas.CityTokens() {
		nc, err := s.connect(bus.IdentityName(bus.RoleCity, city))
		if err != nil {
			return nil, err
		}
		pub, err := bus.NewPublisher(nc)
		if err != nil {
			return nil, err
		}
		if err := s.Gateway.AddCity(city, cons.Cities[city], pub); err != nil {
			return nil, err
		}
	}
	if cfg.Listen != "-" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("system: listen %s: %w", cfg.Listen, err)
		}
		s.HTTPAddr = ln.Addr().String()
		s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server stopped", "err", err)
			}
		}()
	}
	log.Info("baybus is up", "chain", cons.Bundle.Chain, "orderers", cons.Bundle.Orderers, "http", s.HTTPAddr,
		"nats", s.Bus.ClientURL(), "data", cfg.DataDir)
	return s, nil
}

func (s *System) proofsFor(i int) *ProofPublisher {
	if i == proofOrderer(len(s.Consortium.Bundle.Orderers)) {
		return s.proofs
	}
	return nil
}

// proofOrderer is the index of the orderer that publishes proofs.
func proofOrderer(n int) int { return n - 1 }

// memTable is the size of orderer i's pebble memtables (state and index).
// The orderers of one process write the same data at the same pace, so
// with one size they would flush their memtables at the same moments: at
// 2,100 tx/s on two cores, four flushes at once held every commit for
// 130–200 ms every 11 s, and finality's p99 followed. Sizes of 6 to 9 MiB
// keep the flushes apart, so a quorum is rarely flushing at once.
func memTable(i int) uint64 { return uint64(6+i%4) << 20 }

func newOrderer(ctx context.Context, cfg orderer.Config, memTableSize uint64, proofs *ProofPublisher) (*orderer.Node, *licenses.State, error) {
	// Pebble's memtables and cache live outside the Go heap, one set per
	// orderer: kept small, as all the orderers may share one process. No
	// fsync: the block log is fsynced first, and an orderer replays into the
	// state whatever blocks a crash took from it.
	st, err := licenses.Open(filepath.Join(cfg.DataDir, "state"), state.Options{CacheSize: 8 << 20, MemTableSize: memTableSize, NoSync: true})
	if err != nil {
		return nil, nil, err
	}
	cfg.State, cfg.IndexMemTable = st, memTableSize
	if proofs != nil {
		cfg.OnCommit = proofs.Hook(st.ProveRoot)
	}
	node, err := orderer.New(cfg)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	if proofs != nil {
		src := LedgerSource{Blocks: node.Store(), State: st.Store}
		if err := proofs.Resume(ctx, filepath.Join(cfg.DataDir, ProofMarkFile), src); err != nil {
			node.Stop()
			st.Close()
			return nil, nil, err
		}
	}
	return node, st, nil
}

// StopOrderer stops orderer i (as a crash would, minus the torn writes) and
// closes its state; the others go on.
func (s *System) StopOrderer(i int) {
	if p := s.proofsFor(i); p != nil {
		p.StopBackfill() // it reads this orderer's ledger
	}
	s.Node(i).Stop()
	if s.states[i] != nil {
		_ = s.states[i].Close()
		s.states[i] = nil
	}
}

// StartOrderer starts orderer i again from its data directory: it replays
// its block log and WAL, then catches up from its peers.
func (s *System) StartOrderer(i int) error {
	node, st, err := newOrderer(s.runCtx, s.ocfgs[i], memTable(i), s.proofsFor(i))
	if err != nil {
		return err
	}
	if err := node.Start(s.runCtx); err != nil {
		st.Close()
		return err
	}
	s.nodesMu.Lock()
	s.Nodes[i], s.states[i] = node, st
	s.nodesMu.Unlock()
	return nil
}

// Node returns orderer i as it runs now (StartOrderer replaces it).
func (s *System) Node(i int) *orderer.Node {
	s.nodesMu.RLock()
	defer s.nodesMu.RUnlock()
	return s.Nodes[i]
}

// Handler returns the HTTP routes: the gateways' API and /metrics.
func (s *System) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Gateway.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	return mux
}

func (s *System) connect(name string) (*nats.Conn, error) {
	nc, err := s.Bus.Connect(name)
	if err != nil {
		return nil, err
	}
	s.conns = append(s.conns, nc)
	return nc, nil
}

// Config returns the configuration the system runs with.
func (s *System) Config() Config { return s.cfg }

// Stop shuts down cleanly: the HTTP listener stops taking requests, the
// gateways flush their queued batches, the orderers stop, the stores close,
// the bus shuts down.
func (s *System) Stop() {
	s.stopped.Do(func() {
		if s.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = s.httpSrv.Shutdown(ctx)
			cancel()
		}
		if s.Gateway != nil {
			s.Gateway.Close()
		}
		if s.proofs != nil {
			s.proofs.StopBackfill() // it reads the proof orderer's ledger
		}
		for _, n := range s.Nodes {
			n.Stop()
		}
		if s.proofs != nil {
			s.proofs.Close()
		}
		if s.cancel != nil {
			s.cancel()
		}
		for _, st := range s.states {
			if st != nil {
				_ = st.Close()
			}
		}
		for _, nc := range s.conns {
			nc.Close()
		}
		if s.Bus != nil {
			s.Bus.Shutdown()
		}
	})
}

// nodeLedger lets the gateway wait on the first orderer in the same process,
// whichever instance of it runs now.
type nodeLedger struct{ s *System }

func (l nodeLedger) Lookup(_ context.Context, id schemas.TxID) (gateway.Location, bool, error) {
	loc, ok := l.s.Node(0).Lookup(id)
	return gatewayLocation(loc), ok, nil
}

// LatestProof reads a fresh proof from the first running orderer and
// checks it against the trust bundle before the gateway serves it.
func (l nodeLedger) LatestProof(_ context.Context, key string) (*proof.Bundle, error) {
	src, err := l.s.ProofSource()
	if err != nil {
		return nil, err
	}
	b, err := proof.Latest(src, key)
	if err != nil {
		return nil, err
	}
	if _, err := proof.Verify(l.s.Consortium.Bundle, b); err != nil {
		return nil, fmt.Errorf("system: the proof of %s read from the ledger does not verify: %w", key, err)
	}
	return b, nil
}

func (l nodeLedger) WaitTx(ctx context.Context, id schemas.TxID) (gateway.Location, error) {
	loc, err := l.s.Node(0).WaitTx(ctx, id)
	return gatewayLocation(loc), err
}

// SealedSeq implements gateway.Progress: the furthest any orderer has
// sealed (a block is sealed only once a quorum decided it), so the gateways
// keep measuring while some orderers are down.
func (l nodeLedger) SealedSeq() uint64 {
	l.s.nodesMu.RLock()
	defer l.s.nodesMu.RUnlock()
	var seq uint64
	for _, n := range l.s.Nodes {
		seq = max(seq, n.SealedSeq())
	}
	return seq
}

func gatewayLocation(loc orderer.Location) gateway.Location {
	return gateway.Location{Height: loc.Height, Position: loc.Position, BlockHash: loc.BlockHash, Result: loc.Result.String()}
}
