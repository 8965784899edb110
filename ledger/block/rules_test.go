package block_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// ledger is a chain under construction in memory: blocks assembled,
// verified by a follower and committed.
type ledger struct {
	t      *testing.T
	c      *keys.Consortium
	trust  *keys.Bundle
	chain  *blocktest.Chain
	st     *blocktest.State
	parent *block.Header
	seq    map[string]uint64
	at     time.Time // the next block's timestamp
}

func newLedger(t *testing.T, rules int) *ledger {
	c := consortium(t)
	return &ledger{t: t, c: c, trust: blocktest.WithRules(c.Bundle, rules), chain: blocktest.NewChain(), st: blocktest.NewState(),
		seq: map[string]uint64{}, at: time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)}
}

// seal seals one block of one batch per transaction, each signed by the
// city the transaction names, and returns the results.
func (l *ledger) seal(txs ...[]byte) []block.Result {
	l.t.Helper()
	var batches []*schemas.Batch
	for _, raw := range txs {
		tx, err := schemas.DecodeTx(raw)
		city := "shenzhen"
		if err == nil {
			city = tx.City
		}
		l.seq[city]++
		batches = append(batches, blocktest.Batch(l.c, city, l.seq[city], raw))
	}
	blk, ups, err := block.Assemble(l.trust, block.Limits{}, block.Input{Parent: l.parent, Batches: batches,
		Timestamp: l.at.UnixNano(), Proposer: "macao"}, l.chain, l.st)
	if err != nil {
		l.t.Fatal(err)
	}
	dec, err := block.Decode(block.Encode(blk))
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := block.Verify(l.trust, block.Limits{}, l.parent, dec, l.chain, l.st); err != nil {
		l.t.Fatalf("a follower refuses an honest block: %v", err)
	}
	l.chain.Add(blk)
	l.st.Apply(ups)
	h := blk.Header
	l.parent = &h
	return blk.Results
}

// one seals one transaction and returns its result.
func (l *ledger) one(raw []byte) block.Result {
	l.t.Helper()
	return l.seal(raw)[0]
}

func (l *ledger) license(key string) (block.License, bool) {
	lic, ok, _ := l.st.License(key)
	return lic, ok
}

func ok() block.Result { return block.OK }

func rejected(why block.Reason) block.Result { return block.Refused(block.Rejected, why) }

func invalid(why block.Reason) block.Result { return block.Refused(block.Invalid, why) }

// TestIssuerAuthority is the table of issue 14: every action by the
// issuer, by another city of the same jurisdiction, by a city of another
// jurisdiction, and after a handover by the new holder and by the old.
func TestIssuerAuthority(t *testing.T) {
	const id = "CPA-77"
	type actor struct {
		name, city string
		handover   bool // shenzhen hands the license to guangzhou first
	}
	actors := []actor{
		{"issuer", "shenzhen", false},
		{"same jurisdiction", "guangzhou", false},
		{"other jurisdiction", "hongkong", false},
		{"new holder after handover", "guangzhou", true},
		{"old holder after handover", "shenzhen", true},
	}
	type row struct {
		action schemas.Action
		setup  schemas.Action // the holder's action before (reinstate needs a suspension)
		want   []block.Result // per actor
	}
	notIssuer := rejected(block.ReasonNotIssuer)
	notFound := rejected(block.ReasonNotFound)
	exists := rejected(block.ReasonExists)
	rows := []row{
		{schemas.ActionIssue, "", []block.Result{exists, exists, ok(), exists, exists}},
		{schemas.ActionAmend, "", []block.Result{ok(), notIssuer, notFound, ok(), notIssuer}},
		{schemas.ActionSuspend, "", []block.Result{ok(), notIssuer, notFound, ok(), notIssuer}},
		{schemas.ActionReinstate, schemas.ActionSuspend, []block.Result{ok(), notIssuer, notFound, ok(), notIssuer}},
		{schemas.ActionRevoke, "", []block.Result{ok(), notIssuer, notFound, ok(), notIssuer}},
		{schemas.ActionExpire, "", []block.Result{ok(), notIssuer, notFound, ok(), notIssuer}},
		{schemas.ActionHandover, "", []block.Result{ok(), notIssuer, invalid(block.ReasonHandoverTarget), ok(), notIssuer}},
	}
	for _, r := range rows {
		for i, a := range actors {
			t.Run(fmt.Sprintf("%s by %s", r.action, a.name), func(t *testing.T) {
				l := newLedger(t, block.Rules2)
				if res := l.one(blocktest.Tx(l.trust.Chain, "shenzhen", id, schemas.ActionIssue)); res != block.OK {
					t.Fatalf("issue: %v", res)
				}
				holder := "shenzhen"
				if a.handover {
					if res := l.one(blocktest.Handover(l.trust.Chain, "shenzhen", id, "guangzhou")); res != block.OK {
						t.Fatalf("handover: %v %v", res, res.Reason())
					}
					holder = "guangzhou"
				}
				if r.setup != "" {
					if res := l.one(blocktest.Tx(l.trust.Chain, holder, id, r.setup)); res != block.OK {
						t.Fatalf("setup %s: %v %v", r.setup, res, res.Reason())
					}
				}
				before, _ := l.license("CN/" + id)
				var raw []byte
				switch {
				case r.action == schemas.ActionHandover && a.city == "hongkong":
					raw = blocktest.Handover(l.trust.Chain, a.city, id, "shenzhen")
				case r.action == schemas.ActionHandover:
					raw = blocktest.Handover(l.trust.Chain, a.city, id, "foshan")
				default:
					raw = blocktest.TxWith(l.trust.Chain, a.city, id, r.action, func(ev *schemas.Event) { ev.EventID += "-again" })
				}
				got := l.one(raw)
				if want := r.want[i]; got != want {
					t.Fatalf("%s by %s: %v (%v), want %v (%v)", r.action, a.name, got, got.Reason(), want, want.Reason())
				}
				after, _ := l.license("CN/" + id)
				if got != block.OK && after != before {
					t.Fatalf("a refused %s changed the license: %+v -> %+v", r.action, before, after)
				}
				if got == block.OK && a.city != "hongkong" {
					switch r.action {
					case schemas.ActionHandover:
						if after.Owner != "foshan" {
							t.Fatalf("after the handover the holder is %q", after.Owner)
						}
					default:
						if after.Owner != holder {
							t.Fatalf("%s moved the license to %q", r.action, after.Owner)
						}
					}
				}
			})
		}
	}
}

// TestCrossCityRevocation is issue 14's reproduction: guangzhou revoked
// Shenzhen's CN/91440304MAWTK5709N and it was recorded ok. Now it is
// rejected as not_issuer, the license stays valid, and Shenzhen still
// changes it.
func TestCrossCityRevocation(t *testing.T) {
	l := newLedger(t, block.Rules2)
	issue := businessTx(t, l.trust.Chain, "shenzhen", "91440304MAWTK5709N", schemas.ActionIssue, nil)
	if res := l.one(issue); res != block.OK {
		t.Fatalf("issue: %v %v", res, res.Reason())
	}
	revoke := businessTx(t, l.trust.Chain, "guangzhou", "91440304MAWTK5709N", schemas.ActionRevoke, nil)
	res := l.one(revoke)
	if res.Outcome() != block.Rejected || res.Reason() != block.ReasonNotIssuer || res.Reason().String() != "not_issuer" {
		t.Fatalf("guangzhou's revocation: %v %q, want rejected not_issuer", res, res.Reason())
	}
	lic, _ := l.license("CN/91440304MAWTK5709N")
	if lic.Status != schemas.StatusValid || lic.Owner != "shenzhen" {
		t.Fatalf("license after the refused revocation: %+v", lic)
	}
	if res := l.one(businessTx(t, l.trust.Chain, "shenzhen", "91440304MAWTK5709N", schemas.ActionSuspend, nil)); res != block.OK {
		t.Fatalf("shenzhen's own suspension: %v %v", res, res.Reason())
	}
}

// TestIssueOfExistingLicense: a second issue no longer overwrites the
// record; amend does.
func TestIssueOfExistingLicense(t *testing.T) {
	l := newLedger(t, block.Rules2)
	first := businessTx(t, l.trust.Chain, "shenzhen", "91440304MAWTK5709N", schemas.ActionIssue, nil)
	l.one(first)
	before, _ := l.license("CN/91440304MAWTK5709N")
	again := businessTx(t, l.trust.Chain, "shenzhen", "91440304MAWTK5709N", schemas.ActionIssue, func(ev *schemas.Event) {
		ev.EventID = "second-issue"
		ev.Record.Capital = &schemas.Money{Amount: "99", Currency: "CNY"}
	})
	if res := l.one(again); res.Outcome() != block.Rejected || res.Reason() != block.ReasonExists {
		t.Fatalf("second issue: %v %v, want rejected exists", res, res.Reason())
	}
	if after, _ := l.license("CN/91440304MAWTK5709N"); after != before {
		t.Fatalf("the second issue changed the license: %+v -> %+v", before, after)
	}
	amend := businessTx(t, l.trust.Chain, "shenzhen", "91440304MAWTK5709N", schemas.ActionAmend, func(ev *schemas.Event) {
		ev.Record.Capital = &schemas.Money{Amount: "99", Currency: "CNY"}
	})
	if res := l.one(amend); res != block.OK {
		t.Fatalf("amend: %v %v", res, res.Reason())
	}
	if after, _ := l.license("CN/91440304MAWTK5709N"); after.RecordTx != schemas.ComputeTxID(amend) {
		t.Fatal("amend did not replace the record in force")
	}
}

// businessTx is a CN business registration of city, with edit applied.
func businessTx(t *testing.T, chain, city, id string, action schemas.Action, edit func(*schemas.Event)) []byte {
	t.Helper()
	c, _ := schemas.LookupCity(city)
	ev := &schemas.Event{EventID: city + "-" + id + "-" + string(action), Kind: schemas.KindBusiness, Action: action,
		OccurredAt: "2026-03-01T08:00:00Z", Reason: "inspection", Record: schemas.Record{ID: id}}
	if action.FullRecord() {
		ev.Reason = ""
		ev.Record = schemas.Record{ID: id, Name: schemas.Text{schemas.LangHans: "深圳市安达新能源科技有限公司"},
			Authority: schemas.Text{schemas.LangHans: "深圳市市场监督管理局"}, IssuedOn: "2026-03-01", EstablishedOn: "2019-03-01",
			Address: schemas.Text{schemas.LangHans: "深圳市前海深港合作区"}, Scope: schemas.Text{schemas.LangHans: "软件开发"}}
	}
	if edit != nil {
		edit(ev)
	}
	raw, err := schemas.EncodeTx(schemas.NewTx(chain, c, ev))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestGatewayChecksAreLedgerRules: what a gateway refuses, a batch
// published straight to the bus gets sealed as invalid, with the reason.
// Issue 14's reproduction: a USCC with a wrong check character was
// sealed ok.
func TestGatewayChecksAreLedgerRules(t *testing.T) {
	l := newLedger(t, block.Rules2)
	chain := l.trust.Chain
	withReason := func(raw []byte, reason string) []byte {
		return bytes.Replace(raw, []byte(`"record":`), []byte(`"reason":`+reason+`,"record":`), 1)
	}
	other, _ := schemas.LookupCity("zhuhai")
	foreign, _ := schemas.EncodeTx(schemas.NewTx(chain, other, &schemas.Event{EventID: "z1", Kind: schemas.KindCertificate, Action: schemas.ActionRevoke,
		OccurredAt: "2026-01-02T03:04:05Z", Reason: "x", Record: schemas.Record{ID: "Z1"}}))
	for _, tc := range []struct {
		name string
		raw  []byte
		want block.Reason
	}{
		{"USCC with a wrong check character", businessTx(t, chain, "shenzhen", "91440304MAWTK5709X", schemas.ActionIssue, nil), block.ReasonIdentifier},
		{"HKID with a wrong check digit", blocktest.TxWith(chain, "hongkong", "C1", schemas.ActionIssue, func(ev *schemas.Event) {
			ev.Record.Holder.IDKind, ev.Record.Holder.IDNumber = "hkid", "A1234567"
		}), block.ReasonIdentifier},
		{"no authority", blocktest.TxWith(chain, "shenzhen", "C2", schemas.ActionIssue, func(ev *schemas.Event) { ev.Record.Authority = nil }), block.ReasonSchema},
		{"a date that does not exist", blocktest.TxWith(chain, "shenzhen", "C3", schemas.ActionIssue, func(ev *schemas.Event) { ev.Record.IssuedOn = "2026-02-30" }), block.ReasonSchema},
		{"right-to-left override", blocktest.TxWith(chain, "shenzhen", "C4", schemas.ActionIssue, func(ev *schemas.Event) {
			ev.Record.Title = schemas.Text{schemas.LangEN: "Doctor \u202egnirts"}
		}), block.ReasonText},
		{"NUL in a name", blocktest.TxWith(chain, "shenzhen", "C5", schemas.ActionIssue, func(ev *schemas.Event) {
			ev.Record.Holder.Name = schemas.Text{schemas.LangEN: "A\x00B"}
		}), block.ReasonText},
		{"NFD event id", blocktest.TxWith(chain, "shenzhen", "C6", schemas.ActionIssue, func(ev *schemas.Event) { ev.EventID = "cafe\u0301" }), block.ReasonNotNFC},
		{"handover out of the jurisdiction", blocktest.Handover(chain, "shenzhen", "C7", "macao"), block.ReasonHandoverTarget},
		{"empty member the encoding drops", withReason(blocktest.Tx(chain, "shenzhen", "C8", schemas.ActionIssue), `""`), block.ReasonMalformed},
		{"not JSON", []byte(`{"v":1`), block.ReasonMalformed},
		{"another city's transaction in the batch", foreign, block.ReasonEnvelope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res block.Result
			if tc.want == block.ReasonEnvelope {
				// zhuhai's transaction carried in a batch of shenzhen.
				l.seq["shenzhen"]++
				bt := blocktest.Batch(l.c, "shenzhen", l.seq["shenzhen"], tc.raw)
				blk, _, err := block.Assemble(l.trust, block.Limits{}, block.Input{Parent: l.parent, Batches: []*schemas.Batch{bt}, Timestamp: l.at.UnixNano()}, l.chain, l.st)
				if err != nil {
					t.Fatal(err)
				}
				res = blk.Results[0]
			} else {
				res = l.one(tc.raw)
			}
			if res.Outcome() != block.Invalid || res.Reason() != tc.want {
				t.Fatalf("%v %q, want invalid %q", res, res.Reason(), tc.want)
			}
		})
	}
	// The same transactions under rules version 1: the check character,
	// the text and the missing field were sealed ok.
	v1 := newLedger(t, block.Rules1)
	for _, raw := range [][]byte{
		businessTx(t, v1.trust.Chain, "shenzhen", "91440304MAWTK5709X", schemas.ActionIssue, nil),
		blocktest.TxWith(v1.trust.Chain, "shenzhen", "C4", schemas.ActionIssue, func(ev *schemas.Event) {
			ev.Record.Title = schemas.Text{schemas.LangEN: "Doctor \u202egnirts"}
		}),
		blocktest.TxWith(v1.trust.Chain, "shenzhen", "C2", schemas.ActionIssue, func(ev *schemas.Event) { ev.Record.Authority = nil }),
	} {
		if res := v1.one(raw); res != block.OK {
			t.Fatalf("rules version 1 changed: %v", res)
		}
	}
}

// TestExpiryAtTheBoundary: a certificate valid to 2018-10-09 is valid as
// of a block stamped one nanosecond before 2018-10-10T00:00:00+08:00 and
// expired as of one stamped at that instant, with no event; an amend with
// a new validity renews it.
func TestExpiryAtTheBoundary(t *testing.T) {
	end := time.Date(2018, 10, 10, 0, 0, 0, 0, schemas.GBATime)
	const id, key = "RGI-648009", "HK/RGI-648009"
	cert := func(action schemas.Action, to string, n int) []byte {
		return blocktest.TxWith("gba-test", "hongkong", id, action, func(ev *schemas.Event) {
			ev.EventID = fmt.Sprintf("%s-%d", action, n)
			if action.FullRecord() {
				ev.Record.Validity = &schemas.Period{From: "2013-10-10", To: to}
			}
		})
	}
	l := newLedger(t, block.Rules2)
	l.at = time.Date(2013, 10, 10, 0, 0, 0, 0, schemas.GBATime)
	if res := l.one(cert(schemas.ActionIssue, "2018-10-09", 0)); res != block.OK {
		t.Fatalf("issue: %v %v", res, res.Reason())
	}
	effective := func() schemas.Status {
		lic, _ := l.license(key)
		return schemas.EffectiveStatus(lic.Status, lic.ValidTo, time.Unix(0, l.parent.Timestamp))
	}
	lic, _ := l.license(key)
	if lic.ValidTo != "2018-10-09" || lic.Owner != "hongkong" || lic.Status != schemas.StatusValid {
		t.Fatalf("license %+v", lic)
	}
	for _, step := range []struct {
		at   time.Time
		want schemas.Status
	}{
		{end.Add(-time.Nanosecond), schemas.StatusValid},
		{end, schemas.StatusExpired},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), schemas.StatusExpired},
	} {
		l.at = step.at
		l.seal(blocktest.Tx("gba-test", "macao", fmt.Sprint("M", step.at.UnixNano()), schemas.ActionIssue)) // a block at that time
		if got := effective(); got != step.want {
			t.Fatalf("as of a block at %v: %s, want %s", step.at, got, step.want)
		}
	}
	// The recorded status did not move; a suspension is still recorded,
	// and expiry still shows through it.
	if res := l.one(cert(schemas.ActionSuspend, "", 1)); res != block.OK || effective() != schemas.StatusExpired {
		t.Fatalf("suspend of an expired certificate: %v %v, effective %s", res, res.Reason(), effective())
	}
	// Renewed by the issuer's amend.
	if res := l.one(cert(schemas.ActionAmend, "2030-10-09", 2)); res != block.OK {
		t.Fatalf("renewal: %v %v", res, res.Reason())
	}
	if res := l.one(cert(schemas.ActionReinstate, "", 3)); res != block.OK || effective() != schemas.StatusValid {
		t.Fatalf("reinstate after renewal: %v %v, effective %s", res, res.Reason(), effective())
	}
}

// TestStatusRules2: the transitions that are not about who or when.
func TestStatusRules2(t *testing.T) {
	l := newLedger(t, block.Rules2)
	tx := func(action schemas.Action, n int) []byte {
		return blocktest.TxWith(l.trust.Chain, "shenzhen", "S1", action, func(ev *schemas.Event) { ev.EventID = fmt.Sprintf("%s-%d", action, n) })
	}
	for i, step := range []struct {
		action schemas.Action
		want   block.Result
		status schemas.Status
	}{
		{schemas.ActionSuspend, rejected(block.ReasonNotFound), ""},
		{schemas.ActionIssue, block.OK, schemas.StatusValid},
		{schemas.ActionReinstate, block.OK, schemas.StatusValid},
		{schemas.ActionSuspend, block.OK, schemas.StatusSuspended},
		{schemas.ActionSuspend, rejected(block.ReasonStatus), schemas.StatusSuspended},
		{schemas.ActionAmend, block.OK, schemas.StatusSuspended},
		{schemas.ActionReinstate, block.OK, schemas.StatusValid},
		{schemas.ActionExpire, block.OK, schemas.StatusExpired},
		{schemas.ActionSuspend, rejected(block.ReasonStatus), schemas.StatusExpired},
		{schemas.ActionReinstate, block.OK, schemas.StatusValid},
		{schemas.ActionRevoke, block.OK, schemas.StatusRevoked},
		{schemas.ActionAmend, rejected(block.ReasonRevoked), schemas.StatusRevoked},
		{schemas.ActionHandover, rejected(block.ReasonRevoked), schemas.StatusRevoked},
		{schemas.ActionIssue, rejected(block.ReasonExists), schemas.StatusRevoked},
	} {
		raw := tx(step.action, i)
		if step.action == schemas.ActionHandover {
			raw = blocktest.Handover(l.trust.Chain, "shenzhen", "S1", "guangzhou")
		}
		res := l.one(raw)
		lic, _ := l.license("CN/S1")
		if res != step.want || lic.Status != step.status {
			t.Fatalf("step %d %s: %v %q, status %q; want %v %q, %q", i, step.action, res, res.Reason(), lic.Status, step.want, step.want.Reason(), step.status)
		}
	}
}

// TestRulesVersionsInHeaders: a chain's headers say its rules version, a
// block of the other version is refused, and a version 1 block may not
// carry reasons.
func TestRulesVersionsInHeaders(t *testing.T) {
	for _, v := range []int{block.Rules1, block.Rules2} {
		l := newLedger(t, v)
		l.one(blocktest.Tx(l.trust.Chain, "shenzhen", "A1", schemas.ActionIssue))
		res := l.one(blocktest.Tx(l.trust.Chain, "guangzhou", "A1", schemas.ActionRevoke))
		raw, _ := l.parent.MarshalBinary()
		if l.parent.RulesVersion() != v || (v == block.Rules1) != bytes.HasPrefix(raw, []byte("GBH1")) {
			t.Fatalf("rules %d: header says %d, encoded %q", v, l.parent.RulesVersion(), raw[:4])
		}
		var back block.Header
		if err := back.UnmarshalBinary(raw); err != nil || back.Hash() != l.parent.Hash() || back.RulesVersion() != v {
			t.Fatalf("rules %d: header round trip %v", v, err)
		}
		wantRes := block.OK // anyone could revoke under rules version 1
		if v == block.Rules2 {
			wantRes = rejected(block.ReasonNotIssuer)
		}
		if res != wantRes {
			t.Fatalf("rules %d: cross-city revocation %v %v", v, res, res.Reason())
		}

		// The same block under the other version's trust bundle.
		other := blocktest.WithRules(l.c.Bundle, 3-v)
		bt := blocktest.Batch(l.c, "shenzhen", 99, blocktest.Tx(l.trust.Chain, "shenzhen", "A9", schemas.ActionIssue))
		blk, _, err := block.Assemble(l.trust, block.Limits{}, block.Input{Parent: l.parent, Batches: []*schemas.Batch{bt}, Timestamp: l.at.UnixNano(), Proposer: "macao"}, l.chain, l.st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := block.Verify(other, block.Limits{}, l.parent, blk, l.chain, l.st); !errors.Is(err, block.ErrMismatch) {
			t.Fatalf("rules %d block verified under rules %d: %v", v, 3-v, err)
		}
		if err := block.VerifyStored(other, l.parent, blk, &block.QC{}); !errors.Is(err, block.ErrMismatch) {
			t.Fatalf("rules %d block stored-verified under rules %d: %v", v, 3-v, err)
		}
	}
	// A reason in a version 1 block, or a reason that does not go with
	// its outcome in a version 2 block, does not decode.
	for _, tc := range []struct {
		v   int
		res block.Result
	}{
		{block.Rules1, rejected(block.ReasonNotIssuer)},
		{block.Rules2, block.Refused(block.Invalid, block.ReasonNotIssuer)},
		{block.Rules2, block.Refused(block.Rejected, block.ReasonText)},
		{block.Rules2, block.Refused(block.Rejected, 60)},
		{block.Rules2, block.Result(block.Rejected)},
		{block.Rules2, block.Refused(block.OK, block.ReasonExists)},
	} {
		l := newLedger(t, tc.v)
		l.seal(blocktest.Tx(l.trust.Chain, "shenzhen", "A1", schemas.ActionIssue))
		blk := &block.Block{Header: *l.parent, Batches: []*schemas.Batch{blocktest.Batch(l.c, "shenzhen", 1, blocktest.Tx(l.trust.Chain, "shenzhen", "A1", schemas.ActionIssue))}, Results: []block.Result{tc.res}}
		if _, err := block.Decode(block.Encode(blk)); !errors.Is(err, block.ErrFormat) {
			t.Errorf("rules %d: result %d decoded: %v", tc.v, tc.res, err)
		}
	}
	// GBH2 with a version that is not above 1, or unknown, is no header.
	h := block.Header{Rules: 2, Chain: "gba-test", Height: 1}
	raw, _ := h.MarshalBinary()
	for _, r := range []byte{0, 1, block.CurrentRules + 1} {
		bad := bytes.Clone(raw)
		bad[4] = r
		if err := new(block.Header).UnmarshalBinary(bad); !errors.Is(err, block.ErrFormat) {
			t.Errorf("GBH2 with rules %d decoded: %v", r, err)
		}
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := block.Reason(1); r <= block.ReasonWrongKind; r++ {
		name := r.String()
		if name == "" || seen[name] {
			t.Fatalf("reason %d named %q", r, name)
		}
		seen[name] = true
		if back, ok := block.ParseReason(name); !ok || back != r {
			t.Fatalf("ParseReason(%q) = %d %v", name, back, ok)
		}
		res := block.Refused(block.Rejected, r)
		if res.String() != "rejected" || res.Reason() != r || res.Outcome() != block.Rejected {
			t.Fatalf("Refused(Rejected, %s) = %v %v", name, res, res.Reason())
		}
	}
	if _, ok := block.ParseReason(""); ok {
		t.Fatal("ParseReason accepts the empty name")
	}
	if block.CurrentRules != keys.MaxRules {
		t.Fatalf("keys.MaxRules %d is not block.CurrentRules %d", keys.MaxRules, block.CurrentRules)
	}
}

// TestChecksKeepRulesApart: a batch checked under one rules version is
// checked again under another, not served from the cache.
func TestChecksKeepRulesApart(t *testing.T) {
	c := consortium(t)
	bad := businessTx(t, c.Bundle.Chain, "shenzhen", "91440304MAWTK5709X", schemas.ActionIssue, nil)
	bt := blocktest.Batch(c, "shenzhen", 1, bad)
	checks := block.NewChecks(4)
	for _, tc := range []struct {
		v     int
		valid bool
	}{{block.Rules1, true}, {block.Rules2, false}, {block.Rules1, true}} {
		got, err := checks.Batch(blocktest.WithRules(c.Bundle, tc.v), bt, 1)
		if err != nil {
			t.Fatal(err)
		}
		if (got[0].Err == nil) != tc.valid || !tc.valid && got[0].Reason != block.ReasonIdentifier {
			t.Fatalf("rules %d: %+v, want valid %v", tc.v, got[0], tc.valid)
		}
	}
}

func TestCheckTimestamp(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	h := &block.Header{Height: 7, Timestamp: now.Add(5 * time.Second).UnixNano()}
	if err := block.CheckTimestamp(h, now, 5*time.Second); err != nil {
		t.Fatalf("at the skew: %v", err)
	}
	if err := block.CheckTimestamp(h, now, 4*time.Second); !errors.Is(err, block.ErrTimestamp) {
		t.Fatalf("beyond the skew: %v", err)
	}
	h.Timestamp = now.Add(-time.Hour).UnixNano()
	if err := block.CheckTimestamp(h, now, 0); err != nil {
		t.Fatalf("a past timestamp: %v", err)
	}
}

func TestBusinessIDsAreValid(t *testing.T) {
	for _, city := range schemas.CityTokens() {
		for _, n := range []int{0, 1, 999999, 1234567} {
			id := blocktest.BusinessID(city, n)
			c, _ := schemas.LookupCity(city)
			rec := schemas.Record{ID: id}
			if err := ids.CheckRecord(c.Jurisdiction, schemas.KindBusiness, &rec); err != nil {
				t.Fatalf("%s %d: %s: %v", city, n, id, err)
			}
		}
	}
	if blocktest.BusinessID("shenzhen", 1) == blocktest.BusinessID("shenzhen", 2) {
		t.Fatal("two numbers, one id")
	}
}

func TestResultKnown(t *testing.T) {
	for _, r := range []block.Result{block.OK, block.Duplicate, block.Invalid, block.Rejected, rejected(block.ReasonNotIssuer), invalid(block.ReasonText)} {
		if !r.Known() {
			t.Errorf("result %d (%v %v) not known", r, r, r.Reason())
		}
	}
	for _, r := range []block.Result{block.Refused(block.Invalid, block.ReasonNotIssuer), block.Refused(block.OK, block.ReasonExists), block.Refused(block.Rejected, 63)} {
		if r.Known() {
			t.Errorf("result %d known", r)
		}
	}
}
