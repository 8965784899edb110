package replica

import (
	"bytes"
	"encoding/hex"
	"fmt"

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

// payloadOf is the proposal payload of a block: its references, or a
// configuration block whole (it names no batch, and is small).
func payloadOf(blk *block.Block) []byte {
	if blk.Config != nil {
		return block.Encode(blk)
	}
	return block.RefsOf(blk).Encode()
}

// History returns the configuration history the replica judges by: the
// genesis trust and the configuration blocks committed so far.
func (r *Replica) History() *config.History {
	r.histMu.RLock()
	defer r.histMu.RUnlock()
	return r.hist
}

// trust is the configuration in force at the next height, the one every
// proposal, vote and request is judged by.
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
// and the configuration blocks of the log (read whole: a configuration
// block is told by its first bytes, without decoding the others). The
// driver calls it at start, and after a repair or a join replaced the log.
func LoadHistory(genesis *keys.Bundle, log Replayable) (*config.History, error) {
	hist := config.NewHistory(genesis)
	err := log.Scan(1, func(rec *blocklog.Record) error {
		if !block.IsConfig(rec.BlockData) {
			return nil
		}
		blk, err := block.Decode(rec.BlockData)
		if err != nil {
			return fmt.Errorf("replica: configuration block %d: %w", rec.Header.Height, err)
		}
		if _, err := hist.Apply(rec.Header.Height, blk.Config); err != nil {
			return fmt.Errorf("replica: configuration block %d: %w", rec.Header.Height, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hist, nil
}
