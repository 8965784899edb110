package orderer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/wal"
)

// The scrub reads the whole block log, at start and every Config.ScrubEvery,
// checking every record's CRC and hash link, so that damage in the middle
// of the log (which Open does not read) is found before a reader meets it.
// It reads through a blocklog.Reader, with its own file handles, so the
// commit path does not wait for it. On damage it logs the height, counts
// it (Stats.ScrubDamage), leaves RepairFile in the data directory and fails
// the orderer: the next New keeps the damaged log aside, cuts it before the
// damage and fetches the rest from the peers (repair.go).

// scrub runs passes until the orderer stops.
func (n *Node) scrub() {
	defer n.wg.Done()
	for {
		if err := n.scrubPass(); err != nil {
			var at *scrubDamage
			if errors.As(err, &at) && !errors.Is(at.err, wal.ErrCorrupt) {
				// Whole records (their CRCs hold) that do not decode or
				// link: not storage damage but a log that was written
				// wrong, which a repair from the peers cannot tell apart.
				n.stats.scrubDamage.Add(1)
				n.log.Error("scrub: block log holds a record that does not follow the chain; an operator must look (verify-chain)", "height", at.height, "err", at.err)
			} else if errors.As(err, &at) {
				n.stats.scrubDamage.Add(1)
				n.log.Error("scrub: block log damaged; repairing it from the peers", "height", at.height, "err", at.err)
				if werr := os.WriteFile(filepath.Join(n.cfg.DataDir, RepairFile), fmt.Appendf(nil, "%d\n", at.height), 0o640); werr != nil {
					n.log.Error("scrub: could not leave the repair marker", "err", werr)
				}
				n.fail(at.err)
				return
			}
			if n.ctx.Err() != nil {
				return
			}
			n.log.Warn("scrub: pass abandoned", "err", err)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(n.cfg.ScrubEvery):
		}
	}
}

type scrubDamage struct {
	height uint64
	err    error
}

func (e *scrubDamage) Error() string { return fmt.Sprintf("block %d: %v", e.height, e.err) }
func (e *scrubDamage) Unwrap() error { return e.err }

// scrubPass checks every record the log holds now.
func (n *Node) scrubPass() error {
	start := time.Now()
	r, err := blocklog.OpenReaderCold(filepath.Join(n.cfg.DataDir, "blocks"), n.cfg.Cold)
	var ce *wal.CorruptError
	if errors.As(err, &ce) {
		return &scrubDamage{height: ce.Index, err: err}
	}
	if err != nil {
		return err
	}
	// With an archive (Config.Cold), only the live log is scrubbed, from
	// the archive's last block, its parent; the archive's chunks are
	// checked against their hashes whenever they are read.
	var prev *block.Header
	from := r.First()
	if from > 1 {
		if prev, err = r.Header(n.ctx, from-1); err != nil {
			return err
		}
	}
	err = r.Scan(n.ctx, from, r.Height(), nil, func(h uint64, raw []byte) error {
		rec, err := blocklog.DecodeRecord(raw, true)
		if err != nil {
			return &scrubDamage{height: h, err: &blocklog.RecordError{Height: h, Err: err}}
		}
		if err := blocklog.Links(prev, &rec.Header); err != nil {
			return &scrubDamage{height: h, err: &blocklog.RecordError{Height: h, Err: err}}
		}
		hdr := rec.Header
		prev = &hdr
		return nil
	})
	if errors.As(err, &ce) {
		return &scrubDamage{height: ce.Index, err: err}
	}
	if err != nil {
		return err
	}
	n.stats.scrubPasses.Add(1)
	n.log.Info("scrub: block log whole", "height", r.Height(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}
