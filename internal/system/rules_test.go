package system_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// TestBatchStraightToTheBus is issue 14's reproduction end to end: a city
// that publishes signed batches straight to NATS, past its gateway, gets
// the gateway's verdicts from the orderers. A USCC with a wrong check
// character is sealed invalid (identifier), where it was sealed ok and its
// proof verified VALID; another city's revocation is rejected (not_issuer);
// and the node's Lookup gives the reasons.
func TestBatchStraightToTheBus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	sys := start(t, t.TempDir())
	defer sys.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	chain := sys.Consortium.Bundle.Chain
	business := func(city, id string, action schemas.Action) []byte {
		c, _ := schemas.LookupCity(city)
		ev := &schemas.Event{EventID: city + "-" + id + "-" + string(action), Kind: schemas.KindBusiness, Action: action,
			OccurredAt: "2026-03-01T08:00:00Z", Reason: "inspection", Record: schemas.Record{ID: id}}
		if action.FullRecord() {
			ev.Reason = ""
			ev.Record = schemas.Record{ID: id, Name: schemas.Text{schemas.LangHans: "深圳市安达新能源科技有限公司"},
				Authority: schemas.Text{schemas.LangHans: "深圳市市场监督管理局"}, IssuedOn: "2026-03-01", EstablishedOn: "2019-03-01",
				Address: schemas.Text{schemas.LangHans: "深圳市前海深港合作区"}, Scope: schemas.Text{schemas.LangHans: "软件开发"}}
		}
		raw, err := schemas.EncodeTx(schemas.NewTx(chain, c, ev))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	publish := func(city string, txs ...[]byte) *schemas.Batch {
		t.Helper()
		nc, err := sys.Bus.Connect(bus.IdentityName(bus.RoleCity, city))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		pub, err := bus.NewPublisher(nc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := schemas.SealBatch(chain, city, time.Now().UnixNano(), 1_000_000, txs, sys.Consortium.Cities[city])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Publish(ctx, bus.TxSubject(city), b.ID(), b.Encode()); err != nil {
			t.Fatal(err)
		}
		return b
	}
	result := func(id schemas.TxID) block.Result {
		t.Helper()
		loc, err := sys.Node(0).WaitTx(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return loc.Result
	}

	good := blocktest.BusinessID("shenzhen", 7)
	wrong := good[:17] + "0"
	if wrong == good {
		wrong = good[:17] + "1"
	}
	b := publish("shenzhen", business("shenzhen", good, schemas.ActionIssue), business("shenzhen", wrong, schemas.ActionIssue))
	if r := result(b.IDs[0]); r != block.OK {
		t.Fatalf("a valid issue: %v %v", r, r.Reason())
	}
	if r := result(b.IDs[1]); r.Outcome() != block.Invalid || r.Reason() != block.ReasonIdentifier {
		t.Fatalf("a USCC with a wrong check character: %v %q, want invalid identifier", r, r.Reason())
	}
	revoke := publish("guangzhou", business("guangzhou", good, schemas.ActionRevoke))
	if r := result(revoke.IDs[0]); r.Outcome() != block.Rejected || r.Reason() != block.ReasonNotIssuer {
		t.Fatalf("guangzhou's revocation of shenzhen's license: %v %q, want rejected not_issuer", r, r.Reason())
	}
	if loc, ok := sys.Node(0).Lookup(revoke.IDs[0]); !ok || loc.Result.Reason().String() != "not_issuer" {
		t.Fatalf("Lookup: %+v %v", loc, ok)
	}

	// The license stays valid, and the refused issue has no proof.
	src, err := sys.ProofSource()
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := proof.Latest(src, schemas.LicenseKey(schemas.CN, good))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := proof.Verify(sys.Consortium.Bundle, fresh); err != nil || v.Status != schemas.StatusValid || v.Owner != "shenzhen" {
		t.Fatalf("fresh proof: %+v %v", v, err)
	}
	if _, err := proof.Latest(src, schemas.LicenseKey(schemas.CN, wrong)); err == nil {
		t.Fatal("the invalid issue made a license")
	}
}

// TestWaitCommitNamesTheReason: the gateway's wait=commit answer to a
// revocation of another city's license is 422 ledger_rejected naming the
// reason, not_issuer (issue 14 §1), and a second issue is "exists". After
// a handover the new holder acts and the old one is not_issuer; a
// handover out of the jurisdiction is refused by the gateway.
func TestWaitCommitNamesTheReason(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	sys := start(t, t.TempDir())
	defer sys.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := blocktest.BusinessID("shenzhen", 11)
	issue := json.RawMessage(fmt.Sprintf(`{"eventId":"sz-11","kind":"business_registration","action":"issue","occurredAt":"2026-03-01T08:00:00Z",
"record":{"id":%q,"name":{"en":"Co 11"},"authority":{"en":"Registry"},"issuedOn":"2026-03-01","establishedOn":"2019-03-01","address":{"en":"1 Road"},"scope":{"en":"trade"}}}`, id))
	revoke := json.RawMessage(fmt.Sprintf(`{"eventId":"gz-r-11","kind":"business_registration","action":"revoke","reason":"not ours to revoke","occurredAt":"2026-03-02T08:00:00Z","record":{"id":%q}}`, id))
	again := json.RawMessage(strings.Replace(string(issue), `"sz-11"`, `"sz-11-again"`, 1))
	handover := func(event, to string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"eventId":%q,"kind":"business_registration","action":"handover","to":%q,"occurredAt":"2026-03-03T08:00:00Z","record":{"id":%q}}`, event, to, id))
	}
	suspend := func(event string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"eventId":%q,"kind":"business_registration","action":"suspend","reason":"inspection","occurredAt":"2026-03-04T08:00:00Z","record":{"id":%q}}`, event, id))
	}
	for _, step := range []struct {
		city, code, rule string
		ev               json.RawMessage
	}{
		{"shenzhen", "", "", issue},
		{"guangzhou", "ledger_rejected", "not_issuer", revoke},
		{"shenzhen", "ledger_rejected", "exists", again},
		{"shenzhen", "invalid", "handover-to", handover("sz-h-hk", "hongkong")}, // refused by the gateway
		{"shenzhen", "", "", handover("sz-h-gz", "guangzhou")},
		{"shenzhen", "ledger_rejected", "not_issuer", suspend("sz-s")},
		{"guangzhou", "", "", suspend("gz-s")},
	} {
		res, err := cityClient(t, sys, step.city).Publish(ctx, step.city, []json.RawMessage{step.ev}, client.Options{Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		switch r := res[0]; {
		case step.code == "" && (r.Error != nil || r.Receipt.Status != "committed"):
			t.Fatalf("%s: %+v %+v", step.city, r.Receipt, r.Error)
		case step.code != "" && (r.Error == nil || r.Error.Code != step.code || r.Error.Rule != step.rule ||
			step.code != "invalid" && !strings.Contains(r.Error.Message, step.rule)):
			t.Fatalf("%s: %+v %+v, want %s naming %s", step.city, r.Receipt, r.Error, step.code, step.rule)
		}
	}
}

// TestProofRouteShowsExpiry: HK/RGI-648009, valid 2013-10-10 to
// 2018-10-09, issued today, is expired in the proof route's status and in
// the proof itself, with no expire event (issue 14 §2).
func TestProofRouteShowsExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	sys := start(t, t.TempDir())
	defer sys.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cityClient(t, sys, "hongkong")
	cert := json.RawMessage(`{"eventId":"hk-rgi","kind":"professional_certificate","action":"issue","occurredAt":"2013-10-10T09:00:00+08:00",
"record":{"id":"RGI-648009","holder":{"name":{"en":"CHAN Tai Man"},"idKind":"passport","idNumber":"K1234567"},"title":{"en":"Registered Gas Installer"},
"authority":{"en":"EMSD"},"issuedOn":"2013-10-10","validity":{"from":"2013-10-10","to":"2018-10-09"}}}`)
	res, err := c.Publish(ctx, "hongkong", []json.RawMessage{cert}, client.Options{Wait: true})
	if err != nil || res[0].Error != nil {
		t.Fatalf("issue: %v %+v", err, res)
	}
	var resp *http.Response
	waitFor(t, "the proof route", func() bool {
		req, _ := http.NewRequest("GET", "http://"+sys.HTTPAddr+"/v1/licenses/HK/RGI-648009/proof", nil)
		tok, _ := sys.Token("hongkong")
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			return false
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return false
		}
		return true
	})
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("Baybus-Status"); got != "expired" {
		t.Fatalf("Baybus-Status %q, want expired", got)
	}
	b, err := proof.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := proof.Verify(sys.Consortium.Bundle, b)
	if err != nil || v.Status != schemas.StatusExpired || v.Recorded != schemas.StatusValid || v.ValidTo != "2018-10-09" || v.Owner != "hongkong" {
		t.Fatalf("verdict %+v %v", v, err)
	}
}
