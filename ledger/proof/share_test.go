package proof_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	baybusproof "github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

// TestRules3Bundles: the bundles of a chain of rules version 3 verify and
// show what the leaves of version 3 add; grants and access records are
// proved like licenses, and a grant's fresh bundle proves its terms and
// count of uses.
func TestRules3Bundles(t *testing.T) {
	c := prooftest.Build3(t, t.TempDir())
	results := c.Blocks[2].Results
	if results[0] != block.Refused(block.Rejected, block.ReasonOverLimit) || results[1] != block.OK || results[2] != block.OK {
		t.Fatalf("block 3 results %v", results)
	}
	for h := uint64(1); h <= c.Height(); h++ {
		for i, b := range c.Committed[h-1] {
			vd, err := baybusproof.Verify(c.Trust, b)
			if err != nil {
				t.Fatalf("block %d bundle %d (%s): %v", h, i, b.Key, err)
			}
			if vd.Rules != block.Rules3 || vd.Kind == "" {
				t.Fatalf("%s: rules %d kind %q", b.Key, vd.Rules, vd.Kind)
			}
			// Nothing personal in any bundle: the disclosures' values
			// are not in its bytes.
			raw, _ := baybusproof.EncodeJSON(b)
			for name, items := range c.Disclosures {
				for _, it := range items {
					d, _ := disclose.Decode(it.Disclosure)
					var v any
					_ = json.Unmarshal(d.Value, &v)
					for _, s := range jsonStrings(v) {
						if bytes.Contains(raw, []byte(s)) {
							t.Fatalf("the bundle of %s holds %s's %s in plaintext", b.Key, name, it.Path)
						}
					}
				}
			}
		}
	}
	// The grant now: revoked, two uses, its terms.
	g, err := baybusproof.Latest(c, c.Keys["g1"])
	if err != nil {
		t.Fatal(err)
	}
	vd, err := baybusproof.Verify(c.Trust, g)
	if err != nil {
		t.Fatal(err)
	}
	if vd.Status != schemas.StatusRevoked || vd.Kind != schemas.KindShareGrant || vd.Uses != 2 || vd.Terms == nil ||
		vd.Terms.Reader != "hk-bank" || vd.Terms.Limit != 2 || vd.Record == nil || vd.Record.Kind != schemas.KindShareGrant {
		t.Fatalf("grant verdict %+v (terms %+v)", vd, vd.Terms)
	}
	// An access record: answered, with its request.
	a, err := baybusproof.Latest(c, c.Keys["a1"])
	if err != nil {
		t.Fatal(err)
	}
	vd, err = baybusproof.Verify(c.Trust, a)
	if err != nil {
		t.Fatal(err)
	}
	if vd.Kind != schemas.KindShareAccess || vd.Tx.Access == nil || vd.Tx.Access.Outcome != schemas.OutcomeGranted ||
		vd.Tx.Access.Request.License != c.Keys["cn-business"] {
		t.Fatalf("access verdict %+v", vd)
	}
	// The grant's bundle after its first use proves the access record as
	// its last change; an access record that does not name the grant
	// cannot stand in for it.
	var used *baybusproof.Bundle
	for _, b := range c.Committed[1] {
		if b.Key == c.Keys["a1"] {
			used = b
		}
	}
	refused := c.Committed[1][1] // a2, refused: it changes no grant
	if refused.Key != c.Keys["a2"] || used == nil {
		t.Fatalf("block 2 bundles %s, %v", refused.Key, used)
	}
	forged := *g
	forged.Tx = refused.Tx
	if _, err := baybusproof.Verify(c.Trust, &forged); !errors.Is(err, baybusproof.ErrRecord) {
		t.Fatalf("a refusal standing in for the grant's last change: %v", err)
	}
	// Under the trust bundle of rules version 2 none of it verifies.
	v2 := prooftest.Build2(t, t.TempDir())
	if _, err := baybusproof.Verify(v2.Trust, a); !errors.Is(err, baybusproof.ErrInvalid) {
		t.Fatalf("a rules version 3 bundle under a version 2 trust bundle: %v", err)
	}
}

// jsonStrings lists the strings inside a decoded JSON value.
func jsonStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case map[string]any:
		var out []string
		for _, y := range x {
			out = append(out, jsonStrings(y)...)
		}
		return out
	}
	return nil
}
