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
// transaction at a time and keeps nothing.
type Builder struct {
	// Workers decode transactions and prove licenses in parallel (default
	// 1). With more than one, the StateProver is called concurrently
	// (ledger/state.Store.ProveRoot allows it).
	Workers int
	// Cache, if set, keeps the block and its trees (BlockCache.Add), so
	// fresh proofs of its licenses (Prover) need not read it again.
	Cache *BlockCache
}

// ForBlock is the package's ForBlock, with b's parallelism.
func (bd Builder) ForBlock(h *block.Header, qc *block.QC, blk *block.Block, prove StateProver) ([]*Bundle, error) {
	if blk.Header.Hash() != h.Hash() {
		return nil, fmt.Errorf("%w: block %d is not the header's", ErrSource, blk.Header.Height)
	}
	var cb *cachedBlock
	if bd.Cache != nil {
		cb = bd.Cache.add(blk, qc)
	} else {
		cb = newCachedBlock(blk, qc)
	}
	if cb.tx.Size() != uint64(h.TxCount) {
		return nil, fmt.Errorf("%w: block %d has %d OK transactions, header says %d", ErrSource, h.Height, cb.tx.Size(), h.TxCount)
	}
	var txs []block.Tx
	for _, tx := range cb.txs {
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
			return fmt.Errorf("%w: block %d transaction %d: %w", ErrSource, h.Height, txs[i].Position, err)
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
	headers := []SealedHeader{cb.sealed}
	out := make([]*Bundle, len(txs))
	for i, tx := range txs {
		out[i] = &Bundle{V: Version, Key: keys[i], Tx: cb.proofOf(tx), Headers: headers, State: states[index[keys[i]]], tx: decoded[i]}
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
// it over its block log and state store (ledger/node.LedgerSource).
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
	// Block returns block h and its certificate. A Prover reads a block
	// once while it stays in its BlockCache.
	Block(h uint64) (*block.Block, *block.QC, error)
}

// Latest builds a fresh bundle for a license: its last change (the state
// leaf's TxID, sealed at the leaf's height), the transaction holding the
// record in force if that is another one, and the state proof at the
// latest height, with every header involved. A license the ledger does not
// hold is ErrNotFound.
//
// Latest keeps nothing between calls: it reads and decodes each block it
// needs. A node that answers many requests, or backfills the proofs of
// many licenses, uses a Prover, which keeps blocks and their trees.
func Latest(src Source, key string) (*Bundle, error) {
	return NewProver(src, nil).Latest(key)
}

// Prover builds fresh bundles from a Source, keeping the blocks it reads,
// with their Merkle trees, and the sealed headers in a BlockCache. Once
// its block is cached a bundle costs a state proof and two O(log n) paths,
// not a read, a decode and a tree of the whole block (which made each
// license of a block cost as much as the block: quadratic per block). It
// is safe for concurrent use.
type Prover struct {
	src   Source
	cache *BlockCache

	mu      sync.Mutex
	loading map[uint64]*load // blocks being read: one read per block, however many ask
}

// load is a block being read and decoded for the cache.
type load struct {
	done chan struct{}
	cb   *cachedBlock
	err  error
}

// NewProver returns a prover over src. A nil cache keeps no block between
// bundles.
func NewProver(src Source, cache *BlockCache) *Prover {
	if cache == nil {
		cache = NewBlockCache(-1)
	}
	return &Prover{src: src, cache: cache, loading: map[uint64]*load{}}
}

// Cache returns the prover's block cache.
func (p *Prover) Cache() *BlockCache { return p.cache }

// Latest is the package's Latest, reading blocks through the cache.
func (p *Prover) Latest(key string) (*Bundle, error) {
	if err := smt.CheckKey(key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	leaf, sp, height, root, err := p.src.ProveLatest(key)
	if err != nil {
		return nil, err
	}
	if leaf == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	top, err := p.sealed(height)
	if err != nil {
		return nil, fmt.Errorf("proof: header %d: %w", height, err)
	}
	if top.header.StateRoot != root || top.header.Height != height {
		return nil, fmt.Errorf("%w: state at height %d has root %x, header %d says %x", ErrSource, height, root, top.header.Height, top.header.StateRoot)
	}
	if leaf.Height > height || leaf.Height == 0 {
		return nil, fmt.Errorf("%w: %s last changed at %d, state at %d", ErrSource, key, leaf.Height, height)
	}
	b := &Bundle{V: Version, Key: key, State: StateProof{Height: height, Leaf: leaf, Proof: *sp}}
	sealed := map[uint64]SealedHeader{height: top.sealed}

	part := func(h uint64, id Hash) (*TxProof, error) {
		cb, err := p.block(h)
		if err != nil {
			return nil, fmt.Errorf("proof: block %d: %w", h, err)
		}
		tp, ok := cb.txProof(id)
		if !ok {
			return nil, fmt.Errorf("%w: transaction %x of %s is not sealed in block %d", ErrSource, id, key, h)
		}
		if _, ok := sealed[h]; !ok {
			sealed[h] = cb.sealed
		}
		return tp, nil
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
			prev, err := p.src.LeafAt(key, at-1)
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

// TxProof proves the OK transaction id of block h against its header (the
// batch path and signature, the path under TxRoot), through the cache, and
// returns the block's sealed header with it. ok is false if block h holds
// no such OK transaction.
func (p *Prover) TxProof(h uint64, id Hash) (tp *TxProof, sh SealedHeader, ok bool, err error) {
	cb, err := p.block(h)
	if err != nil {
		return nil, SealedHeader{}, false, err
	}
	tp, ok = cb.txProof(id)
	return tp, cb.sealed, ok, nil
}

// ErrPosition is a position past a block's transactions.
var ErrPosition = errors.New("proof: no transaction at that position")

// TxAt proves the transaction at position pos of block h (among all its
// transactions) as far as it can: its batch path always, its path under the
// header's TxRoot if it took effect. It returns the transaction's place
// and result with it.
func (p *Prover) TxAt(h uint64, pos int) (*TxProof, block.Tx, error) {
	cb, err := p.block(h)
	if err != nil {
		return nil, block.Tx{}, err
	}
	if pos < 0 || pos >= len(cb.txs) {
		return nil, block.Tx{}, fmt.Errorf("%w: %d of block %d (%d transactions)", ErrPosition, pos, h, len(cb.txs))
	}
	tp := cb.proofOf(cb.txs[pos])
	return &tp, cb.txs[pos], nil
}

// Block returns block h, through the cache: a caller that goes on to prove
// the block's licenses (a backfill) reads it once.
func (p *Prover) Block(h uint64) (*block.Block, error) {
	cb, err := p.block(h)
	if err != nil {
		return nil, err
	}
	return cb.blk, nil
}

// sealed returns header h with its certificate, from the cache or the
// source.
func (p *Prover) sealed(h uint64) (*sealedEntry, error) {
	if e, ok := p.cache.header(h); ok {
		return e, nil
	}
	if cb, ok := p.cache.get(h); ok {
		return &sealedEntry{header: &cb.blk.Header, sealed: cb.sealed}, nil
	}
	hdr, qc, err := p.src.Sealed(h)
	if err != nil {
		return nil, err
	}
	e := &sealedEntry{header: hdr, sealed: Seal(hdr, qc)}
	p.cache.putHeader(h, e)
	return e, nil
}

// block returns block h with its trees, from the cache or the source. A
// block many ask for at once (every commit wait of a new block) is read
// and decoded once: the others wait for that read.
func (p *Prover) block(h uint64) (*cachedBlock, error) {
	if cb, ok := p.cache.get(h); ok {
		return cb, nil
	}
	p.mu.Lock()
	if l, ok := p.loading[h]; ok {
		p.mu.Unlock()
		<-l.done
		return l.cb, l.err
	}
	l := &load{done: make(chan struct{})}
	p.loading[h] = l
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.loading, h)
		p.mu.Unlock()
		close(l.done)
	}()
	if cb, ok := p.cache.get(h); ok { // added while we took the lock
		l.cb = cb
		return cb, nil
	}
	blk, qc, err := p.src.Block(h)
	switch {
	case err != nil:
		l.err = err
	case blk.Header.Height != h:
		l.err = fmt.Errorf("%w: block %d read for height %d", ErrSource, blk.Header.Height, h)
	default:
		l.cb = p.cache.add(blk, qc)
	}
	return l.cb, l.err
}

// LeafPath returns the RFC 6962 path of leaf leaf under block h's TxRoot
// (the tree of its OK transactions), from a kept tree or a cached block,
// reading the block only if neither holds it.
func (p *Prover) LeafPath(h uint64, leaf int) ([]Hash, error) {
	var t *merkle.Tree
	if e, ok := p.cache.tree(h); ok {
		t = e.tx
	} else {
		cb, err := p.block(h)
		if err != nil {
			return nil, err
		}
		t = cb.tx
	}
	if leaf < 0 || uint64(leaf) >= t.Size() {
		return nil, fmt.Errorf("%w: leaf %d of block %d (%d OK transactions)", ErrPosition, leaf, h, t.Size())
	}
	return mustPath(t, leaf), nil
}

// Results returns block h's results, from a kept tree or a cached block,
// reading the block only if neither holds it.
func (p *Prover) Results(h uint64) ([]block.Result, error) {
	if e, ok := p.cache.tree(h); ok {
		return e.results, nil
	}
	cb, err := p.block(h)
	if err != nil {
		return nil, err
	}
	return cb.blk.Results, nil
}

// Sealed returns header h and its certificate through the cache (a cached
// block's, or a header kept from an earlier read).
func (p *Prover) Sealed(h uint64) (*block.Header, *block.QC, error) {
	e, err := p.sealed(h)
	if err != nil {
		return nil, nil, err
	}
	return e.header, &e.sealed.QC, nil
}

// DefaultBlockCacheBytes is the budget NewBlockCache takes for 0: about
// eight blocks of 4,000 one-kilobyte transactions.
const DefaultBlockCacheBytes = 32 << 20

// maxCachedHeaders bounds the sealed headers kept beside the blocks (about
// 1 KB each with their certificates).
const maxCachedHeaders = 256

// BlockCache keeps decoded blocks with their Merkle trees (the OK
// transactions' tree under the header's TxRoot, and each batch's tree), and
// sealed headers, for building bundles: up to a budget of bytes, the least
// recently used block leaving first. A block larger than the budget is
// used for the bundles at hand and not kept. Safe for concurrent use.
type BlockCache struct {
	max int64

	mu      sync.Mutex
	size    int64
	tick    uint64
	blocks  map[uint64]*cachedBlock
	headers map[uint64]*sealedEntry
	hticks  map[uint64]uint64
	trees   map[uint64]*treeEntry // the newest blocks' transaction trees and results (KeepTree)
	tticks  map[uint64]uint64
}

// treeEntry is what placing a transaction in a block takes, without the
// block: its transaction tree (64 bytes a transaction) and its results.
type treeEntry struct {
	sealed  *sealedEntry
	tx      *merkle.Tree
	results []block.Result
}

// maxCachedTrees bounds the blocks whose trees KeepTree keeps: the newest,
// where commit waits land (about 5 MB for blocks of 2,500 transactions).
const maxCachedTrees = 32

// NewBlockCache returns a cache of up to maxBytes of blocks (estimated as
// their transactions' bytes plus their trees and indexes); 0 takes
// DefaultBlockCacheBytes, a negative budget keeps no block (headers are
// still kept).
func NewBlockCache(maxBytes int64) *BlockCache {
	if maxBytes == 0 {
		maxBytes = DefaultBlockCacheBytes
	}
	return &BlockCache{max: max(maxBytes, 0), blocks: map[uint64]*cachedBlock{}, headers: map[uint64]*sealedEntry{}, hticks: map[uint64]uint64{},
		trees: map[uint64]*treeEntry{}, tticks: map[uint64]uint64{}}
}

// KeepTree keeps what placing any transaction of blk takes (its header and
// certificate, its transaction tree, its results), without the block
// itself: a node calls it for each block it commits, so answers about new
// transactions (commit waits) read no block.
func (c *BlockCache) KeepTree(blk *block.Block, qc *block.QC) {
	h := blk.Header.Height
	hdr := blk.Header
	e := &treeEntry{sealed: &sealedEntry{header: &hdr, sealed: Seal(&hdr, qc)}, tx: merkle.NewTree(blk.OKIDs()), results: blk.Results}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	c.trees[h], c.tticks[h] = e, c.tick
	evictOldest(c.trees, c.tticks, maxCachedTrees)
	c.headers[h], c.hticks[h] = e.sealed, c.tick
	evictOldest(c.headers, c.hticks, maxCachedHeaders)
}

// evictOldest drops the least recently used entries of m past limit.
func evictOldest[V any](m map[uint64]V, ticks map[uint64]uint64, limit int) {
	for len(m) > limit {
		var victim uint64
		oldest := ^uint64(0)
		for h, t := range ticks {
			if t < oldest {
				victim, oldest = h, t
			}
		}
		delete(m, victim)
		delete(ticks, victim)
	}
}

func (c *BlockCache) tree(h uint64) (*treeEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.trees[h]
	if ok {
		c.tick++
		c.tticks[h] = c.tick
	}
	return e, ok
}

type sealedEntry struct {
	header *block.Header
	sealed SealedHeader
}

// cachedBlock is a block ready to prove any of its OK transactions. It is
// immutable once made, but for used, which the cache's lock guards.
type cachedBlock struct {
	blk     *block.Block
	sealed  SealedHeader
	tx      *merkle.Tree   // the OK ids, under TxRoot
	batches []*merkle.Tree // each batch's ids, under its signed root
	txs     []block.Tx
	ok      map[schemas.TxID]int // OK transaction id -> index into txs
	bytes   int64
	used    uint64
}

func newCachedBlock(blk *block.Block, qc *block.QC) *cachedBlock {
	cb := &cachedBlock{blk: blk, sealed: Seal(&blk.Header, qc), tx: merkle.NewTree(blk.OKIDs()), txs: blk.Txs()}
	cb.batches = make([]*merkle.Tree, len(blk.Batches))
	for i, bt := range blk.Batches {
		cb.batches[i] = merkle.NewTree(bt.IDs)
	}
	cb.ok = make(map[schemas.TxID]int, cb.tx.Size())
	var raw int64
	for i, t := range cb.txs {
		raw += int64(len(t.Bytes))
		if t.Result == block.OK {
			cb.ok[t.ID] = i
		}
	}
	// Per transaction: its id in the batch and in the block tree, about
	// two inner nodes of those trees, its block.Tx and its map entry.
	cb.bytes = raw + int64(len(cb.txs))*(4*32+80+48)
	return cb
}

// txProof proves an OK transaction of the block.
func (cb *cachedBlock) txProof(id Hash) (*TxProof, bool) {
	i, ok := cb.ok[schemas.TxID(id)]
	if !ok {
		return nil, false
	}
	p := cb.proofOf(cb.txs[i])
	return &p, true
}

// proofOf proves tx: its batch path always, its path under TxRoot only if
// it took effect (Index and Path are zero otherwise).
func (cb *cachedBlock) proofOf(tx block.Tx) TxProof {
	bt := cb.blk.Batches[tx.Batch]
	p := TxProof{
		ID: tx.ID, Bytes: tx.Bytes,
		Batch: BatchProof{Chain: bt.Chain, City: bt.City, CreatedAt: bt.CreatedAt, Seq: bt.Seq, Count: bt.Count, Root: bt.Root,
			KeyID: bt.KeyID, Signature: bt.Signature, Index: uint64(tx.InBatch), Path: mustPath(cb.batches[tx.Batch], tx.InBatch)},
		Height: cb.blk.Header.Height, Size: cb.tx.Size(),
	}
	if tx.Leaf >= 0 {
		p.Index, p.Path = uint64(tx.Leaf), mustPath(cb.tx, tx.Leaf)
	}
	return p
}

// Add builds the trees of blk (certified by qc) and keeps them if they fit
// the budget, evicting the least recently used blocks.
func (c *BlockCache) Add(blk *block.Block, qc *block.QC) { c.add(blk, qc) }

func (c *BlockCache) add(blk *block.Block, qc *block.QC) *cachedBlock {
	cb := newCachedBlock(blk, qc)
	if cb.bytes > c.max {
		return cb
	}
	h := blk.Header.Height
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.blocks[h]; ok {
		c.size -= old.bytes
	}
	c.tick++
	cb.used = c.tick
	c.blocks[h] = cb
	c.size += cb.bytes
	for c.size > c.max {
		// A scan: the cache holds tens of blocks, not thousands.
		var victim uint64
		oldest := ^uint64(0)
		for vh, v := range c.blocks {
			if v.used < oldest {
				victim, oldest = vh, v.used
			}
		}
		c.size -= c.blocks[victim].bytes
		delete(c.blocks, victim)
	}
	return cb
}

func (c *BlockCache) get(h uint64) (*cachedBlock, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cb, ok := c.blocks[h]
	if ok {
		c.tick++
		cb.used = c.tick
	}
	return cb, ok
}

func (c *BlockCache) header(h uint64) (*sealedEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.headers[h]
	if ok {
		c.tick++
		c.hticks[h] = c.tick
	}
	return e, ok
}

func (c *BlockCache) putHeader(h uint64, e *sealedEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	c.headers[h], c.hticks[h] = e, c.tick
	evictOldest(c.headers, c.hticks, maxCachedHeaders)
}

// Stats reports what the cache holds: blocks, and their estimated bytes.
func (c *BlockCache) Stats() (blocks int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.blocks), c.size
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
