package soak

import (
	"context"
	"errors"
	"fmt"

	"github.com/baybus/baybus/ledger/audit"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas/keys"
)

// ErrVerify: verify-chain (ledger/audit) found a fault in an orderer's
// chain, or the chains fork.
var ErrVerify = errors.New("soak: verify-chain failed")

// follower reads one orderer's block log as it grows, block by block,
// each record verified against the one before it (blocklog.VerifyRecord:
// hash link, batch signatures, results hash, transaction root, quorum
// certificate, consensus metadata). Reading only what is new keeps each
// check's cost to the blocks sealed since the last one; the state root is
// recomputed from scratch only by the full verify-chain at the end.
//
// The log is read while its orderer runs: the reader sees the records
// whole at the moment it opens (a record being appended is a torn tail it
// leaves out). A log that is shorter than what was read before (an
// orderer repairing its log from its peers) is read on once it is longer.
type follower struct {
	name, dir string
	chain     *Chain
	parent    *block.Header
	fails     int // consecutive failed reads
}

func newFollower(name, dir string) *follower {
	return &follower{name: name, dir: dir, chain: &Chain{Name: name, OK: map[[32]byte]int{}, Sealed: map[[32]byte]int{}}}
}

// advance reads the records after the last one read.
func (f *follower) advance(ctx context.Context, trust *keys.Bundle) error {
	r, err := blocklog.OpenReader(f.dir)
	if err != nil {
		return fmt.Errorf("soak: %s: %w", f.name, err)
	}
	from := f.chain.Height() + 1
	if r.Height() < from {
		return nil
	}
	err = r.Scan(ctx, from, r.Height(), nil, func(_ uint64, raw []byte) error {
		_, b, err := blocklog.VerifyRecord(trust, f.parent, raw)
		if err != nil {
			return err
		}
		c := f.chain
		c.Hashes = append(c.Hashes, b.Header.Hash())
		c.StateRoots = append(c.StateRoots, b.Header.StateRoot)
		for _, tx := range b.Txs() {
			c.Sealed[tx.ID]++
			if tx.Result == block.OK {
				c.OK[tx.ID]++
			}
		}
		f.parent = &b.Header
		return nil
	})
	if err != nil {
		return fmt.Errorf("soak: %s: %w", f.name, err)
	}
	return nil
}

// verifyCluster runs verify-chain over the logs: every record, the
// license state rebuilt from scratch with the orderers' rules, the chains
// compared. A fault is an error wrapping ErrVerify and the audit's *Fault.
func verifyCluster(ctx context.Context, logs []audit.Log, trust *keys.Bundle) error {
	rep, err := audit.VerifyCluster(ctx, logs, trust)
	switch {
	case err == nil:
		return nil
	case rep != nil:
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	return fmt.Errorf("soak: verify-chain: %w", err)
}
