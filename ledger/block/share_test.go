package block_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// shareLedger is a ledger of rules version 3 whose trust bundle names the
// reader hk-bank, with a Shenzhen business registration (its legal
// representative's name hidden) and a grant to the bank.
func shareLedger(t *testing.T, g schemas.Grant) (*ledger, *keys.ReaderKeys, string) {
	l := newLedger(t, block.Rules3)
	var rk *keys.ReaderKeys
	l.trust, rk = blocktest.WithReader(l.trust, "hk-bank", 1)
	id := blocktest.BusinessID("shenzhen", 7)
	plain := businessTx(t, l.trust.Chain, "shenzhen", id, schemas.ActionIssue, func(ev *schemas.Event) {
		ev.Record.People = []schemas.Party{{Name: schemas.Text{schemas.LangHans: "王秀英"}, Role: schemas.Text{schemas.LangHans: "法定代表人"}}}
	})
	if res := l.one(plain); res != invalid(block.ReasonPersonal) {
		t.Fatalf("a legal representative's name in plaintext: %v %v, want invalid personal", res, res.Reason())
	}
	red, _ := blocktest.Redact(plain)
	if res := l.one(red); res != block.OK {
		t.Fatalf("the redacted record: %v %v", res, res.Reason())
	}
	if lic, _ := l.license("CN/" + id); lic.Kind != schemas.KindBusiness || lic.Owner != "shenzhen" {
		t.Fatalf("license leaf %+v", lic)
	}
	if res := l.one(blocktest.Grant(l.trust.Chain, "shenzhen", "g1", g, "2026-01-01", "2026-06-30")); res != block.OK {
		t.Fatalf("grant: %v %v", res, res.Reason())
	}
	return l, rk, "CN/" + id
}

var bankGrant = schemas.Grant{Reader: "hk-bank", Kinds: []schemas.Kind{schemas.KindBusiness}, Fields: []string{"people.name"}, Purpose: "kyc", Limit: 2}

func TestAccessRecordsUnderAGrant(t *testing.T) {
	l, rk, key := shareLedger(t, bankGrant)
	chain := l.trust.Chain
	req := func(n byte, edit func(*schemas.ShareRequest)) schemas.ShareRequest {
		r := blocktest.Request(chain, "hk-bank", "shenzhen", schemas.OpDisclose, key, schemas.KindBusiness, []string{"people.name"}, "kyc", n)
		if edit != nil {
			edit(&r)
		}
		return r
	}
	grantKey := "grant/shenzhen/g1"
	uses := func() uint64 { g, _ := l.license(grantKey); return g.Uses }

	// Answered twice, then over the limit; each use counted once.
	if res := l.one(blocktest.Access(rk, req(1, nil), "g1", "", nil)); res != block.OK {
		t.Fatalf("first request: %v %v", res, res.Reason())
	}
	if uses() != 1 {
		t.Fatalf("uses %d after one answer", uses())
	}
	// Two in one block: the second sees the first's count.
	rs := l.seal(blocktest.Access(rk, req(2, nil), "g1", "", nil), blocktest.Access(rk, req(3, nil), "g1", "", nil))
	if rs[0] != block.OK || rs[1] != rejected(block.ReasonOverLimit) {
		t.Fatalf("second and third request in one block: %v %v, want ok, over_limit", rs, []block.Reason{rs[0].Reason(), rs[1].Reason()})
	}
	if uses() != 2 {
		t.Fatalf("uses %d, want 2", uses())
	}
	// A refusal always takes effect and counts nothing.
	if res := l.one(blocktest.Access(rk, req(3, nil), "g1", schemas.RefuseOverLimit, nil)); res != block.OK {
		t.Fatalf("the refusal: %v %v", res, res.Reason())
	}
	if uses() != 2 {
		t.Fatal("a refusal counted a use")
	}
	// The same request again is the same access record: refused as one that exists.
	if res := l.one(blocktest.Access(rk, req(3, nil), "g1", schemas.RefuseNoGrant, nil)); res != rejected(block.ReasonExists) {
		t.Fatalf("a replayed request: %v %v, want rejected exists", res, res.Reason())
	}
	if acc, ok := l.license("access/shenzhen/" + schemas.AccessID(chain, mustBytes(t, req(1, nil)))); !ok || acc.Kind != schemas.KindShareAccess {
		t.Fatalf("access leaf %+v %v", acc, ok)
	}
}

func mustBytes(t *testing.T, r schemas.ShareRequest) []byte {
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAccessRefusedByTheLedger: an access record that claims an answer the
// grant does not allow is rejected with the refusal's name as its reason.
func TestAccessRefusedByTheLedger(t *testing.T) {
	other, _ := schemas.LookupCity("guangzhou")
	for name, c := range map[string]struct {
		edit  func(*schemas.ShareRequest)
		grant string
		setup func(l *ledger, key string)
		at    time.Time
		want  block.Result
	}{
		"no such grant":     {grant: "g9", want: rejected(block.ReasonNoGrant)},
		"field not granted": {edit: func(r *schemas.ShareRequest) { r.Fields = []string{"people.idNumber", "people.name"} }, want: rejected(block.ReasonFieldNotGranted)},
		"other purpose":     {edit: func(r *schemas.ShareRequest) { r.Purpose = "marketing" }, want: rejected(block.ReasonPurposeNotGranted)},
		"other kind":        {edit: func(r *schemas.ShareRequest) { r.Kind = schemas.KindCertificate }, want: rejected(block.ReasonKindNotGranted)},
		"match not granted": {edit: func(r *schemas.ShareRequest) {
			m := blocktest.Request(r.Chain, "hk-bank", "shenzhen", schemas.OpMatch, "", schemas.KindBusiness, nil, "kyc", 9)
			*r = m
		}, want: rejected(block.ReasonMatchNotGranted)},
		"unknown license": {edit: func(r *schemas.ShareRequest) { r.License = "CN/" + blocktest.BusinessID("shenzhen", 8) }, want: rejected(block.ReasonNotFound)},
		"revoked": {setup: func(l *ledger, _ string) {
			if res := l.one(blocktest.RevokeGrant(l.trust.Chain, "shenzhen", "g1")); res != block.OK {
				l.t.Fatalf("revoke: %v %v", res, res.Reason())
			}
		}, want: rejected(block.ReasonGrantRevoked)},
		"before the window": {setup: func(l *ledger, _ string) {
			// A block's time never goes back: a grant whose window begins
			// later.
			if res := l.one(blocktest.Grant(l.trust.Chain, "shenzhen", "g3", bankGrant, "2026-01-03", "2026-06-30")); res != block.OK {
				l.t.Fatalf("grant g3: %v %v", res, res.Reason())
			}
		}, grant: "g3", want: rejected(block.ReasonGrantNotYet)},
		"first second": {setup: func(l *ledger, _ string) {
			if res := l.one(blocktest.Grant(l.trust.Chain, "shenzhen", "g3", bankGrant, "2026-01-03", "2026-06-30")); res != block.OK {
				l.t.Fatalf("grant g3: %v %v", res, res.Reason())
			}
		}, grant: "g3", at: time.Date(2026, 1, 2, 16, 0, 0, 0, time.UTC), want: block.OK},
		"after the window": {at: time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC), want: rejected(block.ReasonGrantExpired)},
		"last second":      {at: time.Date(2026, 6, 30, 15, 59, 59, 0, time.UTC), want: block.OK},
		"a license of another city": {setup: func(l *ledger, key string) {
			gz := businessTx(l.t, l.trust.Chain, "guangzhou", blocktest.BusinessID("guangzhou", 3), schemas.ActionIssue, nil)
			if res := l.one(gz); res != block.OK {
				l.t.Fatalf("guangzhou's license: %v %v", res, res.Reason())
			}
		}, edit: func(r *schemas.ShareRequest) { r.License = "CN/" + blocktest.BusinessID(other.Token, 3) }, want: rejected(block.ReasonNotIssuer)},
	} {
		t.Run(name, func(t *testing.T) {
			l, rk, key := shareLedger(t, bankGrant)
			if c.setup != nil {
				c.setup(l, key)
			}
			if !c.at.IsZero() {
				l.at = c.at
			}
			r := blocktest.Request(l.trust.Chain, "hk-bank", "shenzhen", schemas.OpDisclose, key, schemas.KindBusiness, []string{"people.name"}, "kyc", 1)
			if c.edit != nil {
				c.edit(&r)
			}
			grant := c.grant
			if grant == "" {
				grant = "g1"
			}
			var result *bool
			if r.Op == schemas.OpMatch {
				yes := true
				result = &yes
			}
			if res := l.one(blocktest.Access(rk, r, grant, "", result)); res != c.want {
				t.Fatalf("%v %v, want %v %v", res, res.Reason(), c.want, c.want.Reason())
			}
			if g, _ := l.license("grant/shenzhen/g1"); c.want != block.OK && g.Uses != 0 {
				t.Fatal("a rejected answer counted a use")
			}
		})
	}
}

func TestGrantsAndSignatures(t *testing.T) {
	l, rk, key := shareLedger(t, schemas.Grant{Reader: "hk-bank", Kinds: []schemas.Kind{schemas.KindBusiness}, Match: true, Purpose: "kyc"})
	chain := l.trust.Chain
	if res := l.one(blocktest.Grant(chain, "shenzhen", "g1", bankGrant, "2026-01-01", "2026-06-30")); res != rejected(block.ReasonExists) {
		t.Fatalf("a grant issued twice: %v %v", res, res.Reason())
	}
	if res := l.one(blocktest.Grant(chain, "shenzhen", "g2", schemas.Grant{Reader: "mo-bank", Kinds: []schemas.Kind{schemas.KindBusiness}, Match: true, Purpose: "kyc"}, "2026-01-01", "2026-06-30")); res != invalid(block.ReasonReader) {
		t.Fatalf("a grant to a reader the trust bundle does not name: %v %v", res, res.Reason())
	}
	if res := l.one(blocktest.RevokeGrant(chain, "guangzhou", "g1")); res != rejected(block.ReasonNotFound) {
		t.Fatalf("another city revoking Shenzhen's grant names its own key: %v %v", res, res.Reason())
	}
	yes, no := true, false
	m := blocktest.Request(chain, "hk-bank", "shenzhen", schemas.OpMatch, "", schemas.KindBusiness, nil, "kyc", 1)
	if res := l.one(blocktest.Access(rk, m, "g1", "", &yes)); res != block.OK {
		t.Fatalf("a match: %v %v", res, res.Reason())
	}
	m2 := blocktest.Request(chain, "hk-bank", "shenzhen", schemas.OpMatch, "", schemas.KindBusiness, nil, "kyc", 2)
	if res := l.one(blocktest.Access(rk, m2, "g1", "", &no)); res != block.OK {
		t.Fatalf("a match answered no: %v %v", res, res.Reason())
	}
	// A signature that does not verify, or by another reader's key.
	d := blocktest.Request(chain, "hk-bank", "shenzhen", schemas.OpDisclose, key, schemas.KindBusiness, []string{"people.name"}, "kyc", 3)
	forged := bytes.Replace(blocktest.Access(rk, d, "g1", schemas.RefuseField, nil), []byte(`"purpose":"kyc"`), []byte(`"purpose":"kyd"`), 1)
	if res := l.one(forged); res.Outcome() != block.Invalid {
		t.Fatalf("a request changed after signing: %v %v", res, res.Reason())
	}
	var other *keys.ReaderKeys
	l.trust, other = blocktest.WithReader(l.trust, "mo-bank", 2)
	d.Nonce = blocktest.Request(chain, "", "", schemas.OpDisclose, "", "", nil, "", 4).Nonce
	if res := l.one(blocktest.Access(other, d, "", schemas.RefuseNoGrant, nil)); res != invalid(block.ReasonSignature) {
		t.Fatalf("hk-bank's request signed with mo-bank's key: %v %v", res, res.Reason())
	}
}

// TestReaderKeyRotation: a request signed with a key no longer valid at
// the block's height is invalid; one signed with the key in force is
// answered; an access record sealed before the rotation stays valid.
func TestReaderKeyRotation(t *testing.T) {
	l, rk, key := shareLedger(t, bankGrant)
	chain := l.trust.Chain
	r1 := blocktest.Request(chain, "hk-bank", "shenzhen", schemas.OpDisclose, key, schemas.KindBusiness, []string{"people.name"}, "kyc", 1)
	if res := l.one(blocktest.Access(rk, r1, "g1", "", nil)); res != block.OK {
		t.Fatalf("before rotation: %v %v", res, res.Reason())
	}
	from := l.parent.Height + 1
	rotated, nk, err := l.trust.RotateReader("hk-bank", keys.Ed25519, from, bytes.NewReader(bytes.Repeat([]byte{3}, 256)))
	if err != nil {
		t.Fatal(err)
	}
	l.trust = rotated
	r2 := blocktest.Request(chain, "hk-bank", "shenzhen", schemas.OpDisclose, key, schemas.KindBusiness, []string{"people.name"}, "kyc", 2)
	if res := l.one(blocktest.Access(rk, r2, "g1", schemas.RefuseOwnerChoice, nil)); res != invalid(block.ReasonSignature) {
		t.Fatalf("the old key after rotation: %v %v", res, res.Reason())
	}
	if res := l.one(blocktest.Access(nk, r2, "g1", "", nil)); res != block.OK {
		t.Fatalf("the new key: %v %v", res, res.Reason())
	}
	if _, err := rotated.KeyAt(rk.Sign.KeyID(), keys.RoleReader, "hk-bank", from-1); err != nil {
		t.Fatalf("the old key no longer verifies what it signed before: %v", err)
	}
}

// TestRules2RefuseShareMembers: the transactions of rules version 3 are
// malformed under version 2, as they were before version 3 existed (their
// members did not decode then).
func TestRules2RefuseShareMembers(t *testing.T) {
	l := newLedger(t, block.Rules2)
	chain := l.trust.Chain
	red, _ := blocktest.Redact(businessTx(t, chain, "shenzhen", blocktest.BusinessID("shenzhen", 1), schemas.ActionIssue, func(ev *schemas.Event) {
		ev.Record.People = []schemas.Party{{Name: schemas.Text{schemas.LangHans: "王秀英"}}}
	}))
	for name, raw := range map[string][]byte{
		"digests": red,
		"grant":   blocktest.Grant(chain, "shenzhen", "g1", bankGrant, "2026-01-01", "2026-06-30"),
	} {
		if res := l.one(raw); res != invalid(block.ReasonMalformed) {
			t.Errorf("%s under rules version 2: %v %v, want invalid malformed", name, res, res.Reason())
		}
	}
	l1 := newLedger(t, block.Rules1)
	if res := l1.one(blocktest.Grant(chain, "shenzhen", "g1", bankGrant, "2026-01-01", "2026-06-30")); res != block.Invalid {
		t.Errorf("a grant under rules version 1: %v", res)
	}
}
