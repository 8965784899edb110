package smt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Errors of the tree.
var (
	// ErrCorrupt: a stored page does not decode, or one the tree points to
	// is missing.
	ErrCorrupt = errors.New("smt: corrupt tree")
	// ErrDuplicate: one update sets the same path twice.
	ErrDuplicate = errors.New("smt: path set twice in one update")
)

// Reader reads the tree's pages by the keys the tree chooses. A page that
// was never written reads as (nil, nil). The bytes are not kept after the
// call returns.
type Reader interface {
	ReadPage(key []byte) ([]byte, error)
}

// PageWrite is a page to store (or overwrite) under Key.
type PageWrite struct {
	Key, Value []byte
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

type page struct {
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

// encode writes: nonEmpty bitmap (2) | leaf bitmap (2) | per non-empty slot
// in order: node -> hash (32); leaf -> path (32), value hash (32).
func (p *page) encode() []byte {
	var nonEmpty, leaves uint16
	n := 4
	for i := range p.slots {
		switch p.slots[i].kind {
		case slotNode:
			nonEmpty |= 1 << i
			n += 32
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
			b = append(b, s.hash[:]...)
		case slotLeaf:
			b = append(b, s.path[:]...)
			b = append(b, s.hash[:]...)
		}
	}
	return b
}

func decodePage(b []byte) (*page, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: page of %d bytes", ErrCorrupt, len(b))
	}
	nonEmpty := binary.BigEndian.Uint16(b)
	leaves := binary.BigEndian.Uint16(b[2:])
	if leaves&^nonEmpty != 0 || nonEmpty == 0 {
		return nil, fmt.Errorf("%w: page bitmaps", ErrCorrupt)
	}
	want := 4 + 32*bits.OnesCount16(nonEmpty) + 32*bits.OnesCount16(leaves)
	if len(b) != want {
		return nil, fmt.Errorf("%w: page of %d bytes, want %d", ErrCorrupt, len(b), want)
	}
	p := new(page)
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
			copy(s.hash[:], b[:32])
			b = b[32:]
		}
	}
	return p, nil
}

func readPage(r Reader, level int, path *Hash) (*page, error) {
	b, err := r.ReadPage(pageKey(level, path))
	if err != nil {
		return nil, fmt.Errorf("smt: read page: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	return decodePage(b)
}

// rangeHash returns the hash of the binary subtree over slots
// [lo, lo+size) and what it amounts to: empty, a lone leaf (which then
// stands for the whole range), or a node.
func (p *page) rangeHash(lo, size int) (Hash, slotKind) {
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
// the pages to write. Leaves are never removed. Sets may come in any order:
// they are sorted by path first, so each page on paths shared within one
// update is read, hashed and written once.
func Update(r Reader, sets []Set) (Result, error) {
	sorted := slices.Clone(sets)
	slices.SortFunc(sorted, func(a, b Set) int { return bytes.Compare(a.Path[:], b.Path[:]) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Path == sorted[i-1].Path {
			return Result{}, fmt.Errorf("%w: %s", ErrDuplicate, sorted[i].Path)
		}
	}
	u := updater{r: r}
	root, err := u.update(0, sorted, false)
	if err != nil {
		return Result{}, err
	}
	slices.SortFunc(u.writes, func(a, b PageWrite) int { return bytes.Compare(a.Key, b.Key) })
	return Result{Root: root, Writes: u.writes, Added: u.added}, nil
}

type updater struct {
	r      Reader
	writes []PageWrite
	added  int
}

// update applies sets (sorted, at least one unless level is 0, all under
// the page's prefix) to the page at level and returns the page's hash. If
// fresh, the page is known not to exist yet and is not read.
func (u *updater) update(level int, sets []Set, fresh bool) (Hash, error) {
	if level >= maxLevels {
		return Hash{}, fmt.Errorf("%w: paths share all %d bits", ErrDuplicate, 256)
	}
	var path Hash
	if len(sets) > 0 {
		path = sets[0].Path
	}
	p := new(page)
	if !fresh {
		got, err := readPage(u.r, level, &path)
		if err != nil {
			return Hash{}, err
		}
		if got != nil {
			p = got
		} else if level > 0 {
			return Hash{}, fmt.Errorf("%w: page %d/%x missing", ErrCorrupt, level, pageKey(level, &path)[1:])
		}
	}
	if len(sets) == 0 {
		h, _ := p.rangeHash(0, fanout)
		return h, nil
	}
	for i := 0; i < len(sets); {
		n := sets[i].Path.nibble(level)
		j := i + 1
		for j < len(sets) && sets[j].Path.nibble(level) == n {
			j++
		}
		group := sets[i:j]
		i = j
		s := &p.slots[n]
		// Sets are counted as added where they meet the tree's edge; a fresh
		// page holds only sets counted above it.
		childFresh := true
		switch s.kind {
		case slotEmpty:
			if !fresh {
				u.added += len(group)
			}
		case slotLeaf:
			k, found := slices.BinarySearchFunc(group, s.path, func(a Set, t Hash) int { return bytes.Compare(a.Path[:], t[:]) })
			u.added += len(group)
			if found {
				u.added--
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
		h, err := u.update(level+1, group, childFresh)
		if err != nil {
			return Hash{}, err
		}
		*s = slot{kind: slotNode, hash: h}
	}
	u.writes = append(u.writes, PageWrite{Key: pageKey(level, &path), Value: p.encode()})
	h, _ := p.rangeHash(0, fanout)
	return h, nil
}

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
	switch _, k := p.rangeHash(0, fanout); k {
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
			switch _, k := p.rangeHash(lo, size); k {
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

// loneLeaf returns the only leaf slot in a range known to hold one.
func (p *page) loneLeaf(lo, size int) *slot {
	for i := lo; i < lo+size; i++ {
		if p.slots[i].kind == slotLeaf {
			return &p.slots[i]
		}
	}
	return nil
}
