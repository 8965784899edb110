package replica

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// configFrame prefixes a configuration transaction submitted to the
// engine as a request, apart from batch frames (schemas.Batch.Encode).
const configFrame = "GBCQ"

// ConfigClient is the client id of configuration requests in the engine's
// pool.
const ConfigClient = "config"

// ConfigRequest is the engine request that carries a configuration
// transaction: the leader seals it alone in the next block.
func ConfigRequest(tx *config.Tx) []byte {
	return append([]byte(configFrame), config.Encode(tx)...)
}

// configOf decodes a configuration request; ok is false for any other
// frame.
func configOf(req []byte) (tx *config.Tx, ok bool, err error) {
	if !bytes.HasPrefix(req, []byte(configFrame)) {
		return nil, false, nil
	}
	tx, err = config.DecodeCanonical(req[len(configFrame):])
	return tx, true, err
}

func configInfo(tx *config.Tx) types.RequestInfo {
	id := config.ID(tx)
	return types.RequestInfo{ClientID: ConfigClient, ID: hex.EncodeToString(id[:16])}
}

// ErrEngineConfig: a configuration the running orderers cannot follow
// yet. Orderers join and leave through SmartBFT's reconfiguration (issue
// 17 §2: OrdererChange, the driver's Deliver and Sync), but an orderer in
// force holds one private key, so a configuration that adds a key to an
// orderer that stays, or ends the validity of one of its keys while it
// stays, is refused here though config.Check allows it: rotating an
// orderer's key means removing it and adding it again under a new name,
// or a node that holds both keys (not built). Cities' and readers' keys
// and readers change freely.
var ErrEngineConfig = errors.New("replica: configuration rotates the key of an orderer that stays, which the orderers cannot follow yet")

// ErrVoters: a configuration under which fewer orderers hold a key valid
// at the next height than its quorum. SmartBFT would count every orderer
// it lists, but the votes of one whose key counts only later (a new
// orderer's key valid from above the next height) are refused, so the
// chain would stop until that height, which it could not reach.
var ErrVoters = errors.New("replica: configuration leaves fewer orderers able to vote than its quorum")

// checkConfig is config.Check at height under the configuration in force
// plus what the engine can follow.
func checkConfig(cur *keys.Bundle, tx *config.Tx, height uint64) error {
	next, err := config.Check(cur, tx, height)
	if err != nil {
		return err
	}
	voters := 0
	for _, o := range next.Orderers {
		if slices.ContainsFunc(next.Keys, func(k keys.TrustedKey) bool {
			return k.Role == keys.RoleOrderer && k.Member == o && k.ValidFrom <= height+1 && (k.ValidUntil == nil || *k.ValidUntil > height)
		}) {
			voters++
		}
	}
	if voters < next.Quorum() {
		return fmt.Errorf("%w: %d of the %d orderers hold a key valid at height %d, the quorum is %d (let new keys count from nearer heights)", ErrVoters, voters, next.N(), height+1, next.Quorum())
	}
	for _, k := range next.Keys {
		if k.Role != keys.RoleOrderer || next.ConsensusID(k.Member) == 0 || cur.ConsensusID(k.Member) == 0 {
			continue // a removed orderer's keys may end; a new one's are new
		}
		_, old, ok := cur.KeyByID(k.ID)
		if !ok || (old.ValidUntil == nil) != (k.ValidUntil == nil) || (old.ValidUntil != nil && *old.ValidUntil != *k.ValidUntil) {
			return fmt.Errorf("%w: orderer key %s of %s", ErrEngineConfig, k.ID, k.Member)
		}
	}
	return nil
}

// OrdererChange reports whether the configuration next, in force after
// cur, changes the engine's members: an orderer added or removed.
// SmartBFT must then reconfigure (types.Reconfig) at the decision that
// made next.
func OrdererChange(cur, next *keys.Bundle) bool {
	return !slices.Equal(cur.ConsensusIDs(), next.ConsensusIDs())
}

// payloadOf is the proposal payload of a block: its references, or a
// configuration block whole (it names no batch, and is small).
func payloadOf(blk *block.Block) []byte {
	if blk.Config != nil {
		return block.Encode(blk)
	}
	return block.RefsOf(blk).Encode()
}

// History returns a copy of the configuration history the replica judges
// by: the genesis trust and the configuration blocks committed so far.
func (r *Replica) History() *config.History {
	r.histMu.RLock()
	defer r.histMu.RUnlock()
	return r.hist.Clone()
}

// Trust is the configuration in force at the next height: the one every
// proposal, vote and request is judged by, and the driver's ingestion
// and sync with it.
func (r *Replica) Trust() *keys.Bundle { return r.trust() }

// TrustAt is the configuration in force at height (at most the next).
func (r *Replica) TrustAt(height uint64) *keys.Bundle {
	r.histMu.RLock()
	defer r.histMu.RUnlock()
	return r.hist.At(height)
}

func (r *Replica) trust() *keys.Bundle {
	next := r.cfg.Log.Height() + 1
	r.histMu.RLock()
	defer r.histMu.RUnlock()
	return r.hist.At(next)
}

// applyConfig records a committed configuration block: from the next
// height the replica judges by the configuration it carries.
func (r *Replica) applyConfig(blk *block.Block) error {
	if blk.Config == nil {
		return nil
	}
	r.histMu.Lock()
	defer r.histMu.Unlock()
	if blk.Header.Height <= r.hist.LastHeight() {
		return nil // recovered from the log already
	}
	if _, err := r.hist.Apply(blk.Header.Height, blk.Config); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	return nil
}

// LoadHistory rebuilds the configuration history from the genesis trust
// and the configuration blocks of the log, reading it whole (a
// configuration block is told by its first bytes, without decoding the
// others). LoadHistoryFrom reads less.
func LoadHistory(genesis *keys.Bundle, log Replayable) (*config.History, error) {
	return LoadHistoryFrom(genesis, log, nil, nil, 0)
}

// LoadHistoryFrom rebuilds the configuration history when the heights of
// the configuration blocks up to known are kept apart (the driver's index
// keeps them): it reads those records with read and scans only the log
// above known. The driver calls it at start, before Recover, and after a
// repair or a join replaced the log.
func LoadHistoryFrom(genesis *keys.Bundle, log Replayable, read func(h uint64) (*blocklog.Record, error), heights []uint64, known uint64) (*config.History, error) {
	hist := config.NewHistory(genesis)
	apply := func(rec *blocklog.Record) error {
		if !block.IsConfig(rec.BlockData) {
			return fmt.Errorf("replica: block %d is not a configuration block", rec.Header.Height)
		}
		blk, err := block.Decode(rec.BlockData)
		if err != nil {
			return fmt.Errorf("replica: configuration block %d: %w", rec.Header.Height, err)
		}
		if _, err := hist.Apply(rec.Header.Height, blk.Config); err != nil {
			return fmt.Errorf("replica: configuration block %d: %w", rec.Header.Height, err)
		}
		return nil
	}
	for _, h := range heights {
		if h > known || h > log.Height() {
			break
		}
		rec, err := read(h)
		if err != nil {
			return nil, err
		}
		if err := apply(rec); err != nil {
			return nil, err
		}
	}
	if known >= log.Height() {
		return hist, nil
	}
	err := log.Scan(known+1, func(rec *blocklog.Record) error {
		if !block.IsConfig(rec.BlockData) {
			return nil
		}
		return apply(rec)
	})
	if err != nil {
		return nil, err
	}
	return hist, nil
}
