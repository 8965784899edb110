package soak

import (
	"crypto/sha256"
	"slices"
	"strings"
	"testing"

	"github.com/baybus/baybus/schemas"
)

func id(s string) schemas.TxID { return sha256.Sum256([]byte(s)) }

// chain builds a chain of heights blocks whose transactions are the ids
// given, each recorded once unless listed again.
func chain(name string, heights int, txs ...string) *Chain {
	c := &Chain{Name: name, OK: map[schemas.TxID]int{}, Sealed: map[schemas.TxID]int{}}
	for h := range heights {
		c.Hashes = append(c.Hashes, sha256.Sum256([]byte{byte(h), 'h'}))
		c.StateRoots = append(c.StateRoots, sha256.Sum256([]byte{byte(h), 's'}))
	}
	for _, t := range txs {
		if rest, ok := strings.CutPrefix(t, "refused:"); ok {
			c.Sealed[id(rest)]++
			continue
		}
		c.OK[id(t)]++
		c.Sealed[id(t)]++
	}
	return c
}

func receipts(committed map[string]uint64, accepted ...string) *Receipts {
	r := NewReceipts()
	for t, h := range committed {
		r.Committed[id(t)] = h
	}
	for _, t := range accepted {
		r.Accepted[id(t)] = true
	}
	return r
}

func kinds(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind+"@"+v.Orderer)
	}
	return out
}

func TestCheck(t *testing.T) {
	rec := receipts(map[string]uint64{"a": 1, "b": 2, "c": 3}, "d")
	forked := chain("z", 3, "a", "b", "c", "d")
	forked.Hashes[1][0] ^= 1
	badRoot := chain("z", 3, "a", "b", "c", "d")
	badRoot.StateRoots[2][0] ^= 1
	tests := []struct {
		name   string
		chains []*Chain
		final  bool
		want   []string
	}{
		{"every receipt once everywhere", []*Chain{chain("x", 3, "a", "b", "c", "d"), chain("y", 3, "a", "b", "c", "d")}, true, nil},
		// A planted loss: y lacks a committed transaction it should hold.
		{"planted loss", []*Chain{chain("x", 3, "a", "b", "c", "d"), chain("y", 3, "a", "c", "d")}, false, []string{"lost@y"}},
		// A planted duplicate: y records b twice.
		{"planted duplicate", []*Chain{chain("x", 3, "a", "b", "c"), chain("y", 3, "a", "b", "b", "c")}, false, []string{"duplicated@y"}},
		// A duplicate of a transaction no receipt names is still one.
		{"duplicate without a receipt", []*Chain{chain("x", 3, "a", "b", "c", "e", "e")}, false, []string{"duplicated@x"}},
		// y lags at height 1: b and c are checked when it catches up...
		{"lagging orderer", []*Chain{chain("x", 3, "a", "b", "c"), chain("y", 1, "a")}, false, nil},
		// ...and at the end it must hold them.
		{"lagging at the end", []*Chain{chain("x", 3, "a", "b", "c", "d"), chain("y", 1, "a", "d")}, true, []string{"lost@y", "lost@y"}},
		// An accepted receipt need not be sealed before the end...
		{"accepted not sealed yet", []*Chain{chain("x", 3, "a", "b", "c")}, false, nil},
		// ...but must be by then.
		{"accepted never sealed", []*Chain{chain("x", 3, "a", "b", "c")}, true, []string{"unsealed@x"}},
		// An accepted event sealed without effect is sealed...
		{"accepted sealed without effect", []*Chain{chain("x", 3, "a", "b", "c", "refused:d")}, true, nil},
		// ...but a committed one must have its effect.
		{"committed without effect", []*Chain{chain("x", 3, "a", "refused:b", "c", "d")}, false, []string{"lost@x"}},
		{"fork", []*Chain{chain("x", 3, "a", "b", "c"), forked}, false, []string{"diverged@z"}},
		{"state roots differ", []*Chain{chain("x", 3, "a", "b", "c"), badRoot}, false, []string{"diverged@z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kinds(Check(rec, tt.chains, tt.final))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckNamesWhatIsWrong(t *testing.T) {
	rec := receipts(map[string]uint64{"a": 1, "b": 2})
	vs := Check(rec, []*Chain{chain("x", 2, "a", "b"), chain("y", 2, "a", "a")}, false)
	if len(vs) != 2 {
		t.Fatalf("got %v", vs)
	}
	if v := vs[0]; v.Kind != Lost || v.Tx != schemas.FormatID(id("b")) || v.Height != 2 || v.Orderer != "y" {
		t.Errorf("loss: %+v", v)
	}
	if v := vs[1]; v.Kind != Duplicated || v.Tx != schemas.FormatID(id("a")) || v.Orderer != "y" {
		t.Errorf("duplicate: %+v", v)
	}
	if lost, dup := Count(append(vs, vs...)); lost != 1 || dup != 1 {
		t.Errorf("Count = %d lost, %d duplicated; want 1, 1", lost, dup)
	}
}
