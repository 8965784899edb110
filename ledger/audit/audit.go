// Package audit re-checks stopped orderers' chains from their block logs.
//
// VerifyChain checks one orderer's log: every record's CRC (ledger/wal),
// then each record with blocklog.VerifyRecord (hash link, batch signatures,
// results hash, transaction root, quorum certificate, vote messages,
// consensus metadata), then each block's results and state root recomputed
// with the rules the orderers ran (block.Verify over a license state rebuilt
// from scratch). VerifyCluster does that for every orderer of a deployment
// and then compares the chains: orderers may lag, but never disagree, so
// each chain must be a prefix of the longest ones, and one that is not is
// named with the height where it forked.
//
// Logs are read with blocklog.OpenReader and left exactly as found (no cut,
// no fsync, no finished truncation), even on a read-only mount. The package
// links neither NATS nor SmartBFT: an auditor runs it on a copy of the data
// anywhere.
package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// ErrFork: two orderers hold different blocks at the same height, each
// with a valid quorum certificate (or one holds a block the other's chain
// cannot lead to).
var ErrFork = errors.New("audit: orderers hold different chains")

// Fault is the first thing found wrong in a chain, at a height (0 if the
// log could not be read at all). Orderer names the orderer whose log it is,
// when VerifyCluster checked several.
type Fault struct {
	Orderer string
	Height  uint64
	What    string
	Err     error
}

func (f *Fault) Error() string {
	if f.Orderer != "" {
		return fmt.Sprintf("audit: orderer %s: block %d: %s: %v", f.Orderer, f.Height, f.What, f.Err)
	}
	return fmt.Sprintf("audit: block %d: %s: %v", f.Height, f.What, f.Err)
}

func (f *Fault) Unwrap() error { return f.Err }

// Report summarises a chain that verified.
type Report struct {
	Height       uint64
	Transactions uint64 // OK transactions
	Flagged      uint64 // transactions recorded with another result
	Licenses     uint64
	LastHash     [32]byte
	StateRoot    [32]byte
	// TornTail is set when the log ends in a torn write (what a crash in
	// the middle of an Append leaves, and what the orderer cuts when it next
	// starts): the chain was verified up to the last whole record, Height,
	// and the torn bytes were left as they are. Index is the height of the
	// record that was being written.
	TornTail *wal.CorruptError
	// Warnings are things worth a look that are not faults (the torn tail).
	Warnings []string
}

// VerifyChain checks the block log in blocksDir against trust. A torn tail
// is not a fault: the chain is verified up to the last whole record and
// Report.TornTail says so. Anything else wrong is a *Fault naming the
// height. The license state is rebuilt in a scratch directory that is
// removed afterwards; other errors (no scratch space, ctx's) are returned
// as they are.
func VerifyChain(ctx context.Context, blocksDir string, trust *keys.Bundle) (*Report, error) {
	r, err := openLog(blocksDir, nil)
	if err != nil {
		return nil, err
	}
	return verify(ctx, r, trust, nil)
}

// openLog opens a block log for reading, turning what is wrong with it into
// a Fault.
func openLog(dir string, cold blocklog.Cold) (*blocklog.Reader, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, &Fault{What: "open block log", Err: err}
	}
	r, err := blocklog.OpenReaderCold(dir, cold)
	var ce *wal.CorruptError
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, wal.ErrTruncating):
		return nil, &Fault{What: "open block log", Err: err}
	case errors.As(err, &ce):
		return nil, &Fault{Height: ce.Index, What: "read block log", Err: err}
	case errors.Is(err, blocklog.ErrBrokenChain), errors.Is(err, blocklog.ErrArchive):
		return nil, &Fault{Height: 1, What: "hash chain", Err: err}
	}
	return nil, &Fault{What: "open block log", Err: err}
}

// verify is VerifyChain over an open log; progress, if not nil, is told
// the height of each block verified.
func verify(ctx context.Context, r *blocklog.Reader, trust *keys.Bundle, progress func(height uint64)) (*Report, error) {
	scratch, err := os.MkdirTemp("", "baybus-audit-*")
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer os.RemoveAll(scratch)
	st, err := licenses.Open(scratch, state.Options{NoSync: true, CacheSize: 16 << 20})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer st.Close()

	chain := newIndex()
	rep := &Report{}
	var parent *block.Header
	cur := trust // the configuration in force: r.Verify follows the same
	err = r.Verify(ctx, trust, func(rec *blocklog.Record, blk *block.Block) error {
		h := blk.Header.Height
		updates, err := block.Verify(cur, block.Limits{}, parent, blk, chain, st)
		if err != nil {
			return &Fault{Height: h, What: "block contents", Err: err}
		}
		if cur, err = block.NextTrust(cur, blk); err != nil {
			return &Fault{Height: h, What: "configuration", Err: err}
		}
		if err := st.Commit(h, updates); err != nil {
			return fmt.Errorf("audit: rebuild state at block %d: %w", h, err)
		}
		for _, t := range blk.Txs() {
			if t.Result == block.OK {
				chain.txs[t.ID] = struct{}{}
				rep.Transactions++
			} else {
				rep.Flagged++
			}
		}
		for _, bt := range blk.Batches {
			chain.batches[bt.ID()] = struct{}{}
		}
		parent = &blk.Header
		rep.Height, rep.LastHash, rep.StateRoot = h, blk.Header.Hash(), blk.Header.StateRoot
		if progress != nil {
			progress(h)
		}
		return nil
	})
	if err != nil {
		return nil, asFault(err)
	}
	rep.Licenses = st.Len()
	if torn := r.Torn(); torn != nil {
		rep.TornTail = torn
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"the block log ends in a torn write at height %d (segment %s, offset %d: %v): verified up to height %d and left as found; the orderer cuts it when it next starts",
			torn.Index, torn.Segment, torn.Offset, torn.Err, rep.Height))
	}
	return rep, nil
}

// asFault turns an error of reading and verifying a log into a Fault at
// its height; errors that say nothing about the chain are left as they are.
func asFault(err error) error {
	var f *Fault
	var re *blocklog.RecordError
	var ce *wal.CorruptError
	switch {
	case errors.As(err, &f):
		return f
	case errors.As(err, &re):
		return &Fault{Height: re.Height, What: what(err), Err: err}
	case errors.As(err, &ce):
		return &Fault{Height: ce.Index, What: "read block log", Err: err}
	}
	return err
}

// what names the check a record failed.
func what(err error) string {
	switch {
	case errors.Is(err, blocklog.ErrBrokenChain), errors.Is(err, block.ErrChain):
		return "hash chain"
	case errors.Is(err, blocklog.ErrRecord):
		return "read record"
	case errors.Is(err, blocklog.ErrConsensus):
		return "consensus metadata"
	case errors.Is(err, blocklog.ErrVoteMsg):
		return "vote message"
	case errors.Is(err, block.ErrQuorum):
		return "quorum certificate"
	case errors.Is(err, block.ErrBadBatch):
		return "batch signature"
	case errors.Is(err, block.ErrMismatch):
		return "block contents"
	}
	return "verify record"
}

// index is the chain's dedup index, in memory: 32 bytes per transaction.
type index struct {
	txs     map[schemas.TxID]struct{}
	batches map[string]struct{}
}

func newIndex() *index {
	return &index{txs: map[schemas.TxID]struct{}{}, batches: map[string]struct{}{}}
}

func (x *index) TxSeen(id schemas.TxID) bool { _, ok := x.txs[id]; return ok }
func (x *index) BatchSeen(id string) bool    { _, ok := x.batches[id]; return ok }

// OrdererDirs returns the orderer data directories of a `baybus up` data
// directory (DIR/orderers/<name>), in the trust bundle's order.
func OrdererDirs(dataDir string, trust *keys.Bundle) []string {
	var out []string
	for _, l := range OrdererLogs(dataDir, trust) {
		if l.Name != "" {
			out = append(out, filepath.Dir(l.Dir))
		}
	}
	return out
}

// Log is one orderer's block log.
type Log struct {
	Name string // the orderer's name ("" if unknown)
	Dir  string // the block log's directory
	// Cold holds the blocks archived below the log (ledger/archive), or
	// nil.
	Cold blocklog.Cold
}

// OrdererLogs finds the block logs of a data directory: those of a `baybus
// up` data directory (DIR/orderers/<name>/blocks), in the trust bundle's
// order; else the one of an orderer's data directory (DIR/blocks), with no
// name. It returns nil if there is neither.
func OrdererLogs(dataDir string, trust *keys.Bundle) []Log {
	var out []Log
	for _, o := range trust.Orderers {
		d := filepath.Join(dataDir, "orderers", o, "blocks")
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, Log{Name: o, Dir: d})
		}
	}
	if len(out) == 0 {
		d := filepath.Join(dataDir, "blocks")
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, Log{Dir: d})
		}
	}
	return out
}
