package blocklog

import (
	"context"
	"errors"
	"fmt"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas/keys"
)

// Reader reads a stopped orderer's block log in place, for audits and
// reconciliation: it is a wal.Reader, so nothing in the directory is
// written, created, cut, renamed or fsynced, and the log is judged as it
// was found, even on a read-only mount.
//
// A torn last record (a crash in the middle of an append, which the orderer
// cuts when it next starts) ends the log and is reported by Torn.
// Corruption is an error: at OpenReader for the last segment, while
// scanning for older ones.
//
// A Reader is a snapshot of the log at OpenReader and is safe for
// concurrent use; it keeps no file open between calls.
type Reader struct {
	dir  string
	log  *wal.Reader
	cold Cold // the archive of the blocks below the log, or nil
}

// OpenReader opens the block log in dir for reading only. Errors: a
// missing directory; wal.ErrTruncating if a truncation was interrupted
// there (the orderer finishes it when it next starts); a *wal.CorruptError
// for corruption in the last segment (Index is the block's height);
// ErrBrokenChain if the log does not start at block 1.
func OpenReader(dir string) (*Reader, error) { return OpenReaderCold(dir, nil) }

// OpenReaderCold is OpenReader for a log whose oldest blocks were archived
// to cold (Store.Archive): Scan, Verify and Header read the heights below
// the live log from cold. The live log may start anywhere from block 1 to
// cold.Height()+1; a gap is ErrArchive.
func OpenReaderCold(dir string, cold Cold) (*Reader, error) {
	l, err := wal.OpenReader(dir)
	if errors.Is(err, wal.ErrTruncating) {
		return nil, fmt.Errorf("blocklog: %w (the orderer finishes it when it next starts)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("blocklog: %w", err)
	}
	if first, last := l.FirstIndex(), l.LastIndex(); last >= first && first != 1 {
		if cold == nil {
			return nil, fmt.Errorf("%w: the block log in %s starts at block %d", ErrBrokenChain, dir, first)
		}
		if first > cold.Height()+1 {
			return nil, fmt.Errorf("%w: the block log in %s starts at block %d, the archive holds 1..%d", ErrArchive, dir, first, cold.Height())
		}
	}
	return &Reader{dir: dir, log: l, cold: cold}, nil
}

// Dir returns the log's directory.
func (r *Reader) Dir() string { return r.dir }

// First returns the first height the log itself holds (Height()+1 for an
// empty log): with an archive (OpenReaderCold), the heights below it are
// the archive's.
func (r *Reader) First() uint64 { return r.log.FirstIndex() }

// Height returns the height of the last whole record (0 for an empty log).
func (r *Reader) Height() uint64 { return r.log.LastIndex() }

// Torn returns the torn last record the orderer would cut (Index is its
// height), or nil.
func (r *Reader) Torn() *wal.CorruptError { return r.log.Torn() }

// Scan calls fn with the raw record of every block from..to in height
// order (clamped to 1..Height), or only of the heights want accepts if it
// is not nil; the others are skipped unread. fn owns raw. Records are not
// verified (VerifyRecord, or Verify, does that); damage to a record read is
// a *wal.CorruptError whose Index is its height. It stops at ctx's
// cancellation and at fn's first error, which it returns as is.
func (r *Reader) Scan(ctx context.Context, from, to uint64, want func(uint64) bool, fn func(height uint64, raw []byte) error) error {
	from = max(from, 1)
	if first := r.log.FirstIndex(); r.cold != nil && from < first {
		for h := from; h < first && h <= to; h++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if want != nil && !want(h) {
				continue
			}
			raw, err := r.cold.Raw(ctx, h)
			if err != nil {
				return err
			}
			if err := fn(h, raw); err != nil {
				return err
			}
		}
		from = first
	}
	return r.log.Scan(from, to, want, func(h uint64, raw []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(h, raw)
	})
}

// Verify reads the whole log from block 1 and checks each record with
// VerifyRecord against the one before it, handing fn every record that
// passes. It returns the first error: a *RecordError, a *wal.CorruptError,
// ctx's error or fn's.
//
// trust is the genesis: each configuration block (block.NextTrust) makes
// the configuration the records after it are checked under.
func (r *Reader) Verify(ctx context.Context, trust *keys.Bundle, fn func(rec *Record, blk *block.Block) error) error {
	var parent *block.Header
	return r.Scan(ctx, 1, r.Height(), nil, func(_ uint64, raw []byte) error {
		rec, blk, err := VerifyRecord(trust, parent, raw)
		if err != nil {
			return err
		}
		next, err := block.NextTrust(trust, blk)
		if err != nil {
			return &RecordError{Height: blk.Header.Height, Err: err}
		}
		if err := fn(rec, blk); err != nil {
			return err
		}
		parent, trust = &blk.Header, next
		return nil
	})
}

// Header returns the header of block h, reading (and streaming past) the
// segment that holds it.
func (r *Reader) Header(ctx context.Context, h uint64) (*block.Header, error) {
	if h == 0 || h > r.Height() {
		return nil, fmt.Errorf("%w: %d (the log holds 1..%d)", ErrNoBlock, h, r.Height())
	}
	var hdr *block.Header
	err := r.Scan(ctx, h, h, nil, func(_ uint64, raw []byte) error {
		rec, err := DecodeRecord(raw, true)
		if err != nil {
			return &RecordError{Height: h, Err: err}
		}
		hdr = &rec.Header
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hdr, nil
}
