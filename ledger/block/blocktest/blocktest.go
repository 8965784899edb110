// Package blocktest has helpers for tests of packages that assemble and
// verify blocks: an in-memory chain index and license state, and builders for
// signed batches of sample transactions.
package blocktest

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

// Chain is an in-memory block.Chain.
type Chain struct {
	mu      sync.Mutex
	txs     map[schemas.TxID]bool
	batches map[string]bool
}

// NewChain returns an empty index.
func NewChain() *Chain {
	return &Chain{txs: map[schemas.TxID]bool{}, batches: map[string]bool{}}
}

// TxSeen implements block.Chain.
func (c *Chain) TxSeen(id schemas.TxID) bool { c.mu.Lock(); defer c.mu.Unlock(); return c.txs[id] }

// BatchSeen implements block.Chain.
func (c *Chain) BatchSeen(id string) bool { c.mu.Lock(); defer c.mu.Unlock(); return c.batches[id] }

// Add records a committed block.
func (c *Chain) Add(b *block.Block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, bt := range b.Batches {
		c.batches[bt.ID()] = true
	}
	for _, t := range b.Txs() {
		if t.Result == block.OK {
			c.txs[t.ID] = true
		}
	}
}

// State is an in-memory block.State whose root is the RFC 6962 root over the
// sorted licenses: fine for tests, linear in the number of licenses.
type State struct {
	mu   sync.Mutex
	lics map[string]block.License
}

// NewState returns an empty state.
func NewState() *State { return &State{lics: map[string]block.License{}} }

// License implements block.State.
func (s *State) License(key string) (block.License, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lics[key]
	return l, ok, nil
}

// PreviewRoot implements block.State.
func (s *State) PreviewRoot(height uint64, ups []block.StateUpdate) ([32]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]block.License, len(s.lics)+len(ups))
	for k, v := range s.lics {
		next[k] = v
	}
	for _, u := range ups {
		next[u.Key] = u.License
	}
	return root(next), nil
}

// Apply commits updates.
func (s *State) Apply(ups []block.StateUpdate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range ups {
		s.lics[u.Key] = u.License
	}
}

func root(m map[string]block.License) [32]byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	leaves := make([]merkle.Hash, len(keys))
	for i, k := range keys {
		l := m[k]
		leaves[i] = sha256.Sum256(fmt.Appendf(nil, "%s|%s|%x|%x|%d", k, l.Status, l.RecordTx, l.LastTx, l.Height))
	}
	return merkle.Root(leaves)
}

// Tx returns a canonical issue transaction for license id in city.
func Tx(chain, city, id string, action schemas.Action) []byte {
	c, err := schemas.LookupCity(city)
	if err != nil {
		panic(err) // test helper: a typo in a test
	}
	ev := &schemas.Event{
		EventID: fmt.Sprintf("%s-%s-%s", city, id, action), Kind: schemas.KindBusiness, Action: action,
		OccurredAt: "2026-01-02T03:04:05Z",
		Record: schemas.Record{ID: id, Name: schemas.Text{schemas.LangEN: "Test Co " + id},
			Authority: schemas.Text{schemas.LangEN: "Registry"}, IssuedOn: "2026-01-02", EstablishedOn: "2026-01-01",
			Address: schemas.Text{schemas.LangEN: "1 Test Road"}, Scope: schemas.Text{schemas.LangEN: "testing"}},
	}
	if !action.FullRecord() {
		ev.Reason = "test"
		ev.Record = schemas.Record{ID: id}
	}
	raw, err := schemas.EncodeTx(schemas.NewTx(chain, c, ev))
	if err != nil {
		panic(err)
	}
	return raw
}

// Batch seals txs as a batch of city signed with the consortium's key.
func Batch(c *keys.Consortium, city string, seq uint64, txs ...[]byte) *schemas.Batch {
	b, err := schemas.SealBatch(c.Bundle.Chain, city, int64(seq)*1000, seq, txs, c.Cities[city])
	if err != nil {
		panic(err)
	}
	return b
}
