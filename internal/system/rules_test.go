package system_test

import (
	"context"
	"testing"
	"time"

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
