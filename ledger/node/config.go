package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/orderer"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas/keys"
)

// ErrConfig is returned for a configuration a node cannot run with.
var ErrConfig = errors.New("node: bad configuration")

// Engine defaults of every node, whichever command starts it (`baybus up`
// or `baybus orderer`); bft.Options documents each field.
//
// Blocks of 16 batches (about 4,000 transactions at the gateways' batch
// size), not bft's 64: every orderer re-checks every transaction of a
// proposal (0.1–0.5 ms each on a busy 2-core machine), and with four
// orderers sharing that machine under sustained load a 64-batch block took
// the leader 0.7 s to assemble and each follower as long to verify
// (docs/performance.md); 16 batches keep one verification to about
// 0.2 s. A follower forwards a batch the leader has not ordered after 5 s
// (25 times that verification, and more than a batch waits in a pool the
// gateways' backlog limit keeps to two blocks) and complains 20 s later:
// those timers catch a leader that censors, and must not fire on one that
// is only slow (with 2 s forward timers and 64-batch blocks the followers
// had forwarded whole batches to a busy leader and fallen into view
// changes). A leader that is gone is caught by its silence instead: it
// heartbeats every HeartbeatTimeout/10 when it has nothing else to send,
// and every proposal counts as one, so a follower that hears nothing for
// DefaultHeartbeatTimeout (1.5 s, 7 times the longest verification above)
// complains, and with f+1 complaints the view changes. With bft's 10 s a
// killed leader stalled sealing for 10–14 s, and for 35 s when the first
// view change failed and waited out bft's 20 s ViewChangeTimeout (issue
// 13); now sealing resumes about 2 s after a leader dies, and a view
// change that fails is given up after DefaultViewChangeTimeout.
// Every member of a cluster must run the same values.
const (
	DefaultBlockMaxBatches  = 16
	DefaultForwardTimeout   = 5 * time.Second
	DefaultComplainTimeout  = 20 * time.Second
	DefaultHeartbeatTimeout = 1500 * time.Millisecond
	// DefaultViewChangeResend and DefaultViewChangeTimeout: a view change
	// message is sent again after 1 s, and a view change that has not
	// completed in 5 s moves on to the next leader. The patched engine
	// also sends a view's own prepare and commit again at the resend
	// interval while it waits for the others' (third_party/smartbft).
	DefaultViewChangeResend  = time.Second
	DefaultViewChangeTimeout = 5 * time.Second
)

// EngineDefaults fills o's zero fields with the node defaults above, then
// bft's own defaults.
func EngineDefaults(o bft.Options) bft.Options {
	if o.BlockMaxBatches == 0 {
		o.BlockMaxBatches = DefaultBlockMaxBatches
	}
	if o.ForwardTimeout == 0 {
		o.ForwardTimeout = DefaultForwardTimeout
	}
	if o.ComplainTimeout == 0 {
		o.ComplainTimeout = DefaultComplainTimeout
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if o.ViewChangeResend == 0 {
		o.ViewChangeResend = DefaultViewChangeResend
	}
	if o.ViewChangeTimeout == 0 {
		o.ViewChangeTimeout = DefaultViewChangeTimeout
	}
	return o.WithDefaults()
}

// Config configures a Node. Zero fields take the defaults documented on
// each.
type Config struct {
	Name  string       // this orderer, one of Trust.Orderers unless Join (required)
	Trust *keys.Bundle // the consortium's trust bundle, its genesis (required)
	Key   keys.Signer  // this orderer's signing key (required)
	// Join: Name is an orderer a configuration block added, not one of the
	// genesis trust's: it fetches the chain from the orderers in force
	// before its engine starts (orderer.Config.Join, docs/governance.md).
	Join bool
	// Conn is the orderer's own bus connection (its NATS identity), needed
	// by Start; the caller closes it after Stop.
	Conn *nats.Conn
	// DataDir holds blocks/ (block log), engine/ (SmartBFT WAL), index/
	// (transaction index), state/ (license state), catalog/ (license
	// catalogue) and proofs.mark.
	DataDir string

	// Engine tunes SmartBFT; zero fields take EngineDefaults.
	Engine bft.Options
	// MemTableSize is the pebble memtable size of the license state and
	// of the transaction index. Default 8 MiB. Orderers of one process
	// (`up`) write the same data at the same pace, so with one size they
	// flush at the same moments and hold a quorum's commits together;
	// give them different sizes there (docs/performance.md).
	MemTableSize uint64
	// StateCacheSize is the license state's pebble block cache. Default
	// 8 MiB: pebble's memory is outside the Go heap, and several orderers
	// may share a process.
	StateCacheSize int64
	// NoSyncWAL skips fsync in the block log and engine WAL (benchmarks of
	// the machine's limits only: a crash may lose decided blocks).
	NoSyncWAL bool
	// MinFreeDisk is the free space DataDir's file system must keep: below
	// it the node stops sealing (its orderer fails with
	// orderer.ErrDiskFull before writing, so no store meets a full disk)
	// and its Keeper starts it again once there is room. Default
	// orderer.DefaultMinFreeDisk (256 MiB). FreeDisk measures it (default
	// statfs; tests inject a full disk with it).
	MinFreeDisk uint64
	FreeDisk    func(dir string) (uint64, error)

	// Archive moves the block log's cold part to an object store; off
	// unless Archive.Objects is set.
	Archive ArchiveConfig

	// Proofs configures license-proof publishing on gba.proofs.>.
	Proofs ProofsConfig
	// ProofCacheBytes bounds the blocks (with their Merkle trees) kept for
	// fresh proofs and chain reads (proof.BlockCache). Default
	// proof.DefaultBlockCacheBytes (32 MiB).
	ProofCacheBytes int64

	// NoQuery turns off the ledger query service on gba.query.<name>.
	NoQuery bool
	// NoCatalog turns off the license catalogue (licenses by city, holder
	// and status; results per kind and action in the metrics). It costs
	// each orderer a light decoding of every transaction, off the commit
	// path.
	NoCatalog bool

	// ReadyMaxLag is how many blocks behind the cluster (the newest header
	// on gba.blocks) the node may be and still be ready. Default 8.
	ReadyMaxLag uint64
	// ObserveEvery is how often the node samples what it reads from the
	// bus and the disk for its metrics (consumer lag, the cluster's
	// height, bytes per store). Default 5 s.
	ObserveEvery time.Duration

	// Registerer receives the node's metrics, labelled orderer=<Name>;
	// nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger  // default slog.Default()
	Clock      orderer.Clock // default the real clock

	// WrapOrderer, if set, may change the orderer's configuration before
	// it opens (tests: fault injection, timings).
	WrapOrderer func(*orderer.Config)
}

// ArchiveConfig configures the archiving of a node's block log (issue 17
// §6): every Every, the blocks more than KeepBlocks below the top move to
// Objects in chunks of about ChunkBytes, and are read back from there on
// demand (ledger/archive, blocklog.Store.Archive).
type ArchiveConfig struct {
	// Objects is the archive: an archive.Dir or an archive.S3. nil: no
	// archiving.
	Objects archive.Objects
	// KeepBlocks is how many of the newest blocks stay in the live log.
	// Default 10,000: 24 MB of log when blocks hold one transaction (the
	// target load's average), 24 GB at the densest (2,500 transactions a
	// block under bulk load); docs/storage.md.
	KeepBlocks uint64
	// Every is how often the node archives. Default 10 minutes.
	Every time.Duration
	// ChunkBytes is the size of an archived object. Default 4 MiB.
	ChunkBytes int
	// OpenTimeout bounds listing the archive when the node opens.
	// Default 30 s.
	OpenTimeout time.Duration
}

func (c *ArchiveConfig) defaults() {
	if c.KeepBlocks == 0 {
		c.KeepBlocks = 10_000
	}
	if c.Every <= 0 {
		c.Every = 10 * time.Minute
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 4 << 20
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 30 * time.Second
	}
}

// ProofsConfig configures a node's license-proof publishing.
type ProofsConfig struct {
	// Publish turns publishing on. Every orderer of a deployment may
	// publish: GBA_PROOFS keeps one copy per transaction id. In one
	// process (`up`) one orderer publishes.
	Publish bool
	// Conn publishes the proofs; default the node's Conn. A separate
	// connection keeps a burst of proofs from queueing ahead of consensus
	// messages.
	Conn *nats.Conn
	// Publisher tunes the queue, the publishers and the timeouts; Sink,
	// Logger and Registerer are set by the node.
	Publisher ProofPublisherConfig
}

func (c *Config) check() error {
	switch {
	case c.Trust == nil || c.Key == nil || c.DataDir == "":
		return fmt.Errorf("%w: Trust, Key and DataDir are required", ErrConfig)
	case c.Name == "":
		return fmt.Errorf("%w: Name is required", ErrConfig)
	}
	c.Engine = EngineDefaults(c.Engine)
	if c.MemTableSize == 0 {
		c.MemTableSize = 8 << 20
	}
	if c.StateCacheSize == 0 {
		c.StateCacheSize = 8 << 20
	}
	if c.ProofCacheBytes == 0 {
		c.ProofCacheBytes = proof.DefaultBlockCacheBytes
	}
	if c.ReadyMaxLag == 0 {
		c.ReadyMaxLag = 8
	}
	if c.ObserveEvery <= 0 {
		c.ObserveEvery = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MinFreeDisk == 0 {
		c.MinFreeDisk = orderer.DefaultMinFreeDisk
	}
	if c.FreeDisk == nil {
		c.FreeDisk = orderer.FreeDisk
	}
	c.Archive.defaults()
	return nil
}
