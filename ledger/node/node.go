package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/orderer"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// ErrStopped is returned by a node that is not running.
var ErrStopped = errors.New("node: stopped")

// Node is one member of the ordering service with everything it keeps and
// serves: the orderer (SmartBFT, ingestion, block log, transaction index,
// sync), the license state, the license catalogue, license-proof
// publishing with its mark and backfill, fresh proofs, transaction lookups
// and commit waits, the ledger query service, and its metrics and health.
// See the package documentation for the contract and the goroutines.
type Node struct {
	cfg Config
	log *slog.Logger

	state   *licenses.State
	ord     *orderer.Node
	cache   *proof.BlockCache
	prover  *proof.Prover
	checker *proof.Verifier // checks LatestProof's answers, warm
	proofs  *ProofPublisher // nil unless Config.Proofs.Publish
	catalog *catalog        // nil with NoCatalog
	query   *query.Server   // nil with NoQuery, or before Start
	metrics *metrics
	obs     *observer
	cold    *archive.Blocks // nil unless Config.Archive.Objects

	mu      sync.Mutex // guards started, stopped, err
	started bool
	stopped bool
	err     error         // why the node stopped by itself
	done    chan struct{} // closed when Stop has finished
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Open opens the node's stores: the license state, the orderer (its block
// log, index and engine WAL, replaying what the state lacks), the license
// catalogue, and the proof mark, whose backfill starts at once (it
// publishes once the node starts). It does not touch the network but for
// the backfill's publisher, which waits for Start.
func Open(cfg Config) (_ *Node, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Name), done: make(chan struct{})}
	defer func() {
		if err != nil {
			n.closeStores()
		}
	}()
	n.state, err = licenses.Open(filepath.Join(cfg.DataDir, "state"), n.stateOptions())
	if err != nil {
		return nil, err
	}
	var reg prometheus.Registerer
	if cfg.Registerer != nil {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"orderer": cfg.Name}, cfg.Registerer)
	}
	n.cache = proof.NewBlockCache(cfg.ProofCacheBytes)
	if cfg.Proofs.Publish {
		pc := cfg.Proofs.Publisher
		if pc.Logger == nil {
			pc.Logger = n.log
		}
		pc.Registerer, pc.Cache = reg, n.cache
		if pc.Sink == nil {
			conn := cfg.Proofs.Conn
			if conn == nil {
				conn = cfg.Conn
			}
			if conn == nil {
				return nil, fmt.Errorf("%w: publishing proofs needs a bus connection", ErrConfig)
			}
			if pc.Sink, err = bus.NewPublisher(conn); err != nil {
				return nil, err
			}
		}
		if n.proofs, err = NewProofPublisher(pc); err != nil {
			return nil, err
		}
	}
	n.metrics = newMetrics(n)
	if cfg.Archive.Objects != nil {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Archive.OpenTimeout)
		n.cold, err = archive.Open(ctx, cfg.Archive.Objects, archive.Config{})
		cancel()
		if err != nil {
			return nil, err
		}
	}
	ocfg := orderer.Config{Name: cfg.Name, Trust: cfg.Trust, Key: cfg.Key, Join: cfg.Join, Conn: cfg.Conn, DataDir: cfg.DataDir, Cold: n.coldStore(),
		State: n.state, Engine: cfg.Engine, NoSyncWAL: cfg.NoSyncWAL, IndexMemTable: cfg.MemTableSize,
		MinFreeDisk: cfg.MinFreeDisk, FreeDisk: cfg.FreeDisk,
		Logger: n.log, Clock: cfg.Clock, OnCommitted: n.committed}
	// On the commit path, before the block's waiters wake: the block's
	// tree is kept for the query service (a commit wait answered at once
	// reads no block), then its proofs are made.
	var hook func(*blocklog.Record, *block.Block)
	if n.proofs != nil {
		hook = n.proofs.Hook(n.state.ProveRoot)
	}
	ocfg.OnCommit = func(rec *blocklog.Record, blk *block.Block) {
		n.cache.KeepTree(blk, &rec.QC)
		if hook != nil {
			hook(rec, blk)
		}
	}
	if cfg.WrapOrderer != nil {
		cfg.WrapOrderer(&ocfg)
	}
	n.ord, err = orderer.New(ocfg)
	var ahead *orderer.StateAheadError
	if errors.As(err, &ahead) {
		// The block log holds less than the state applied (a repair cut a
		// damaged log, or it lost fsynced blocks): the state is derived
		// from the log, so rebuild it, and fetch the rest from the peers.
		n.log.Warn("license state ahead of the block log; rebuilding it from the log", "state", ahead.State, "blocks", ahead.Log)
		if err := n.rebuildState(); err != nil {
			return nil, err
		}
		ocfg.State = n.state
		if n.proofs != nil {
			ocfg.OnCommit = n.proofs.Hook(n.state.ProveRoot)
		}
		n.ord, err = orderer.New(ocfg)
	}
	if err != nil {
		return nil, err
	}
	n.prover = proof.NewProver(n.Source(), n.cache)
	n.checker = proof.NewVerifier(cfg.Trust, 0)
	if !cfg.NoCatalog {
		dir := filepath.Join(cfg.DataDir, "catalog")
		if n.catalog, err = openCatalog(dir, cfg.MemTableSize, n.log); err != nil {
			return nil, err
		}
		if ch, top := n.catalog.height.Load(), n.ord.Height(); ch > top {
			// Only if the block log lost fsynced blocks (NoSyncWAL): the
			// catalogue is derived data, so rebuild it.
			n.log.Warn("catalogue ahead of the block log; rebuilding it", "catalogue", ch, "blocks", top)
			_ = n.catalog.close()
			n.catalog = nil
			if err := os.RemoveAll(dir); err != nil {
				return nil, err
			}
			if n.catalog, err = openCatalog(dir, cfg.MemTableSize, n.log); err != nil {
				return nil, err
			}
		}
	}
	if reg != nil {
		if err := n.metrics.register(reg); err != nil {
			return nil, err
		}
	}
	if n.proofs != nil {
		if err := n.proofs.Resume(context.Background(), filepath.Join(cfg.DataDir, ProofMarkFile), n.Source(), n.prover); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// rebuildState removes the license state and opens it empty.
func (n *Node) rebuildState() error {
	dir := filepath.Join(n.cfg.DataDir, "state")
	if err := n.state.Close(); err != nil {
		return err
	}
	n.state = nil
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	var err error
	n.state, err = licenses.Open(dir, n.stateOptions())
	return err
}

func (n *Node) stateOptions() state.Options {
	// No fsync for the state: the block log is fsynced first, and the
	// orderer replays into the state whatever blocks a crash took from it.
	return state.Options{CacheSize: n.cfg.StateCacheSize, MemTableSize: n.cfg.MemTableSize, NoSync: true}
}

// closeStores closes what Open opened, for a failed Open.
func (n *Node) closeStores() {
	if n.proofs != nil {
		n.proofs.Close()
	}
	if n.ord != nil {
		n.ord.Stop()
	}
	if n.catalog != nil {
		_ = n.catalog.close()
	}
	if n.state != nil {
		_ = n.state.Close()
	}
	if n.metrics != nil {
		n.metrics.unregister()
	}
}

// Start joins the cluster and serves: the orderer (which first catches up
// from its peers), proof publishing, the catalogue's follower, the query
// service and the metrics observer. The node runs until Stop or until ctx
// is done.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.started || n.stopped {
		n.mu.Unlock()
		return fmt.Errorf("node: %s already started or stopped", n.cfg.Name)
	}
	n.started = true
	n.mu.Unlock()
	if n.cfg.Conn == nil {
		return fmt.Errorf("%w: no bus connection", ErrConfig)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if n.proofs != nil {
		n.proofs.Start(runCtx)
	}
	if n.catalog != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.catalog.follow(runCtx, chain{n})
		}()
	}
	if err := n.ord.Start(runCtx); err != nil {
		if ferr := n.ord.Err(); ferr != nil {
			n.mu.Lock()
			n.err = ferr
			n.mu.Unlock()
		}
		return err
	}
	if !n.cfg.NoQuery {
		srv, err := query.Serve(n.cfg.Conn, n.cfg.Name, backend{n}, query.ServerConfig{Logger: n.log})
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.query = srv
		n.mu.Unlock()
	}
	if n.cold != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.archiveLoop(runCtx)
		}()
	}
	n.obs = newObserver(n)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.obs.run(runCtx)
	}()
	go func() {
		select {
		case <-ctx.Done():
			n.Stop()
		case <-n.ord.Done():
			// The orderer failed (or was stopped with the node): the node
			// stops with it, keeping its reason.
			if err := n.ord.Err(); err != nil {
				n.mu.Lock()
				n.err = err
				n.mu.Unlock()
			}
			n.Stop()
		case <-runCtx.Done():
		}
	}()
	n.log.Info("node started", "height", n.ord.Height(), "proofs", n.proofs != nil, "catalog", n.catalog != nil, "query", !n.cfg.NoQuery)
	return nil
}

// coldStore returns the archive as the orderer's blocklog.Cold (a nil
// interface, not a nil pointer, without one).
func (n *Node) coldStore() blocklog.Cold {
	if n.cold == nil {
		return nil
	}
	return n.cold
}

// archiveLoop archives, every Config.Archive.Every, the blocks more than
// KeepBlocks below the top. It owns every archiving of the node's log;
// the orderer appends alongside (blocklog.Store.Archive allows it).
func (n *Node) archiveLoop(ctx context.Context) {
	ac := n.cfg.Archive
	var tick <-chan time.Time
	stop := func() {}
	if n.cfg.Clock != nil {
		tick, stop = n.cfg.Clock.NewTicker(ac.Every)
	} else {
		t := time.NewTicker(ac.Every)
		tick, stop = t.C, t.Stop
	}
	defer stop()
	for {
		if h := n.ord.Store().Height(); h > ac.KeepBlocks+1 {
			below := h - ac.KeepBlocks
			if below >= n.ord.Store().First() {
				moved, err := n.ord.Store().Archive(ctx, below, ac.ChunkBytes)
				switch {
				case err != nil && ctx.Err() == nil:
					n.log.Warn("archiving the block log failed; trying again later", "below", below, "err", err)
				case moved > 0:
					n.log.Info("archived blocks", "through", below, "blocks", moved, "chunks", n.cold.Chunks())
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// Stop stops serving, leaves the cluster and closes the stores. It is safe
// to call more than once, and on a node that never started.
func (n *Node) Stop() {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		<-n.done
		return
	}
	n.stopped = true
	srv := n.query
	n.mu.Unlock()
	defer close(n.done)
	if srv != nil {
		srv.Stop()
	}
	if n.proofs != nil {
		n.proofs.StopBackfill() // it reads the ledger closed below
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.ord.Stop()
	n.wg.Wait()
	if n.proofs != nil {
		n.proofs.Close()
	}
	if n.catalog != nil {
		_ = n.catalog.close()
	}
	_ = n.state.Close()
	n.metrics.unregister()
}

// Done is closed once the node has stopped: by Stop, at the end of
// Start's context, or by itself when its orderer failed (Err says why).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns why the node stopped by itself: an error wrapping
// orderer.ErrFailed and its cause (orderer.ErrDiskFull, wal.ErrCorrupt,
// ...). It is nil while the node runs and after a Stop.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// Name returns the orderer's name.
func (n *Node) Name() string { return n.cfg.Name }

// Config returns the configuration the node runs with, defaults filled.
func (n *Node) Config() Config { return n.cfg }

// Orderer returns the orderer inside the node.
func (n *Node) Orderer() *orderer.Node { return n.ord }

// Height returns the height of the last block sealed here.
func (n *Node) Height() uint64 { return n.ord.Height() }

// Store gives read access to the block log.
func (n *Node) Store() *blocklog.Store { return n.ord.Store() }

// State returns the license state.
func (n *Node) State() *licenses.State { return n.state }

// Source returns the node's ledger as a proof.Source.
func (n *Node) Source() LedgerSource {
	return LedgerSource{Blocks: n.ord.Store(), State: n.state.Store}
}

// Prover returns the node's prover (the block cache it shares with the
// proof publisher and the query service).
func (n *Node) Prover() *proof.Prover { return n.prover }

// Proofs returns the proof publisher, nil if the node does not publish.
func (n *Node) Proofs() *ProofPublisher { return n.proofs }

// Lookup returns where a transaction was sealed: the block where it took
// effect, or else the last block that refused it.
func (n *Node) Lookup(id schemas.TxID) (orderer.Location, bool) { return n.ord.Lookup(id) }

// WaitTx waits until the transaction is in a block fsynced here and
// returns its location. It returns ctx's error on cancellation.
func (n *Node) WaitTx(ctx context.Context, id schemas.TxID) (orderer.Location, error) {
	return n.ord.WaitTx(ctx, id)
}

// WaitHeight waits until the chain is at least at height h here.
func (n *Node) WaitHeight(ctx context.Context, h uint64) error { return n.ord.WaitHeight(ctx, h) }

// SealedSeq returns the highest GBA_TX stream sequence of a batch this node
// ingested and sealed (orderer.Node.SealedSeq).
func (n *Node) SealedSeq() uint64 { return n.ord.SealedSeq() }

// LatestProof returns a fresh proof of a license's current status, checked
// against the trust bundle before it is returned: a node never hands out a
// proof its own ledger made wrong. The check is warm (proof.Verifier): a
// header whose certificate it has verified once is trusted by its hash, so
// a proof costs its Merkle paths, not the quorum's signatures again; cold,
// the signatures were about 30 % of a sealed answer to a reader (bench
// share). It wraps proof.ErrNotFound for a license the ledger does not
// hold.
func (n *Node) LatestProof(key string) (*proof.Bundle, error) {
	b, err := n.prover.Latest(key)
	if err != nil {
		return nil, err
	}
	if _, err := n.checker.Verify(b); err != nil {
		return nil, fmt.Errorf("node: the proof of %s read from the ledger of %s does not verify: %w", key, n.cfg.Name, err)
	}
	return b, nil
}
