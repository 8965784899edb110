package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// Errors of the replica. A refused proposal, request or vote wraps one of
// the first three (and the cause, e.g. a block.ErrQuorum or ErrBatchMissing).
var (
	ErrProposal = errors.New("replica: bad proposal")
	ErrRequest  = errors.New("replica: bad request")
	ErrVote     = errors.New("replica: bad consenter signature")
	// ErrBatchMissing: a proposal names a batch the replica does not hold.
	// The replica never waits for one: its driver fetches it and hands the
	// proposal in again, or lets the engine complain.
	ErrBatchMissing = errors.New("replica: proposal names a batch not held")
	// ErrFork: a decided block is not the block this replica holds at its
	// height. Only a broken quorum (more than f Byzantine orderers) or a
	// damaged log can cause it.
	ErrFork = errors.New("replica: decided block differs from the one held (fork)")
	// ErrConfig: a Config without a required field.
	ErrConfig = errors.New("replica: bad configuration")
)

// BlockLog is the block log as the replica reads and appends to it;
// *blocklog.Store is one. Append must be durable (fsynced) when it returns
// and must refuse a record that does not extend Last.
type BlockLog interface {
	Height() uint64
	Last() *block.Header // nil for an empty log
	Append(rec *blocklog.Record) error
}

// State is the authenticated license state kept beside the chain. Blocks
// are assembled and verified against it and committed to it in height
// order after they are appended to the block log.
type State interface {
	block.State
	// Commit applies the updates of the block at height, which is always
	// Height()+1.
	Commit(height uint64, updates []block.StateUpdate) error
	// Height is the last committed height. Recover replays the blocks of
	// the log above it, so a state durable on its own schedule (or not at
	// all) catches up.
	Height() uint64
}

// Index is the chain's derived index: which transactions and batches are
// sealed, and up to which height.
type Index interface {
	block.Chain
	Height() uint64
	// AsOf is the chain as it was below height: a transaction or batch
	// counts as seen only if it took effect in a block under height. For
	// height = Height()+1 it is the index itself.
	AsOf(height uint64) block.Chain
	// Add records the block at Height()+1 and returns its transactions.
	Add(b *block.Block) ([]block.Tx, error)
}

// Batches are the batches a replica holds and has not seen sealed:
// ingested from GBA_TX or fetched from a peer by the driver. Batch returns
// nil for one it does not hold; it never waits.
type Batches interface {
	Batch(id string) *schemas.Batch
}

// Clock gives the replica the time for block timestamps and the
// clock-skew check.
type Clock interface {
	Now() time.Time
}

// Config configures a Replica.
type Config struct {
	Name string // this orderer, one of the orderers in force (see Join)
	// Join: Name need not be an orderer of the configuration in force yet
	// (an orderer added since the genesis, syncing the chain before its
	// engine starts). ID is 0 until a configuration block lists it.
	Join  bool
	Trust *keys.Bundle // the genesis: orderers, cities and their keys
	// History, if set, is Trust followed along the configuration blocks of
	// the log (LoadHistory); nil means the log holds none. Each height is
	// judged by the configuration in force there, and configuration
	// blocks committed extend it.
	History *config.History
	Key     keys.Signer // this orderer's key

	Log     BlockLog
	State   State
	Index   Index
	Batches Batches
	Clock   Clock // required: the driver's clock (a fake one in simulations)

	// Limits bound what a proposer may put in one block; zero means
	// block.DefaultLimits.
	Limits block.Limits
	// MaxClockSkew refuses proposals timestamped further ahead of Clock.
	// Zero or negative turns the check off (the orderer defaults it to a
	// minute).
	MaxClockSkew time.Duration
	// Checks caches batch checks across ingestion and proposals; nil makes
	// one of PoolSize entries.
	Checks   *block.Checks
	PoolSize int // default 256
	// Drop, if set, removes a request from the engine's pool (a batch
	// already sealed, or one that fails its checks).
	Drop   func(types.RequestInfo)
	Logger *slog.Logger // default slog.Default()
}

// Replica is the SmartBFT application of one orderer with nothing but
// computation inside: it assembles block proposals from requests, checks
// other orderers' proposals by recomputing them, signs and checks votes,
// turns a decision into a block-log record and commits it (block log,
// state, index, in that order). It implements SmartBFT's Assembler,
// Verifier, Signer, RequestInspector and MembershipNotifier; the driver
// implements Application (Deliver) and Synchronizer, which block.
//
// Concurrency: the engine calls the verifier from several goroutines
// (votes are checked in parallel). The replica reads the log, index and
// state, which must be safe for concurrent reads, and keeps the last
// proposal under its own mutex. Commit must be called by one goroutine at
// a time (the driver's commit lock).
type Replica struct {
	cfg    Config
	log    *slog.Logger
	checks *block.Checks

	badProposals atomic.Uint64

	mu     sync.Mutex
	cached *Verified // the last proposal assembled or verified

	histMu sync.RWMutex
	hist   *config.History // extended by Commit, read by every callback
}

// Verified is a proposal already checked, with the state updates it makes.
type Verified struct {
	Payload []byte
	Block   *block.Block
	Updates []block.StateUpdate
}

// New checks cfg and returns a replica.
func New(cfg Config) (*Replica, error) {
	if cfg.Trust == nil || cfg.Key == nil || cfg.Log == nil || cfg.State == nil || cfg.Index == nil || cfg.Batches == nil || cfg.Clock == nil {
		return nil, fmt.Errorf("%w: Trust, Key, Log, State, Index, Batches and Clock are required", ErrConfig)
	}
	cur := cfg.Trust
	if cfg.History != nil {
		cur = cfg.History.Current()
	}
	if !cfg.Join && cur.ConsensusID(cfg.Name) == 0 {
		return nil, fmt.Errorf("%w: %q is not an orderer of chain %s in the configuration in force", ErrConfig, cfg.Name, cfg.Trust.Chain)
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Replica{cfg: cfg, log: cfg.Logger, checks: cfg.Checks, hist: cfg.History}
	if r.hist == nil {
		r.hist = config.NewHistory(cfg.Trust)
	}
	if r.checks == nil {
		r.checks = block.NewChecks(cfg.PoolSize)
	}
	return r, nil
}

// ID returns this orderer's consensus id (keys.Bundle.ConsensusID), 0
// while the configuration in force does not list it (an orderer joining,
// or one removed).
func (r *Replica) ID() uint64 { return r.trust().ConsensusID(r.cfg.Name) }

// Checks returns the batch-check cache the replica shares with ingestion.
func (r *Replica) Checks() *block.Checks { return r.checks }

// Limits returns the block limits in force.
func (r *Replica) Limits() block.Limits {
	if r.cfg.Limits == (block.Limits{}) {
		return block.DefaultLimits
	}
	return r.cfg.Limits
}

// BadProposals counts the proposals this replica refused.
func (r *Replica) BadProposals() uint64 { return r.badProposals.Load() }

func (r *Replica) drop(info types.RequestInfo) {
	if r.cfg.Drop != nil {
		r.cfg.Drop(info)
	}
}

func (r *Replica) remember(v *Verified) {
	r.mu.Lock()
	r.cached = v
	r.mu.Unlock()
}

// Last returns the proposal last assembled or verified, if any: a leader
// proposes batches forwarded to it, and a peer that has just sealed a
// block still serves its batches to one that has not.
func (r *Replica) Last() *Verified {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cached
}

func (r *Replica) recall(payload []byte) *Verified {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cached != nil && string(r.cached.Payload) == string(payload) {
		return r.cached
	}
	return nil
}
