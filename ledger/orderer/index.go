package orderer

import (
	"sync"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
)

// Location is where a transaction was sealed.
type Location struct {
	Height    uint64
	Position  int          // index among all transactions of the block
	Leaf      int          // index under the header's TxRoot; -1 unless Result is OK
	Result    block.Result // OK, or why the transaction took no effect
	BlockHash [32]byte
}

type txLoc struct {
	height   uint64
	position uint32
	leaf     int32
	result   block.Result
}

// index maps transaction ids and batch ids to where they were sealed. It is
// in memory and rebuilt from the block log on open: about 100 bytes per
// transaction, so 50 million transactions need about 5 GB. An on-disk index
// (the state helper's store) is the planned replacement; the interface the
// orderer uses (TxSeen, BatchSeen, lookup, add) does not change.
//
// Concurrency: mu guards the maps; add runs on the commit path only.
type index struct {
	mu      sync.RWMutex
	ok      map[schemas.TxID]txLoc // the one block where the transaction took effect
	other   map[schemas.TxID]txLoc // the last block that refused it, if never OK
	batches map[string]uint64
}

var _ block.Chain = (*index)(nil)

func newIndex() *index {
	return &index{ok: map[schemas.TxID]txLoc{}, other: map[schemas.TxID]txLoc{}, batches: map[string]uint64{}}
}

// TxSeen reports whether the transaction took effect on the chain.
func (ix *index) TxSeen(id schemas.TxID) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.ok[id]
	return ok
}

// BatchSeen reports whether the batch is on the chain.
func (ix *index) BatchSeen(id string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.batches[id]
	return ok
}

func (ix *index) lookup(id schemas.TxID) (txLoc, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if l, ok := ix.ok[id]; ok {
		return l, true
	}
	l, ok := ix.other[id]
	return l, ok
}

// add records a committed block and returns its transactions.
func (ix *index) add(b *block.Block) []block.Tx {
	txs := b.Txs()
	h := b.Header.Height
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, bt := range b.Batches {
		ix.batches[bt.ID()] = h
	}
	for _, t := range txs {
		l := txLoc{height: h, position: uint32(t.Position), leaf: int32(t.Leaf), result: t.Result}
		if t.Result == block.OK {
			ix.ok[t.ID] = l
			delete(ix.other, t.ID)
		} else if _, sealed := ix.ok[t.ID]; !sealed {
			ix.other[t.ID] = l
		}
	}
	return txs
}
