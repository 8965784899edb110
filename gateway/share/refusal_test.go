package share_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
)

// laggingChain is the ledger as a gateway's share index follows it, made
// to fall behind on request: once held, the index's follower is given no
// header above the height it was held at, as an index that has not yet
// caught up with the chain. Everything else (commit waits, proofs) reads
// the chain as it is.
type laggingChain struct {
	*query.Client
	mu   sync.Mutex
	held uint64 // 0: not held
}

func (l *laggingChain) hold(at uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held = at
}

func (l *laggingChain) Headers(ctx context.Context, from uint64, limit int) ([]query.SealedHeader, error) {
	l.mu.Lock()
	held := l.held
	l.mu.Unlock()
	if held != 0 && from > held {
		return nil, nil
	}
	hs, err := l.Client.Headers(ctx, from, limit)
	if held != 0 {
		for i, sh := range hs {
			if sh.Header.Height > held {
				hs = hs[:i]
				break
			}
		}
	}
	return hs, err
}

// TestLedgerRefusalIsRecorded: issue 15 §3's race. Shenzhen revokes a
// grant through its own gateway while a second gateway of Shenzhen's,
// whose index has not yet seen the revocation, answers hk-bank's request
// under it. That gateway finds the grant in force and submits a granted
// access record; the orderers, who judge it against the grant at its
// block, reject it (grant_revoked); the gateway records that refusal
// instead and answers it, with the proof of the refusal. The ledger holds
// one access record of the request, the refusal, and nothing was
// disclosed.
func TestLedgerRefusalIsRecorded(t *testing.T) {
	h := newHarness(t)
	repName := secret("SUN Yue ")
	biz, bizJSON := bizWithRep(t, h.trust.Chain, 71, repName)
	h.publish("shenzhen", bizJSON)
	license := schemas.LicenseKey(schemas.CN, biz.Record.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The second gateway: Shenzhen's disclosures (a backup of the first
	// gateway's store) and an index that can be made to lag.
	data := t.TempDir()
	restoreShenzhen(t, h, data)
	lag := &laggingChain{Client: h.sys.Ledger}
	gw := startGateway(t, h, data, lag)

	today := time.Now().In(schemas.GBATime).Format(schemas.DateLayout)
	nextYear := time.Now().In(schemas.GBATime).AddDate(1, 0, 0).Format(schemas.DateLayout)
	g, err := h.cities["shenzhen"].Grant(ctx, "shenzhen", share.GrantBody{ID: "g-race", Reader: "hk-bank",
		Kinds: []string{"business"}, Fields: []string{"people.name"}, Purpose: "kyc", From: today, To: nextYear})
	if err != nil {
		t.Fatal(err)
	}
	// The second gateway's index sees the grant; then it lags.
	second := share.NewClient(gw.URL(), nil, h.tokens["shenzhen"])
	for {
		gl, err := second.Grants(ctx, "shenzhen", "", false)
		if err != nil {
			t.Fatal(err)
		}
		if len(gl.Grants) == 1 && gl.Grants[0].ID == "g-race" {
			lag.hold(max(gl.Height, g.Receipt.Height))
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the second gateway's index never saw the grant: %+v", gl)
		case <-time.After(50 * time.Millisecond):
		}
	}
	rev, err := h.cities["shenzhen"].Revoke(ctx, "shenzhen", "g-race", "contract ended")
	if err != nil {
		t.Fatal(err)
	}
	if rev.Receipt == nil || rev.Receipt.Status != api.StatusCommitted {
		t.Fatalf("revocation %+v", rev)
	}
	// hk-bank asks the second gateway.
	r := h.readers["hk-bank"]
	body, err := share.Sign(h.disclose("hk-bank", license, schemas.KindBusiness, []string{"people.name"}, "kyc"), r.sign)
	if err != nil {
		t.Fatal(err)
	}
	a, err := share.NewClient(gw.URL(), nil, r.token).Request(ctx, body)
	if err != nil {
		t.Fatalf("the request under the revoked grant: %v (want the ledger's refusal, recorded)", err)
	}
	if a.Outcome != schemas.OutcomeRefused || a.Reason != schemas.RefuseRevoked || a.Sealed != nil || a.Error == nil || a.Error.Code != api.CodeShareRefused {
		t.Fatalf("answer %+v", a)
	}
	checkAccessProof(t, h.trust, a, schemas.OutcomeRefused, schemas.RefuseRevoked)
	if raw, _ := json.Marshal(a); bytes.Contains(raw, []byte(repName)) {
		t.Fatal("the refusal carries the name")
	}

	// On the ledger: one access record of the license, the refusal, as
	// Shenzhen's audit shows it.
	var list *share.AccessList
	for {
		if list, err = h.cities["shenzhen"].Accesses(ctx, share.AccessQuery{License: license}); err != nil {
			t.Fatal(err)
		}
		if len(list.Accesses) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the refusal never reached Shenzhen's audit")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if len(list.Accesses) != 1 || list.Accesses[0].Outcome != schemas.OutcomeRefused || list.Accesses[0].Reason != schemas.RefuseRevoked ||
		list.Accesses[0].Grant != "g-race" || list.Accesses[0].Reader != "hk-bank" {
		t.Fatalf("Shenzhen's audit of %s: %+v", license, list.Accesses)
	}
}
