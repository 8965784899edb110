package orderer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/ledger/wal"
)

// Repair: one orderer's damaged block log is its own problem, and its peers
// hold every block it lost. When a record fails its CRC (Open finds it in
// the last segment; the scrub finds it in an older one and leaves a marker,
// RepairFile, before it fails the orderer), New keeps the whole log aside
// as it was (renamed to DataDir/blocks.damaged-<time>, never deleted
// here), writes the live log anew from the records before the damage, and
// carries on from
// there: the state and the index, now ahead of the log, are rebuilt from it
// (StateAheadError; ledger/node reopens the state empty), and Start fetches
// the missing blocks from the peers, each checked and replayed as any
// synced block is. A torn tail (a crash in the middle of an append) is cut
// by ledger/wal on open as before; if the state had already applied the
// block that was cut (possible only if the file was damaged after the
// crash, as issue 13's reproduction does by cutting bytes), the state is
// rebuilt too, instead of the orderer refusing to start.

// RepairFile, in an orderer's data directory, names a block height the
// scrub found damaged; New repairs the block log from there.
const RepairFile = "blocks.repair"

// StateAheadError: the license state has applied blocks the block log no
// longer holds; see replica.StateAheadError.
type StateAheadError = replica.StateAheadError

// openBlocks opens the block log, repairing it first if it is damaged.
func (n *Node) openBlocks(dir string, opts wal.Options) (*blocklog.Store, error) {
	marker := filepath.Join(n.cfg.DataDir, RepairFile)
	if raw, err := os.ReadFile(marker); err == nil {
		h, _ := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		n.log.Warn("repair: the scrub found the block log damaged; repairing it", "height", h)
		if err := n.repairScan(dir); err != nil {
			return nil, err
		}
		if err := os.Remove(marker); err != nil {
			return nil, fmt.Errorf("orderer: repair: %w", err)
		}
	}
	st, err := blocklog.OpenStoreCold(dir, opts, n.cfg.Cold)
	var ce *wal.CorruptError
	switch {
	case !errors.As(err, &ce):
		return st, err
	case ce.Segment != "":
		err = n.cutAt(dir, ce) // in the last segment: Open says where
	default:
		err = n.repairScan(dir) // a read found it: look for where
	}
	if err != nil {
		return nil, err
	}
	return blocklog.OpenStoreCold(dir, opts, n.cfg.Cold)
}

// repairScan reads the whole log for the first damaged record and cuts the
// log before it; a log found whole is left as it is.
func (n *Node) repairScan(dir string) error {
	r, err := wal.OpenReader(dir)
	var ce *wal.CorruptError
	if errors.As(err, &ce) && ce.Segment != "" {
		return n.cutAt(dir, ce)
	}
	if err != nil {
		return fmt.Errorf("orderer: repair: %w", err)
	}
	err = r.Scan(r.FirstIndex(), r.LastIndex(), nil, func(uint64, []byte) error { return nil })
	if errors.As(err, &ce) && ce.Segment != "" {
		return n.cutAt(dir, ce)
	}
	if err != nil {
		return fmt.Errorf("orderer: repair: %w", err)
	}
	n.log.Warn("repair: the block log reads whole now; nothing to repair")
	return nil
}

// cutAt moves the damaged log aside as it is (renamed, so nothing of it
// changes) and writes the live log anew from its records before the
// damaged one: the segments before the damaged one are copied whole, the
// damaged one up to where the damaged record starts; the segments after it
// are left out (their blocks come from the peers).
func (n *Node) cutAt(dir string, ce *wal.CorruptError) error {
	aside := fmt.Sprintf("%s.damaged-%s", dir, time.Now().UTC().Format("20060102T150405.000000000"))
	first, err := strconv.ParseUint(ce.Segment, 10, 64)
	if err != nil {
		return fmt.Errorf("orderer: repair: segment %q: %w", ce.Segment, err)
	}
	if err := os.Rename(dir, aside); err != nil {
		return fmt.Errorf("orderer: repair: keeping the damaged block log aside: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		return fmt.Errorf("orderer: repair: %w", err)
	}
	ents, err := os.ReadDir(aside)
	if err != nil {
		return fmt.Errorf("orderer: repair: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		i, err := strconv.ParseUint(name, 10, 64)
		if err != nil || len(name) != len(ce.Segment) || i > first {
			continue // not a segment (an interrupted truncation's files), or after the damage
		}
		size := int64(-1)
		if i == first {
			if ce.Offset == 0 {
				continue
			}
			size = ce.Offset
		}
		if err := copyPrefix(filepath.Join(aside, name), filepath.Join(dir, name), size); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	n.log.Warn("repair: block log damaged; the damaged log is kept aside, the live one rewritten from the records before the damage, the rest comes from the peers",
		"height", ce.Index, "segment", ce.Segment, "offset", ce.Offset, "kept", aside, "now_up_to", ce.Index-1, "damage", ce.Err)
	n.repaired = ce.Index
	return nil
}

// copyPrefix copies the first size bytes of src (all of it for size < 0)
// to a new file dst and fsyncs it.
func copyPrefix(src, dst string, size int64) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("orderer: repair: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("orderer: repair: %w", err)
	}
	var r io.Reader = in
	if size >= 0 {
		r = io.LimitReader(in, size)
	}
	_, err = io.Copy(out, r)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("orderer: repair: writing %s: %w", dst, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("orderer: repair: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("orderer: repair: fsync %s: %w", dir, err)
	}
	return nil
}

// walSequence returns the highest sequence the engine WAL's entries hold a
// proposal or a commit vote for (0 if none).
func walSequence(entries [][]byte) uint64 {
	var seq uint64
	for _, e := range entries {
		m := &protos.SavedMessage{}
		if proto.Unmarshal(e, m) != nil {
			continue
		}
		if pp := m.GetProposedRecord().GetPrePrepare(); pp != nil {
			seq = max(seq, pp.GetSeq())
		}
		if c := m.GetCommit().GetCommit(); c != nil {
			seq = max(seq, c.GetSeq())
		}
	}
	return seq
}

// walAheadWait bounds how long Start waits for peers to bring the block log
// up to what the engine WAL holds.
const walAheadWait = 30 * time.Second

// catchUpToWAL makes sure the block log reaches the sequence before the
// one the engine WAL holds a proposal for. The engine refuses (panics on) a
// WAL whose proposal is beyond the next block: that happens when the block
// log lost blocks (a repair cut it), and the peers, which may be starting
// too, hold them. The WAL is never dropped: it holds this orderer's votes,
// and voting again without them could contradict them.
func (n *Node) catchUpToWAL(seq uint64) error {
	if seq <= n.store.Height()+1 {
		return nil
	}
	deadline := time.Now().Add(walAheadWait)
	for n.store.Height()+1 < seq {
		n.log.Warn("the engine WAL is ahead of the block log; fetching the blocks between from the peers", "wal", seq, "height", n.store.Height())
		n.syncer.catchUp(n.ctx, seq-1)
		if n.store.Height()+1 >= seq {
			break
		}
		if err := n.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) || n.ctx.Err() != nil {
			return fmt.Errorf("orderer: the engine WAL holds sequence %d but the block log only reaches %d, and no peer could bring it there within %v", seq, n.store.Height(), walAheadWait)
		}
		select {
		case <-n.ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}
