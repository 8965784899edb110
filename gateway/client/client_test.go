package client_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// behindLedger seals nothing and reports a settable stream sequence as
// sealed: fault injection for the gateway's admission control.
type behindLedger struct{ sealed atomic.Uint64 }

func (l *behindLedger) Lookup(context.Context, schemas.TxID) (gateway.Location, bool, error) {
	return gateway.Location{}, false, nil
}
func (l *behindLedger) LatestProof(context.Context, string) (*proof.Bundle, error) {
	return nil, proof.ErrNotFound
}

func (l *behindLedger) WaitTx(ctx context.Context, _ schemas.TxID) (gateway.Location, error) {
	<-ctx.Done()
	return gateway.Location{}, ctx.Err()
}

func (l *behindLedger) SealedSeq() uint64 { return l.sealed.Load() }

func event(id string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"eventId":"ev-%s","kind":"business_registration","action":"issue","occurredAt":"2026-03-01T08:00:00Z",
		"record":{"id":"%s","name":{"zh-Hans":"深圳测试有限公司"},"authority":{"zh-Hans":"深圳市市场监督管理局"},"issuedOn":"2026-03-01",
		"establishedOn":"2019-03-01","address":{"zh-Hans":"深圳市南山区"},"scope":{"zh-Hans":"软件开发"},"capital":{"amount":"1000000.00","currency":"CNY"}}}`, id, id))
}

// TestPublishRetriesWhileTheLedgerIsBehind: a request refused with 429
// ledger_backlog is sent again after Retry-After and goes through once the
// orderers catch up; with retries off the 429 is returned.
func TestPublishRetriesWhileTheLedgerIsBehind(t *testing.T) {
	ids, err := bus.NewIdentities(schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, ids, natstest.Options{})
	cons, err := keys.NewConsortium("gba-test", schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"}, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	led := &behindLedger{}
	gw := gateway.New(gateway.Config{Chain: "gba-test", Ledger: led, MaxBacklog: 1, BacklogWait: 200 * time.Millisecond})
	nc, err := srv.Connect(bus.IdentityName(bus.RoleCity, "shenzhen"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.AddCity("shenzhen", cons.Cities["shenzhen"], pub); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer gw.Close()

	c := client.New(hs.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 { // nothing sealed yet: admitted
		if res, err := c.Publish(ctx, "shenzhen", []json.RawMessage{event(fmt.Sprintf("C%d", i))}, client.Options{}); err != nil || res[0].Error != nil {
			t.Fatalf("event %d: %v %+v", i, err, res)
		}
	}
	led.sealed.Store(1) // two batches behind, limit one

	_, err = c.Publish(ctx, "shenzhen", []json.RawMessage{event("C3")}, client.Options{Retries: -1})
	var api *client.APIError
	if !errors.As(err, &api) || api.Status != http.StatusTooManyRequests || api.Err.Code != "ledger_backlog" {
		t.Fatalf("retries off: %v, want 429 ledger_backlog", err)
	}

	go func() {
		time.Sleep(500 * time.Millisecond) // the first try is refused meanwhile
		led.sealed.Store(3)
	}()
	res, err := c.Publish(ctx, "shenzhen", []json.RawMessage{event("C4")}, client.Options{})
	if err != nil || len(res) != 1 || res[0].Error != nil || res[0].Receipt == nil || res[0].Index != 0 {
		t.Fatalf("with retries: %v %+v", err, res)
	}
}

// newGateway runs a gateway for shenzhen on a real embedded bus.
func newGateway(t *testing.T, cfg gateway.Config) *httptest.Server {
	t.Helper()
	orderers := []string{"hongkong", "macao", "qianhai", "hengqin"}
	ids, err := bus.NewIdentities(schemas.CityTokens(), orderers)
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, ids, natstest.Options{})
	cons, err := keys.NewConsortium("gba-test", schemas.CityTokens(), orderers, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Chain = "gba-test"
	gw := gateway.New(cfg)
	t.Cleanup(gw.Close)
	nc, err := srv.Connect(bus.IdentityName(bus.RoleCity, "shenzhen"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pub, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.AddCity("shenzhen", cons.Cities["shenzhen"], pub); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs
}

// TestPublishStream: events are read one chunk at a time, each answered in
// input order with its index over the whole input; an event over the
// bound fails here without being sent; the same input again gets the first
// receipts.
func TestPublishStream(t *testing.T) {
	hs := newGateway(t, gateway.Config{})
	c := client.New(hs.URL, nil)
	var in strings.Builder
	in.WriteString("[\n")
	for i := range 7 {
		if i == 4 {
			in.WriteString(`{"eventId":"` + strings.Repeat("x", 3000) + `"},`)
			continue
		}
		in.Write(event(fmt.Sprintf("ST%d", i)))
		if i < 6 {
			in.WriteString(",\n")
		}
	}
	in.WriteString("]")
	publish := func() ([]client.Result, client.Summary) {
		var got []client.Result
		sum, err := c.PublishStream(context.Background(), "shenzhen", strings.NewReader(in.String()),
			client.StreamOptions{Chunk: 3, MaxEventBytes: 2048}, func(r client.Result) error { got = append(got, r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return got, sum
	}
	got, sum := publish()
	if sum != (client.Summary{Events: 7, Accepted: 6, Failed: 1}) || len(got) != 7 {
		t.Fatalf("summary %+v, %d results", sum, len(got))
	}
	for i, r := range got {
		switch {
		case r.Index != i:
			t.Fatalf("result %d has index %d", i, r.Index)
		case i == 4 && (r.Error == nil || r.Error.Code != api.CodeTooLarge):
			t.Fatalf("oversize event: %+v", r)
		case i != 4 && (r.Receipt == nil || r.Receipt.Duplicate):
			t.Fatalf("event %d: %+v", i, r)
		}
	}
	again, _ := publish()
	for i, r := range again {
		if i != 4 && (r.Receipt == nil || !r.Receipt.Duplicate || r.Receipt.TxID != got[i].Receipt.TxID) {
			t.Fatalf("repeat of event %d: %+v", i, r)
		}
	}

	// Input that cannot be split stops the stream with the chunks before
	// it published.
	var n int
	sum, err := c.PublishStream(context.Background(), "shenzhen", strings.NewReader(`[`+string(event("T0"))+`,`+string(event("T1"))+`,{"a":`),
		client.StreamOptions{Chunk: 1}, func(client.Result) error { n++; return nil })
	if !errors.Is(err, api.ErrSyntax) || sum.Events != 2 || n != 2 {
		t.Fatalf("truncated input: %v, %+v, %d results", err, sum, n)
	}
}

// TestPublishFillsSkippedEvents: when the gateway stops processing a
// request after too many failures, the client still returns one result
// per event, the unprocessed ones with the gateway's reason.
func TestPublishFillsSkippedEvents(t *testing.T) {
	hs := newGateway(t, gateway.Config{MaxFailures: 2})
	c := client.New(hs.URL, nil)
	events := []json.RawMessage{event("K0"), json.RawMessage(`{}`), json.RawMessage(`{}`), event("K3"), event("K4")}
	res, err := c.Publish(context.Background(), "shenzhen", events, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 || res[0].Receipt == nil || res[1].Error == nil || res[2].Error == nil {
		t.Fatalf("%+v", res)
	}
	for i := 3; i < 5; i++ {
		if res[i].Index != i || res[i].Error == nil || res[i].Error.Code != api.CodeTooManyFailures {
			t.Fatalf("result %d: %+v", i, res[i])
		}
	}
}
