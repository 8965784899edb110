package bft

import (
	"time"

	"github.com/baybus/baybus/schemas"
	"github.com/hyperledger-labs/SmartBFT/pkg/types"
)

// Options are the engine's tunables. Zero fields take the defaults below,
// chosen for orderers on one LAN or region carrying signed batches of up to
// a few hundred transactions each (each batch is one SmartBFT request).
//
// SmartBFT keeps one proposal in flight, so the block cut sets throughput:
// a block closes at BlockMaxBatches batches, BlockMaxBytes bytes of batch
// frames, or BlockInterval after its first batch arrived, whichever comes
// first. With 256-transaction batches, 64 batches make blocks of up to
// 16,384 transactions; a 10 ms interval keeps latency low when the bus is
// quiet.
type Options struct {
	BlockMaxBatches uint64        // default 64
	BlockMaxBytes   uint64        // default 8 MiB (consensus messages are chunked to fit NATS)
	BlockInterval   time.Duration // default 10 ms
	// PoolSize bounds the batches an orderer holds waiting for a block; the
	// ingestion consumer's MaxAckPending matches it. Default 4 blocks' worth.
	PoolSize uint64

	// Failure detection. A follower forwards a batch the leader has not
	// ordered after ForwardTimeout, complains (asks for a view change) after
	// ComplainTimeout more, and drops it from its pool after
	// AutoRemoveTimeout (JetStream redelivers it). A leader silent for
	// HeartbeatTimeout is complained about. ForwardTimeout+ComplainTimeout
	// must stay well above the time an orderer takes to verify a full block
	// (about 100 µs per transaction on the reference machine, so 1.6 s for
	// 64 batches of 256), or a loaded cluster changes views forever.
	//
	// Every orderer ingests every batch, so forwarding one to the leader
	// only helps against a leader that censors it; under a backlog the
	// leader is slow, not censoring, and forwarding whole batches to it adds
	// to the backlog. Hence a forward timeout of seconds, not milliseconds.
	ForwardTimeout    time.Duration // default 5 s
	ComplainTimeout   time.Duration // default 20 s
	AutoRemoveTimeout time.Duration // default 3 min
	HeartbeatTimeout  time.Duration // default 10 s
	HeartbeatCount    uint64        // heartbeats per HeartbeatTimeout, default 10
	ViewChangeResend  time.Duration // default 2 s; also how often a view waiting for votes sends its own again
	ViewChangeTimeout time.Duration // default 20 s
	CollectTimeout    time.Duration // default 1 s
	// DecisionsPerLeader rotates the leader after that many blocks, so every
	// member leads for a while; 0 turns rotation off. Default 100.
	DecisionsPerLeader uint64
	NoRotation         bool
	// Tick is the period of the engine's scheduler and view-change tickers.
	// Default: a fifth of the heartbeat interval, at most 100 ms.
	Tick time.Duration
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defU := func(v *uint64, d uint64) {
		if *v == 0 {
			*v = d
		}
	}
	defU(&o.BlockMaxBatches, 64)
	defU(&o.BlockMaxBytes, 8<<20)
	def(&o.BlockInterval, 10*time.Millisecond)
	defU(&o.PoolSize, 4*o.BlockMaxBatches)
	def(&o.ForwardTimeout, 5*time.Second)
	def(&o.ComplainTimeout, 20*time.Second)
	def(&o.AutoRemoveTimeout, 3*time.Minute)
	def(&o.HeartbeatTimeout, 10*time.Second)
	defU(&o.HeartbeatCount, 10)
	def(&o.ViewChangeResend, 2*time.Second)
	def(&o.ViewChangeTimeout, 20*time.Second)
	def(&o.CollectTimeout, time.Second)
	if o.NoRotation {
		o.DecisionsPerLeader = 0
	} else {
		defU(&o.DecisionsPerLeader, 100)
	}
	if o.Tick <= 0 {
		o.Tick = min(100*time.Millisecond, o.HeartbeatTimeout/time.Duration(o.HeartbeatCount)/5)
	}
	o.ComplainTimeout = max(o.ComplainTimeout, o.ForwardTimeout)
	o.AutoRemoveTimeout = max(o.AutoRemoveTimeout, o.ComplainTimeout)
	o.ViewChangeTimeout = max(o.ViewChangeTimeout, o.ViewChangeResend)
	o.BlockMaxBytes = max(o.BlockMaxBytes, schemas.MaxBatchBytes, o.BlockMaxBatches)
	o.PoolSize = max(o.PoolSize, 2*o.BlockMaxBatches)
	return o
}

// Configuration returns SmartBFT's configuration for the orderer with the
// given consensus id. The engine syncs on start, so a restarted orderer
// fetches what it missed before it votes.
func (o Options) Configuration(selfID uint64) types.Configuration {
	o = o.WithDefaults()
	c := types.DefaultConfig
	c.SelfID = selfID
	c.RequestBatchMaxCount = o.BlockMaxBatches
	c.RequestBatchMaxBytes = o.BlockMaxBytes
	c.RequestBatchMaxInterval = o.BlockInterval
	c.RequestMaxBytes = schemas.MaxBatchBytes
	c.RequestPoolSize = o.PoolSize
	c.IncomingMessageBufferSize = max(200, 2*o.BlockMaxBatches)
	c.RequestForwardTimeout = o.ForwardTimeout
	c.RequestComplainTimeout = o.ComplainTimeout
	c.RequestAutoRemoveTimeout = o.AutoRemoveTimeout
	c.LeaderHeartbeatTimeout = o.HeartbeatTimeout
	c.LeaderHeartbeatCount = o.HeartbeatCount
	c.ViewChangeResendInterval = o.ViewChangeResend
	c.ViewChangeTimeout = o.ViewChangeTimeout
	c.CollectTimeout = o.CollectTimeout
	c.SyncOnStart = true
	c.LeaderRotation = o.DecisionsPerLeader > 0
	c.DecisionsPerLeader = o.DecisionsPerLeader
	c.RequestPoolSubmitTimeout = 5 * time.Second
	return c
}
