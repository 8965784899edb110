// Package system composes a whole baybus deployment in one process: the
// consortium kept in the data directory, the embedded NATS server with
// JetStream (internal/natsserver), the orderers (ledger/node, the same
// nodes `baybus orderer` runs) and the eleven city gateways behind one HTTP
// listener, which reach the orderers through the ledger query service
// (ledger/query) over the in-process bus, as gateways in other processes
// do. `baybus up`, `baybus demo`, `baybus bench` and the end-to-end tests
// all start it the same way.
package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/server"
	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/query"
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
	Listen     string // HTTP address of the gateways; "-" for no gateways (the orderers only)
	NATSListen string // NATS client address; "-" for in-process only
	Orderers   int    // 4..11; default 5
	Chain      string
	Scheme     string // signature scheme of new keys; default Ed25519
	// Rules is the rules version of a new chain; default keys.DefaultRules
	// (the newest, keys.MaxRules). An existing chain keeps its own.
	Rules int
	Batch gateway.BatchConfig
	// Engine tunes the orderers' consensus; zero fields take
	// node.EngineDefaults, as `baybus orderer` does.
	Engine bft.Options
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
	// NoAuth serves the gateways without authentication (loopback only:
	// the gateway server refuses it elsewhere). By default every request
	// but the probes needs a credential, and each city gets a development
	// token in DataDir/clients/<city>.token (gateway/auth.EnsureDevTokens).
	NoAuth bool
	// TLS secures the gateways' listener (gateway/server.TLSConfig): an
	// address beyond loopback needs a certificate or TLS.Insecure.
	TLS server.TLSConfig
	// BusTLS serves the NATS client port with TLS, its certificate issued
	// by the consortium CA (DataDir/tls/nats.crt, for the names and
	// addresses of consortium.ListenHosts). Clients need no certificate of
	// their own: each bus identity already proves itself with its NKey.
	// BusInsecure allows plaintext there instead. A NATS address beyond
	// loopback needs one of the two (natsserver.ErrPlaintext).
	BusTLS, BusInsecure bool
	// ArchiveDir, if set, archives each orderer's cold blocks
	// (node.Config.Archive) into ArchiveDir/<orderer>: an archive holds
	// one orderer's blocks, whose votes differ from its peers'. The
	// orderers read them back from there on demand (proofs, block sync,
	// rebuilding an index). ArchiveKeep and ArchiveEvery are
	// node.ArchiveConfig's KeepBlocks and Every (0: its defaults, 10,000
	// blocks and 10 minutes).
	ArchiveDir   string
	ArchiveKeep  uint64
	ArchiveEvery time.Duration
	Logger       *slog.Logger
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
	c.Engine = node.EngineDefaults(c.Engine)
	switch {
	case c.MaxBacklog == 0:
		c.MaxBacklog = 2 * int(c.Engine.BlockMaxBatches)
	case c.MaxBacklog < 0:
		c.MaxBacklog = 0
	}
	return c
}

// System is a running node set.
type System struct {
	cfg        Config
	Consortium *keys.Consortium
	Bus        *natsserver.Embedded
	Nodes      []*node.Node
	Gateway    *gateway.Gateway // nil with Listen "-"
	// Ledger is the gateways' client of the orderers' query service.
	Ledger   *query.Client
	Registry *prometheus.Registry
	HTTPAddr string // where the gateways listen ("" with Listen "-")
	// ClientsDir holds each city's development token (<city>.token) and
	// the token file; "" with NoAuth.
	ClientsDir string

	runCtx  context.Context
	cancel  context.CancelFunc
	conns   []*nats.Conn
	ncfgs   []node.Config
	keepers []*node.Keeper
	nodesMu sync.RWMutex // guards Nodes[i] and keepers[i], replaced by a keeper's restart and StartOrderer
	gwSrv   *server.Server
	stopped sync.Once
}

// Start brings the whole system up and returns once the gateways accept
// events. Stop it with Stop.
func Start(ctx context.Context, cfg Config) (_ *System, err error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	// Refused before the data directory is made or touched.
	if l := cfg.NATSListen; l != "-" && !cfg.BusTLS && !cfg.BusInsecure && natsserver.BeyondLoopback(l) {
		return nil, fmt.Errorf("system: %w: NATS client listener %s: serve TLS (BusTLS) or allow plaintext explicitly (BusInsecure)",
			natsserver.ErrPlaintext, l)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	cc, err := consortium.OpenOrCreate(cfg.DataDir, consortium.Spec{Chain: cfg.Chain, Orderers: cfg.Orderers, Scheme: cfg.Scheme, Rules: cfg.Rules})
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
	var busTLS *natsserver.TLS
	if cfg.BusTLS && listen != "" {
		if busTLS, err = natsserver.ConsortiumTLS(cc.CA, cfg.DataDir, "nats", consortium.ListenHosts(listen)); err != nil {
			return nil, err
		}
		busTLS.ClientCertsOptional = true
	}
	asRole(RoleBus, func() {
		s.Bus, err = natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(cfg.DataDir, "jetstream"), Listen: listen,
			Identities: ids, SyncInterval: cfg.JetStreamSync, TLS: busTLS, Insecure: cfg.BusInsecure, Logger: log})
	})
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

	s.runCtx, s.cancel = context.WithCancel(context.Background())
	for i, name := range cons.Bundle.Orderers {
		nc, err := s.connect(bus.IdentityName(bus.RoleOrderer, name))
		if err != nil {
			return nil, err
		}
		ncfg := node.Config{Name: name, Trust: cons.Bundle, Key: cons.Orderers[name], Conn: nc,
			DataDir: node.OrdererDir(cfg.DataDir, name), Engine: cfg.Engine, NoSyncWAL: cfg.NoSyncWAL,
			MemTableSize: memTable(i), NoCatalog: !catalogOrderer(i), ProofCacheBytes: upProofCache, Registerer: s.Registry, Logger: log}
		if cfg.ArchiveDir != "" {
			ncfg.Archive = node.ArchiveConfig{Objects: archive.Dir{Path: filepath.Join(cfg.ArchiveDir, name)},
				KeepBlocks: cfg.ArchiveKeep, Every: cfg.ArchiveEvery}
		}
		if i == proofOrderer(len(cons.Bundle.Orderers)) {
			// One orderer publishes the license proofs: in one process
			// every orderer would make each proof n times. It is the last
			// one, not the first: the first leads view 0, and building a
			// block's proofs inside its commit would hold back the next
			// proposal. It publishes on a connection of its own, so a
			// burst of proofs does not queue ahead of its consensus
			// messages.
			pc, err := s.connect(bus.IdentityName(bus.RoleOrderer, name))
			if err != nil {
				return nil, err
			}
			ncfg.Proofs = node.ProofsConfig{Publish: true, Conn: pc}
		}
		s.ncfgs = append(s.ncfgs, ncfg)
	}
	// Start the orderers together: each waits a moment for its peers. Each
	// runs under a keeper (ledger/node), which opens it again after it
	// fails (a full disk, a block log it cannot write): one orderer's fault
	// stops neither the others, nor the bus, nor the gateways.
	s.Nodes = make([]*node.Node, len(s.ncfgs))
	s.keepers = make([]*node.Keeper, len(s.ncfgs))
	startErrs := make([]error, len(s.ncfgs))
	var wg sync.WaitGroup
	for i := range s.ncfgs {
		wg.Go(func() {
			k, err := s.keep(i)
			if err != nil {
				startErrs[i] = fmt.Errorf("system: orderer %s: %w", s.ncfgs[i].Name, err)
				return
			}
			s.nodesMu.Lock()
			s.keepers[i] = k
			s.nodesMu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(startErrs...); err != nil {
		return nil, err
	}

	// The gateways reach the orderers as gateways in other processes do:
	// through the query service, verifying what it answers.
	qc, err := s.connect(bus.IdentityName(bus.RoleService, ""))
	if err != nil {
		return nil, err
	}
	asRole(RoleGateways, func() {
		s.Ledger, err = query.NewClient(query.ClientConfig{Conn: qc, Trust: cons.Bundle, Logger: log})
	})
	if err != nil {
		return nil, err
	}
	if cfg.Listen == "-" {
		log.Info("baybus is up without gateways", "chain", cons.Bundle.Chain, "orderers", cons.Bundle.Orderers,
			"nats", s.Bus.ClientURL(), "data", cfg.DataDir)
		return s, nil
	}
	if !cfg.NoAuth {
		if s.ClientsDir, err = auth.EnsureDevTokens(cfg.DataDir, schemas.CityTokens(), auth.TokenConfig{}); err != nil {
			return nil, err
		}
	}
	// The gateways are the standalone gateway server (gateway/server), fed
	// in-process connections: each city its own bus identity, as in a
	// deployment.
	asRole(RoleGateways, func() {
		s.gwSrv, err = server.Start(ctx, server.Config{Consortium: cfg.DataDir, Listen: cfg.Listen, Node: "up",
			TLS: cfg.TLS, Auth: server.AuthConfig{Unauthenticated: cfg.NoAuth},
			Gateway: gateway.Config{Batch: cfg.Batch, Bridges: cfg.Bridges, Ledger: s.Ledger, MaxBacklog: cfg.MaxBacklog},
			Connect: func(city string) (*nats.Conn, error) {
				return s.connect(bus.IdentityName(bus.RoleCity, city))
			},
			Signer:   func(city string) (keys.Signer, error) { return cons.Cities[city], nil },
			Registry: s.Registry, Logger: log})
	})
	if err != nil {
		return nil, err
	}
	s.Gateway, s.HTTPAddr = s.gwSrv.Gateway(), s.gwSrv.Addr()
	log.Info("baybus is up", "chain", cons.Bundle.Chain, "orderers", cons.Bundle.Orderers, "http", s.HTTPAddr,
		"nats", s.Bus.ClientURL(), "data", cfg.DataDir)
	return s, nil
}

// proofOrderer is the index of the orderer that publishes proofs.
func proofOrderer(n int) int { return n - 1 }

// upProofCache bounds each orderer's block cache for fresh proofs in one
// process: half a node's default, as n of them share the memory (the proof
// orderer fills its own with the blocks it proves; the others only with
// what the query service is asked).
const upProofCache = 16 << 20

// catalogOrderer reports whether orderer i keeps a license catalogue. Each
// costs its orderer a light decoding and a few index writes per
// transaction (about 14 µs on the 2-core machine, off the commit path); in
// one process n copies would cost n times that for nothing, so two
// orderers keep one (two, so a list still answers with one of them down):
// neither the first, which leads view 0, nor the last, which builds the
// proofs. The query client asks the others in turn.
func catalogOrderer(i int) bool { return i == 1 || i == 2 }

// memTable is the size of orderer i's pebble memtables (state and index).
// The orderers of one process write the same data at the same pace, so
// with one size they would flush their memtables at the same moments: at
// 2,100 tx/s on two cores, four flushes at once held every commit for
// 130–200 ms every 11 s, and finality's p99 followed. Sizes of 6 to 9 MiB
// keep the flushes apart, so a quorum is rarely flushing at once.
func memTable(i int) uint64 { return uint64(6+i%4) << 20 }

// keep starts orderer i under a keeper that publishes each node it starts
// in s.Nodes.
func (s *System) keep(i int) (k *node.Keeper, err error) {
	asRole(RoleOrdererPrefix+s.ncfgs[i].Name, func() {
		k, err = node.Keep(s.runCtx, s.ncfgs[i], node.KeepConfig{OnStart: func(n *node.Node) {
			s.nodesMu.Lock()
			s.Nodes[i] = n
			s.nodesMu.Unlock()
		}})
	})
	return k, err
}

// StopOrderer stops orderer i (as a crash would, minus the torn writes) and
// closes its stores; the others go on. Its keeper stops with it.
func (s *System) StopOrderer(i int) {
	s.nodesMu.RLock()
	k := s.keepers[i]
	s.nodesMu.RUnlock()
	k.Stop()
}

// StartOrderer starts orderer i again from its data directory: it replays
// its block log and WAL, then catches up from its peers.
func (s *System) StartOrderer(i int) error {
	k, err := s.keep(i)
	if err != nil {
		return err
	}
	s.nodesMu.Lock()
	s.keepers[i] = k
	s.nodesMu.Unlock()
	return nil
}

// Keeper returns the keeper of orderer i.
func (s *System) Keeper(i int) *node.Keeper {
	s.nodesMu.RLock()
	defer s.nodesMu.RUnlock()
	return s.keepers[i]
}

// Node returns orderer i as it runs now (StartOrderer replaces it).
func (s *System) Node(i int) *node.Node {
	s.nodesMu.RLock()
	defer s.nodesMu.RUnlock()
	return s.Nodes[i]
}

// ProofSource returns the ledger of the first running orderer, to read
// fresh proofs from. It is looked up on every call, since an orderer may be
// stopped and started again.
func (s *System) ProofSource() (node.LedgerSource, error) {
	s.nodesMu.RLock()
	defer s.nodesMu.RUnlock()
	for _, n := range s.Nodes {
		if n.Ready() == nil || n.Orderer().Running() {
			return n.Source(), nil
		}
	}
	return node.LedgerSource{}, errors.New("system: no orderer is running")
}

// Token returns city's development token (DataDir/clients/<city>.token);
// "" with NoAuth.
func (s *System) Token(city string) (string, error) {
	if s.ClientsDir == "" {
		return "", nil
	}
	raw, err := os.ReadFile(auth.DevTokenPath(s.cfg.DataDir, city))
	if err != nil {
		return "", fmt.Errorf("system: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

func (s *System) connect(name string) (*nats.Conn, error) {
	// In process, a handshake is a pipe away; nats.go's 2 s default was
	// still missed on a machine loaded tenfold under the race detector.
	// Both ends of the connection (nats.go's reader and flusher, the
	// server's client goroutines) are the bus's work, whoever asks for it;
	// a subscriber's handler goroutines are started by Subscribe, in the
	// subscriber's role.
	var nc *nats.Conn
	var err error
	asRole(RoleBus, func() { nc, err = s.Bus.Connect(name, nats.Timeout(10*time.Second)) })
	if err != nil {
		return nil, err
	}
	s.conns = append(s.conns, nc)
	return nc, nil
}

// Config returns the configuration the system runs with.
func (s *System) Config() Config { return s.cfg }

// Stop shuts down cleanly: the HTTP listener stops taking requests, the
// gateways flush their queued batches, the orderers stop and close their
// stores, the bus shuts down.
func (s *System) Stop() {
	s.stopped.Do(func() {
		if s.gwSrv != nil {
			// Stops taking requests, flushes the cities' queued batches.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = s.gwSrv.Shutdown(ctx)
			cancel()
		}
		if s.Ledger != nil {
			s.Ledger.Close()
		}
		var wg sync.WaitGroup
		s.nodesMu.RLock()
		keepers := append([]*node.Keeper(nil), s.keepers...)
		s.nodesMu.RUnlock()
		for _, k := range keepers {
			if k != nil {
				wg.Go(k.Stop)
			}
		}
		wg.Wait()
		if s.cancel != nil {
			s.cancel()
		}
		for _, nc := range s.conns {
			nc.Close()
		}
		if s.Bus != nil {
			s.Bus.Shutdown()
		}
	})
}
