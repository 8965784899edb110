package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/snapshot"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/schemas/keys"
)

// JoinConfig says how an orderer joins the chain from a state snapshot
// instead of replaying it from block 1 (issue 17 §5).
type JoinConfig struct {
	// DataDir is the joining orderer's data directory; it must hold no
	// license state and no block log.
	DataDir string
	// Trust is the trust bundle the snapshot is checked against.
	Trust *keys.Bundle
	// Snapshot is the snapshot's file, <sha-256>.snap (ledger/snapshot).
	Snapshot string
	// From is a peer's block archive holding at least the blocks up to the
	// snapshot's height; its chunks are copied into Archive.
	From archive.Objects
	// Archive is the joining orderer's own archive: its Config.Archive.
	// Objects when it runs.
	Archive archive.Objects
}

// JoinResult says what Join did.
type JoinResult struct {
	Snapshot snapshot.Info
	Copied   int    // chunks copied from the peer's archive
	Archived uint64 // the height the archive holds: the new log continues it
}

// Join prepares DataDir for an orderer that joins from a snapshot: it
// copies the peer's archive into the orderer's own (each chunk checked),
// restores and checks the snapshot's license state (ledger/snapshot), checks
// that the archive holds the snapshot's block, the same block, and starts
// an empty block log that continues the archive. The orderer then opens
// (Open, with Config.Archive.Objects = Archive) with its state at the
// snapshot's height S and its log at the archive's height A >= S: it
// rebuilds its transaction index from the archive's blocks (decoding them,
// no signature checked, as its own log's), replays into the state only the
// blocks S+1..A, and fetches the rest from its peers as any lagging
// orderer does; the catalogue's follower reads the archive's blocks too.
// A snapshot above the peer's archive is refused: take it at a height the
// archive holds (snapshot create --height).
func Join(ctx context.Context, jc JoinConfig) (JoinResult, error) {
	var res JoinResult
	if jc.Trust == nil || jc.DataDir == "" || jc.Snapshot == "" || jc.From == nil || jc.Archive == nil {
		return res, fmt.Errorf("%w: join needs DataDir, Trust, Snapshot, From and Archive", ErrConfig)
	}
	stateDir, blocksDir := filepath.Join(jc.DataDir, "state"), filepath.Join(jc.DataDir, "blocks")
	for _, d := range []string{stateDir, blocksDir} {
		if _, err := os.Stat(d); err == nil {
			return res, fmt.Errorf("%w: join: %s exists: join into a new data directory", ErrConfig, d)
		}
	}
	var err error
	if res.Copied, err = archive.Copy(ctx, jc.From, jc.Archive); err != nil {
		return res, err
	}
	cold, err := archive.Open(ctx, jc.Archive, archive.Config{})
	if err != nil {
		return res, err
	}
	res.Archived = cold.Height()
	if err := os.MkdirAll(jc.DataDir, 0o755); err != nil {
		return res, fmt.Errorf("node: join: %w", err)
	}
	info, rec, err := snapshot.Restore(ctx, jc.Snapshot, jc.Trust, stateDir, state.Options{})
	res.Snapshot = info
	if err != nil {
		return res, err
	}
	undo := func(err error) (JoinResult, error) {
		return res, errors.Join(err, os.RemoveAll(stateDir))
	}
	if info.Height > res.Archived {
		return undo(fmt.Errorf("%w: join: the snapshot is at block %d, the archive holds blocks 1..%d only: take the snapshot at a height the archive holds", ErrConfig, info.Height, res.Archived))
	}
	if err := checkArchive(ctx, cold, rec.Header.Hash(), info.Height); err != nil {
		return undo(err)
	}
	if err := blocklog.ContinueArchive(blocksDir, cold); err != nil {
		return undo(err)
	}
	return res, nil
}

// checkArchive reads the archive's blocks from 1 up and checks that they
// are one hash chain, each block's body matching its header (hashes only,
// block.CheckContent), and that block at is the snapshot's, whose
// certificate Restore checked: so every block up to it is certified by
// that certificate, and the index the orderer builds from them is the
// chain's. Above it, the orderer's replay checks each block in full.
func checkArchive(ctx context.Context, cold *archive.Blocks, want [32]byte, at uint64) error {
	var prev *block.Header
	for h := uint64(1); h <= cold.Height(); h++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := cold.Raw(ctx, h)
		if err != nil {
			return err
		}
		rec, err := blocklog.DecodeRecord(raw, false)
		if err != nil {
			return fmt.Errorf("node: join: archived block %d: %w", h, err)
		}
		blk, err := block.Decode(rec.BlockData)
		if err != nil {
			return fmt.Errorf("node: join: archived block %d: %w", h, err)
		}
		if blk.Header.Hash() != rec.Header.Hash() {
			return fmt.Errorf("node: join: archived block %d: %w: the record's header is not its block's", h, blocklog.ErrRecord)
		}
		if err := blocklog.Links(prev, &blk.Header); err != nil {
			return fmt.Errorf("node: join: archived block %d: %w", h, err)
		}
		if err := block.CheckContent(blk); err != nil {
			return fmt.Errorf("node: join: archived block %d: %w", h, err)
		}
		if h == at && blk.Header.Hash() != want {
			return fmt.Errorf("%w: join: the archive's block %d is not the snapshot's: another chain, or a fork", ErrConfig, at)
		}
		hdr := blk.Header
		prev = &hdr
	}
	return nil
}
