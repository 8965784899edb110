package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/orderer"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
)

// QueryBackend returns the node as the query service reads it (tests wrap
// it to make a node that lies).
func (n *Node) QueryBackend() query.Backend { return backend{n} }

// CatalogHeight is the height the license catalogue has reached (0 without
// one): it follows the chain off the commit path.
func (n *Node) CatalogHeight() uint64 {
	if n.catalog == nil {
		return 0
	}
	return n.catalog.height.Load()
}

// backend is the node as the query service reads it.
type backend struct{ n *Node }

var (
	_ query.Backend         = backend{}
	_ query.ConfigSubmitter = backend{}
)

// SubmitConfig hands a configuration transaction to this node's orderer
// (`baybus consortium submit`, through the query service).
func (b backend) SubmitConfig(ctx context.Context, tx *config.Tx) error {
	if err := b.n.ord.SubmitConfig(ctx, tx); err != nil {
		if errors.Is(err, orderer.ErrRequest) {
			return fmt.Errorf("%w: %w", query.ErrBadRequest, err)
		}
		return fmt.Errorf("%w: %w", query.ErrUnavailable, err)
	}
	return nil
}

func (b backend) Status() query.Status {
	return query.Status{Height: b.n.Height(), SealedSeq: b.n.SealedSeq(), Ready: b.n.Ready() == nil}
}

func (b backend) Lookup(id schemas.TxID) (query.Location, bool) {
	l, ok := b.n.ord.Lookup(id)
	return query.Location{Height: l.Height, Position: l.Position, Leaf: l.Leaf, Result: l.Result, BlockHash: l.BlockHash}, ok
}

func (b backend) WaitHeight(ctx context.Context, h uint64) error { return b.n.ord.WaitHeight(ctx, h) }

func (b backend) Sealed(h uint64) (*block.Header, *block.QC, error) { return b.n.prover.Sealed(h) }

func (b backend) Block(h uint64) (*block.Block, error) { return b.n.prover.Block(h) }

func (b backend) TxAt(h uint64, pos int) (*proof.TxProof, block.Tx, error) {
	return b.n.prover.TxAt(h, pos)
}

func (b backend) LeafPath(h uint64, leaf int) ([]proof.Hash, error) {
	return b.n.prover.LeafPath(h, leaf)
}

func (b backend) Results(h uint64) ([]block.Result, error) { return b.n.prover.Results(h) }

func (b backend) LatestProof(key string) (*proof.Bundle, error) { return b.n.LatestProof(key) }

func (b backend) History(key string, before uint64, limit int) ([]query.LicenseVersion, error) {
	return b.n.History(key, before, limit)
}

func (b backend) Licenses(f query.LicenseFilter) ([]query.LicenseEntry, string, error) {
	return b.n.Licenses(f)
}

// History returns up to limit versions of a license, newest first, made
// below height before (0: from the latest). It walks the state's history
// one version at a time (a point read each).
func (n *Node) History(key string, before uint64, limit int) ([]query.LicenseVersion, error) {
	at := ^uint64(0)
	if before > 0 {
		at = before - 1
	}
	var out []query.LicenseVersion
	for len(out) < limit && at > 0 {
		leaf, err := n.state.GetAt(key, at)
		if errors.Is(err, state.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("node: history of %s: %w", key, err)
		}
		out = append(out, query.LicenseVersion{Height: leaf.Height, Status: leaf.Status, RecordHash: schemas.TxID(leaf.RecordHash), TxID: schemas.TxID(leaf.TxID)})
		at = leaf.Height - 1
	}
	if len(out) == 0 && before == 0 {
		return nil, fmt.Errorf("%w: license %s", query.ErrNotFound, key)
	}
	return out, nil
}

// Licenses returns a page of the license catalogue (see
// query.LicenseFilter) and the cursor of the next ("" after the last).
func (n *Node) Licenses(f query.LicenseFilter) ([]query.LicenseEntry, string, error) {
	if n.catalog == nil {
		return nil, "", fmt.Errorf("%w: orderer %s keeps no license catalogue", query.ErrUnavailable, n.cfg.Name)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	return n.catalog.list(f)
}

// chain is the node's chain as the catalogue's follower reads it.
type chain struct{ n *Node }

// Height is the height through which both the block log and the state
// are committed: the block log is appended first, and a block's statuses
// are read from the state.
func (c chain) Height() uint64 { return min(c.n.ord.Height(), c.n.state.Height()) }

func (c chain) Block(h uint64) (*block.Block, error) {
	blk, _, err := c.n.Source().Block(h)
	return blk, err
}

func (c chain) StatusAt(key string, h uint64) (schemas.Status, error) {
	return statusAt(c.n.state.Store, key, h)
}
