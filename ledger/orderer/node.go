package orderer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/consensus"
	"github.com/hyperledger-labs/SmartBFT/pkg/types"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// DefaultMinFreeDisk is Config.MinFreeDisk's default.
const DefaultMinFreeDisk = 256 << 20

// Node errors.
var (
	ErrConfig  = errors.New("orderer: bad configuration")
	ErrStopped = errors.New("orderer: stopped")
)

// StateMachine is the authenticated license state the orderer keeps beside
// the chain (replica.State): blocks are assembled and verified against it
// and committed to it in height order after they are fsynced. On open the
// orderer replays the blocks of its log above its height.
type StateMachine = replica.State

// Clock gives the orderer the time (block timestamps, the clock-skew check)
// and the engine's tickers. The engine's internal request timers use the
// real clock regardless.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) (c <-chan time.Time, stop func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Config configures a Node.
type Config struct {
	Name    string       // this orderer, one of Trust.Orderers
	Trust   *keys.Bundle // orderers, cities and their keys
	Key     keys.Signer  // this orderer's key (a *keys.PrivateKey)
	Conn    *nats.Conn   // supplied and closed by the caller; needed by Start
	DataDir string       // DataDir/blocks: block log, DataDir/engine: engine WAL, DataDir/index: tx index
	State   StateMachine // required

	// Engine tunes SmartBFT: block cut (count, bytes, interval) and
	// timeouts. See bft.Options for the defaults.
	Engine bft.Options
	// Limits bound what a proposer may put in one block; zero means
	// block.DefaultLimits.
	Limits block.Limits
	// MaxClockSkew refuses proposals timestamped further ahead of our
	// clock. Default 1 minute; negative turns the check off.
	MaxClockSkew time.Duration
	// SyncTimeout bounds one block-fetch request to a peer. Default 5 s.
	SyncTimeout time.Duration
	// SyncBatch is how many blocks one fetch asks for. Default 32.
	SyncBatch int
	// AckWait is the ingestion consumer's JetStream ack wait. Batches
	// waiting for a block are kept alive (InProgress every AckWait/3), so
	// AckWait is how long after a crash JetStream redelivers what this
	// orderer had received but not sealed. Default 5 s: a restarted leader
	// may propose such a batch at once (its own consumer had not yet
	// delivered it), and followers resolve a proposal's batches from what
	// their consumers deliver.
	AckWait time.Duration
	// ScrubEvery is how often the scrub reads the whole block log for
	// damage (scrub.go); the first pass runs at Start. Default 6 hours;
	// NoScrub turns it off.
	ScrubEvery time.Duration
	NoScrub    bool
	// LogSegmentSize is the segment size of the block log and the engine
	// WAL. Default 4 MiB (tests use small segments to damage an older one).
	LogSegmentSize int
	// LagCheck is how often the orderer asks its peers for their heights
	// to catch up by itself when the engine has left it behind (sync.go,
	// watchLag). Default 1 s.
	LagCheck time.Duration
	// BatchWait is how long verifying a proposal waits for a batch it
	// references, from this orderer's own GBA_TX consumer or, after an
	// eighth of it, from its peers (fetch.go), before refusing the
	// proposal. Every orderer reads every batch, so the wait is normally
	// none. Default 2 s.
	BatchWait time.Duration
	// Join: Name is not an orderer of the genesis trust (Trust) but of a
	// configuration block on the chain, which added it (issue 17 §2,
	// docs/governance.md). Start fetches the chain from the orderers in
	// force, judging each block by the configuration in force at its
	// height from the genesis, and starts the engine once that
	// configuration lists this orderer; it fails with ErrConfig if the
	// chain its peers hold does not. Key must be the key the configuration
	// names. An orderer that joined finds itself in its own log when it
	// starts again, without Join.
	Join bool
	// NoPublish turns off publishing sealed headers on gba.blocks.
	NoPublish bool
	// PublishMaxAge: headers older than this (by their timestamp) are not
	// published, so an orderer catching up after a long absence does not
	// publish them again after GBA_BLOCKS' duplicate window has passed.
	// Default 5 minutes (the stream's window is 10).
	PublishMaxAge time.Duration
	// Cold, if set, holds the block log's archived blocks, those below the
	// live log (ledger/archive): reads fall back to it (blocklog.Cold).
	Cold blocklog.Cold
	// NoSyncWAL skips fsync in the block log and engine WAL. For benchmarks
	// only: a crash may then lose decided blocks.
	NoSyncWAL bool
	// IndexMemTable is the size of the transaction index's pebble
	// memtable. Default 8 MiB.
	IndexMemTable uint64
	// MinFreeDisk is the free space the data directory's file system must
	// keep: below it the orderer fails with ErrDiskFull before writing a
	// block (and is checked every DiskCheckEvery), so that no store meets
	// a full disk (pebble cannot survive one). Default 256 MiB: a block
	// of up to BlockMaxBytes, its index and state writes, and pebble's
	// flushes and compactions. NoDiskCheck turns the check off. FreeDisk
	// measures it (default statfs).
	MinFreeDisk    uint64
	NoDiskCheck    bool
	DiskCheckEvery time.Duration // default 1 s
	FreeDisk       func(dir string) (uint64, error)
	// WrapAppend, if set, decorates the block log's append (tests inject
	// write failures with it).
	WrapAppend func(func(*blocklog.Record) error) func(*blocklog.Record) error

	Logger *slog.Logger // default slog.Default()
	Clock  Clock        // default the real clock
	// WrapComm, if set, decorates the NATS transport the engine sends
	// through; tests use it to make a Byzantine orderer.
	WrapComm func(bft.Comm) bft.Comm
	// OnCommit, if set, is called on the commit path after each block is
	// fsynced and its state committed, and before the next block's state is
	// applied (commitMu held), so the state proves exactly this block's
	// height. It must not block: license proofs are built here and
	// published elsewhere.
	OnCommit func(rec *blocklog.Record, blk *block.Block)
	// OnCommitted, if set, is called at the end of the commit path, once
	// the block's batches are acknowledged and its waiters woken (commitMu
	// still held, so calls come one block at a time, in height order). It
	// must not block: metrics and indexes that follow the chain hand the
	// block to their own goroutines here.
	OnCommitted func(CommitInfo)
}

// CommitInfo is one committed block as OnCommitted sees it, with what each
// step of the commit path took.
type CommitInfo struct {
	Record  *blocklog.Record
	Block   *block.Block
	Updates []block.StateUpdate // the block's license changes, as committed to the state
	Append  time.Duration       // block log append, fsync included
	State   time.Duration       // license state commit
	Index   time.Duration       // transaction index
	Hook    time.Duration       // OnCommit
	Total   time.Duration       // the whole commit path
}

func (c *Config) check() error {
	switch {
	case c.Trust == nil || c.Key == nil || c.State == nil || c.DataDir == "":
		return fmt.Errorf("%w: Trust, Key, State and DataDir are required", ErrConfig)
	case c.Name == "":
		return fmt.Errorf("%w: Name is required", ErrConfig)
	}
	// Membership is judged by the configuration in force once the log is
	// open (New), a joining orderer's once it has synced (Start); an
	// orderer of the genesis must hold its genesis key.
	if c.Trust.OrdererIndex(c.Name) >= 0 {
		if _, err := c.Trust.KeyAt(c.Key.KeyID(), keys.RoleOrderer, c.Name, 0); err != nil && !errors.Is(err, keys.ErrKeyNotValid) {
			return fmt.Errorf("%w: key: %v", ErrConfig, err)
		}
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = time.Minute
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 5 * time.Second
	}
	if c.SyncBatch <= 0 {
		c.SyncBatch = 32
	}
	if c.PublishMaxAge <= 0 {
		c.PublishMaxAge = 5 * time.Minute
	}
	if c.AckWait <= 0 {
		c.AckWait = 5 * time.Second
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 2 * time.Second
	}
	if c.LagCheck <= 0 {
		c.LagCheck = time.Second
	}
	if c.ScrubEvery <= 0 {
		c.ScrubEvery = 6 * time.Hour
	}
	if c.LogSegmentSize <= 0 {
		c.LogSegmentSize = logSegmentSize
	}
	if c.IndexMemTable == 0 {
		c.IndexMemTable = 8 << 20
	}
	switch {
	case c.NoDiskCheck:
		c.MinFreeDisk = 0
	case c.MinFreeDisk == 0:
		c.MinFreeDisk = DefaultMinFreeDisk
	}
	if c.DiskCheckEvery <= 0 {
		c.DiskCheckEvery = time.Second
	}
	if c.FreeDisk == nil {
		c.FreeDisk = FreeDisk
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	c.Engine = c.Engine.WithDefaults()
	return nil
}

// Stats are a node's counters.
type Stats struct {
	Transport    bft.Stats
	Height       uint64
	Ingested     uint64 // batches submitted to the engine
	IngestBad    uint64 // batches refused at ingestion (malformed, bad signature, wrong subject)
	Acked        uint64 // JetStream messages acknowledged
	BadProposals uint64 // proposals refused by our verification
	Synced       uint64 // blocks fetched from peers
	SyncRefused  uint64 // fetched blocks that failed verification
	BatchWaits   uint64 // proposals that named a batch not yet ingested here
	Fetched      uint64 // batches such a proposal named, fetched from a peer
	FetchRefused uint64 // fetched batches that were not the one referenced or failed their checks
	Reopened     uint64 // times the GBA_TX consumer was re-created after its iterator ended
	ScrubPasses  uint64 // whole passes of the scrub over the block log that found it whole
	ScrubDamage  uint64 // records the scrub found damaged (the orderer then fails and is repaired)
	StaleView    uint64 // proposals and votes of a view the engine had left, dropped by the gate
}

type counters struct {
	ingested, ingestBad, acked, synced, syncRefused, batchWaits, fetched, fetchRefused, reopened atomic.Uint64
	scrubPasses, scrubDamage                                                                     atomic.Uint64
}

// Node is one orderer: the SmartBFT engine with its NATS transport, the
// GBA_TX ingestion consumer, the block log, the transaction index, the sync
// service and the gba.blocks publisher.
//
// Goroutines and what they own:
//   - the engine's own goroutines call app (assemble, verify, sign) and,
//     one at a time, deliver and Sync, which run the commit path;
//   - commitMu serialises the commit path (store append, state commit,
//     index update, acks, wake-ups);
//   - the ingest goroutine owns the JetStream iterator; pending acks are
//     shared with the commit path under ackMu; a start-up goroutine
//     creates the consumer while Start syncs (ingest.go);
//   - the transport and sync-service subscriptions run on NATS goroutines
//     and only read the store;
//   - the publisher goroutine publishes headers up to the store's height.
//
// Lock order: commitMu, then ackMu or wmu; index, store and state locks
// are leaves.
type Node struct {
	cfg   Config
	log   *slog.Logger
	self  uint64
	clock Clock

	store  *blocklog.Store
	ewal   *wal.Log
	idx    *index
	state  StateMachine
	checks *block.Checks // batches checked at ingestion, reused by proposals
	// hist is the configuration history loaded from the log at open,
	// handed to the replica, which extends it as configuration blocks
	// commit (read it through n.rep once the replica exists).
	hist  *config.History
	stats counters

	rep       *replica.Replica // the SmartBFT callbacks and the commit path (ledger/replica)
	members   members          // the orderers the engine runs with (members.go)
	app       *app             // Deliver and Sync, on top of rep
	transport *bft.Transport
	gate      *engineGate // between the transport and the engine (gate.go)
	view      *viewWatch  // the view the engine runs
	engine    *consensus.Consensus
	syncer    *syncer // gba.sync: block sync and batch fetch (sync.go, fetch.go)
	tickStops []func()

	commitMu sync.Mutex

	ackMu   sync.Mutex
	pending map[string]pendingMsg   // batch id -> the JetStream message to ack once sealed
	fetched map[string]fetchedBatch // batch id -> a batch a peer sent for a proposal (fetch.go)
	// sealedSeq is the highest GBA_TX sequence of an ingested batch sealed.
	sealedSeq atomic.Uint64

	wmu      sync.Mutex
	waiters  map[schemas.TxID][]chan Location
	heightCh chan struct{} // closed and replaced on every commit

	pubWake chan struct{}

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  atomic.Bool
	engineUp atomic.Bool // the engine started (and must be stopped)
	stopped  atomic.Bool
	done     chan struct{}           // closed when Stop has finished
	failed   atomic.Pointer[failure] // why the node stopped by itself (fail.go)
	appendFn func(*blocklog.Record) error
	repaired uint64 // the height from which New cut a damaged block log, 0 if it did not
}

// ackable is the part of a JetStream message the node acknowledges.
type ackable interface {
	Ack() error
	InProgress() error
	Nak() error
}

// pendingMsg is a batch submitted to the engine and not yet sealed.
type pendingMsg struct {
	msg   ackable
	batch *schemas.Batch // decoded and checked at ingestion
	seq   uint64         // GBA_TX stream sequence
	since time.Time
}

// New opens the node's block log (checking its tail's hash link), its
// transaction index (catching it up from the block log), replays to the
// state the blocks it has not committed, and opens the engine WAL. It does
// not touch the network.
func New(cfg Config) (*Node, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, clock: cfg.Clock,
		log:      cfg.Logger.With("orderer", cfg.Name),
		state:    cfg.State,
		pending:  map[string]pendingMsg{},
		fetched:  map[string]fetchedBatch{},
		checks:   block.NewChecks(2 * int(cfg.Engine.PoolSize)),
		waiters:  map[schemas.TxID][]chan Location{},
		heightCh: make(chan struct{}),
		pubWake:  make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	n.app = &app{n: n}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("orderer: %w", err)
	}
	if err := n.open(); err != nil {
		n.closeFiles()
		return nil, err
	}
	var err error
	if !cfg.Join && n.hist.Current().ConsensusID(cfg.Name) == 0 {
		n.closeFiles()
		return nil, fmt.Errorf("%w: %q is not an orderer of chain %s in the configuration in force at height %d (a new orderer starts with Join)", ErrConfig, cfg.Name, cfg.Trust.Chain, n.store.Height()+1)
	}
	n.self = n.hist.Current().ConsensusID(cfg.Name)
	n.rep, err = replica.New(replica.Config{
		Name: cfg.Name, Trust: cfg.Trust, History: n.hist, Key: cfg.Key, Join: cfg.Join,
		Log: blockLog{n}, State: n.state, Index: n.idx, Batches: unsealed{n}, Clock: cfg.Clock,
		Limits: cfg.Limits, MaxClockSkew: cfg.MaxClockSkew, Checks: n.checks, Drop: n.removeRequest, Logger: n.log,
	})
	if err != nil {
		n.closeFiles()
		return nil, err
	}
	return n, nil
}

// logSegmentSize is the segment size of the block log and the engine WAL.
const logSegmentSize = 4 << 20

// open opens the block log, the index and the engine WAL, and brings the
// index and the state up to the block log's height.
func (n *Node) open() error {
	cfg := n.cfg
	// Small segments: tidwall holds the tail segment and two more in
	// memory per log, and every orderer has two logs.
	wopts := wal.Options{NoSync: cfg.NoSyncWAL, SegmentSize: cfg.LogSegmentSize, Logger: n.log}
	var err error
	blocksDir := filepath.Join(cfg.DataDir, "blocks")
	if n.store, err = n.openBlocks(blocksDir, wopts); err != nil {
		return err
	}
	err = n.catchUpStores()
	var ce *wal.CorruptError
	if errors.As(err, &ce) {
		// Replaying into the index or the state read a damaged record
		// that Open did not (it reads only the last segment).
		_ = n.store.Close()
		n.store = nil
		if err := n.repairScan(blocksDir); err != nil {
			return err
		}
		if n.store, err = n.openBlocks(blocksDir, wopts); err != nil {
			return err
		}
		err = n.catchUpStores()
	}
	if err != nil {
		return err
	}
	if n.ewal, err = wal.Open(filepath.Join(cfg.DataDir, "engine"), wopts); err != nil {
		return err
	}
	n.appendFn = n.store.Append
	if cfg.WrapAppend != nil {
		n.appendFn = cfg.WrapAppend(n.appendFn)
	}
	return nil
}

// catchUpStores brings the index and the state up to the block log's
// height, replaying the blocks they lack.
func (n *Node) catchUpStores() error {
	cfg := n.cfg
	var err error
	height := n.store.Height()
	if n.state.Height() > height {
		return &StateAheadError{State: n.state.Height(), Log: height}
	}
	ixDir := filepath.Join(cfg.DataDir, "index")
	if n.idx == nil {
		if n.idx, err = openIndex(ixDir, cfg.IndexMemTable); err != nil {
			return err
		}
	}
	if n.idx.Height() > height {
		// Only possible if the block log lost fsynced blocks (NoSyncWAL):
		// the index is derived data, so rebuild it.
		n.log.Warn("index ahead of the block log; rebuilding it", "index", n.idx.Height(), "blocks", height)
		n.idx.close()
		if err := os.RemoveAll(ixDir); err != nil {
			return err
		}
		if n.idx, err = openIndex(ixDir, cfg.IndexMemTable); err != nil {
			return err
		}
	}
	// The configuration in force at each height: the genesis followed
	// along the log's configuration blocks (docs/governance.md).
	// The index knows the heights of the configuration blocks up to its
	// own height; the blocks above it are read by the replay anyway.
	heights, err := n.idx.configHeights()
	if err != nil {
		return fmt.Errorf("orderer: index: %w", err)
	}
	if n.hist, err = replica.LoadHistoryFrom(cfg.Trust, blockLog{n}, n.store.Record, heights, n.idx.Height()); err != nil {
		return err
	}
	replayed, indexed, err := replica.RecoverHistory(n.hist, n.limits(), blockLog{n}, n.idx, n.state)
	if err != nil {
		return err
	}
	n.log.Info("opened", "height", height, "replayed", replayed, "indexed", indexed)
	return nil
}

func (n *Node) closeFiles() {
	if n.store != nil {
		_ = n.store.Close()
	}
	if n.idx != nil {
		_ = n.idx.close()
	}
	if n.ewal != nil {
		_ = n.ewal.Close()
	}
}

func (n *Node) limits() block.Limits {
	if n.cfg.Limits == (block.Limits{}) {
		return block.DefaultLimits
	}
	return n.cfg.Limits
}

// Start joins the cluster: it starts the sync service, the engine (which
// first catches up from peers), the transport, ingestion and publishing.
// The node runs until Stop or until ctx is done.
func (n *Node) Start(ctx context.Context) error {
	if n.cfg.Conn == nil {
		return fmt.Errorf("%w: no NATS connection", ErrConfig)
	}
	if !n.started.CompareAndSwap(false, true) {
		return fmt.Errorf("orderer: %s already started", n.cfg.Name)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	cfg := n.cfg
	var err error
	n.syncer = &syncer{n: n}
	if err = n.syncer.serve(); err != nil {
		return err
	}
	if err := n.join(); err != nil {
		return err
	}
	n.transport, err = bft.NewTransport(bft.TransportConfig{
		Conn: cfg.Conn, TrustNow: n.rep.Trust, Self: cfg.Name, Key: cfg.Key, Logger: n.log,
		Height: func() uint64 { return n.store.Height() + 1 },
	})
	if err != nil {
		return err
	}
	// The consumer is created while the sync below runs (ingest.go).
	in, err := newIngester(n)
	if err != nil {
		return err
	}
	// Subscribe to consensus messages before the engine starts (gate.go).
	n.view = &viewWatch{}
	n.gate = newEngineGate(n.ctx, n.view)
	n.gate.missing = func(pp *protos.PrePrepare) []block.BatchRef {
		refs, err := block.DecodeRefs(pp.GetProposal().GetPayload())
		if err != nil {
			return nil // the replica refuses it
		}
		return n.rep.Missing(refs.Batches)
	}
	n.gate.await = func(refs []block.BatchRef) { _ = n.awaitBatches(refs) }
	if err := n.transport.Start(n.gate); err != nil {
		return err
	}
	// Catch up from the peers before the engine starts, so that it starts
	// from our latest block. The engine's own sync on start would do this
	// too, but it also asks the peers for their view while holding the lock
	// every incoming message needs, so it always waited its whole
	// CollectTimeout for answers it could not receive.
	n.syncer.catchUp(n.ctx, 0)
	if err := n.Err(); err != nil {
		return err
	}
	if n.ctx.Err() != nil {
		return ErrStopped
	}
	entries, err := bft.NewEngineWAL(n.ewal).ReadAll()
	if err != nil {
		return err
	}
	if err := n.catchUpToWAL(walSequence(entries)); err != nil {
		return err
	}
	var comm bft.Comm = n.transport
	if cfg.WrapComm != nil {
		comm = cfg.WrapComm(comm)
	}
	comm = failComm{Comm: comm, n: n}
	ewal := bft.NewEngineWAL(failSafeLog{Log: n.ewal, n: n})
	sched, stop1 := n.clock.NewTicker(cfg.Engine.Tick)
	vcTick, stop2 := n.clock.NewTicker(cfg.Engine.Tick)
	n.tickStops = []func(){stop1, stop2}
	md := &protos.ViewMetadata{}
	var last types.Decision
	if h := n.store.Height(); h > 0 {
		rec, err := n.store.Record(h)
		if err != nil {
			return err
		}
		if last, err = replica.DecisionOf(n.rep.TrustAt(h), rec); err != nil {
			return err
		}
		if err := proto.Unmarshal(rec.Header.Consensus, md); err != nil {
			return fmt.Errorf("orderer: block %d consensus metadata: %w", h, err)
		}
	}
	conf := cfg.Engine.Configuration(n.self)
	conf.SyncOnStart = false // done above
	n.members.set(conf, n.transport.Nodes())
	n.engine = &consensus.Consensus{
		Config:             conf,
		Application:        n.app,
		Assembler:          n.rep,
		WAL:                ewal,
		WALInitialContent:  entries,
		Comm:               comm,
		Signer:             n.rep,
		Verifier:           n.rep,
		MembershipNotifier: n.rep,
		RequestInspector:   n.rep,
		Synchronizer:       n.app,
		Logger:             bft.Logger{L: n.log.With("component", "smartbft")},
		Metrics:            n.view.metrics(),
		Metadata:           md,
		LastProposal:       last.Proposal,
		LastSignatures:     last.Signatures,
		Scheduler:          sched,
		ViewChangerTicker:  vcTick,
	}
	if err := n.engine.Start(); err != nil {
		return fmt.Errorf("orderer: engine: %w", err)
	}
	n.engineUp.Store(true)
	n.gate.open(n.engine)
	if pp := restoredPrePrepare(entries, n.store.Height()+1); pp != nil {
		n.wg.Add(1)
		go n.resendRestored(comm, pp)
	}
	if !cfg.NoPublish {
		n.wg.Add(1)
		go n.publish()
	}
	if cfg.MinFreeDisk > 0 {
		n.wg.Add(1)
		go n.watchDisk()
	}
	n.wg.Add(1)
	go n.syncer.watchLag()
	if err := in.start(); err != nil {
		return err
	}
	if !cfg.NoScrub {
		n.wg.Add(1)
		go n.scrub()
	}
	go func() {
		select {
		case <-ctx.Done():
			n.Stop()
		case <-n.ctx.Done():
		}
	}()
	n.log.Info("started", "id", n.self, "height", n.store.Height())
	return nil
}

// Stop leaves the cluster and closes the logs. It is safe to call more
// than once.
func (n *Node) Stop() {
	if !n.stopped.CompareAndSwap(false, true) {
		<-n.done // a failure may be stopping it: wait until its files are closed
		return
	}
	defer close(n.done)
	if n.cancel != nil {
		n.cancel()
	}
	if n.syncer != nil {
		n.syncer.stop()
	}
	if n.transport != nil {
		n.transport.Stop()
	}
	if n.engineUp.Load() {
		n.engine.Stop()
	}
	for _, s := range n.tickStops {
		s()
	}
	if n.gate != nil {
		n.gate.wg.Wait()
	}
	n.wg.Wait()
	n.commitMu.Lock()
	defer n.commitMu.Unlock()
	n.closeFiles()
	n.log.Info("stopped", "height", n.store.Height())
}

// Name returns the orderer's name.
func (n *Node) Name() string { return n.cfg.Name }

// Height returns the height of the last sealed block.
func (n *Node) Height() uint64 { return n.store.Height() }

// Store gives read access to the block log.
func (n *Node) Store() *blocklog.Store { return n.store }

// Leader returns the engine's current leader's name ("" if not running).
func (n *Node) Leader() string {
	if !n.engineUp.Load() {
		return ""
	}
	name, _ := n.rep.Trust().OrdererByID(n.engine.GetLeaderID())
	return name
}

// ID returns this orderer's consensus id (keys.Bundle.ConsensusID) in the
// configuration in force, 0 while it is not listed (joining, or removed).
func (n *Node) ID() uint64 { return n.rep.ID() }

// LeaderID returns the engine's current leader's consensus id
// (keys.Bundle.ConsensusID), 0 if the engine is not running.
func (n *Node) LeaderID() uint64 {
	if !n.engineUp.Load() {
		return 0
	}
	return n.engine.GetLeaderID()
}

// Running reports whether the engine is started and not stopped.
func (n *Node) Running() bool { return n.engineUp.Load() && !n.stopped.Load() }

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	s := Stats{
		Height: n.store.Height(), Ingested: n.stats.ingested.Load(), IngestBad: n.stats.ingestBad.Load(),
		Acked: n.stats.acked.Load(), BadProposals: n.rep.BadProposals(), Synced: n.stats.synced.Load(),
		SyncRefused: n.stats.syncRefused.Load(), BatchWaits: n.stats.batchWaits.Load(),
		Fetched: n.stats.fetched.Load(), FetchRefused: n.stats.fetchRefused.Load(), Reopened: n.stats.reopened.Load(),
		ScrubPasses: n.stats.scrubPasses.Load(), ScrubDamage: n.stats.scrubDamage.Load(),
	}
	if n.gate != nil {
		s.StaleView = n.gate.stale.Load()
	}
	if n.transport != nil {
		s.Transport = n.transport.Stats()
	}
	return s
}

// SealedSeq returns the highest GBA_TX stream sequence of a batch this
// orderer ingested and then sealed (0 before the first). Batches are sealed
// roughly in stream order, so the stream's last sequence minus this is
// about how many batches wait for a block.
func (n *Node) SealedSeq() uint64 { return n.sealedSeq.Load() }

// Lookup returns where a transaction was sealed: the block where it took
// effect, or else the last block that refused it.
func (n *Node) Lookup(id schemas.TxID) (Location, bool) { return n.idx.lookup(id) }

// WaitTx waits until the transaction is in a block fsynced by this orderer
// (and so decided by a quorum) and returns its location; the Result says
// whether it took effect. It returns ctx's error on cancellation.
func (n *Node) WaitTx(ctx context.Context, id schemas.TxID) (Location, error) {
	n.wmu.Lock()
	if l, ok := n.Lookup(id); ok {
		n.wmu.Unlock()
		return l, nil
	}
	ch := make(chan Location, 1)
	n.waiters[id] = append(n.waiters[id], ch)
	n.wmu.Unlock()
	select {
	case l := <-ch:
		return l, nil
	case <-ctx.Done():
		n.wmu.Lock()
		ws := n.waiters[id]
		for i, w := range ws {
			if w == ch {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(n.waiters, id)
		} else {
			n.waiters[id] = ws
		}
		n.wmu.Unlock()
		return Location{}, ctx.Err()
	}
}

// WaitHeight waits until the chain is at least at height h.
func (n *Node) WaitHeight(ctx context.Context, h uint64) error {
	for {
		n.wmu.Lock()
		ch := n.heightCh
		n.wmu.Unlock()
		if n.store.Height() >= h {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// latestDecision is the engine's view of our last block.
func (n *Node) latestDecision() types.Decision {
	h := n.store.Height()
	if h == 0 {
		return types.Decision{}
	}
	rec, err := n.store.Record(h)
	if err != nil {
		n.log.Error("read last block", "err", err)
		return types.Decision{}
	}
	d, err := replica.DecisionOf(n.rep.TrustAt(h), rec)
	if err != nil {
		n.log.Error("read last block", "err", err)
	}
	return d
}

// removeRequest drops a request from the engine's pool.
func (n *Node) removeRequest(info types.RequestInfo) {
	if n.engine != nil && n.engine.Pool != nil {
		_ = n.engine.Pool.RemoveRequest(info)
	}
}

// deliver is the engine's Deliver: the replica turns the decision into
// the block to commit (verified or recalled, with its quorum certificate);
// the driver first fills what the replica cannot: blocks below the decided
// one (sync) and batches it names that this orderer lacks (its consumer or
// its peers, or the whole block from the peers that sealed it).
func (n *Node) deliver(p types.Proposal, sigs []types.Signature) error {
	start := time.Now()
	n.commitMu.Lock()
	defer n.commitMu.Unlock()
	defer func() { n.log.Debug("delivered", "took", time.Since(start)) }()
	var hdr block.Header
	if err := hdr.UnmarshalBinary(p.Header); err != nil {
		return err
	}
	for {
		d, err := n.rep.Decide(p, sigs, n.idx.hash)
		var missing *replica.MissingError
		switch {
		case err == nil && d == nil:
			return nil // already fetched by sync, and the same block
		case err == nil:
			return n.commitLocked(d)
		case errors.Is(err, replica.ErrGap):
			// The engine decided past a gap: fetch it first.
			n.log.Warn("decided block beyond our height; fetching the gap", "block", hdr.Height, "height", n.store.Height())
			n.syncer.catchUpLocked(n.ctx, hdr.Height-1)
			if hdr.Height > n.store.Height()+1 {
				select {
				case <-n.ctx.Done():
					return ErrStopped
				case <-time.After(100 * time.Millisecond):
				}
			}
		case errors.Is(err, block.ErrQuorum):
			// Our engine's decision counts a vote the configuration in force
			// does not: our own, as an orderer just added whose key counts
			// from a later height (docs/governance.md). The block is final
			// all the same; the peers that sealed it hold a valid
			// certificate, so take it from them.
			n.log.Warn("decided block without a valid quorum of votes here; fetching it", "block", hdr.Height, "err", err)
			n.syncer.catchUpLocked(n.ctx, hdr.Height)
			if n.store.Height() < hdr.Height {
				select {
				case <-n.ctx.Done():
					return ErrStopped
				case <-time.After(100 * time.Millisecond):
				}
			}
		case errors.As(err, &missing):
			// Decided without our vote on batches we have not received: the
			// block is final, so take it from the peers that sealed it, or
			// the batches from our consumer or a peer, whichever comes first.
			n.log.Warn("decided block names batches we lack; fetching it", "block", hdr.Height, "err", err)
			n.syncer.catchUpLocked(n.ctx, hdr.Height)
			if n.store.Height() < hdr.Height {
				_ = n.awaitBatches(missing.Refs)
			}
		default:
			return err
		}
		if n.ctx.Err() != nil {
			return ErrStopped
		}
	}
}

// commitLocked makes a decided block durable and visible: the replica's
// commit (block log with fsync, state, index), then the OnCommit hook,
// JetStream acks, the publisher and local waiters. commitMu is held.
func (n *Node) commitLocked(d *replica.Decision) error {
	rec, blk, updates := d.Record, d.Block, d.Updates
	t0 := time.Now()
	c, err := n.rep.Commit(d)
	if err != nil {
		return err
	}
	txs := c.Txs
	h := rec.Header.Height
	t3 := time.Now()
	if n.cfg.OnCommit != nil {
		n.cfg.OnCommit(rec, blk)
	}
	t4 := time.Now()
	n.log.Debug("committed", "height", h, "log", c.Append, "state", c.State, "index", c.Index, "hook", t4.Sub(t3))

	n.ackMu.Lock()
	for _, bt := range blk.Batches {
		id := bt.ID()
		// The engine cleans its pool of a block it decided, but not of one
		// fetched by sync: a batch left there would time out, be forwarded
		// to the leader and complained about as censored.
		n.removeRequest(types.RequestInfo{ClientID: bt.City, ID: id})
		delete(n.fetched, id)
		if m, ok := n.pending[id]; ok {
			delete(n.pending, id)
			if m.msg.Ack() == nil {
				n.stats.acked.Add(1)
			}
			if m.seq > n.sealedSeq.Load() {
				n.sealedSeq.Store(m.seq) // ackMu held: no other writer
			}
		}
	}
	n.ackMu.Unlock()

	select {
	case n.pubWake <- struct{}{}:
	default:
	}

	n.wmu.Lock()
	if len(n.waiters) > 0 {
		for _, t := range txs {
			ws, ok := n.waiters[t.ID]
			if !ok {
				continue
			}
			// The index says where it took effect, which may be an earlier
			// block or a later position in this one.
			l, _ := n.idx.lookup(t.ID)
			for _, w := range ws {
				w <- l
			}
			delete(n.waiters, t.ID)
		}
	}
	close(n.heightCh)
	n.heightCh = make(chan struct{})
	n.wmu.Unlock()
	if n.cfg.OnCommitted != nil {
		n.cfg.OnCommitted(CommitInfo{Record: rec, Block: blk, Updates: updates, Append: c.Append, State: c.State, Index: c.Index,
			Hook: t4.Sub(t3), Total: time.Since(t0)})
	}
	return nil
}
