package proof

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/merkle"
)

// Build errors.
var (
	// ErrNotFound: the ledger holds no such license.
	ErrNotFound = errors.New("proof: no such license")
	// ErrSource: what the node's ledger returned does not fit together
	// (a header whose state root is not the state's, a transaction missing
	// from the block its leaf names). It means the state moved under the
	// builder, or a corrupt store.
	ErrSource = errors.New("proof: ledger inconsistent")
	// ErrStateMoved: the state store is not at the height and root of the
	// header a bundle is built for (see ProveAt).
	ErrStateMoved = errors.New("proof: state is not at the block's height and root")
)

// StateProver proves a license's leaf (nil if the ledger has none) under the
// state root of the header a bundle is built for.
type StateProver func(key string) (*smt.Leaf, *smt.Proof, error)

// ProveAt adapts a state store's ProveRoot (ledger/state.Store.ProveRoot) to
// a StateProver for header h: a proof read at any other height or root is
// refused with ErrStateMoved, so a bundle never pairs a header with a state
// that moved on.
func ProveAt(h *block.Header, proveRoot func(key string) (*smt.Leaf, *smt.Proof, uint64, [32]byte, error)) StateProver {
	return func(key string) (*smt.Leaf, *smt.Proof, error) {
		leaf, p, height, root, err := proveRoot(key)
		if err != nil {
			return nil, nil, err
		}
		if height != h.Height || root != h.StateRoot {
			return nil, nil, fmt.Errorf("%w: state at %d (root %x), block %d (root %x)", ErrStateMoved, height, root[:4], h.Height, h.StateRoot[:4])
		}
		return leaf, p, nil
	}
}

// ForBlock returns a bundle for every OK transaction of blk, in block order,
// each proving the transaction against h (which must be blk's header) and
// qc, and the license's status right after the block through prove, which
// must prove against h.StateRoot. A license changed by several
// transactions of the block is proved once and its state proof shared.
func ForBlock(h *block.Header, qc *block.QC, blk *block.Block, prove StateProver) ([]*Bundle, error) {
	return Builder{}.ForBlock(h, qc, blk, prove)
}

// Builder builds the bundles of a block. The zero value works one
// transaction at a time.
type Builder struct {
	// Workers decode transactions and prove licenses in parallel (default
	// 1). With more than one, the StateProver is called concurrently
	// (ledger/state.Store.ProveRoot allows it).
	Workers int
}

// ForBlock is the package's ForBlock, with b's parallelism.
func (bd Builder) ForBlock(h *block.Header, qc *block.QC, blk *block.Block, prove StateProver) ([]*Bundle, error) {
	if blk.Header.Hash() != h.Hash() {
		return nil, fmt.Errorf("%w: block %d is not the header's", ErrSource, blk.Header.Height)
	}
	t := newBlockTrees(blk)
	if t.tx.Size() != uint64(h.TxCount) {
		return nil, fmt.Errorf("%w: block %d has %d OK transactions, header says %d", ErrSource, h.Height, t.tx.Size(), h.TxCount)
	}
	var txs []block.Tx
	for _, tx := range blk.Txs() {
		if tx.Result == block.OK {
			txs = append(txs, tx)
		}
	}
	// The license of each transaction, then one state proof per license.
	keys := make([]string, len(txs))
	decoded := make([]*schemas.Tx, len(txs))
	err := parallel(len(txs), bd.Workers, func(i int) error {
		dec, err := schemas.DecodeTx(txs[i].Bytes)
		if err != nil {
			return fmt.Errorf("%w: block %d transaction %d: %v", ErrSource, h.Height, txs[i].Position, err)
		}
		keys[i], decoded[i] = dec.LicenseKey(), dec
		return nil
	})
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	var unique []string
	for _, k := range keys {
		if _, ok := index[k]; !ok {
			index[k] = len(unique)
			unique = append(unique, k)
		}
	}
	states := make([]StateProof, len(unique))
	err = parallel(len(unique), bd.Workers, func(i int) error {
		leaf, p, err := prove(unique[i])
		if err != nil {
			return fmt.Errorf("proof: state proof of %s at %d: %w", unique[i], h.Height, err)
		}
		if leaf == nil || p == nil {
			return fmt.Errorf("%w: %s changed at %d but the state does not hold it", ErrSource, unique[i], h.Height)
		}
		states[i] = StateProof{Height: h.Height, Leaf: leaf, Proof: *p}
		return nil
	})
	if err != nil {
		return nil, err
	}
	headers := []SealedHeader{Seal(h, qc)}
	out := make([]*Bundle, len(txs))
	for i, tx := range txs {
		out[i] = &Bundle{V: Version, Key: keys[i], Tx: t.txProof(blk, tx), Headers: headers, State: states[index[keys[i]]], tx: decoded[i]}
	}
	return out, nil
}

// parallel runs fn(0..n-1) on up to workers goroutines and returns the
// first error.
func parallel(n, workers int, fn func(i int) error) error {
	if workers <= 1 || n < 2 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Source is a node's ledger as a fresh proof reads it. The node implements
// it over its block log and state store (internal/system.LedgerSource).
type Source interface {
	// ProveLatest proves a license at the state's latest height and says
	// which height and root that is, read under one lock so they agree.
	// The leaf is nil if the ledger does not hold the license.
	ProveLatest(key string) (leaf *smt.Leaf, p *smt.Proof, height uint64, root [32]byte, err error)
	// LeafAt returns the license's leaf as of a past height, nil if it
	// did not exist then.
	LeafAt(key string, height uint64) (*smt.Leaf, error)
	// Sealed returns the header of block h and its certificate.
	Sealed(h uint64) (*block.Header, *block.QC, error)
	// Block returns block h and its certificate.
	Block(h uint64) (*block.Block, *block.QC, error)
}

// Latest builds a fresh bundle for a license: its last change (the state
// leaf's TxID, sealed at the leaf's height), the transaction holding the
// record in force if that is another one, and the state proof at the
// latest height, with every header involved. A license the ledger does not
// hold is ErrNotFound.
func Latest(src Source, key string) (*Bundle, error) {
	if err := smt.CheckKey(key); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	leaf, sp, height, root, err := src.ProveLatest(key)
	if err != nil {
		return nil, err
	}
	if leaf == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	sh, sqc, err := src.Sealed(height)
	if err != nil {
		return nil, fmt.Errorf("proof: header %d: %w", height, err)
	}
	if sh.StateRoot != root || sh.Height != height {
		return nil, fmt.Errorf("%w: state at height %d has root %x, header %d says %x", ErrSource, height, root, sh.Height, sh.StateRoot)
	}
	if leaf.Height > height || leaf.Height == 0 {
		return nil, fmt.Errorf("%w: %s last changed at %d, state at %d", ErrSource, key, leaf.Height, height)
	}
	b := &Bundle{V: Version, Key: key, State: StateProof{Height: height, Leaf: leaf, Proof: *sp}}
	sealed := map[uint64]SealedHeader{height: Seal(sh, sqc)}

	part := func(h uint64, id Hash) (*TxProof, error) {
		blk, qc, err := src.Block(h)
		if err != nil {
			return nil, fmt.Errorf("proof: block %d: %w", h, err)
		}
		for _, tx := range blk.Txs() {
			if tx.Result == block.OK && tx.ID == [32]byte(id) {
				if _, ok := sealed[h]; !ok {
					sealed[h] = Seal(&blk.Header, qc)
				}
				p := newBlockTrees(blk).txProof(blk, tx)
				return &p, nil
			}
		}
		return nil, fmt.Errorf("%w: transaction %x of %s is not sealed in block %d", ErrSource, id, key, h)
	}
	last, err := part(leaf.Height, leaf.TxID)
	if err != nil {
		return nil, err
	}
	b.Tx = *last
	if leaf.RecordHash != leaf.TxID {
		// The record was set by the oldest version that carries the same
		// record hash: walk the history back to it.
		at := leaf.Height
		for at > 1 {
			prev, err := src.LeafAt(key, at-1)
			if err != nil {
				return nil, fmt.Errorf("proof: history of %s at %d: %w", key, at-1, err)
			}
			if prev == nil || prev.RecordHash != leaf.RecordHash {
				break
			}
			at = prev.Height
		}
		if b.Record, err = part(at, leaf.RecordHash); err != nil {
			return nil, err
		}
	}
	for _, h := range slices.Sorted(maps.Keys(sealed)) {
		b.Headers = append(b.Headers, sealed[h])
	}
	return b, nil
}

// blockTrees holds the Merkle levels of a block's transaction tree and,
// built on first use, of its batches' trees, so that each path costs
// O(log n) instead of rebuilding the tree.
type blockTrees struct {
	tx      *merkle.Tree
	batches map[int]*merkle.Tree
}

func newBlockTrees(blk *block.Block) *blockTrees {
	return &blockTrees{tx: merkle.NewTree(blk.OKIDs()), batches: map[int]*merkle.Tree{}}
}

func (t *blockTrees) txProof(blk *block.Block, tx block.Tx) TxProof {
	bt := blk.Batches[tx.Batch]
	bl, ok := t.batches[tx.Batch]
	if !ok {
		bl = merkle.NewTree(bt.IDs)
		t.batches[tx.Batch] = bl
	}
	return TxProof{
		ID: tx.ID, Bytes: tx.Bytes,
		Batch: BatchProof{Chain: bt.Chain, City: bt.City, CreatedAt: bt.CreatedAt, Seq: bt.Seq, Count: bt.Count, Root: bt.Root,
			KeyID: bt.KeyID, Signature: bt.Signature, Index: uint64(tx.InBatch), Path: mustPath(bl, tx.InBatch)},
		Height: blk.Header.Height, Index: uint64(tx.Leaf), Size: t.tx.Size(), Path: mustPath(t.tx, tx.Leaf),
	}
}

// mustPath is the path of a leaf the block's own transactions index: an
// index out of range is a broken invariant of block.Decode, not bad input.
func mustPath(t *merkle.Tree, i int) []Hash {
	p, err := t.Path(i)
	if err != nil {
		panic(fmt.Sprintf("proof: %v", err))
	}
	out := make([]Hash, len(p))
	for i, h := range p {
		out[i] = h
	}
	return out
}
