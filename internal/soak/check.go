package soak

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/baybus/baybus/schemas"
)

// Receipts are what the load was told by the gateways, by transaction:
// a committed receipt's height, and the transactions only accepted (kept
// by the bus and the gateway, not sealed when the answer came).
type Receipts struct {
	Committed map[schemas.TxID]uint64
	Accepted  map[schemas.TxID]bool
}

// NewReceipts returns empty receipts.
func NewReceipts() *Receipts {
	return &Receipts{Committed: map[schemas.TxID]uint64{}, Accepted: map[schemas.TxID]bool{}}
}

// Chain is what the checker needs of one orderer's chain: how many times
// each transaction is recorded with effect (OK), how many times it is
// sealed at all (Sealed: with effect, or without, e.g. a status change
// the license does not allow, or a repeat), and each header's hash and
// state root, index h-1 for height h.
type Chain struct {
	Name       string
	OK         map[schemas.TxID]int
	Sealed     map[schemas.TxID]int
	Hashes     [][32]byte
	StateRoots [][32]byte
}

// Height is the chain's last height.
func (c *Chain) Height() uint64 { return uint64(len(c.Hashes)) }

// Violation is one broken invariant.
type Violation struct {
	Kind    string `json:"kind"` // lost, duplicated, diverged, unsealed
	Orderer string `json:"orderer,omitempty"`
	Tx      string `json:"tx,omitempty"`
	Height  uint64 `json:"height,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

func (v Violation) String() string {
	s := v.Kind
	if v.Orderer != "" {
		s += " on " + v.Orderer
	}
	if v.Tx != "" {
		s += ": tx " + v.Tx
	}
	if v.Height != 0 {
		s += fmt.Sprintf(" at height %d", v.Height)
	}
	if v.Detail != "" {
		s += ": " + v.Detail
	}
	return s
}

// Kinds of Violation.
const (
	Lost       = "lost"       // a receipted transaction missing from a chain that should hold it
	Duplicated = "duplicated" // a transaction recorded with effect more than once on one chain
	Diverged   = "diverged"   // two chains differ at one height (header or state root)
	Unsealed   = "unsealed"   // an accepted transaction on no chain when the soak ended
)

// Check checks the invariants over chains read at one moment:
//
//   - every committed receipt is on every chain that reaches its height,
//     exactly once;
//   - no chain records any transaction with effect twice;
//   - chains agree, header and state root, at every height they share;
//   - if final (the load has stopped and the orderers drained), every
//     accepted receipt is sealed on every chain (with effect or without:
//     an accepted event may turn out to be a change its license does not
//     allow).
//
// Orderers may lag (a restarted one catches up), so a committed receipt
// above a chain's height is checked on the next call, unless final. It
// returns the violations in a stable order: by check, then orderer, then
// transaction.
func Check(r *Receipts, chains []*Chain, final bool) []Violation {
	var out []Violation
	for _, c := range chains {
		var lost, dup []Violation
		for id, h := range r.Committed {
			if !final && h > c.Height() {
				continue
			}
			if n := c.OK[id]; n == 0 {
				lost = append(lost, Violation{Kind: Lost, Orderer: c.Name, Tx: schemas.FormatID(id), Height: h, Detail: "committed receipt"})
			}
		}
		if final {
			for id := range r.Accepted {
				if _, ok := r.Committed[id]; ok {
					continue
				}
				if c.Sealed[id] == 0 {
					lost = append(lost, Violation{Kind: Unsealed, Orderer: c.Name, Tx: schemas.FormatID(id), Detail: "accepted receipt never sealed"})
				}
			}
		}
		for id, n := range c.OK {
			if n > 1 {
				dup = append(dup, Violation{Kind: Duplicated, Orderer: c.Name, Tx: schemas.FormatID(id), Detail: fmt.Sprintf("recorded %d times", n)})
			}
		}
		byTx := func(a, b Violation) int {
			if a.Kind != b.Kind {
				return cmp.Compare(a.Kind, b.Kind)
			}
			return cmp.Compare(a.Tx, b.Tx)
		}
		slices.SortFunc(lost, byTx)
		slices.SortFunc(dup, byTx)
		out = append(out, lost...)
		out = append(out, dup...)
	}
	for i := 1; i < len(chains); i++ {
		a, b := chains[0], chains[i]
		for h := range min(len(a.Hashes), len(b.Hashes)) {
			switch {
			case a.StateRoots[h] != b.StateRoots[h]:
				out = append(out, Violation{Kind: Diverged, Orderer: b.Name, Height: uint64(h + 1),
					Detail: fmt.Sprintf("state root %x, %s has %x", b.StateRoots[h][:6], a.Name, a.StateRoots[h][:6])})
			case a.Hashes[h] != b.Hashes[h]:
				out = append(out, Violation{Kind: Diverged, Orderer: b.Name, Height: uint64(h + 1),
					Detail: fmt.Sprintf("header %x, %s has %x", b.Hashes[h][:6], a.Name, a.Hashes[h][:6])})
			default:
				continue
			}
			break
		}
	}
	return out
}

// Count sums violations by kind, and counts the distinct transactions lost
// (or never sealed) and duplicated on any chain.
func Count(vs []Violation) (lost, duplicated int) {
	l, d := map[string]bool{}, map[string]bool{}
	for _, v := range vs {
		switch v.Kind {
		case Lost, Unsealed:
			l[v.Tx] = true
		case Duplicated:
			d[v.Tx] = true
		}
	}
	return len(l), len(d)
}
