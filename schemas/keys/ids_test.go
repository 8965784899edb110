package keys

import (
	"crypto/rand"
	"slices"
	"strings"
	"testing"
)

// TestConsensusIDs: a bundle without ids gives each orderer its place + 1
// (every trust.json written before ids existed reads as it did); explicit
// ids are checked when the bundle is parsed.
func TestConsensusIDs(t *testing.T) {
	c, err := NewConsortium("gba-test", []string{"shenzhen"}, []string{"a", "b", "c", "d", "e"}, Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bundle
	if got, want := b.ConsensusIDs(), []uint64{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("implicit ids %v, want %v", got, want)
	}
	if id := b.ConsensusID("c"); id != 3 {
		t.Errorf("c's id %d, want 3", id)
	}
	if b.ConsensusID("z") != 0 || b.NextConsensusID() != 6 {
		t.Errorf("unknown orderer's id %d, next %d", b.ConsensusID("z"), b.NextConsensusID())
	}
	raw, _ := b.Marshal()
	if strings.Contains(string(raw), "ordererIds") {
		t.Errorf("a bundle without ids writes them:\n%s", raw)
	}

	withIDs := func(fn func(*Bundle)) error {
		nb := *b
		nb.Orderers = []string{"a", "c", "d", "e"}
		nb.OrdererIDs = []uint64{1, 3, 4, 5}
		nb.NextOrdererID = 6
		fn(&nb)
		raw, err := nb.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseBundle(raw)
		return err
	}
	if err := withIDs(func(*Bundle) {}); err != nil {
		t.Fatalf("b removed, ids kept: %v", err)
	}
	nb := *b
	nb.Orderers, nb.OrdererIDs, nb.NextOrdererID = []string{"a", "c", "d", "e"}, []uint64{1, 3, 4, 5}, 6
	if name, ok := nb.OrdererByID(3); !ok || name != "c" {
		t.Errorf("id 3 names %q %v, want c", name, ok)
	}
	if _, ok := nb.OrdererByID(2); ok {
		t.Error("a removed orderer's id names someone")
	}
	for _, c := range []struct {
		name string
		fn   func(*Bundle)
		msg  string
	}{
		{"fewer ids than orderers", func(b *Bundle) { b.OrdererIDs = b.OrdererIDs[:3] }, "4 orderers and 3 orderer ids"},
		{"an id twice", func(b *Bundle) { b.OrdererIDs[1] = 1 }, "zero or given twice"},
		{"id zero", func(b *Bundle) { b.OrdererIDs[0] = 0 }, "zero or given twice"},
		{"an orderer twice", func(b *Bundle) { b.Orderers[1] = "a" }, "listed twice"},
		{"next id in use", func(b *Bundle) { b.NextOrdererID = 5 }, "next orderer id 5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := withIDs(c.fn)
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("ParseBundle: %v, want %q", err, c.msg)
			}
		})
	}
}
