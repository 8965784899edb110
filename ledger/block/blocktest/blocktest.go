// Package blocktest has helpers for tests of packages that assemble and
// verify blocks: an in-memory chain index and license state, and builders for
// signed batches of sample transactions.
package blocktest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/baybus/baybus/bridge/ids"
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
		b := fmt.Appendf(nil, "%s|%s|%x|%x|%d|%s|%s", k, l.Status, l.RecordTx, l.LastTx, l.Height, l.Owner, l.ValidTo)
		if l.Kind != "" { // rules version 3
			b = fmt.Appendf(b, "|%s|%d|%s", l.Kind, l.Uses, l.Terms)
		}
		leaves[i] = sha256.Sum256(b)
	}
	return merkle.Root(leaves)
}

// Tx returns a canonical transaction of action on license id (any id of
// the schemas' id pattern) in city: a professional certificate, so that the
// id needs no check character and the record passes every rule of both
// rules versions. Issue and amend carry the full record; the other
// actions the id and a reason.
func Tx(chain, city, id string, action schemas.Action) []byte {
	return TxWith(chain, city, id, action, nil)
}

// TxWith is Tx with the event changed by edit (nil: none) before it is
// bound to the chain: another event id, a validity, a handover's city.
func TxWith(chain, city, id string, action schemas.Action, edit func(*schemas.Event)) []byte {
	c, err := schemas.LookupCity(city)
	if err != nil {
		panic(err) // test helper: a typo in a test
	}
	ev := &schemas.Event{
		EventID: fmt.Sprintf("%s-%s-%s", city, id, action), Kind: schemas.KindCertificate, Action: action,
		OccurredAt: "2026-01-02T03:04:05Z",
		Record: schemas.Record{ID: id, Holder: &schemas.Party{Name: schemas.Text{schemas.LangEN: "Holder of " + id}, IDKind: "passport", IDNumber: "P1234567"},
			Title: schemas.Text{schemas.LangEN: "Test certificate"}, Authority: schemas.Text{schemas.LangEN: "Registry"}, IssuedOn: "2026-01-02"},
	}
	if !action.FullRecord() {
		ev.Reason = "test"
		ev.Record = schemas.Record{ID: id}
	}
	if edit != nil {
		edit(ev)
	}
	raw, err := schemas.EncodeTx(schemas.NewTx(chain, c, ev))
	if err != nil {
		panic(err)
	}
	return raw
}

// Handover returns city's canonical handover of license id to city to.
func Handover(chain, city, id, to string) []byte {
	return TxWith(chain, city, id, schemas.ActionHandover, func(ev *schemas.Event) { ev.To = to })
}

// Batch seals txs as a batch of city signed with the consortium's key.
func Batch(c *keys.Consortium, city string, seq uint64, txs ...[]byte) *schemas.Batch {
	b, err := schemas.SealBatch(c.Bundle.Chain, city, int64(seq)*1000, seq, txs, c.Cities[city])
	if err != nil {
		panic(err)
	}
	return b
}

// WithRules returns a copy of a trust bundle that names rules version v.
func WithRules(b *keys.Bundle, v int) *keys.Bundle {
	cp := *b
	cp.Rules = v
	raw, err := json.Marshal(&cp)
	if err != nil {
		panic(err)
	}
	out, err := keys.ParseBundle(raw)
	if err != nil {
		panic(err)
	}
	return out
}

// BusinessID returns the n-th business registration number of a city's
// jurisdiction, valid by bridge/ids: a USCC of the city's division in CN
// (organisation code MA plus six digits, both check characters computed),
// an eight-digit BR number in HK, a registration number in MO. Tests that
// publish business registrations under rules version 2, which check them,
// take their ids from here.
func BusinessID(city string, n int) string {
	c, err := schemas.LookupCity(city)
	if err != nil {
		panic(err)
	}
	switch c.Jurisdiction {
	case schemas.HK:
		return fmt.Sprintf("%08d", 30000000+n%60000000)
	case schemas.MO:
		return fmt.Sprintf("%d", 1+n%99999999)
	}
	id, err := ids.MakeUSCC(c.Division, fmt.Sprintf("MA%06d", n%1000000))
	if err != nil {
		panic(err)
	}
	return id
}
