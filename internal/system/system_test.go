package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// event is city's i-th business registration, its number valid by its
// jurisdiction's check rules (the ledger's rules check them).
func event(city string, i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"eventId":"%s-%d","kind":"business_registration","action":"issue","occurredAt":"2026-03-01T08:00:00Z",
"record":{"id":"%s","name":{"en":"Co %d"},"authority":{"en":"Registry"},"issuedOn":"2026-03-01","establishedOn":"2019-03-01","address":{"en":"1 Road"},"scope":{"en":"trade"}}}`,
		city, i, blocktest.BusinessID(city, i), i))
}

func start(t *testing.T, dir string) *system.System {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "-", Orderers: 4,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return sys
}

// cityClient is a gateway client with city's development token.
func cityClient(t *testing.T, sys *system.System, city string) *client.Client {
	t.Helper()
	tok, err := sys.Token(city)
	if err != nil || tok == "" {
		t.Fatalf("the development token of %s: %q %v", city, tok, err)
	}
	return client.New("http://"+sys.HTTPAddr, nil, client.WithToken(tok))
}

// TestUpCommitsEveryCityAndRestarts is the run command's path: all eleven
// cities publish over HTTP, every event is sealed, the orderers agree, and a
// restart on the same data directory keeps the chain and goes on.
func TestUpCommitsEveryCityAndRestarts(t *testing.T) {
	dir := t.TempDir()
	sys := start(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, city := range schemas.CityTokens() {
		res, err := cityClient(t, sys, city).Publish(ctx, city, []json.RawMessage{event(city, 1), event(city, 2)}, client.Options{Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Error != nil || r.Receipt.Status != "committed" || r.Height == 0 {
				t.Fatalf("%s: %+v %+v", city, r.Receipt, r.Error)
			}
		}
	}
	h := sys.Nodes[0].Height()
	for _, n := range sys.Nodes {
		if err := n.WaitHeight(ctx, h); err != nil {
			t.Fatal(err)
		}
		hdr, err := n.Store().Header(h)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := sys.Nodes[0].Store().Header(h)
		if hdr.Hash() != want.Hash() {
			t.Fatalf("%s holds another block at height %d", n.Name(), h)
		}
	}
	waitTxDrained(ctx, t, sys)
	sys.Stop()

	sys = start(t, dir)
	defer sys.Stop()
	if got := sys.Nodes[0].Height(); got < h {
		t.Fatalf("height after restart %d, want at least %d", got, h)
	}
	res, err := cityClient(t, sys, "macao").Publish(ctx, "macao", []json.RawMessage{event("macao", 3), event("macao", 1)}, client.Options{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Error != nil || res[0].Height <= h {
		t.Fatalf("after restart: %+v %+v", res[0].Receipt, res[0].Error)
	}
	if res[1].Error != nil || res[1].Height > h {
		t.Fatalf("an event committed before the restart was sealed again: %+v %+v", res[1].Receipt, res[1].Error)
	}
}

// waitTxDrained waits until GBA_TX holds no batch: with the orderers'
// consumers made with the stream (interest retention), a batch leaves it
// once every orderer has sealed and acknowledged it.
func waitTxDrained(ctx context.Context, t *testing.T, sys *system.System) {
	t.Helper()
	nc, err := sys.Bus.Connect(bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, bus.StreamTx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatalf("GBA_TX: %v", err)
		}
		if info.Config.Retention != jetstream.InterestPolicy {
			t.Fatalf("GBA_TX retention %v, want interest", info.Config.Retention)
		}
		if info.State.Msgs == 0 && info.State.LastSeq > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GBA_TX still holds %d of %d batches after every block was sealed", info.State.Msgs, info.State.LastSeq)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestWaitCommitReportsARefusedTransaction: a status change on a license
// the ledger never saw is sealed as "rejected", and wait=commit says so
// instead of "committed".
func TestWaitCommitReportsARefusedTransaction(t *testing.T) {
	sys := start(t, t.TempDir())
	defer sys.Stop()
	c := cityClient(t, sys, "zhuhai")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suspend := json.RawMessage(`{"eventId":"s-1","kind":"business_registration","action":"suspend","reason":"inspection","occurredAt":"2026-03-01T08:00:00Z","record":{"id":"NEVER1"}}`)
	res, err := c.Publish(ctx, "zhuhai", []json.RawMessage{suspend, event("zhuhai", 9)}, client.Options{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Error == nil || res[0].Error.Code != "ledger_rejected" || res[0].Receipt != nil {
		t.Fatalf("suspending an unknown license: %+v %+v, want ledger_rejected", res[0].Receipt, res[0].Error)
	}
	if res[1].Error != nil || res[1].Receipt.Status != "committed" || res[1].Receipt.Result != "ok" {
		t.Fatalf("the valid event beside it: %+v %+v", res[1].Receipt, res[1].Error)
	}
}

// TestUpAuthenticates: the gateways of `up` need a credential by default;
// each city's development token publishes for that city only; NoAuth (on
// loopback) serves without one.
func TestUpAuthenticates(t *testing.T) {
	sys := start(t, t.TempDir())
	defer sys.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := []json.RawMessage{event("huizhou", 1)}
	var apiErr *client.APIError
	if _, err := client.New("http://"+sys.HTTPAddr, nil).Publish(ctx, "huizhou", ev, client.Options{}); !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("no token: %v, want 401", err)
	}
	tok, _ := sys.Token("shenzhen")
	if _, err := client.New("http://"+sys.HTTPAddr, nil, client.WithToken(tok)).Publish(ctx, "huizhou", ev, client.Options{}); !errors.As(err, &apiErr) || apiErr.Status != 403 {
		t.Fatalf("another city's token: %v, want 403", err)
	}
	if res, err := cityClient(t, sys, "huizhou").Publish(ctx, "huizhou", ev, client.Options{}); err != nil || res[0].Error != nil {
		t.Fatalf("the city's own token: %v %+v", err, res)
	}
	resp, err := http.Get("http://" + sys.HTTPAddr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz without a token: %v %v", resp, err)
	}
	resp.Body.Close()
	sys.Stop()

	open, err := system.Start(ctx, system.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", NATSListen: "-", Orderers: 4, NoAuth: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Stop()
	if tok, err := open.Token("huizhou"); tok != "" || err != nil {
		t.Errorf("a token without auth: %q %v", tok, err)
	}
	if res, err := client.New("http://"+open.HTTPAddr, nil).Publish(ctx, "huizhou", ev, client.Options{}); err != nil || res[0].Error != nil {
		t.Fatalf("NoAuth: %v %+v", err, res)
	}
}

// TestRestartOneOrderer: the proof orderer stopped and started again (as
// bench measures recovery) opens its node anew, registers its metrics
// again, and catches up with what was sealed while it was down.
func TestRestartOneOrderer(t *testing.T) {
	sys := start(t, t.TempDir())
	defer sys.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := cityClient(t, sys, "jiangmen")
	last := len(sys.Nodes) - 1
	sys.StopOrderer(last)
	if _, err := c.Publish(ctx, "jiangmen", []json.RawMessage{event("jiangmen", 1)}, client.Options{Wait: true}); err != nil {
		t.Fatal(err)
	}
	h := sys.Node(0).Height()
	if err := sys.StartOrderer(last); err != nil {
		t.Fatal(err)
	}
	if err := sys.Node(last).WaitHeight(ctx, h); err != nil {
		t.Fatalf("the restarted orderer did not catch up to %d: %v", h, err)
	}
	if got := gauge(t, sys, "baybus_orderer_height", sys.Node(last).Name()); got < float64(h) {
		t.Fatalf("the restarted orderer's height metric %v, want %d", got, h)
	}
	if _, err := c.Publish(ctx, "jiangmen", []json.RawMessage{event("jiangmen", 2)}, client.Options{Wait: true}); err != nil {
		t.Fatal(err)
	}
}

// gauge reads a gauge of orderer name from the system's registry.
func gauge(t *testing.T, sys *system.System, metric, name string) float64 {
	t.Helper()
	mfs, err := sys.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "orderer" && l.GetValue() == name {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s of %s", metric, name)
	return 0
}
