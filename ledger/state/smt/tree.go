package smt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"
)

// Errors of the tree.
var (
	// ErrCorrupt: a stored page does not decode, or one the tree points to
	// is missing.
	ErrCorrupt = errors.New("smt: corrupt tree")
	// ErrDuplicate: one update sets the same path twice.
	ErrDuplicate = errors.New("smt: path set twice in one update")
)

// Reader reads the tree's pages by the keys the tree chooses. ReadPages
// returns one value per key, nil for a page never written; keys come in
// ascending order, as the tree reads a level at a time. The tree neither
// modifies nor keeps the bytes returned. UpdateParallel calls it from
// several goroutines at once.
type Reader interface {
	ReadPages(keys [][]byte) ([][]byte, error)
}

// CachedReader is a Reader that holds some pages decoded in memory. The
// tree asks it first; ok false sends the key to ReadPages, a nil page with
// ok true means the page does not exist. The tree copies what it changes.
type CachedReader interface {
	Reader
	CachedPage(key []byte) (p *Page, ok bool)
}

// PageWrite is a page to store (or overwrite) under Key: Page.Encode(), or
// Page.Shape() in levels whose hashes the store recomputes.
type PageWrite struct {
	Key  []byte
	Page *Page
}

// Set puts a leaf, given by its path and value hash, in the tree.
type Set struct {
	Path      Hash
	ValueHash Hash
}

// Result is what Update computed.
type Result struct {
	Root   Hash        // the new root
	Writes []PageWrite // the pages to store, in key order, for the new root to be readable
	Added  int         // how many sets were for paths not yet in the tree
}

// The tree is stored as pages of sixteen slots, one page per four levels of
// the binary tree: the page at level L (0 to 63) with prefix p covers the
// subtree of the first 4L path bits p, and its slot n the subtree of p
// followed by the nibble n. A slot is empty, holds the only leaf of its
// subtree, or points to the page below (two or more leaves). Hashes inside a
// page are computed on the fly; only a page's slots are stored.
const (
	fanout    = 16
	maxLevels = 256 / 4
)

type slotKind uint8

const (
	slotEmpty slotKind = iota
	slotLeaf
	slotNode
)

type slot struct {
	kind slotKind
	hash Hash // node: the child page's hash; leaf: the leaf's value hash
	path Hash // leaf only
}

// Page is a decoded page, for stores that keep pages in memory (see
// CachedReader). Its methods do not modify it.
type Page struct {
	slots [fanout]slot
}

// pageKey is the level byte followed by the level's prefix nibbles packed
// two to a byte, the last half byte zero when the level is odd.
func pageKey(level int, path *Hash) []byte {
	n := (level + 1) / 2
	k := make([]byte, 1+n)
	k[0] = byte(level)
	copy(k[1:], path[:n])
	if level&1 == 1 {
		k[n] &= 0xf0
	}
	return k
}

// PageLevel returns the tree level of a page key: its first byte. Stores use
// it to keep the top levels in memory.
func PageLevel(key []byte) int {
	if len(key) == 0 {
		return -1
	}
	return int(key[0])
}

// encode writes: nonEmpty bitmap (2) | leaf bitmap (2) | per non-empty slot
// in order: node -> hash (32); leaf -> path (32), value hash (32).
func (p *Page) encode() []byte { return p.encodeWith(true) }

// encodeWith writes the page, or with nodeHashes false its shape.
func (p *Page) encodeWith(nodeHashes bool) []byte {
	var nonEmpty, leaves uint16
	n := 4
	for i := range p.slots {
		switch p.slots[i].kind {
		case slotNode:
			nonEmpty |= 1 << i
			if nodeHashes {
				n += 32
			}
		case slotLeaf:
			nonEmpty |= 1 << i
			leaves |= 1 << i
			n += 64
		}
	}
	b := make([]byte, 4, n)
	binary.BigEndian.PutUint16(b, nonEmpty)
	binary.BigEndian.PutUint16(b[2:], leaves)
	for i := range p.slots {
		s := &p.slots[i]
		switch s.kind {
		case slotNode:
			if nodeHashes {
				b = append(b, s.hash[:]...)
			}
		case slotLeaf:
			b = append(b, s.path[:]...)
			b = append(b, s.hash[:]...)
		}
	}
	return b
}

func decodePage(b []byte) (*Page, error) { return decode(b, true) }

// decode reads a page, or with nodeHashes false a page's shape (ShapeOf).
func decode(b []byte, nodeHashes bool) (*Page, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: page of %d bytes", ErrCorrupt, len(b))
	}
	nonEmpty := binary.BigEndian.Uint16(b)
	leaves := binary.BigEndian.Uint16(b[2:])
	if leaves&^nonEmpty != 0 || nonEmpty == 0 {
		return nil, fmt.Errorf("%w: page bitmaps", ErrCorrupt)
	}
	want := 4 + 64*bits.OnesCount16(leaves)
	if nodeHashes {
		want += 32 * bits.OnesCount16(nonEmpty&^leaves)
	}
	if len(b) != want {
		return nil, fmt.Errorf("%w: page of %d bytes, want %d", ErrCorrupt, len(b), want)
	}
	p := new(Page)
	b = b[4:]
	for i := range p.slots {
		s := &p.slots[i]
		switch {
		case leaves&(1<<i) != 0:
			s.kind = slotLeaf
			copy(s.path[:], b[:32])
			copy(s.hash[:], b[32:64])
			b = b[64:]
		case nonEmpty&(1<<i) != 0:
			s.kind = slotNode
			if nodeHashes {
				copy(s.hash[:], b[:32])
				b = b[32:]
			}
		}
	}
	return p, nil
}

// DecodePage decodes a stored page.
func DecodePage(b []byte) (*Page, error) { return decodePage(b) }

// Encode returns the page's stored form.
func (p *Page) Encode() []byte { return p.encode() }

// Shape returns the page's shape (see ShapeOf).
func (p *Page) Shape() []byte { return p.encodeWith(false) }

// SameShape reports whether p and q have the same shape.
func (p *Page) SameShape(q *Page) bool {
	for i := range p.slots {
		a, b := &p.slots[i], &q.slots[i]
		if a.kind != b.kind || a.kind == slotLeaf && (a.path != b.path || a.hash != b.hash) {
			return false
		}
	}
	return true
}

// Hash returns the hash of the subtree the page covers.
func (p *Page) Hash() Hash {
	h, _ := p.rangeHash(0, fanout)
	return h
}

// ShapeOf returns a page's shape: its encoding without the hashes of the
// pages below, which can be recomputed from those pages (FillPage). A store
// that keeps the tree's top levels in memory stores only their shapes, which
// change when a slot changes kind or a leaf its value, not with every block.
func ShapeOf(b []byte) ([]byte, error) {
	p, err := decodePage(b)
	if err != nil {
		return nil, err
	}
	return p.encodeWith(false), nil
}

// FillPage rebuilds the page at key from its shape, asking child for the
// hash of the page under each node slot (by that page's key).
func FillPage(key, shape []byte, child func(childKey []byte) (Hash, error)) (*Page, error) {
	p, err := decode(shape, false)
	if err != nil {
		return nil, err
	}
	for n := range p.slots {
		if p.slots[n].kind != slotNode {
			continue
		}
		h, err := child(ChildKey(key, n))
		if err != nil {
			return nil, err
		}
		p.slots[n].hash = h
	}
	return p, nil
}

// PageHash returns the hash of the subtree that a page covers.
func PageHash(b []byte) (Hash, error) {
	p, err := decodePage(b)
	if err != nil {
		return Hash{}, err
	}
	h, _ := p.rangeHash(0, fanout)
	return h, nil
}

// ParentKey returns the key of the page above the page at key (level > 0).
func ParentKey(key []byte) []byte {
	level := int(key[0]) - 1
	out := make([]byte, 1+(level+1)/2)
	copy(out[1:], key[1:])
	out[0] = byte(level)
	if level&1 == 1 {
		out[len(out)-1] &= 0xf0
	}
	return out
}

// ChildKey returns the key of the page under slot n of the page at key.
func ChildKey(key []byte, n int) []byte {
	level := int(key[0])
	out := make([]byte, 1+(level+2)/2)
	copy(out[1:], key[1:])
	out[0] = byte(level + 1)
	if level&1 == 0 {
		out[1+level/2] = byte(n) << 4
	} else {
		out[1+level/2] |= byte(n)
	}
	return out
}

func readPage(r Reader, level int, path *Hash) (*Page, error) {
	key := pageKey(level, path)
	if cr, ok := r.(CachedReader); ok {
		if p, ok := cr.CachedPage(key); ok {
			return p, nil
		}
	}
	vals, err := r.ReadPages([][]byte{key})
	if err != nil {
		return nil, fmt.Errorf("smt: read page: %w", err)
	}
	if len(vals) != 1 || vals[0] == nil {
		return nil, err
	}
	return decodePage(vals[0])
}

// rangeHash returns the hash of the binary subtree over slots
// [lo, lo+size) and what it amounts to: empty, a lone leaf (which then
// stands for the whole range), or a node.
func (p *Page) rangeHash(lo, size int) (Hash, slotKind) {
	if size == 1 {
		s := &p.slots[lo]
		switch s.kind {
		case slotEmpty:
			return Empty, slotEmpty
		case slotLeaf:
			return LeafHash(s.path, s.hash), slotLeaf
		}
		return s.hash, slotNode
	}
	half := size / 2
	l, lk := p.rangeHash(lo, half)
	r, rk := p.rangeHash(lo+half, half)
	switch {
	case lk == slotEmpty && rk == slotEmpty:
		return Empty, slotEmpty
	case lk == slotEmpty && rk == slotLeaf:
		return r, slotLeaf
	case lk == slotLeaf && rk == slotEmpty:
		return l, slotLeaf
	}
	return NodeHash(l, r), slotNode
}

// Update sets leaves in the tree that r holds and returns the new root with
// the pages to write. Leaves are never removed. Sets may come in any order.
//
// It works level by level: it finds the pages of the next level that the
// sets pass through, reads them all in one call in key order (a sweep that
// suits an LSM store), and once the deepest level is reached hashes the
// pages bottom-up, each page once however many sets share it.
func Update(r Reader, sets []Set) (Result, error) { return UpdateParallel(r, sets, 1) }

// UpdateParallel is Update with each level's reads and hashing spread over up
// to workers goroutines, which call r concurrently. The result is Update's.
func UpdateParallel(r Reader, sets []Set, workers int) (Result, error) {
	sorted := slices.Clone(sets)
	slices.SortFunc(sorted, func(a, b Set) int { return bytes.Compare(a.Path[:], b.Path[:]) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Path == sorted[i-1].Path {
			return Result{}, fmt.Errorf("%w: %s", ErrDuplicate, sorted[i].Path)
		}
	}
	workers = max(workers, 1)
	var res Result
	var levels [][]*pending // the pages touched, by level, in key order
	frontier := []*pending{{key: pageKey(0, &Hash{}), sets: sorted}}
	for level := 0; len(frontier) > 0; level++ {
		if level >= maxLevels {
			return Result{}, fmt.Errorf("%w: paths share all 256 bits", ErrDuplicate)
		}
		if err := readPending(r, level, frontier, workers); err != nil {
			return Result{}, err
		}
		levels = append(levels, frontier)
		var next []*pending
		for _, pd := range frontier {
			next = pd.descend(level, next, &res.Added)
		}
		frontier = next
	}
	for level := len(levels) - 1; level >= 0; level-- {
		pds := levels[level]
		if level == 0 && len(sorted) == 0 {
			res.Root, _ = pds[0].page.rangeHash(0, fanout)
			return res, nil
		}
		parallelChunks(len(pds), workers, func(lo, hi int) error {
			for _, pd := range pds[lo:hi] {
				h, _ := pd.page.rangeHash(0, fanout)
				if pd.parent != nil {
					pd.parent.hash = h
				} else {
					res.Root = h
				}
			}
			return nil
		})
	}
	for _, pds := range levels {
		for _, pd := range pds {
			res.Writes = append(res.Writes, PageWrite{Key: pd.key, Page: pd.page})
		}
	}
	slices.SortFunc(res.Writes, func(a, b PageWrite) int { return bytes.Compare(a.Key, b.Key) })
	return res, nil
}

// pending is a page that an update passes through.
type pending struct {
	key    []byte
	sets   []Set // sorted, all under the page's prefix
	fresh  bool  // known not to exist yet: not read
	page   *Page
	parent *slot // the slot above that takes the page's hash; nil for the root
}

// readPending reads the pages of one level, in key order, in up to workers
// concurrent calls.
func readPending(r Reader, level int, pds []*pending, workers int) error {
	var toRead []*pending
	cr, _ := r.(CachedReader)
	for _, pd := range pds {
		if pd.fresh {
			pd.page = new(Page)
			continue
		}
		if cr != nil {
			if p, ok := cr.CachedPage(pd.key); ok {
				switch {
				case p != nil:
					c := *p
					pd.page = &c
				case level == 0:
					pd.page = new(Page)
				default:
					return fmt.Errorf("%w: page %x missing", ErrCorrupt, pd.key)
				}
				continue
			}
		}
		toRead = append(toRead, pd)
	}
	return parallelChunks(len(toRead), workers, func(lo, hi int) error {
		keys := make([][]byte, hi-lo)
		for i, pd := range toRead[lo:hi] {
			keys[i] = pd.key
		}
		vals, err := r.ReadPages(keys)
		if err != nil {
			return fmt.Errorf("smt: read pages: %w", err)
		}
		if len(vals) != len(keys) {
			return fmt.Errorf("smt: read %d pages, got %d", len(keys), len(vals))
		}
		for i, pd := range toRead[lo:hi] {
			switch {
			case vals[i] != nil:
				if pd.page, err = decodePage(vals[i]); err != nil {
					return fmt.Errorf("%w (page %x)", err, pd.key)
				}
			case level == 0:
				pd.page = new(Page) // the empty tree
			default:
				return fmt.Errorf("%w: page %x missing", ErrCorrupt, pd.key)
			}
		}
		return nil
	})
}

// descend applies the page's sets to its slots at level: a set alone in an
// empty slot, or replacing the lone leaf of its own path, becomes a leaf;
// any other group goes to the page below, appended to next. Sets are counted
// in added where they meet the tree's edge (a fresh page holds only sets
// counted above it).
func (pd *pending) descend(level int, next []*pending, added *int) []*pending {
	sets := pd.sets
	for i := 0; i < len(sets); {
		n := sets[i].Path.nibble(level)
		j := i + 1
		for j < len(sets) && sets[j].Path.nibble(level) == n {
			j++
		}
		group := sets[i:j]
		i = j
		s := &pd.page.slots[n]
		childFresh := true
		switch s.kind {
		case slotEmpty:
			if !pd.fresh {
				*added += len(group)
			}
		case slotLeaf:
			k, found := slices.BinarySearchFunc(group, s.path, func(a Set, t Hash) int { return bytes.Compare(a.Path[:], t[:]) })
			*added += len(group)
			if found {
				*added--
			} else {
				// The lone leaf moves down beside the new ones.
				group = slices.Insert(slices.Clone(group), k, Set{Path: s.path, ValueHash: s.hash})
			}
		case slotNode:
			childFresh = false
		}
		if len(group) == 1 && s.kind != slotNode {
			*s = slot{kind: slotLeaf, path: group[0].Path, hash: group[0].ValueHash}
			continue
		}
		*s = slot{kind: slotNode} // its hash is set once the page below is hashed
		next = append(next, &pending{key: pageKey(level+1, &group[0].Path), sets: group, fresh: childFresh, parent: s})
	}
	return next
}

// parallelChunks calls fn on up to workers contiguous chunks of [0, n),
// concurrently, and returns the first error.
func parallelChunks(n, workers int, fn func(lo, hi int) error) error {
	if n == 0 {
		return nil
	}
	if workers <= 1 || n < parallelMin {
		return fn(0, n)
	}
	workers = min(workers, n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = fn(n*w/workers, n*(w+1)/workers) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// parallelMin is the least number of pages worth spreading over workers.
const parallelMin = 32

// Root returns the root of the tree that r holds.
func Root(r Reader) (Hash, error) {
	p, err := readPage(r, 0, &Hash{})
	if err != nil || p == nil {
		return Empty, err
	}
	h, _ := p.rangeHash(0, fanout)
	return h, nil
}

// Prove returns the proof for path in the tree that r holds. If member, the
// path's own leaf is the terminal and valueHash is its value hash; otherwise
// the proof shows that the path holds nothing.
func Prove(r Reader, path Hash) (proof *Proof, member bool, valueHash Hash, err error) {
	var down []Hash // siblings from the root down
	done := func(s *slot) (*Proof, bool, Hash, error) {
		slices.Reverse(down)
		pr := &Proof{Siblings: down}
		if s == nil {
			return pr, false, Hash{}, nil
		}
		if s.path == path {
			return pr, true, s.hash, nil
		}
		pr.Other = &OtherLeaf{Path: s.path, ValueHash: s.hash}
		return pr, false, Hash{}, nil
	}
	p, err := readPage(r, 0, &path)
	if err != nil {
		return nil, false, Hash{}, err
	}
	if p == nil {
		return done(nil)
	}
	switch p.rangeKind(0, fanout) {
	case slotEmpty:
		return done(nil)
	case slotLeaf:
		return done(p.loneLeaf(0, fanout))
	}
	for level := 0; ; level++ {
		n := path.nibble(level)
		lo, size := 0, fanout
		for size > 1 {
			half := size / 2
			sib := lo
			if n >= lo+half {
				lo += half
			} else {
				sib += half
			}
			size = half
			sh, _ := p.rangeHash(sib, size)
			down = append(down, sh)
			switch p.rangeKind(lo, size) {
			case slotEmpty:
				return done(nil)
			case slotLeaf:
				return done(p.loneLeaf(lo, size))
			}
		}
		if level+1 >= maxLevels {
			return nil, false, Hash{}, fmt.Errorf("%w: node slot at the last level", ErrCorrupt)
		}
		if p, err = readPage(r, level+1, &path); err != nil {
			return nil, false, Hash{}, err
		}
		if p == nil {
			return nil, false, Hash{}, fmt.Errorf("%w: page at level %d missing", ErrCorrupt, level+1)
		}
	}
}

// rangeKind is rangeHash's kind without the hashing.
func (p *Page) rangeKind(lo, size int) slotKind {
	leaves, nodes := 0, 0
	for i := lo; i < lo+size; i++ {
		switch p.slots[i].kind {
		case slotLeaf:
			leaves++
		case slotNode:
			nodes++
		}
	}
	switch {
	case nodes == 0 && leaves == 0:
		return slotEmpty
	case nodes == 0 && leaves == 1:
		return slotLeaf
	}
	return slotNode
}

// loneLeaf returns the only leaf slot in a range known to hold one.
func (p *Page) loneLeaf(lo, size int) *slot {
	for i := lo; i < lo+size; i++ {
		if p.slots[i].kind == slotLeaf {
			return &p.slots[i]
		}
	}
	return nil
}
