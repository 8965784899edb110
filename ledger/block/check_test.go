package block_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// TestChecksServeOnlyTheBatchTheyChecked: a remembered batch gives the same
// answer as a fresh check; a batch with the same header but another
// signature is checked afresh (and refused), and the key's validity at the
// block's height is checked on every use.
func TestChecksServeOnlyTheBatchTheyChecked(t *testing.T) {
	c := consortium(t)
	ok := blocktest.Tx("gba-test", "shenzhen", "A1", schemas.ActionIssue)
	bt := blocktest.Batch(c, "shenzhen", 1, ok, []byte(`{"v":1}`))
	checks := block.NewChecks(8)

	fresh, err := (*block.Checks)(nil).Batch(c.Bundle, bt, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the first fills the cache, the second is served by it
		got, err := checks.Batch(c.Bundle, bt, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Err != nil || got[0].Key != fresh[0].Key || got[0].Action != schemas.ActionIssue || got[1].Err == nil {
			t.Fatalf("pass %d: checks %+v, want %+v", i, got, fresh)
		}
	}

	forged := *bt
	forged.Signature = bytes.Clone(bt.Signature)
	forged.Signature[0] ^= 1
	if _, err := checks.Batch(c.Bundle, &forged, 1); err == nil {
		t.Fatal("a batch with the remembered header and a forged signature passed")
	}
	if _, err := checks.Batch(c.Bundle, bt, 1); err != nil {
		t.Fatalf("the genuine batch after the forgery: %v", err)
	}

	// The same bundle with the city's key retired after height 5.
	edited := *c.Bundle
	edited.Keys = append([]keys.TrustedKey(nil), c.Bundle.Keys...)
	until := uint64(5)
	for i, k := range edited.Keys {
		if k.ID == bt.KeyID {
			edited.Keys[i].ValidUntil = &until
		}
	}
	raw, _ := json.Marshal(&edited)
	retired, err := keys.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checks.Batch(retired, bt, 5); err != nil {
		t.Fatalf("at height 5: %v", err)
	}
	if _, err := checks.Batch(retired, bt, 6); !errors.Is(err, keys.ErrKeyNotValid) {
		t.Fatal("a remembered batch passed at a height its key no longer covers")
	}

	// Assemble and Verify through the cache agree with the plain rule.
	chain, st := blocktest.NewChain(), blocktest.NewState()
	blk, _, err := checks.Assemble(c.Bundle, block.Limits{}, block.Input{Batches: []*schemas.Batch{bt}, Timestamp: 1, Proposer: "macao"}, chain, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := block.Verify(c.Bundle, block.Limits{}, nil, blk, chain, st); err != nil {
		t.Fatalf("plain Verify refuses a block assembled through the cache: %v", err)
	}
	dec, _ := block.Decode(block.Encode(blk))
	dec.Batches[0].Signature[1] ^= 1
	if _, err := checks.Verify(c.Bundle, block.Limits{}, nil, dec, chain, st); !errors.Is(err, block.ErrBadBatch) {
		t.Fatalf("Verify through the cache of a block whose batch signature was flipped: %v", err)
	}
}

// TestRulesV1RefuseTo: a transaction with a member "to" was not a
// transaction before the handover action existed (the envelope refused
// unknown members), so rules version 1 still finds it invalid, whatever
// the member's value, while a validity's "to" is no such member.
func TestRulesV1RefuseTo(t *testing.T) {
	c := consortium(t)
	ok := blocktest.Tx("gba-test", "shenzhen", "A1", schemas.ActionIssue)
	withTo := func(v string) []byte { return bytes.Replace(ok, []byte(`},"v":1}`), []byte(`},"to":`+v+`,"v":1}`), 1) }
	tx, _ := schemas.DecodeTx(ok)
	tx.Record.Validity = &schemas.Period{From: "2026-01-01", To: "2027-01-01"}
	validity, err := schemas.EncodeTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	bt := blocktest.Batch(c, "shenzhen", 1, ok, withTo(`"guangzhou"`), withTo(`""`), withTo(`null`), validity)
	got, err := (*block.Checks)(nil).Batch(c.Bundle, bt, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, false, false, true} {
		if (got[i].Err == nil) != want {
			t.Errorf("transaction %d: %v, want valid %v", i, got[i].Err, want)
		}
	}
}
