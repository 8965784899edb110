package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
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
	retired bool       // replaced by a newer Resume: writes nothing (guarded by wmu)
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
		return 0, false, fmt.Errorf("node: proof mark %s: %q is not a height", path, raw)
	}
	return h, true, nil
}

func writeProofMark(path string, h uint64) error {
	return keys.WriteFileAtomic(path, []byte(strconv.FormatUint(h, 10)+"\n"), 0o644)
}

// add registers n bundles for height h (n may be 0). A nil mark (no
// Resume) tracks nothing.
func (m *proofMark) add(h uint64, n int) {
	if m == nil {
		return
	}
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

// settle accounts for one bundle of height h: stored, or dropped or
// failed and counted.
func (m *proofMark) settle(h uint64) {
	if m == nil {
		return
	}
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

// retire stops the mark writing its file: a newer mark owns it.
func (m *proofMark) retire() {
	m.wmu.Lock()
	m.retired = true
	m.wmu.Unlock()
}

// persist writes done to the file if it moved past what the file holds.
func (m *proofMark) persist() {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	h := m.height()
	if m.retired || h <= m.written {
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
// ledger's height now, read through prover (nil: a prover of its own).
// Without a mark file (a new data directory, or one from before marks) the
// mark starts at that height. Call it once the orderer is opened (its state
// replayed), before it starts committing. The backfill runs on its own
// goroutine until it is done, ctx is, StopBackfill is called (before
// closing src) or Close; it publishes once the publisher is started. A
// previous Resume's mark stops writing and its backfill is stopped.
func (p *ProofPublisher) Resume(ctx context.Context, path string, src LedgerSource, prover *proof.Prover) error {
	p.StopBackfill()
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
			return fmt.Errorf("node: proof mark: %w", err)
		}
	}
	mark := &proofMark{path: path, log: p.log, done: from, written: from, open: map[uint64]int{}, closed: map[uint64]bool{}}
	if old := p.mark.Swap(mark); old != nil {
		old.retire()
	}
	if from == top {
		return nil
	}
	if prover == nil {
		prover = proof.NewProver(src, p.cfg.Cache)
	}
	p.log.Info("proofs: publishing what the last run left", "from", from+1, "to", top)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	p.bfMu.Lock()
	p.bfCancel, p.bfDone = cancel, done
	p.bfMu.Unlock()
	go func() {
		defer close(done)
		defer cancel()
		start := time.Now()
		n, err := p.backfill(ctx, mark, src, prover, from+1, top)
		switch {
		case err != nil && ctx.Err() == nil:
			p.errs.Add(1)
			p.log.Error("proofs: backfill stopped; the next start resumes it", "err", err)
		case err != nil:
			p.log.Info("proofs: backfill stopped; the next start resumes it", "queued", n)
		default:
			p.log.Info("proofs: backfill done", "from", from+1, "to", top, "proofs", n, "took", time.Since(start).Round(time.Millisecond))
		}
	}()
	return nil
}

// StopBackfill stops the running backfill, if any, and waits for it: call
// it before closing the ledger Resume was given. The backfill checks for it
// between licenses, so it returns within about one license's proof.
func (p *ProofPublisher) StopBackfill() {
	p.bfMu.Lock()
	cancel, done := p.bfCancel, p.bfDone
	p.bfCancel, p.bfDone = nil, nil
	p.bfMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// errPublisherClosed stops a backfill whose publisher was closed.
var errPublisherClosed = errors.New("node: proof publisher closed")

// backfill queues a fresh proof of every license the OK transactions of
// heights from..to changed, once each: under the last of those heights
// that changed it (its leaf as of to), so nothing but the block at hand is
// remembered between heights. Memory is the prover's cache, one block's
// license keys and the bounded queue. It leaves live bundles room: it waits
// while the queue is half full. On an error or a stop it returns without
// accounting for the height it was at, so the mark stays below it and the
// next start goes on from there. It returns the count of proofs queued.
func (p *ProofPublisher) backfill(ctx context.Context, mark *proofMark, src LedgerSource, prover *proof.Prover, from, to uint64) (int, error) {
	queued := 0
	for h := from; h <= to; h++ {
		if err := ctx.Err(); err != nil {
			return queued, err
		}
		blk, err := prover.Block(h)
		if err != nil {
			return queued, fmt.Errorf("node: backfill block %d: %w", h, err)
		}
		keys, err := lastChangedAt(ctx, src, blk, to)
		if err != nil {
			return queued, fmt.Errorf("node: backfill block %d: %w", h, err)
		}
		mark.add(h, len(keys))
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return queued, err
			}
			b, err := prover.Latest(k)
			if err != nil {
				return queued, fmt.Errorf("node: backfill block %d, license %s: %w", h, k, err)
			}
			for len(p.queue) > cap(p.queue)/2 {
				select {
				case <-ctx.Done():
					return queued, ctx.Err()
				case <-p.closed:
					return queued, errPublisherClosed
				case <-time.After(10 * time.Millisecond):
				}
			}
			p.generated.Add(1)
			select {
			case p.queue <- proofMsg{height: h, bundle: b, mark: mark}:
				queued++
			case <-ctx.Done():
				return queued, ctx.Err()
			case <-p.closed:
				return queued, errPublisherClosed
			}
		}
	}
	return queued, nil
}

// lastChangedAt returns the licenses the OK transactions of blk changed
// for the last time at or below height to, in block order, once each.
func lastChangedAt(ctx context.Context, src LedgerSource, blk *block.Block, to uint64) ([]string, error) {
	h := blk.Header.Height
	seen := map[string]bool{}
	var keys []string
	for i, t := range blk.Txs() {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if t.Result != block.OK {
			continue
		}
		tx, err := schemas.DecodeTx(t.Bytes)
		if err != nil {
			return nil, err
		}
		k := tx.LicenseKey()
		if seen[k] {
			continue
		}
		seen[k] = true
		leaf, err := src.LeafAt(k, to)
		if err != nil {
			return nil, err
		}
		if leaf == nil {
			return nil, fmt.Errorf("%w: %s changed at %d but the state does not hold it at %d", proof.ErrSource, k, h, to)
		}
		if leaf.Height == h {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
