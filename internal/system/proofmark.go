package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
)

// The proof mark: a publisher's bundles wait in memory, so a crash loses
// those not yet stored by GBA_PROOFS, and blocks an orderer replays into
// its state on restart never pass its commit hook. The mark is the height
// through which every block's proofs are accounted for (stored, or dropped
// or failed and counted), in a small file next to the block log. A
// restarted publisher (Resume) publishes fresh proofs (proof.Latest: the
// license's status now) of every license the blocks above the mark
// touched, so a subscriber misses no license that changed, at worst it
// receives a proof twice.

// ProofMarkFile is the mark's file name in an orderer's data directory.
const ProofMarkFile = "proofs.mark"

// proofMark tracks the bundles of each height not yet accounted for and
// writes the contiguous prefix to its file (temporary file, fsync,
// rename), outside its lock so publishers do not wait on the fsync. Safe
// for concurrent use.
type proofMark struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	done   uint64         // every height up to done is accounted for
	open   map[uint64]int // heights above done: bundles outstanding
	closed map[uint64]bool

	wmu     sync.Mutex // serialises writes
	written uint64     // the height in the file
}

// readProofMark reads the mark file; ok is false if there is none.
func readProofMark(path string) (height uint64, ok bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	h, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("system: proof mark %s: %q is not a height", path, raw)
	}
	return h, true, nil
}

func writeProofMark(path string, h uint64) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(strconv.FormatUint(h, 10) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		err = d.Sync()
		d.Close()
		return err
	}
	return nil
}

// add registers n bundles for height h (n may be 0).
func (m *proofMark) add(h uint64, n int) {
	m.mu.Lock()
	if h <= m.done || m.closed[h] {
		m.mu.Unlock()
		return
	}
	moved := false
	if n <= 0 {
		moved = m.closeLocked(h)
	} else {
		m.open[h] += n
	}
	m.mu.Unlock()
	if moved {
		m.persist()
	}
}

// settle accounts for one bundle of height h.
func (m *proofMark) settle(h uint64) {
	m.mu.Lock()
	left, ok := m.open[h]
	moved := false
	switch {
	case !ok:
	case left > 1:
		m.open[h] = left - 1
	default:
		delete(m.open, h)
		moved = m.closeLocked(h)
	}
	m.mu.Unlock()
	if moved {
		m.persist()
	}
}

// closeLocked marks h accounted for and reports whether done moved.
func (m *proofMark) closeLocked(h uint64) bool {
	m.closed[h] = true
	moved := false
	for m.closed[m.done+1] {
		delete(m.closed, m.done+1)
		m.done++
		moved = true
	}
	return moved
}

// persist writes done to the file if it moved past what the file holds.
func (m *proofMark) persist() {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	h := m.height()
	if h <= m.written {
		return
	}
	if err := writeProofMark(m.path, h); err != nil {
		m.log.Error("proofs: cannot write the proof mark", "path", m.path, "height", h, "err", err)
		return
	}
	m.written = h
}

func (m *proofMark) height() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done
}

// Resume starts tracking the proof mark in path for an orderer whose
// ledger is src, and publishes what a previous run left unpublished: fresh
// proofs of the licenses changed by the blocks above the mark, up to the
// ledger's height now. Without a mark file (a new data directory, or one
// from before marks) the mark starts at that height. Call it once the
// orderer is opened (its state replayed), before it starts committing; the
// backfill runs on its own goroutine until done or Close, and publishes
// once the publisher is started.
func (p *ProofPublisher) Resume(ctx context.Context, path string, src LedgerSource) error {
	top := src.Blocks.Height()
	from, ok, err := readProofMark(path)
	if err != nil {
		return err
	}
	if !ok || from > top {
		from = top
	}
	if !ok || from == top {
		if err := writeProofMark(path, top); err != nil {
			return fmt.Errorf("system: proof mark: %w", err)
		}
	}
	p.mark.Store(&proofMark{path: path, log: p.log, done: from, written: from, open: map[uint64]int{}, closed: map[uint64]bool{}})
	if from == top {
		return nil
	}
	p.log.Info("proofs: publishing what the last run left", "from", from+1, "to", top)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.backfill(ctx, src, from+1, top); err != nil && ctx.Err() == nil {
			p.errs.Add(1)
			p.log.Error("proofs: backfill", "err", err)
		}
	}()
	return nil
}

// backfill queues a fresh proof of every license the OK transactions of
// heights from..to changed, each under the first height that changed it.
// It waits for room in the queue rather than dropping.
func (p *ProofPublisher) backfill(ctx context.Context, src LedgerSource, from, to uint64) error {
	mark := p.mark.Load()
	seen := map[string]bool{}
	for h := from; h <= to; h++ {
		blk, _, err := src.Block(h)
		if err != nil {
			mark.add(h, 0)
			return err
		}
		var keys []string
		for _, t := range blk.Txs() {
			if t.Result != block.OK {
				continue
			}
			tx, err := schemas.DecodeTx(t.Bytes)
			if err != nil {
				return fmt.Errorf("block %d: %w", h, err)
			}
			if k := tx.LicenseKey(); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		mark.add(h, len(keys))
		for _, k := range keys {
			b, err := proof.Latest(src, k)
			if err != nil {
				p.errs.Add(1)
				p.log.Error("proofs: backfill proof", "key", k, "err", err)
				mark.settle(h)
				continue
			}
			p.generated.Add(1)
			select {
			case p.queue <- proofMsg{height: h, bundle: b}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}
