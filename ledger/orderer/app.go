package orderer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/api"
	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
)

// Verification errors, the replica's (ledger/replica holds the SmartBFT
// callbacks that assemble, verify and sign).
var (
	ErrProposal = replica.ErrProposal
	ErrRequest  = replica.ErrRequest
	ErrVote     = replica.ErrVote
	// ErrBatchMissing is the cause of refusing a proposal that names a
	// batch this orderer does not hold once Config.BatchWait has passed.
	ErrBatchMissing = replica.ErrBatchMissing
)

// app is the driver's half of the SmartBFT application: Deliver and Sync,
// which block on the commit lock and the network. The pure half
// (assemble, verify, sign) is n.rep, a *replica.Replica.
type app struct{ n *Node }

var (
	_ api.Application  = (*app)(nil)
	_ api.Synchronizer = (*app)(nil)
)

// Deliver implements api.Application: the decided block is made durable
// before Deliver returns (the engine's contract), then acknowledged,
// published and announced. A configuration block that changes the
// orderers reconfigures the engine from the next decision (members.go).
func (a *app) Deliver(p types.Proposal, sigs []types.Signature) types.Reconfig {
	err := a.n.deliver(p, sigs)
	if err != nil && !errors.Is(err, ErrStopped) {
		// A decided block we cannot store or that our own state refuses
		// means this replica can no longer follow the chain: it stops (and
		// only it: the process and the other orderers in it go on). The
		// engine must not move to the next sequence meanwhile, so Deliver
		// returns only once the stop has begun.
		a.n.fail(fmt.Errorf("orderer: deliver: %w", err))
		<-a.n.ctx.Done()
	}
	if err != nil {
		return types.Reconfig{}
	}
	var hdr block.Header
	if hdr.UnmarshalBinary(p.Header) != nil {
		return types.Reconfig{}
	}
	nodes, conf, ok := a.n.reconfigAt(hdr.Height + 1)
	return types.Reconfig{InLatestDecision: ok, CurrentNodes: nodes, CurrentConfig: conf}
}

// Sync implements api.Synchronizer: fetch what peers have decided beyond
// our height, then report our latest decision, and a change of the
// orderers in the blocks fetched (or fetched before by the driver).
func (a *app) Sync() types.SyncResponse {
	a.n.syncer.catchUp(a.n.ctx, 0)
	latest := a.n.latestDecision()
	nodes, conf, ok := a.n.reconfigAt(a.n.store.Height() + 1)
	return types.SyncResponse{Latest: latest, Reconfig: types.ReconfigSync{InReplicatedDecisions: ok, CurrentNodes: nodes, CurrentConfig: conf}}
}

// blockLog is the block log as the replica sees it: appends go through
// the disk check and the test decorator (appendBlock), and the store is
// read where it is now (open may replace it while repairing).
type blockLog struct{ n *Node }

var _ replica.Replayable = blockLog{}

func (l blockLog) Height() uint64                         { return l.n.store.Height() }
func (l blockLog) Last() *block.Header                    { return l.n.store.Last() }
func (l blockLog) Append(rec *blocklog.Record) error      { return l.n.appendBlock(rec) }
func (l blockLog) Header(h uint64) (*block.Header, error) { return l.n.store.Header(h) }
func (l blockLog) Scan(from uint64, fn func(*blocklog.Record) error) error {
	return l.n.store.Scan(from, fn)
}

// unsealed is the replica's batch source: batches ingested from GBA_TX or
// fetched from a peer, not yet sealed.
type unsealed struct{ n *Node }

func (u unsealed) Batch(id string) *schemas.Batch {
	u.n.ackMu.Lock()
	defer u.n.ackMu.Unlock()
	if m, ok := u.n.pending[id]; ok {
		return m.batch
	}
	if f, ok := u.n.fetched[id]; ok {
		return f.batch
	}
	return nil
}

// SubmitConfig hands a configuration transaction (schemas/config) to the
// engine: the leader seals it alone, and from the height after its block
// every orderer judges by the configuration it makes. It is checked first
// under the configuration in force at the next height (a refusal wraps
// ErrRequest and the reason: config.ErrInvalid's, or
// replica.ErrEngineConfig for a rotation of the key of an orderer that
// stays, which the orderers cannot follow yet). A configuration that adds
// or removes orderers reconfigures the engines at its block (members.go).
// It returns once the engine holds the request; Config tells when it took
// effect.
func (n *Node) SubmitConfig(ctx context.Context, tx *config.Tx) error {
	if !n.engineUp.Load() {
		return fmt.Errorf("orderer: %s: the engine is not running", n.cfg.Name)
	}
	frame := replica.ConfigRequest(tx)
	if _, err := n.rep.VerifyRequest(frame); err != nil {
		return err
	}
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		err := n.engine.SubmitRequest(frame)
		if err == nil || strings.Contains(err.Error(), "already exists") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("orderer: submit configuration: %w (last: %w)", ctx.Err(), err)
		case <-n.ctx.Done():
			return ErrStopped
		case <-time.After(backoff):
		}
	}
}

// Config returns the configuration history: the genesis trust and the
// configuration blocks committed, and so the configuration in force at
// any height. A configuration block enters it as its commit begins, just
// before the block is in the log (WaitHeight tells when it is).
func (n *Node) Config() *config.History { return n.rep.History() }
