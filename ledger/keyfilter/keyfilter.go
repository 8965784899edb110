// Package keyfilter keeps, in memory, a bloom filter of the keys a store
// holds, so that the lookups of keys it does not hold (a new license, a new
// transaction id: the common case on the ordering path) are answered
// without reading the store.
package keyfilter

import (
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
)

// FPRate is the filter's false-positive rate when it is full.
const FPRate = 0.01

// minKeys is the least number of keys a filter is sized for.
const minKeys = 1 << 16

// Filter is a bloom filter of a store's keys that grows: sized for twice
// the keys it holds, it is rebuilt from the store (Scan) once it would
// hold more. A key it was given is always reported; one it was not is
// reported absent with probability 1 - FPRate or better. Safe for
// concurrent use.
type Filter struct {
	scan func(add func(key []byte)) error

	mu   sync.RWMutex
	f    *bloom.BloomFilter
	n    uint64 // keys added (repeats included)
	size uint64 // keys the filter is sized for
}

// New builds a filter of the keys scan passes to add: one scan counts
// them, a second fills the filter. scan is called again whenever the
// filter grows, and must pass every key the store holds then (it may pass
// more: a key that was never stored is only a false positive).
func New(scan func(add func(key []byte)) error) (*Filter, error) {
	var n uint64
	if err := scan(func([]byte) { n++ }); err != nil {
		return nil, err
	}
	f := &Filter{scan: scan}
	if err := f.rebuild(n); err != nil {
		return nil, err
	}
	return f, nil
}

// rebuild rescans the store into a filter sized for twice n keys.
// Concurrent Adds must not run (see Add).
func (f *Filter) rebuild(n uint64) error {
	size := max(2*n, minKeys)
	bf := bloom.NewWithEstimates(uint(size), FPRate)
	var added uint64
	if err := f.scan(func(k []byte) { bf.Add(k); added++ }); err != nil {
		return err
	}
	f.mu.Lock()
	f.f, f.n, f.size = bf, added, size
	f.mu.Unlock()
	return nil
}

// Add adds keys, growing the filter first if they would over-fill it. A
// store adds a write's keys before the write is visible, so no reader
// sees a stored key reported absent. Adds must come from one goroutine at
// a time (a store's write path).
func (f *Filter) Add(keys ...[]byte) error {
	f.mu.RLock()
	n, size := f.n+uint64(len(keys)), f.size
	f.mu.RUnlock()
	if n > size {
		if err := f.rebuild(n); err != nil {
			return err
		}
	}
	f.mu.Lock()
	for _, k := range keys {
		f.f.Add(k)
	}
	f.n += uint64(len(keys))
	f.mu.Unlock()
	return nil
}

// MayHold reports whether key may be in the store: false means it is not.
func (f *Filter) MayHold(key []byte) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.f.Test(key)
}
