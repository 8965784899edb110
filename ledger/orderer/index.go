package orderer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/keyfilter"
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

// index maps transaction ids and batch ids to where they were sealed, and
// heights to header hashes. It lives in pebble (DataDir/index): an 8 MiB
// cache and 8 MiB memtables, plus an in-memory bloom filter of its entries
// (about 2.4 bytes per transaction) that answers new ids without a read;
// and it is derived data: written without fsync after the block
// log, it is caught up from the block log on open if a crash left it behind,
// and rebuilt from scratch if it is ahead (a block log opened without fsync
// lost blocks).
//
// Keys:
//
//	"m"                  -> indexed height (8, BE)
//	"h" | height (8, BE) -> header hash (32)
//	"b" | batch id       -> height (8, BE)
//	"t" | tx id (32)     -> height (8) | position (4) | leaf (4, int32) | result (1)
//	"c" | height (8, BE) -> nothing: a configuration block (configHeights)
//
// A transaction's entry is the block where it took effect (result OK) or,
// while it has none, the last block that refused it.
//
// Concurrency: pebble is safe for concurrent use; add runs on the commit
// path only.
type index struct {
	db *pebble.DB
	// seen holds the keys of every transaction and batch entry, so that
	// TxSeen and BatchSeen answer a new id (nearly every one a block
	// checks) without a read.
	seen *keyfilter.Filter

	mu     sync.RWMutex
	height uint64
}

var _ block.Chain = (*index)(nil)

var metaKey = []byte("m")

const (
	txVal = 8 + 4 + 4 + 1
)

func openIndex(dir string, memTable uint64) (*index, error) {
	cache := pebble.NewCache(8 << 20) // lookups are by hash: a large cache buys little
	defer cache.Unref()
	po := &pebble.Options{
		Cache:              cache,
		MemTableSize:       memTable,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
	}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].Compression = pebble.NoCompression // keys and values are hashes
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("orderer: open index: %w", err)
	}
	ix := &index{db: db}
	v, err := ix.get(metaKey)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(v) == 8 {
		ix.height = binary.BigEndian.Uint64(v)
	}
	if ix.seen, err = keyfilter.New(ix.entryKeys); err != nil {
		db.Close()
		return nil, fmt.Errorf("orderer: open index: %w", err)
	}
	return ix, nil
}

// entryKeys passes the key of every transaction and batch entry to add.
func (ix *index) entryKeys(add func([]byte)) error {
	for _, prefix := range []byte{'b', 't'} {
		it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			add(it.Key())
		}
		err = it.Error()
		it.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// getEntry reads a transaction or batch entry: nil if there is none.
func (ix *index) getEntry(key []byte) ([]byte, error) {
	if !ix.seen.MayHold(key) {
		return nil, nil
	}
	return ix.get(key)
}

// quietLogger keeps pebble's informational chatter out of the orderer log.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("orderer: index: "+format, args...))
}

func (ix *index) get(key []byte) ([]byte, error) {
	v, closer, err := ix.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("orderer: index: %w", err)
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

func (ix *index) close() error { return ix.db.Close() }

// Height is the last indexed block.
func (ix *index) Height() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.height
}

func txKey(id schemas.TxID) []byte { return append([]byte{'t'}, id[:]...) }

func heightKey(h uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'h'}, h) }

func configKey(h uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'c'}, h) }

// configHeights lists the heights of the configuration blocks indexed, in
// order: the orderer reads only those blocks of its log to rebuild the
// configuration in force.
func (ix *index) configHeights() ([]uint64, error) {
	it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'c'}, UpperBound: []byte{'c' + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []uint64
	for it.First(); it.Valid(); it.Next() {
		if k := it.Key(); len(k) == 9 {
			out = append(out, binary.BigEndian.Uint64(k[1:]))
		}
	}
	return out, it.Error()
}

// TxSeen reports whether the transaction took effect on the chain. A read
// error counts as seen: the block is then refused rather than sealing a
// transaction twice.
func (ix *index) TxSeen(id schemas.TxID) bool {
	v, err := ix.getEntry(txKey(id))
	return err != nil || (len(v) == txVal && block.Result(v[16]) == block.OK)
}

// BatchSeen reports whether the batch is on the chain (read errors as for
// TxSeen).
func (ix *index) BatchSeen(id string) bool {
	v, err := ix.getEntry(append([]byte{'b'}, id...))
	return err != nil || v != nil
}

// hash returns the header hash of block h.
func (ix *index) hash(h uint64) ([32]byte, bool) {
	var out [32]byte
	v, err := ix.get(heightKey(h))
	if err != nil || len(v) != 32 {
		return out, false
	}
	copy(out[:], v)
	return out, true
}

func (ix *index) lookup(id schemas.TxID) (Location, bool) {
	v, err := ix.getEntry(txKey(id))
	if err != nil || len(v) != txVal {
		return Location{}, false
	}
	l := Location{
		Height:   binary.BigEndian.Uint64(v),
		Position: int(binary.BigEndian.Uint32(v[8:])),
		Leaf:     int(int32(binary.BigEndian.Uint32(v[12:]))),
		Result:   block.Result(v[16]),
	}
	l.BlockHash, _ = ix.hash(l.Height)
	return l, true
}

// asOf is the chain as it was below height h: a transaction or batch
// counts as seen only if it took effect in a block under h. It lets the
// state be replayed for blocks the index already holds; for h =
// Height()+1 it is the index itself.
func (ix *index) asOf(h uint64) block.Chain { return chainAsOf{ix, h} }

type chainAsOf struct {
	ix *index
	h  uint64
}

func (c chainAsOf) TxSeen(id schemas.TxID) bool {
	v, err := c.ix.getEntry(txKey(id))
	return err != nil || (len(v) == txVal && block.Result(v[16]) == block.OK && binary.BigEndian.Uint64(v) < c.h)
}

func (c chainAsOf) BatchSeen(id string) bool {
	v, err := c.ix.getEntry(append([]byte{'b'}, id...))
	return err != nil || (len(v) == 8 && binary.BigEndian.Uint64(v) < c.h)
}

// AsOf implements replica.Index.
func (ix *index) AsOf(h uint64) block.Chain { return ix.asOf(h) }

// Add implements replica.Index.
func (ix *index) Add(b *block.Block) ([]block.Tx, error) { return ix.add(b) }

// add records a committed block (the next height) and returns its
// transactions.
func (ix *index) add(b *block.Block) ([]block.Tx, error) {
	h := b.Header.Height
	if h != ix.Height()+1 {
		return nil, fmt.Errorf("orderer: index at height %d cannot add block %d", ix.Height(), h)
	}
	txs := b.Txs()
	batch := ix.db.NewBatch()
	defer batch.Close()
	hb := binary.BigEndian.AppendUint64(nil, h)
	var keys [][]byte // of the entries written
	for _, bt := range b.Batches {
		k := append([]byte{'b'}, bt.ID()...)
		keys = append(keys, k)
		if err := batch.Set(k, hb, nil); err != nil {
			return nil, err
		}
	}
	okHere := map[schemas.TxID]bool{}
	for _, t := range txs {
		if t.Result == block.OK {
			okHere[t.ID] = true
		}
	}
	for _, t := range txs {
		if t.Result != block.OK {
			if okHere[t.ID] {
				continue
			}
			prev, err := ix.getEntry(txKey(t.ID))
			if err != nil {
				return nil, err
			}
			if len(prev) == txVal && block.Result(prev[16]) == block.OK {
				continue // sealed earlier: that location stays
			}
		}
		v := make([]byte, 0, txVal)
		v = binary.BigEndian.AppendUint64(v, h)
		v = binary.BigEndian.AppendUint32(v, uint32(t.Position))
		v = binary.BigEndian.AppendUint32(v, uint32(int32(t.Leaf)))
		v = append(v, byte(t.Result))
		k := txKey(t.ID)
		keys = append(keys, k)
		if err := batch.Set(k, v, nil); err != nil {
			return nil, err
		}
	}
	if b.Config != nil {
		if err := batch.Set(configKey(h), nil, nil); err != nil {
			return nil, err
		}
	}
	hash := b.Header.Hash()
	if err := batch.Set(heightKey(h), hash[:], nil); err != nil {
		return nil, err
	}
	if err := batch.Set(metaKey, hb, nil); err != nil {
		return nil, err
	}
	// Known before visible: a reader never finds a committed entry absent.
	if err := ix.seen.Add(keys...); err != nil {
		return nil, fmt.Errorf("orderer: index block %d: %w", h, err)
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return nil, fmt.Errorf("orderer: index block %d: %w", h, err)
	}
	ix.mu.Lock()
	ix.height = h
	ix.mu.Unlock()
	return txs, nil
}
