package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// quorum4 are four of the five orderers: a quorum.
var quorum4 = ordererKeys("hk", "macao", "qianhai", "hengqin")

// TestCheckRefuses is every way a configuration transaction is refused,
// each by the wrong party or with the wrong shape, at height 10 over the
// genesis (unless the case applies a configuration first).
func TestCheckRefuses(t *testing.T) {
	type setup struct {
		f   *fixture
		cur *keys.Bundle
		d   *config.Draft
	}
	for _, c := range []struct {
		name  string
		build func(s *setup) *config.Tx
		want  error
		msg   string
	}{
		{"three of five orderers", func(s *setup) *config.Tx {
			nk := s.f.newKey(s.d, keys.RoleCity, "shenzhen")
			must(t, s.d.RotateKey(nk, 20))
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, ordererKeys("hk", "macao", "qianhai")...)
			s.f.sign(tx, s.cur, "city/shenzhen/1", nk.ID)
			return tx
		}, config.ErrTooFewSignatures, "3 of the 5 orderers"},
		{"new key without proof of possession", func(s *setup) *config.Tx {
			nk := s.f.newKey(s.d, keys.RoleCity, "shenzhen")
			must(t, s.d.RotateKey(nk, 20))
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			s.f.sign(tx, s.cur, "city/shenzhen/1")
			return tx
		}, config.ErrNoPossession, "city/shenzhen/2"},
		{"a city rotating another's key", func(s *setup) *config.Tx {
			nk := s.f.newKey(s.d, keys.RoleCity, "shenzhen")
			must(t, s.d.RotateKey(nk, 20))
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			s.f.sign(tx, s.cur, "city/guangzhou/1", nk.ID)
			return tx
		}, config.ErrNotAuthorized, "city/shenzhen"},
		{"a lost key replaced by two of the three other cities", func(s *setup) *config.Tx {
			nk := s.f.newKey(s.d, keys.RoleCity, "shenzhen")
			must(t, s.d.RotateKey(nk, 20))
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			s.f.sign(tx, s.cur, "city/guangzhou/1", "city/zhuhai/1", nk.ID)
			return tx
		}, config.ErrNotAuthorized, "2 of the others"},
		{"a revocation of another city's key", func(s *setup) *config.Tx {
			must(t, s.d.RevokeKey("city/hongkong/1", 15))
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			s.f.sign(tx, s.cur, "city/zhuhai/1")
			return tx
		}, config.ErrNotAuthorized, "city/hongkong"},
		{"an orderer's key rotated by a city", func(s *setup) *config.Tx {
			nk := s.f.newKey(s.d, keys.RoleOrderer, "hk")
			must(t, s.d.RotateKey(nk, 20))
			tx := proposal(t, s.d)
			// hk does not sign; three other orderers do, and a city.
			s.f.sign(tx, s.cur, ordererKeys("macao", "qianhai", "hengqin")...)
			s.f.sign(tx, s.cur, "city/guangzhou/1", nk.ID)
			return tx
		}, config.ErrTooFewSignatures, ""},
		{"stale base", func(s *setup) *config.Tx {
			tx := proposal(t, s.d)
			tx.Base[0] ^= 1
			s.f.sign(tx, s.cur, quorum4...)
			return tx
		}, config.ErrStale, ""},
		{"a changed byte after signing", func(s *setup) *config.Tx {
			must(t, s.d.RemoveOrderer("nansha"))
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			tx.Note += "!"
			return tx
		}, config.ErrSignature, "does not verify"},
		{"a forged signature", func(s *setup) *config.Tx {
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			tx.Signatures[2].Sig[5] ^= 1
			return tx
		}, config.ErrSignature, "orderer/qianhai"},
		{"an orderer signing with a city's key", func(s *setup) *config.Tx {
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4[:3]...)
			config.Sign(tx, s.f.priv["city/shenzhen/1"], keys.RoleOrderer, "nansha")
			return tx
		}, config.ErrSignature, "not orderer nansha"},
		{"rules version changed", func(s *setup) *config.Tx {
			s.d.SetRules(2)
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			return tx
		}, config.ErrChange, "rules version 3 to 2"},
		{"key removed", func(s *setup) *config.Tx {
			tx := proposal(t, s.d)
			tx.Next = rebuild(t, tx.Next, func(b *keys.Bundle) {
				b.Keys = b.Keys[1:]
			})
			s.f.sign(tx, s.cur, quorum4...)
			return tx
		}, config.ErrChange, "removed"},
		{"revocation below the configuration's height", func(s *setup) *config.Tx {
			must(t, s.d.RevokeKey("city/shenzhen/1", 5))
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			s.f.sign(tx, s.cur, "city/shenzhen/1")
			return tx
		}, config.ErrChange, "below the configuration's height"},
		{"new key valid from the configuration's height", func(s *setup) *config.Tx {
			nk := s.f.newKey(s.d, keys.RoleCity, "shenzhen")
			must(t, s.d.RotateKey(nk, 10))
			tx := proposal(t, s.d)
			s.f.sign(tx, s.cur, quorum4...)
			s.f.sign(tx, s.cur, "city/shenzhen/1", nk.ID)
			return tx
		}, config.ErrChange, ""},
		{"orderers reordered", func(s *setup) *config.Tx {
			tx := proposal(t, s.d)
			tx.Next = rebuild(t, tx.Next, func(b *keys.Bundle) {
				b.Orderers[0], b.Orderers[1] = b.Orderers[1], b.Orderers[0]
			})
			s.f.sign(tx, s.cur, quorum4...)
			return tx
		}, config.ErrChange, "macao's consensus id changes from 2 to 1"},
		{"an orderer's id changed", func(s *setup) *config.Tx {
			must(t, s.d.RemoveOrderer("nansha"))
			tx := proposal(t, s.d)
			tx.Next = rebuild(t, tx.Next, func(b *keys.Bundle) { b.OrdererIDs[1] = 9; b.NextOrdererID = 10 })
			s.f.sign(tx, s.cur, quorum4...)
			return tx
		}, config.ErrChange, "macao's consensus id changes from 2 to 9"},
		{"a removed orderer's id given again", func(s *setup) *config.Tx {
			must(t, s.d.RemoveOrderer("nansha"))
			nk := s.f.newKey(s.d, keys.RoleOrderer, "shekou")
			must(t, s.d.AddOrderer("shekou", nk))
			tx := proposal(t, s.d)
			tx.Next = rebuild(t, tx.Next, func(b *keys.Bundle) { b.OrdererIDs[4], b.NextOrdererID = 5, 0 })
			s.f.sign(tx, s.cur, quorum4...)
			s.f.sign(tx, s.cur, nk.ID)
			return tx
		}, config.ErrChange, "shekou takes consensus id 5, given before"},
		{"the next id lowered", func(s *setup) *config.Tx {
			must(t, s.d.RemoveOrderer("nansha"))
			tx := proposal(t, s.d)
			tx.Next = rebuild(t, tx.Next, func(b *keys.Bundle) { b.NextOrdererID = 0 })
			s.f.sign(tx, s.cur, quorum4...)
			return tx
		}, config.ErrChange, "next orderer id 5 below 6"},
		{"new orderer before one in force", func(s *setup) *config.Tx {
			nk := s.f.newKey(s.d, keys.RoleOrderer, "shekou")
			must(t, s.d.AddOrderer("shekou", nk))
			tx := proposal(t, s.d)
			tx.Next = rebuild(t, tx.Next, func(b *keys.Bundle) {
				b.Orderers = append([]string{"shekou"}, b.Orderers[:5]...)
			})
			s.f.sign(tx, s.cur, quorum4...)
			s.f.sign(tx, s.cur, nk.ID)
			return tx
		}, config.ErrChange, "shekou takes consensus id 1, given before"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			s := &setup{f: f, cur: f.c.Bundle, d: config.NewDraft(f.c.Bundle)}
			tx := c.build(s)
			_, err := config.Check(s.cur, tx, 10)
			if !errors.Is(err, c.want) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Check: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Check: %q does not say %q", err, c.msg)
			}
		})
	}
}

// TestLostKeyReplaced: Shenzhen has lost its key, so it cannot sign; the
// orderers' quorum and three of the three other cities replace it.
func TestLostKeyReplaced(t *testing.T) {
	f := newFixture(t)
	d := config.NewDraft(f.c.Bundle)
	nk := f.newKey(d, keys.RoleCity, "shenzhen")
	must(t, d.RotateKey(nk, 11))
	tx := proposal(t, d)
	f.sign(tx, f.c.Bundle, quorum4...)
	f.sign(tx, f.c.Bundle, "city/guangzhou/1", "city/zhuhai/1", "city/hongkong/1", nk.ID)
	next, err := config.Check(f.c.Bundle, tx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next.KeyAt("city/shenzhen/1", keys.RoleCity, "shenzhen", 11); !errors.Is(err, keys.ErrKeyNotValid) {
		t.Errorf("the lost key at 11: %v", err)
	}
	if _, err := next.KeyAt("city/shenzhen/1", keys.RoleCity, "shenzhen", 10); err != nil {
		t.Errorf("the lost key at 10 (old proofs): %v", err)
	}
}

// TestRevocation: an emergency revocation of Hong Kong's key from height
// 12 by Hong Kong; afterwards the revoked key cannot sign a configuration,
// and an orderer removed cannot vote.
func TestRevocationAndRemoval(t *testing.T) {
	f := newFixture(t)
	h := config.NewHistory(f.c.Bundle)

	d := config.NewDraft(h.Current())
	must(t, d.RevokeKey("city/hongkong/1", 12))
	must(t, d.RemoveOrderer("nansha"))
	tx := proposal(t, d)
	f.sign(tx, h.Current(), quorum4...)
	f.sign(tx, h.Current(), "city/hongkong/1")
	next, err := h.Apply(10, tx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next.KeyAt("city/hongkong/1", keys.RoleCity, "hongkong", 12); !errors.Is(err, keys.ErrKeyNotValid) {
		t.Errorf("revoked key at 12: %v", err)
	}
	if next.N() != 4 || next.Quorum() != 3 {
		t.Errorf("orderers %v", next.Orderers)
	}

	// A new key for Hong Kong at 13, signed with the revoked key: refused.
	d = config.NewDraft(h.Current())
	nk := f.newKey(d, keys.RoleCity, "hongkong")
	must(t, d.AddKey(keys.TrustedKey{ID: nk.ID, Role: nk.Role, Member: nk.Member, Scheme: nk.Scheme, Public: nk.Public, ValidFrom: 14}))
	tx = proposal(t, d)
	f.sign(tx, h.Current(), ordererKeys("hk", "macao", "qianhai")...)
	f.sign(tx, h.Current(), "city/hongkong/1", nk.ID)
	if _, err := config.Check(h.Current(), tx, 13); !errors.Is(err, config.ErrSignature) || !errors.Is(err, keys.ErrKeyNotValid) {
		t.Errorf("a revoked key signing: %v", err)
	}
	// The removed orderer's vote: refused, though a quorum signed too.
	tx.Signatures = nil
	f.sign(tx, h.Current(), ordererKeys("hk", "macao", "qianhai", "nansha")...)
	f.sign(tx, h.Current(), "city/guangzhou/1", "city/zhuhai/1", "city/shenzhen/1", nk.ID)
	if _, err := config.Check(h.Current(), tx, 13); !errors.Is(err, config.ErrNotMember) {
		t.Errorf("a removed orderer's vote: %v", err)
	}
	// Without it, the other cities replace Hong Kong's key.
	tx.Signatures = nil
	f.sign(tx, h.Current(), ordererKeys("hk", "macao", "qianhai")...)
	f.sign(tx, h.Current(), "city/guangzhou/1", "city/zhuhai/1", "city/shenzhen/1", nk.ID)
	if _, err := h.Apply(13, tx); err != nil {
		t.Fatalf("the other cities replace a revoked key: %v", err)
	}
	// The old proposal, drafted against the genesis, is now stale.
	old := proposal(t, config.NewDraft(f.c.Bundle))
	f.sign(old, h.Current(), ordererKeys("hk", "macao", "qianhai")...)
	if _, err := config.Check(h.Current(), old, 20); !errors.Is(err, config.ErrStale) {
		t.Errorf("a proposal over an older configuration: %v", err)
	}
}

// TestAddOrderer grows the orderers from 5 to 6 (quorum 4 of 6): the new
// orderer proves possession of its key and counts from the next height.
func TestAddOrderer(t *testing.T) {
	f := newFixture(t)
	d := config.NewDraft(f.c.Bundle)
	nk := f.newKey(d, keys.RoleOrderer, "shekou")
	nk.ValidFrom = 11
	must(t, d.AddOrderer("shekou", nk))
	tx := proposal(t, d)
	f.sign(tx, f.c.Bundle, quorum4...)
	f.sign(tx, f.c.Bundle, nk.ID)
	next, err := config.Check(f.c.Bundle, tx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if next.N() != 6 || next.OrdererIndex("shekou") != 5 || next.Quorum() != 4 {
		t.Errorf("orderers %v quorum %d", next.Orderers, next.Quorum())
	}
	// The new orderer's signature does not count towards the quorum of
	// the orderers in force.
	tx.Signatures = nil
	f.sign(tx, f.c.Bundle, ordererKeys("hk", "macao", "qianhai")...)
	f.sign(tx, f.c.Bundle, nk.ID)
	if _, err := config.Check(f.c.Bundle, tx, 10); !errors.Is(err, config.ErrTooFewSignatures) {
		t.Errorf("three orderers and the new one: %v", err)
	}
}

// TestStableConsensusIDs removes an orderer from the middle and adds two:
// the others keep their ids, each new one takes an id never given, and a
// bundle reordered with its ids is the same set to SmartBFT.
func TestStableConsensusIDs(t *testing.T) {
	f := newFixture(t)
	h := config.NewHistory(f.c.Bundle)
	apply := func(height uint64, build func(d *config.Draft) []string) *keys.Bundle {
		t.Helper()
		d := config.NewDraft(h.Current())
		signers := build(d)
		tx := proposal(t, d)
		f.sign(tx, h.Current(), ordererKeys(h.Current().Orderers[:h.Current().Quorum()]...)...)
		f.sign(tx, h.Current(), signers...)
		next, err := h.Apply(height, tx)
		if err != nil {
			t.Fatalf("height %d: %v", height, err)
		}
		return next
	}
	next := apply(10, func(d *config.Draft) []string {
		must(t, d.RemoveOrderer("macao"))
		return nil
	})
	if got, want := next.ConsensusIDs(), []uint64{1, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("ids after removing macao: %v, want %v", got, want)
	}
	if id := next.ConsensusID("nansha"); id != 5 {
		t.Errorf("nansha's id %d, want 5", id)
	}
	next = apply(20, func(d *config.Draft) []string {
		nk := f.newKey(d, keys.RoleOrderer, "shekou")
		nk.ValidFrom = 21
		must(t, d.AddOrderer("shekou", nk))
		return []string{nk.ID}
	})
	if id := next.ConsensusID("shekou"); id != 6 {
		t.Errorf("shekou's id %d, want 6 (5 is nansha's, 2 was macao's)", id)
	}
	next = apply(30, func(d *config.Draft) []string {
		must(t, d.RemoveOrderer("shekou"))
		nk := f.newKey(d, keys.RoleOrderer, "macao")
		nk.ValidFrom = 31
		must(t, d.AddOrderer("macao", nk))
		return []string{nk.ID}
	})
	if id := next.ConsensusID("macao"); id != 7 {
		t.Errorf("macao back with id %d, want 7: neither 2 nor 6 is given again", id)
	}
	if name, ok := next.OrdererByID(6); ok {
		t.Errorf("id 6 still names %s", name)
	}
	// The place in the list is not the id.
	d := config.NewDraft(h.Current())
	tx := proposal(t, d)
	tx.Next = rebuild(t, tx.Next, func(b *keys.Bundle) {
		slices.Reverse(b.Orderers)
		slices.Reverse(b.OrdererIDs)
	})
	f.sign(tx, h.Current(), ordererKeys(h.Current().Orderers[:4]...)...)
	if _, err := config.Check(h.Current(), tx, 40); err != nil {
		t.Errorf("the same orderers and ids in another order: %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rebuild returns a copy of b changed by fn, parsed again.
func rebuild(t *testing.T, b *keys.Bundle, fn func(*keys.Bundle)) *keys.Bundle {
	t.Helper()
	raw, err := b.Marshal()
	must(t, err)
	c, err := keys.ParseBundle(raw)
	must(t, err)
	fn(c)
	raw, err = c.Marshal()
	must(t, err)
	out, err := keys.ParseBundle(raw)
	must(t, err)
	return out
}
