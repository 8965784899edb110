package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

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
// 0.2 s. The failure timers are bft's: a follower forwards a batch the
// leader has not ordered after 5 s (25 times that verification, and more
// than a batch waits in a pool the gateways' backlog limit keeps to two
// blocks), complains 20 s later, and takes a leader silent for 10 s for
// dead, so a crashed leader stalls sealing for about 10 s. (`up` ran 10 s,
// 30 s and 20 s until the two deployments became one node: with 2 s
// forward timers and 64-batch blocks the followers had forwarded whole
// batches to a leader that was slow, not censoring, and fallen into view
// changes; the block size was the cure, and the longer timers only slowed
// failover: a killed leader took the process cluster test past 40 s to
// seal again.) Every member of a cluster must run the same values.
const (
	DefaultBlockMaxBatches  = 16
	DefaultForwardTimeout   = 5 * time.Second
	DefaultComplainTimeout  = 20 * time.Second
	DefaultHeartbeatTimeout = 10 * time.Second
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
	return o.WithDefaults()
}

// Config configures a Node. Zero fields take the defaults documented on
// each.
type Config struct {
	Name  string       // this orderer, one of Trust.Orderers (required)
	Trust *keys.Bundle // the consortium's trust bundle (required)
	Key   keys.Signer  // this orderer's signing key (required)
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
	case c.Trust.OrdererIndex(c.Name) < 0:
		return fmt.Errorf("%w: %q is not an orderer of chain %s", ErrConfig, c.Name, c.Trust.Chain)
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
	return nil
}
