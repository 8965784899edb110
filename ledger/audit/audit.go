// Package audit re-checks a stopped orderer's whole chain from its block
// log: every record's CRC (ledger/wal), the hash links, each block's
// results, transaction root, results hash and state root recomputed with
// the same rules the orderers ran (block.Verify over a license state rebuilt
// from scratch), and each quorum certificate against the trust bundle. The
// log is read with wal.OpenReader and left exactly as found.
package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Fault is the first thing found wrong, at a height (0 if the log could not
// be read at all).
type Fault struct {
	Height uint64
	What   string
	Err    error
}

func (f *Fault) Error() string {
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

// VerifyChain checks the block log in blocksDir. It reads the log with
// wal.OpenReader and writes nothing there (no cut, no fsync, no finished
// truncation), so the log is audited as it was found, even on a read-only
// mount. A torn tail is not a fault: the chain is verified up to the last
// whole record and Report.TornTail says so. The license state is rebuilt in
// a scratch directory that is removed afterwards.
func VerifyChain(blocksDir string, trust *keys.Bundle) (*Report, error) {
	if _, err := os.Stat(blocksDir); err != nil {
		return nil, &Fault{What: "open block log", Err: err}
	}
	blocks, err := wal.OpenReader(blocksDir)
	if errors.Is(err, wal.ErrTruncating) {
		return nil, &Fault{What: "open block log", Err: fmt.Errorf("%w (the orderer finishes it when it next starts)", err)}
	}
	if err != nil {
		return nil, &Fault{Height: faultHeight(err), What: "read block log", Err: err}
	}
	if first, last := blocks.FirstIndex(), blocks.LastIndex(); last >= first && first != 1 {
		return nil, &Fault{Height: 1, What: "read block log", Err: fmt.Errorf("%w: log starts at %d", blocklog.ErrBrokenChain, first)}
	}
	scratch, err := os.MkdirTemp("", "baybus-audit-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	st, err := licenses.Open(scratch, state.Options{NoSync: true, CacheSize: 16 << 20})
	if err != nil {
		return nil, err
	}
	defer st.Close()

	chain := newIndex()
	rep := &Report{}
	var parent *block.Header
	err = blocks.Scan(1, blocks.LastIndex(), nil, func(h uint64, raw []byte) error {
		rec, err := blocklog.DecodeRecord(raw, false)
		if err != nil {
			return &Fault{Height: h, What: "read record", Err: err}
		}
		if err := blocklog.Links(parent, &rec.Header); err != nil {
			err = fmt.Errorf("log record %d: %w", h, err)
			// Name the block the record holds when it claims a later
			// height (blocks are missing before it), else the position.
			return &Fault{Height: max(h, rec.Header.Height), What: "hash chain", Err: err}
		}
		blk, err := block.Decode(rec.BlockData)
		if err != nil {
			return &Fault{Height: h, What: "decode block", Err: err}
		}
		if blk.Header.Hash() != rec.Header.Hash() {
			return &Fault{Height: h, What: "header", Err: errors.New("stored header differs from the block's own")}
		}
		if err := block.VerifyQC(trust, &blk.Header, &rec.QC); err != nil {
			return &Fault{Height: h, What: "quorum certificate", Err: err}
		}
		updates, err := block.Verify(trust, block.Limits{}, parent, blk, chain, st)
		if err != nil {
			return &Fault{Height: h, What: "block contents", Err: err}
		}
		if err := st.Commit(h, updates); err != nil {
			return &Fault{Height: h, What: "rebuild state", Err: err}
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
		hdr := blk.Header
		parent = &hdr
		rep.Height, rep.LastHash, rep.StateRoot = h, hdr.Hash(), hdr.StateRoot
		return nil
	})
	if err != nil {
		var f *Fault
		if errors.As(err, &f) {
			return nil, f
		}
		return nil, &Fault{Height: faultHeight(err), What: "read record", Err: err}
	}
	rep.Licenses = st.Len()
	if torn := blocks.Torn(); torn != nil {
		rep.TornTail = torn
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"the block log ends in a torn write at height %d (segment %s, offset %d: %v): verified up to height %d and left as found; the orderer cuts it when it next starts",
			torn.Index, torn.Segment, torn.Offset, torn.Err, rep.Height))
	}
	return rep, nil
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

var blockNumRe = regexp.MustCompile(`block (\d+)`)

// faultHeight pulls the height out of an error reading the log.
func faultHeight(err error) uint64 {
	var ce *wal.CorruptError
	if errors.As(err, &ce) {
		return ce.Index
	}
	if m := blockNumRe.FindStringSubmatch(err.Error()); m != nil {
		h, _ := strconv.ParseUint(m[1], 10, 64)
		return h
	}
	return 0
}

// OrdererDirs returns the orderer data directories of a `baybus up` data
// directory (DIR/orderers/<name>), in the trust bundle's order.
func OrdererDirs(dataDir string, trust *keys.Bundle) []string {
	var out []string
	for _, o := range trust.Orderers {
		d := filepath.Join(dataDir, "orderers", o)
		if _, err := os.Stat(filepath.Join(d, "blocks")); err == nil {
			out = append(out, d)
		}
	}
	return out
}
