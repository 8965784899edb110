package config

import (
	"fmt"
	"sort"

	"github.com/baybus/baybus/schemas/keys"
)

// Entry is one configuration block: its height, its transaction and the
// configuration in force from the height after it.
type Entry struct {
	Height uint64
	Tx     *Tx
	Bundle *keys.Bundle
}

// History is the genesis configuration and the configuration blocks after
// it, in height order: which bundle is in force at any height.
type History struct {
	genesis *keys.Bundle
	entries []Entry
}

// NewHistory starts a history at the genesis trust bundle.
func NewHistory(genesis *keys.Bundle) *History { return &History{genesis: genesis} }

// Apply checks tx as sealed at height under the configuration in force
// there and records it. Heights must rise: a configuration block at or
// below the last one recorded is refused.
func (h *History) Apply(height uint64, tx *Tx) (*keys.Bundle, error) {
	if height == 0 {
		return nil, fmt.Errorf("%w: configuration at height 0", ErrInvalid)
	}
	if n := len(h.entries); n > 0 && height <= h.entries[n-1].Height {
		return nil, fmt.Errorf("%w: configuration at height %d after one at %d", ErrInvalid, height, h.entries[n-1].Height)
	}
	next, err := Check(h.Current(), tx, height)
	if err != nil {
		return nil, fmt.Errorf("config: block %d: %w", height, err)
	}
	h.entries = append(h.entries, Entry{Height: height, Tx: tx, Bundle: next})
	return next, nil
}

// At returns the configuration in force at height: the one made by the
// last configuration block below height, or the genesis.
func (h *History) At(height uint64) *keys.Bundle {
	i := sort.Search(len(h.entries), func(i int) bool { return h.entries[i].Height >= height })
	if i == 0 {
		return h.genesis
	}
	return h.entries[i-1].Bundle
}

// Current is the configuration in force after the last configuration
// block.
func (h *History) Current() *keys.Bundle {
	if len(h.entries) == 0 {
		return h.genesis
	}
	return h.entries[len(h.entries)-1].Bundle
}

// Clone returns a copy that later Apply calls on h do not change (the
// bundles are immutable and shared): what an owner hands to readers on
// other goroutines.
func (h *History) Clone() *History {
	return &History{genesis: h.genesis, entries: append([]Entry(nil), h.entries...)}
}

// Genesis is the configuration the history starts from.
func (h *History) Genesis() *keys.Bundle { return h.genesis }

// Entries lists the configuration blocks in height order.
func (h *History) Entries() []Entry { return append([]Entry(nil), h.entries...) }

// LastHeight is the height of the last configuration block, 0 if none.
func (h *History) LastHeight() uint64 {
	if len(h.entries) == 0 {
		return 0
	}
	return h.entries[len(h.entries)-1].Height
}
