package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas/keys"
)

// LedgerSource is proof.Source over an orderer's block log and license
// state: what fresh proofs (HTTP, the query service, baybus proof) are read
// from. It is safe for concurrent use while the orderer runs: ProveLatest
// reads the state under its lock and says which height it proved, and the
// block log always holds that height (a block is appended before its state
// is applied).
type LedgerSource struct {
	Blocks *blocklog.Store
	State  *state.Store
}

var _ proof.Source = LedgerSource{}

// ProveLatest implements proof.Source.
func (l LedgerSource) ProveLatest(key string) (*smt.Leaf, *smt.Proof, uint64, [32]byte, error) {
	return l.State.ProveRoot(key)
}

// LeafAt implements proof.Source.
func (l LedgerSource) LeafAt(key string, h uint64) (*smt.Leaf, error) {
	leaf, err := l.State.GetAt(key, h)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	return leaf, err
}

// Sealed implements proof.Source.
func (l LedgerSource) Sealed(h uint64) (*block.Header, *block.QC, error) {
	rec, err := l.Blocks.Record(h)
	if err != nil {
		return nil, nil, err
	}
	return &rec.Header, &rec.QC, nil
}

// Block implements proof.Source.
func (l LedgerSource) Block(h uint64) (*block.Block, *block.QC, error) {
	rec, err := l.Blocks.Record(h)
	if err != nil {
		return nil, nil, err
	}
	blk, err := block.Decode(rec.BlockData)
	if err != nil {
		return nil, nil, fmt.Errorf("node: block %d: %w", h, err)
	}
	return blk, &rec.QC, nil
}

// Ledger is a stopped node's ledger opened for reading: the block log and
// license state of one orderer of a `baybus up` data directory.
type Ledger struct {
	Trust   *keys.Bundle
	Orderer string // the orderer whose ledger this is
	Dir     string // DataDir/orderers/<name>
	Blocks  *blocklog.Store
	State   *state.Store
}

// ErrNoLedger is returned when a data directory holds no orderer ledger.
var ErrNoLedger = errors.New("node: no orderer ledger")

// OrdererDir is where `baybus up` keeps orderer name's data in its data
// directory.
func OrdererDir(dataDir, name string) string { return filepath.Join(dataDir, "orderers", name) }

// OpenLedger opens the ledger of orderer name (the first orderer of the
// trust bundle that has a block log if name is "") in a `baybus up` data
// directory: DataDir/trust.json and DataDir/orderers/<name>/{blocks,state}.
// The node must be stopped: the state store is locked by a running node.
// Opening the block log cuts a torn tail, as the orderer would on restart.
func OpenLedger(dataDir, name string) (*Ledger, error) { return OpenLedgerCold(dataDir, name, nil) }

// OpenLedgerCold is OpenLedger for an orderer whose oldest blocks were
// archived to cold (ledger/archive): reads below its live log go there.
func OpenLedgerCold(dataDir, name string, cold blocklog.Cold) (*Ledger, error) {
	trust, err := keys.LoadBundle(filepath.Join(dataDir, keys.TrustFile))
	if err != nil {
		return nil, err
	}
	if name == "" {
		for _, o := range trust.Orderers {
			if _, err := os.Stat(filepath.Join(OrdererDir(dataDir, o), "blocks")); err == nil {
				name = o
				break
			}
		}
		if name == "" {
			return nil, fmt.Errorf("%w: %s holds no orderers/<name>/blocks", ErrNoLedger, dataDir)
		}
	} else if trust.OrdererIndex(name) < 0 {
		return nil, fmt.Errorf("%w: %q is not an orderer of chain %s (orderers: %s)", ErrNoLedger, name, trust.Chain, strings.Join(trust.Orderers, ", "))
	}
	dir := OrdererDir(dataDir, name)
	for _, sub := range []string{"blocks", "state"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoLedger, err)
		}
	}
	blocks, err := blocklog.OpenStoreCold(filepath.Join(dir, "blocks"), wal.Options{NoSync: true}, cold)
	if err != nil {
		return nil, err
	}
	st, err := state.Open(filepath.Join(dir, "state"), state.Options{CacheSize: 16 << 20})
	if err != nil {
		blocks.Close()
		return nil, fmt.Errorf("%w (is the node still running?)", err)
	}
	if st.Height() > blocks.Height() {
		st.Close()
		blocks.Close()
		return nil, fmt.Errorf("node: %s: state at height %d, block log at %d", dir, st.Height(), blocks.Height())
	}
	return &Ledger{Trust: trust, Orderer: name, Dir: dir, Blocks: blocks, State: st}, nil
}

// Source returns the ledger as a proof.Source.
func (l *Ledger) Source() LedgerSource { return LedgerSource{Blocks: l.Blocks, State: l.State} }

// Close closes the block log and the state.
func (l *Ledger) Close() error {
	return errors.Join(l.State.Close(), l.Blocks.Close())
}
