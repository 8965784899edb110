package config_test

import (
	"testing"

	"github.com/baybus/baybus/schemas/config"
)

// FuzzParse: no input makes Parse panic, and what it accepts encodes to
// canonical bytes that decode to the same transaction (one id).
func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	d := config.NewDraft(fx.c.Bundle)
	must(f, d.RevokeKey("city/shenzhen/1", 40))
	tx, err := d.Proposal("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	fx.sign(tx, fx.c.Bundle, "orderer/hk/1", "city/shenzhen/1")
	f.Add(config.Encode(tx))
	f.Add(config.MarshalIndent(tx))
	f.Add([]byte(`{"v":1,"chain":"gba","base":"00","next":{},"signatures":[{"role":"city","member":"x","keyId":"k","sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := config.Parse(raw)
		if err != nil {
			return
		}
		canon := config.Encode(tx)
		again, err := config.DecodeCanonical(canon)
		if err != nil {
			t.Fatalf("canonical form refused: %v", err)
		}
		if config.ID(again) != config.ID(tx) || config.ProposalHash(again) != config.ProposalHash(tx) {
			t.Fatal("canonical form decodes to another transaction")
		}
		// Checking it under its own base never panics.
		_, _ = config.Check(tx.Next, tx, 1)
	})
}
