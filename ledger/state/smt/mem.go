package smt

import "fmt"

// MemStore keeps a tree's pages in memory. It is meant for tests and for
// small trees; its memory grows with the tree.
type MemStore struct {
	pages map[string][]byte
}

var _ Reader = (*MemStore)(nil)

// NewMemStore returns an empty in-memory tree.
func NewMemStore() *MemStore { return &MemStore{pages: map[string][]byte{}} }

// ReadPages implements Reader.
func (m *MemStore) ReadPages(keys [][]byte) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = m.pages[string(k)]
	}
	return out, nil
}

// Update applies sets and stores the written pages; it returns the new root.
func (m *MemStore) Update(sets []Set) (Hash, error) {
	res, err := Update(m, sets)
	if err != nil {
		return Hash{}, err
	}
	for _, w := range res.Writes {
		m.pages[string(w.Key)] = w.Page.Encode()
	}
	return res.Root, nil
}

// Pages returns how many pages the tree holds.
func (m *MemStore) Pages() int { return len(m.pages) }

// ComputeRoot returns the root of the tree holding exactly the given leaves,
// computed in memory. Keys must be distinct.
func ComputeRoot(leaves []Leaf) (Hash, error) {
	sets := make([]Set, len(leaves))
	for i := range leaves {
		vh, err := leaves[i].ValueHash()
		if err != nil {
			return Hash{}, fmt.Errorf("smt: leaf %d: %w", i, err)
		}
		sets[i] = Set{Path: PathOf(leaves[i].Key), ValueHash: vh}
	}
	return NewMemStore().Update(sets)
}
