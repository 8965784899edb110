package orderer

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/schemas/keys"
)

// Membership change (issue 17 §2). The orderers are SmartBFT's members,
// each known by its stable consensus id (keys.Bundle.ConsensusID). A
// configuration block that adds or removes an orderer is sealed at height
// H under the orderers in force there; from H+1 the replica judges
// proposals, votes and requests by the new configuration, the transport
// takes messages from and sends them to the new set, and the engine is
// told at the decision of H (Deliver returns a types.Reconfig), or at the
// sync that crossed H (Sync returns a types.ReconfigSync): it stops its
// view, takes the new node list, and starts again from its checkpoint.
//
// members is what the engine was last told, so that a configuration block
// reaching this orderer by any path (decided, fetched by the driver's
// sync, recovered at start) reconfigures the engine once, at the next
// decision or sync the engine reports.
//
// An orderer the new configuration leaves out stops itself, with Err
// wrapping ErrRemoved (ledger/node's Keeper does not restart it). Its
// engine is not handed the reconfiguration: SmartBFT would close itself
// on it while the node's Stop closes it too, and a reconfiguration pushed
// to an engine that has closed blocks its controller for good. From the
// moment it is removed nothing it sends leaves (failComm), and the others
// no longer take its messages anyway. Its durable consumer on GBA_TX stays until the operator
// deletes it (its NATS identity may not; docs/governance.md).

// ErrRemoved: a configuration block removed this orderer from the
// orderers. Err wraps it, with the height from which it no longer counts.
var ErrRemoved = errors.New("orderer: removed from the orderers by a configuration block")

// members is the node list and configuration the engine runs with.
// Deliver (the engine's controller goroutine) and Sync (its synchronizer)
// both read and replace it; mu guards it.
type members struct {
	mu    sync.Mutex
	conf  types.Configuration
	nodes []uint64
}

func (m *members) set(conf types.Configuration, nodes []uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conf, m.nodes = conf, slices.Clone(nodes)
}

// change returns the engine's new node list and configuration if nodes
// differs from the list it runs with, and records it.
func (m *members) change(nodes []uint64) (types.Configuration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodes == nil || slices.Equal(m.nodes, nodes) {
		return types.Configuration{}, false
	}
	m.nodes = slices.Clone(nodes)
	return m.conf, true
}

// reconfigAt returns the engine's reconfiguration for the configuration in
// force at height next (the height after the one decided or synced to),
// if its orderers differ from those the engine runs with. An orderer left
// out begins to stop.
func (n *Node) reconfigAt(next uint64) (nodes []uint64, conf types.Configuration, ok bool) {
	trust := n.rep.TrustAt(next)
	nodes = trust.ConsensusIDs()
	if conf, ok = n.members.change(nodes); !ok {
		return nil, conf, false
	}
	if !slices.Contains(nodes, n.self) {
		n.log.Warn("removed from the orderers by a configuration block: stopping", "from_height", next, "orderers", trust.Orderers)
		n.leave(fmt.Errorf("%w: %s does not count from height %d (orderers %v)", ErrRemoved, n.cfg.Name, next, trust.Orderers))
		return nil, conf, false
	}
	n.log.Info("the orderers changed: reconfiguring the engine", "from_height", next, "orderers", trust.Orderers, "ids", nodes)
	return nodes, conf, true
}

// leave records why this orderer stops (it was removed) and stops it in
// the background: the engine must get its Deliver or Sync back first.
func (n *Node) leave(err error) {
	if !n.failed.CompareAndSwap(nil, &failure{err: err}) {
		return
	}
	go n.Stop()
}

// join brings an orderer the configuration in force does not list yet
// (Config.Join) up to the chain its peers hold, each block judged by the
// configuration in force at its height from the genesis (the replica's
// history grows with every configuration block fetched), and checks that
// the configuration reached lists it with its key. An orderer already
// listed only checks its key.
func (n *Node) join() error {
	if n.rep.ID() == 0 {
		n.log.Info("joining: fetching the chain from the orderers in force", "height", n.store.Height(), "peers", n.peers())
		n.syncer.catchUp(n.ctx, 0)
		if n.ctx.Err() != nil {
			return ErrStopped
		}
	}
	trust, next := n.rep.Trust(), n.store.Height()+1
	n.self = trust.ConsensusID(n.cfg.Name)
	if n.self == 0 {
		return fmt.Errorf("%w: %q is not an orderer in the configuration in force at height %d (orderers %v): the configuration that adds it is not sealed, or its peers do not hold it", ErrConfig, n.cfg.Name, next, trust.Orderers)
	}
	if _, err := trust.KeyAt(n.cfg.Key.KeyID(), keys.RoleOrderer, n.cfg.Name, next); err != nil && !errors.Is(err, keys.ErrKeyNotValid) {
		return fmt.Errorf("%w: key of %s: %w", ErrConfig, n.cfg.Name, err)
	}
	if n.cfg.Join {
		n.log.Info("joined: the configuration in force lists this orderer", "height", n.store.Height(), "id", n.self)
	}
	return nil
}
