package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/baybus/baybus/ledger/keyfilter"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/wire"
)

// Leaf and Proof are the tree's: see package smt, whose VerifyProof checks
// what Prove returns without this package's storage dependencies.
type (
	Leaf  = smt.Leaf
	Proof = smt.Proof
)

// Errors of the store.
var (
	// ErrHeight: Apply at a height not above the current one, or a read as
	// of a height the store has not reached.
	ErrHeight = errors.New("state: height out of order")
	// ErrNotFound: the ledger holds no such license (at that height).
	ErrNotFound = errors.New("state: no such license")
	// ErrUpdate: an update with a bad key or status, or a key updated twice
	// in one block.
	ErrUpdate = errors.New("state: bad update")
	// ErrCorrupt: what is on disk contradicts itself.
	ErrCorrupt = errors.New("state: corrupt store")
)

// Update is one license's new state in a block. Apply stamps it with the
// block's height.
type Update struct {
	Key        string         // JUR/ID
	Status     schemas.Status // status after the block
	RecordHash [32]byte       // the record in force (id of the last issue or amend)
	TxID       [32]byte       // the transaction that made this change
	Owner      string         // the city that holds the license; "" under rules version 1
	ValidTo    string         // last day of the record's validity; "" for none (and under rules version 1)
	Kind       schemas.Kind   // what the key holds; "" under rules versions 1 and 2
	Uses       uint64         // a grant's requests answered (rules version 3)
	Terms      string         // a grant's terms (rules version 3)
}

// Options tune a Store. The zero value is the default.
type Options struct {
	// CacheSize is pebble's block cache in bytes. Default 64 MiB. Memory
	// use is about CacheSize + 2 × MemTableSize, whatever the license count.
	CacheSize int64
	// MemTableSize is the size of one pebble memtable. Default 32 MiB.
	MemTableSize uint64
	// CachedLevels is how many of the tree's top page levels are kept in
	// memory, where every block and every proof passes. On disk these
	// levels keep only their shape (smt.ShapeOf), which rarely changes, so
	// a block writes far fewer bytes; Open recomputes their hashes from the
	// level below. Default 5: at most 69,905 pages, about 75 MiB decoded,
	// whatever the license count (4: 4,369 pages, under 5 MiB, for about a
	// third more CPU per block at a million licenses). Open reads the first
	// level below once: 4 s at a million licenses. Negative: none. Fixed
	// when the store is created.
	CachedLevels int
	// Workers is how many goroutines hash a block's subtrees. Default
	// GOMAXPROCS.
	Workers int
	// NoSync commits blocks without waiting for fsync. Only for a store
	// that can be rebuilt from a block log fsynced before it: verify-chain's
	// scratch state, or an orderer's, which the orderer replays on open. A
	// crash may lose the last blocks applied, never part of one.
	NoSync bool

	fs vfs.FS // tests only: a crash-simulating file system
}

const (
	defaultCacheSize    = 64 << 20
	defaultMemTableSize = 32 << 20
	defaultCachedLevels = 5
)

// Store keys. The meta record holds the height, root and license count;
// pages are the tree's (see smt); history holds every version of every
// leaf, newest first within a key; latest repeats each key's newest
// version, so that the lookup every block makes for every transaction is a
// point read (bloom filters answer most misses) rather than an iterator.
//
//	"m"                                   -> version(1) | height(8) | root(32) | count(8) | cached levels(1)
//	"n" | smt page key                    -> page (its shape, smt.ShapeOf, in the cached levels)
//	"h" | key | 0x00 | ^height (8, BE)    -> status code (1) | record hash (32) | tx id (32)
//	                                         [| uvarint len | owner | uvarint len | validTo
//	                                          [| kind (1) | uvarint uses | uvarint len | terms]]
//	"l" | key                             -> the history value | height (8, BE)
//
// Version 1 stores had no latest records; Open adds them. The bracketed
// tail is there for the leaves that name their holder (rules version 2 of
// ledger/block, smt leaf version 2): history values of 65 bytes are
// version 1 leaves.
const (
	metaVersion = 2
	metaLen     = 1 + 8 + 32 + 8 + 1
	maxLevels   = 6 // CachedLevels limit: 16^5 pages at the last level kept
)

var metaKey = []byte("m")

const (
	pagePrefix    = 'n'
	historyPrefix = 'h'
	latestPrefix  = 'l'
)

// Store is the license state on disk. Its methods are safe for concurrent
// use. Apply and Preview are serialised by applyMu; mu guards height, root
// and count and is held shared by Prove, so that every page a proof reads
// belongs to one root (lock order: applyMu, then mu). Reads other than
// Prove see each Apply whole or not at all, through pebble's atomic
// batches and iterator snapshots.
type Store struct {
	db      *pebble.DB
	write   *pebble.WriteOptions
	pages   pages // the tree's pages, through the cache of its top levels
	workers int

	applyMu sync.Mutex
	last    *plan // the latest Preview, reused by an Apply of the same block

	mu     sync.RWMutex
	height uint64
	root   smt.Hash
	count  uint64

	// known holds the latest records' keys (and, rarely, one whose Apply
	// failed): a key it does not hold is absent without a disk read.
	known *keyfilter.Filter
}

// Open opens the store in dir, creating an empty one (height 0, root
// smt.Empty) if dir holds none.
func Open(dir string, opts Options) (*Store, error) {
	if opts.CacheSize <= 0 {
		opts.CacheSize = defaultCacheSize
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = defaultMemTableSize
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case opts.CachedLevels == 0:
		opts.CachedLevels = defaultCachedLevels
	case opts.CachedLevels < 0:
		opts.CachedLevels = 0
	case opts.CachedLevels > maxLevels:
		opts.CachedLevels = maxLevels
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	po := &pebble.Options{
		Cache:              cache,
		MemTableSize:       opts.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
		FS:                 opts.fs,
	}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		// Pages and leaves are mostly hashes: compression costs CPU and
		// saves nothing.
		po.Levels[i].Compression = pebble.NoCompression
	}
	po.EnsureDefaults()
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	s := &Store{db: db, write: pebble.Sync, root: smt.Empty, workers: opts.Workers}
	s.pages = pages{db: db, cache: &pageCache{m: map[string]*smt.Page{}}}
	if opts.NoSync {
		s.write = pebble.NoSync
	}
	if err := s.load(opts.CachedLevels); err != nil {
		db.Close()
		return nil, err
	}
	if s.known, err = keyfilter.New(s.latestKeys); err != nil {
		db.Close()
		return nil, fmt.Errorf("state: read latest records: %w", err)
	}
	return s, nil
}

// latestKeys passes the key of every latest record to add.
func (s *Store) latestKeys(add func([]byte)) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{latestPrefix}, UpperBound: []byte{latestPrefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		add(it.Key())
	}
	return it.Error()
}

func (s *Store) load(levels int) error {
	v, closer, err := s.db.Get(metaKey)
	if errors.Is(err, pebble.ErrNotFound) {
		it, err := s.db.NewIter(nil)
		if err != nil {
			return fmt.Errorf("state: %w", err)
		}
		nonEmpty := it.First()
		it.Close()
		if nonEmpty {
			return fmt.Errorf("%w: no meta record in a non-empty store", ErrCorrupt)
		}
		s.pages.cache.levels = levels
		return s.db.Set(metaKey, s.encodeMeta(0, smt.Empty, 0), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("state: read meta: %w", err)
	}
	defer closer.Close()
	if len(v) != metaLen || (v[0] != metaVersion && v[0] != 1) || v[49] > maxLevels {
		return fmt.Errorf("%w: meta record %x", ErrCorrupt, v)
	}
	if v[0] == 1 {
		if err := s.addLatest(v); err != nil {
			return err
		}
	}
	s.height = binary.BigEndian.Uint64(v[1:])
	copy(s.root[:], v[9:41])
	s.count = binary.BigEndian.Uint64(v[41:])
	s.pages.cache.levels = int(v[49])
	if err := s.loadTop(); err != nil {
		return err
	}
	got, err := smt.Root(s.pages)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if got != s.root {
		return fmt.Errorf("%w: tree root %s, meta record %s", ErrCorrupt, got, s.root)
	}
	return nil
}

// loadTop fills the page cache: the shapes of the cached levels from disk,
// their node hashes from the hashes of the pages one level below, bottom-up.
// The level below is read in one sweep, in key order, which is also the
// order of the pages above it; memory stays at the cached pages.
func (s *Store) loadTop() error {
	levels := s.pages.cache.levels
	if levels == 0 {
		return nil
	}
	byLevel := make([][]string, levels) // shape keys, sorted
	shapes := map[string][]byte{}
	err := s.scan([]byte{pagePrefix, 0}, []byte{pagePrefix, byte(levels)}, func(k, v []byte) error {
		level := smt.PageLevel(k)
		byLevel[level] = append(byLevel[level], string(k))
		shapes[string(k)] = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	// fill rebuilds the pages of level from their shapes; children calls
	// yield with each page one level below and its hash, in key order.
	fill := func(level int, children func(yield func(k []byte, h smt.Hash) error) error) error {
		parents := byLevel[level]
		below := map[string]smt.Hash{} // the hashes under parents[next]
		next := 0
		finish := func(upTo string) error { // fills parents[next:] up to upTo
			for ; next < len(parents) && (upTo == "" || parents[next] < upTo); next++ {
				k := parents[next]
				full, err := smt.FillPage([]byte(k), shapes[k], func(ck []byte) (smt.Hash, error) {
					h, ok := below[string(ck)]
					if !ok {
						return h, fmt.Errorf("page %x missing", ck)
					}
					return h, nil
				})
				if err != nil {
					return fmt.Errorf("page %x: %w", k, err)
				}
				s.pages.cache.m[k] = full
				clear(below)
			}
			return nil
		}
		err := children(func(ck []byte, h smt.Hash) error {
			parent := string(smt.ParentKey(ck))
			if err := finish(parent); err != nil {
				return err
			}
			below[string(ck)] = h
			return nil
		})
		if err == nil {
			err = finish("")
		}
		return err
	}
	err = fill(levels-1, func(yield func([]byte, smt.Hash) error) error {
		return s.scan([]byte{pagePrefix, byte(levels)}, []byte{pagePrefix, byte(levels + 1)}, func(k, v []byte) error {
			h, err := smt.PageHash(v)
			if err != nil {
				return err
			}
			return yield(k, h)
		})
	})
	for level := levels - 2; level >= 0 && err == nil; level-- {
		err = fill(level, func(yield func([]byte, smt.Hash) error) error {
			for _, k := range byLevel[level+1] {
				if err := yield([]byte(k), s.pages.cache.m[k].Hash()); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

// scan calls fn with every record in [lo, hi), page keys without the prefix.
func (s *Store) scan(lo, hi []byte, fn func(k, v []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key()[1:], it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

func (s *Store) encodeMeta(height uint64, root smt.Hash, count uint64) []byte {
	b := make([]byte, 0, metaLen)
	b = append(b, metaVersion)
	b = binary.BigEndian.AppendUint64(b, height)
	b = append(b, root[:]...)
	b = binary.BigEndian.AppendUint64(b, count)
	return append(b, byte(s.pages.cache.levels))
}

// Close closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("state: close: %w", err)
	}
	return nil
}

// Height returns the height of the last block applied (0 for none).
func (s *Store) Height() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.height
}

// Root returns the state root after the last block applied.
func (s *Store) Root() [32]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.root
}

// Len returns how many licenses the state holds.
func (s *Store) Len() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.count
}

// plan is a block's effect, computed but not yet written.
type plan struct {
	base    uint64 // the height it was computed on
	height  uint64
	updates []Update // sorted by key
	leaves  [][]byte // history records, in the order of updates
	heights []uint64 // Load: each leaf's own height; nil: all at height
	tree    smt.Result
}

// Preview returns the root the state would have after Apply(height,
// updates), without changing anything. An Apply of the same block right
// after reuses the work.
func (s *Store) Preview(height uint64, updates []Update) ([32]byte, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	p, err := s.plan(height, updates)
	if err != nil {
		return [32]byte{}, err
	}
	s.last = p
	return p.tree.Root, nil
}

// Apply applies a block's updates at height, which must be above Height(),
// and returns the new root. The updates may come in any order, each key at
// most once. Pages, leaf history and the new height are written in one
// pebble batch, synced unless Options.NoSync: after a crash the store is at
// the previous block or at this one, never between.
func (s *Store) Apply(height uint64, updates []Update) ([32]byte, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	p := s.last
	s.last = nil
	if p == nil || !p.matches(s.Height(), height, updates) {
		var err error
		if p, err = s.plan(height, updates); err != nil {
			return [32]byte{}, err
		}
	}
	return s.commit(p)
}

// Load writes leaves exactly as they are, each with its own height (none
// above height), and sets the store's height to height: how a state
// snapshot (ledger/snapshot) is restored into an empty store, in as many
// calls as the caller likes, all at the same height. A store that already
// holds blocks applied at a lower height is refused (ErrHeight), and so is
// a key given twice in one call (ErrUpdate); a key given again in a later
// call replaces its leaf. Only the leaves are written, not their earlier
// versions: GetAt below height answers from these leaves alone. The
// caller checks Root against the certified header's state root when the
// last call returns.
func (s *Store) Load(height uint64, leaves []Leaf) ([32]byte, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.last = nil
	if base := s.Height(); base != height && (base != 0 || s.Len() != 0) {
		return [32]byte{}, fmt.Errorf("%w: loading leaves at height %d into a state at height %d", ErrHeight, height, base)
	}
	p := &plan{base: s.Height(), height: height, heights: make([]uint64, len(leaves))}
	sorted := slices.Clone(leaves)
	slices.SortFunc(sorted, func(a, b Leaf) int { return strings.Compare(a.Key, b.Key) })
	p.updates = make([]Update, len(sorted))
	p.leaves = make([][]byte, len(sorted))
	sets := make([]smt.Set, len(sorted))
	for i, l := range sorted {
		if i > 0 && l.Key == sorted[i-1].Key {
			return [32]byte{}, fmt.Errorf("%w: key %q loaded twice", ErrUpdate, l.Key)
		}
		if l.Height == 0 || l.Height > height {
			return [32]byte{}, fmt.Errorf("%w: leaf %q of height %d loaded at height %d", ErrUpdate, l.Key, l.Height, height)
		}
		enc, err := l.MarshalBinary()
		if err != nil {
			return [32]byte{}, fmt.Errorf("%w: %w", ErrUpdate, err)
		}
		p.updates[i] = Update{Key: l.Key}
		p.heights[i] = l.Height
		p.leaves[i] = historyValue(&l)
		sets[i] = smt.Set{Path: smt.PathOf(l.Key), ValueHash: sha256.Sum256(enc)}
	}
	res, err := smt.UpdateParallel(s.pages, sets, s.workers)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	p.tree = res
	return s.commit(p)
}

// commit writes a plan in one pebble batch. Caller holds applyMu.
func (s *Store) commit(p *plan) ([32]byte, error) {
	height := p.height
	size := 64
	for _, w := range p.tree.Writes {
		size += len(w.Key) + 600
	}
	for i, l := range p.leaves {
		size += 2*(len(p.updates[i].Key)+len(l)) + 48
	}
	b := s.db.NewBatchWithSize(size)
	defer b.Close()
	key := make([]byte, 0, 1+smt.MaxKeyLen+9)
	for _, w := range p.tree.Writes {
		v, err := s.pages.stored(w)
		if err != nil {
			return [32]byte{}, err
		}
		if v == nil {
			continue // a cached page whose shape did not change
		}
		key = append(append(key[:0], pagePrefix), w.Key...)
		if err := b.Set(key, v, nil); err != nil {
			return [32]byte{}, fmt.Errorf("state: batch: %w", err)
		}
	}
	for i, l := range p.leaves {
		lh := height
		if p.heights != nil {
			lh = p.heights[i]
		}
		if err := b.Set(historyKey(key[:0], p.updates[i].Key, lh), l, nil); err != nil {
			return [32]byte{}, fmt.Errorf("state: batch: %w", err)
		}
		if err := b.Set(latestKey(key[:0], p.updates[i].Key), latestValue(l, lh), nil); err != nil {
			return [32]byte{}, fmt.Errorf("state: batch: %w", err)
		}
	}
	count := s.Len() + uint64(p.tree.Added)
	if err := b.Set(metaKey, s.encodeMeta(height, p.tree.Root, count), nil); err != nil {
		return [32]byte{}, fmt.Errorf("state: batch: %w", err)
	}
	// Known before visible: a reader never finds a committed key absent.
	lks := make([][]byte, len(p.updates))
	for i, u := range p.updates {
		lks[i] = latestKey(nil, u.Key)
	}
	if err := s.known.Add(lks...); err != nil {
		return [32]byte{}, fmt.Errorf("state: latest records: %w", err)
	}
	// Hold mu across the commit so that no proof reads half old, half new
	// pages.
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := b.Commit(s.write); err != nil {
		return [32]byte{}, fmt.Errorf("state: commit height %d: %w", height, err)
	}
	s.height, s.root, s.count = height, p.tree.Root, count
	for _, w := range p.tree.Writes {
		s.pages.cache.put(w.Key, w.Page)
	}
	return p.tree.Root, nil
}

func (p *plan) matches(base, height uint64, updates []Update) bool {
	if p.base != base || p.height != height || len(p.updates) != len(updates) {
		return false
	}
	sorted := sortedUpdates(updates)
	return slices.Equal(p.updates, sorted)
}

func sortedUpdates(updates []Update) []Update {
	sorted := slices.Clone(updates)
	slices.SortFunc(sorted, func(a, b Update) int { return strings.Compare(a.Key, b.Key) })
	return sorted
}

// plan checks a block's updates and computes its pages. Caller holds applyMu.
func (s *Store) plan(height uint64, updates []Update) (*plan, error) {
	base := s.Height()
	if height <= base {
		return nil, fmt.Errorf("%w: block %d on state at height %d", ErrHeight, height, base)
	}
	p := &plan{base: base, height: height, updates: sortedUpdates(updates)}
	p.leaves = make([][]byte, len(p.updates))
	sets := make([]smt.Set, len(p.updates))
	for i, u := range p.updates {
		if i > 0 && u.Key == p.updates[i-1].Key {
			return nil, fmt.Errorf("%w: key %q updated twice", ErrUpdate, u.Key)
		}
		l := Leaf{Key: u.Key, Status: u.Status, RecordHash: u.RecordHash, Height: height, TxID: u.TxID, Owner: u.Owner, ValidTo: u.ValidTo,
			Kind: u.Kind, Uses: u.Uses, Terms: u.Terms}
		enc, err := l.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUpdate, err)
		}
		p.leaves[i] = historyValue(&l)
		sets[i] = smt.Set{Path: smt.PathOf(u.Key), ValueHash: sha256.Sum256(enc)}
	}
	res, err := smt.UpdateParallel(s.pages, sets, s.workers)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	p.tree = res
	return p, nil
}

// addLatest upgrades a version 1 store: it writes the latest record of
// every key from its newest history record, and the meta record as version
// 2, in one batch. meta is the version 1 meta record.
func (s *Store) addLatest(meta []byte) error {
	b := s.db.NewBatch()
	defer b.Close()
	var prev []byte
	err := s.scan([]byte{historyPrefix}, []byte{historyPrefix + 1}, func(k, v []byte) error {
		n := len(k) - 9 // k without the prefix: key | 0x00 | ^height
		if n < 1 || len(v) < historyLen {
			return fmt.Errorf("%w: history record h%x", ErrCorrupt, k)
		}
		if prev != nil && bytes.Equal(prev, k[:n]) {
			return nil // an older version
		}
		prev = append(prev[:0], k[:n]...)
		height := ^binary.BigEndian.Uint64(k[n+1:])
		return b.Set(latestKey(nil, string(k[:n])), latestValue(v, height), nil)
	})
	if err != nil {
		return fmt.Errorf("state: upgrade to version 2: %w", err)
	}
	up := bytes.Clone(meta)
	up[0] = metaVersion
	if err := b.Set(metaKey, up, nil); err != nil {
		return fmt.Errorf("state: upgrade to version 2: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("state: upgrade to version 2: %w", err)
	}
	return nil
}

// latestKey appends "l" | key to dst.
func latestKey(dst []byte, key string) []byte {
	return append(append(dst, latestPrefix), key...)
}

// latestValue is a history value followed by its height.
func latestValue(history []byte, height uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(history)+8), history...), height)
}

// historyKey appends "h" | key | 0x00 | ^height to dst. Inverting the height
// puts a key's newest version first.
func historyKey(dst []byte, key string, height uint64) []byte {
	dst = append(dst, historyPrefix)
	dst = append(dst, key...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, ^height)
}

// Get returns a license's latest leaf, or ErrNotFound.
func (s *Store) Get(key string) (*Leaf, error) { return s.GetAt(key, ^uint64(0)) }

// GetAt returns a license's leaf as of height: the version written by the
// last block at or below height, or ErrNotFound if it did not exist then.
// Heights above Height() are refused with ErrHeight (except the maximum
// uint64, which Get uses to mean "latest").
func (s *Store) GetAt(key string, height uint64) (*Leaf, error) {
	if err := smt.CheckKey(key); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if height != ^uint64(0) && height > s.Height() {
		return nil, fmt.Errorf("%w: state at height %d asked for %d", ErrHeight, s.Height(), height)
	}
	return s.getAt(key, height)
}

// getAt reads the history without locks or checks.
func (s *Store) getAt(key string, height uint64) (*Leaf, error) {
	if height == ^uint64(0) {
		return s.getLatest(key)
	}
	lo := historyKey(nil, key, height)
	hi := append(lo[:len(lo)-9:len(lo)-9], 1)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer it.Close()
	if !it.First() {
		if err := it.Error(); err != nil {
			return nil, fmt.Errorf("state: read %s: %w", key, err)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return decodeHistory(it.Key(), it.Value())
}

// getLatest reads a key's latest record.
func (s *Store) getLatest(key string) (*Leaf, error) {
	lk := latestKey(make([]byte, 0, 1+len(key)), key)
	if !s.known.MayHold(lk) {
		return nil, notFound{key}
	}
	v, closer, err := s.db.Get(lk)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, notFound{key}
	}
	if err != nil {
		return nil, fmt.Errorf("state: read %s: %w", key, err)
	}
	defer closer.Close()
	if len(v) < historyLen+8 {
		return nil, fmt.Errorf("%w: latest record of %s: %x", ErrCorrupt, key, v)
	}
	n := len(v) - 8
	return decodeHistory(historyKey(nil, key, binary.BigEndian.Uint64(v[n:])), v[:n])
}

// notFound is ErrNotFound for one key, without fmt's cost on the path
// that looks up every new license.
type notFound struct{ key string }

func (e notFound) Error() string        { return ErrNotFound.Error() + ": " + e.key }
func (e notFound) Is(target error) bool { return target == ErrNotFound }

// decodeHistory decodes a history record and checks it against its index key.
func decodeHistory(k, v []byte) (*Leaf, error) {
	n := len(k) - 9
	if n < 2 || k[0] != historyPrefix || k[n] != 0 || len(v) < historyLen {
		return nil, fmt.Errorf("%w: history record %x", ErrCorrupt, k)
	}
	status, ok := smt.StatusOf(v[0])
	if !ok {
		return nil, fmt.Errorf("%w: history record %x: status %d", ErrCorrupt, k, v[0])
	}
	l := Leaf{Key: string(k[1:n]), Status: status, Height: ^binary.BigEndian.Uint64(k[n+1:])}
	copy(l.RecordHash[:], v[1:33])
	copy(l.TxID[:], v[33:historyLen])
	if tail := v[historyLen:]; len(tail) > 0 {
		r := wire.NewReader(tail)
		l.Owner, l.ValidTo = r.String(smt.MaxOwnerLen), r.String(uint64(len(schemas.DateLayout)))
		if r.Err() == nil && r.Len() > 0 {
			// A leaf that names its kind (rules version 3).
			kind, ok := smt.KindOf(r.U8())
			l.Kind, l.Uses, l.Terms = kind, r.Uvarint(1<<63), r.String(smt.MaxTermsLen)
			if !ok {
				return nil, fmt.Errorf("%w: history record %x: kind", ErrCorrupt, k)
			}
		}
		if r.Err() != nil || r.Len() != 0 || l.Owner == "" {
			return nil, fmt.Errorf("%w: history record %x: holder and validity %x", ErrCorrupt, k, tail)
		}
	}
	return &l, nil
}

// historyLen is the size of a version 1 leaf's history record: the leaf
// less its key and height, which the record's key holds.
const historyLen = 1 + 32 + 32

// historyValue returns status code | record hash | transaction id, and
// the holder and validity end of a leaf that names its holder.
func historyValue(l *Leaf) []byte {
	code, _ := smt.StatusCode(l.Status) // checked by MarshalBinary
	b := make([]byte, 0, historyLen+2+len(l.Owner)+len(l.ValidTo)+12+len(l.Terms))
	b = append(b, code)
	b = append(b, l.RecordHash[:]...)
	b = append(b, l.TxID[:]...)
	if l.Owner != "" {
		b = wire.AppendString(wire.AppendString(b, l.Owner), l.ValidTo)
	}
	if l.Kind != "" {
		kc, _ := smt.KindCode(l.Kind) // checked by MarshalBinary
		b = append(b, kc)
		b = binary.AppendUvarint(b, l.Uses)
		b = wire.AppendString(b, l.Terms)
	}
	return b
}

// Prove returns a license's leaf (nil if the ledger has none) and its
// proof against Root(). A caller that proves while another goroutine
// applies blocks should use ProveRoot, which says which root it proved to.
func (s *Store) Prove(key string) (*Leaf, *Proof, error) {
	l, p, _, _, err := s.ProveRoot(key)
	return l, p, err
}

// ProveRoot is Prove that also returns the height and root the proof is for.
func (s *Store) ProveRoot(key string) (leaf *Leaf, proof *Proof, height uint64, root [32]byte, err error) {
	if err := smt.CheckKey(key); err != nil {
		return nil, nil, 0, root, fmt.Errorf("state: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, member, vh, err := smt.Prove(s.pages, smt.PathOf(key))
	if err != nil {
		return nil, nil, 0, root, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if member {
		if leaf, err = s.getAt(key, ^uint64(0)); err != nil {
			return nil, nil, 0, root, fmt.Errorf("%w: leaf in tree, history: %w", ErrCorrupt, err)
		}
		if got, _ := leaf.ValueHash(); got != vh {
			return nil, nil, 0, root, fmt.Errorf("%w: %s: history and tree disagree", ErrCorrupt, key)
		}
	}
	return leaf, p, s.height, s.root, nil
}

// Iterate calls fn with the latest leaf of every license whose key starts
// with prefix (e.g. "HK/"), in byte order of the keys, from a snapshot taken
// when it starts. It stops at the first error fn returns and returns it.
// Memory does not grow with the number of licenses.
func (s *Store) Iterate(prefix string, fn func(Leaf) error) error {
	return s.IterateAt(prefix, ^uint64(0), fn)
}

// IterateAt is Iterate as of a past height: each license's leaf as GetAt
// would return it, skipping licenses that did not exist yet.
func (s *Store) IterateAt(prefix string, height uint64, fn func(Leaf) error) error {
	if strings.IndexByte(prefix, 0) >= 0 {
		return fmt.Errorf("%w: prefix holds a NUL byte", ErrUpdate)
	}
	if height != ^uint64(0) && height > s.Height() {
		return fmt.Errorf("%w: state at height %d asked for %d", ErrHeight, s.Height(), height)
	}
	lo := append([]byte{historyPrefix}, prefix...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: successor(lo)})
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer it.Close()
	var cur, seek []byte // cur: "h" | key of the entry at hand
	for ok := it.First(); ok; {
		k := it.Key()
		n := len(k) - 9
		if n < 2 || k[n] != 0 {
			return fmt.Errorf("%w: history key %x", ErrCorrupt, k)
		}
		cur = append(cur[:0], k[:n]...)
		if h := ^binary.BigEndian.Uint64(k[n+1:]); h > height {
			// Newer than asked: jump to the version in force at height.
			seek = binary.BigEndian.AppendUint64(append(append(seek[:0], cur...), 0), ^height)
			if !it.SeekGE(seek) || !bytes.HasPrefix(it.Key(), seek[:n+1]) {
				// The license did not exist yet at height: next key.
				ok = it.SeekGE(append(append(seek[:0], cur...), 1))
				continue
			}
			k = it.Key()
		}
		l, err := decodeHistory(k, it.Value())
		if err != nil {
			return err
		}
		if err := fn(*l); err != nil {
			return err
		}
		// Skip the older versions of this key.
		ok = it.SeekGE(append(append(seek[:0], cur...), 1))
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("state: iterate: %w", err)
	}
	return nil
}

// successor returns the smallest key above every key with prefix b.
func successor(b []byte) []byte {
	out := slices.Clone(b)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] != 0xff {
			out[i]++
			return out[:i+1]
		}
	}
	return nil
}

// pages reads the tree's pages from pebble, and its top levels from memory.
type pages struct {
	db    pebble.Reader
	cache *pageCache
}

var _ smt.Reader = pages{}

var _ smt.CachedReader = pages{}

// CachedPage implements smt.CachedReader: the cached levels.
func (p pages) CachedPage(key []byte) (*smt.Page, bool) { return p.cache.get(key) }

// ReadPages reads pages with point reads (the tree asks CachedPage first).
// Point reads beat an iterator sweeping the sorted keys: below the cached
// levels a block's pages are far apart, and a point read skips, by its bloom
// filter, the LSM levels that do not hold the page.
func (p pages) ReadPages(keys [][]byte) ([][]byte, error) {
	out := make([][]byte, len(keys))
	var k []byte
	for i, key := range keys {
		if pg, cached := p.cache.get(key); cached {
			if pg != nil {
				out[i] = pg.Encode()
			}
			continue
		}
		k = append(append(k[:0], pagePrefix), key...)
		v, closer, err := p.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = bytes.Clone(v)
		closer.Close()
	}
	return out, nil
}

// stored returns what to write for a page: the page itself below the cached
// levels; in them its shape, or nil if the shape is what disk holds already.
func (p pages) stored(w smt.PageWrite) ([]byte, error) {
	old, cached := p.cache.get(w.Key)
	switch {
	case !cached:
		return w.Page.Encode(), nil
	case old != nil && old.SameShape(w.Page):
		return nil, nil
	}
	return w.Page.Shape(), nil
}

// pageCache holds every page of the top levels (levels 0 to levels-1),
// decoded. A page of those levels that it lacks does not exist. Pages are
// replaced when a block commits; the Store's locks make sure that no reader
// is between pages of two roots then (Apply holds applyMu and mu, page
// readers one of them). Pages are never modified.
type pageCache struct {
	levels int
	mu     sync.Mutex
	m      map[string]*smt.Page
}

// get returns the page at key and true if key is in the cached levels.
func (c *pageCache) get(key []byte) (*smt.Page, bool) {
	if smt.PageLevel(key) >= c.levels {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[string(key)], true
}

func (c *pageCache) put(key []byte, p *smt.Page) {
	if smt.PageLevel(key) >= c.levels {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[string(key)] = p
}

// quietLogger drops pebble's informational messages.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
