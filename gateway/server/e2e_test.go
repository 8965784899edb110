package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/outbox"
	"github.com/baybus/baybus/gateway/server"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// startOrderers runs four real orderers on an embedded bus listening on
// loopback (the gateways of `up` are not used).
func startOrderers(t *testing.T) *system.System {
	t.Helper()
	if testing.Short() {
		t.Skip("starts four orderers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Rules version 2 by name: the tests publish and read records that
	// name persons in plaintext (version 3, the default, holds digests).
	sys, err := system.Start(ctx, system.Config{DataDir: filepath.Join(t.TempDir(), "data"), Listen: "-", NATSListen: "127.0.0.1:-1",
		Orderers: 4, Rules: block.Rules2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Stop)
	return sys
}

func bridges(j schemas.Jurisdiction) gateway.Bridge { return bridge.For(j) }

// TestStandaloneGatewayWithTheLedger: issue 12 §6. A gateway in its own
// process space, against the orderers' bus, gives what `up` gives: a
// wait=commit receipt with height and block, /v1/tx answering committed,
// and a fresh proof that verifies offline with nothing but trust.json.
func TestStandaloneGatewayWithTheLedger(t *testing.T) {
	sys := startOrderers(t)
	dir := sys.Config().DataDir
	clients, err := auth.EnsureDevTokens(dir, []string{"shenzhen", "guangzhou"}, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Three named readers: a Hong Kong bank granted mainland business
	// licenses, a Macao notary granted Hong Kong's only, a mainland court
	// granted mainland business licenses with their personal fields.
	trustPath := filepath.Join(dir, keys.TrustFile)
	trust, err := keys.LoadBundle(trustPath)
	if err != nil {
		t.Fatal(err)
	}
	readerTokens := map[string]string{}
	tokens, err := auth.OpenTokens(auth.TokenPath(dir), auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for name, grants := range map[string][]string{"hk-bank": {"CN.business"}, "mo-notary": {"HK.*"}, "cn-court": {"CN.business.personal"}} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		rk, err := keys.NewReaderKeys(name, pub, grants, keys.Ed25519, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if trust, err = trust.WithReader(rk, 0); err != nil {
			t.Fatal(err)
		}
		if readerTokens[name], _, err = tokens.IssueReader(name, time.Hour, ""); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := trust.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteFileAtomic(trustPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	s := start(t, server.Config{Consortium: dir, NATS: sys.Bus.ClientURL(), Cities: []string{"shenzhen"}, Listen: "127.0.0.1:0",
		Node: "gw-e2e", Logger: quiet, Gateway: gateway.Config{Bridges: bridges}})
	tok, err := client.Token(filepath.Join(clients, "shenzhen.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.URL(), nil, client.WithToken(tok))
	city, _ := schemas.LookupCity("shenzhen")
	natives, err := bridge.Sample(city, schemas.KindBusiness, 3, 11)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]json.RawMessage, len(natives))
	for i, n := range natives {
		events[i] = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := c.Publish(ctx, "shenzhen", events, client.Options{Native: true, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Error != nil || r.Receipt == nil || r.Status != api.StatusCommitted || r.Height == 0 || r.BlockHash == "" {
			t.Fatalf("event %d: %+v %+v", i, r.Receipt, r.Error)
		}
	}
	got, err := c.Tx(ctx, res[0].TxID)
	if err != nil || got.Status != api.StatusCommitted || got.Height != res[0].Height {
		t.Fatalf("GET /v1/tx: %+v %v", got, err)
	}
	var native map[string]any
	if err := json.Unmarshal(natives[0], &native); err != nil {
		t.Fatal(err)
	}
	uscc, _ := native["统一社会信用代码"].(string)
	fetch := func(token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+api.ProofPath("CN", uscc), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	code, body := fetch(tok)
	if code != http.StatusOK {
		t.Fatalf("proof of CN/%s: %d %s", uscc, code, body)
	}
	b, err := proof.DecodeJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proof.Verify(trust, b); err != nil {
		t.Fatalf("the proof does not verify offline: %v", err)
	}
	// Who else may read it: only a reader with a personal grant. This
	// chain is of rules version 2, so the record holds its legal
	// representative's name and identity number in plaintext, which a
	// proof cannot leave out (issue 14 §4): not a reader whose grant
	// covers business registrations without their personal fields, nor a
	// reader granted another jurisdiction, nor another city.
	gz, err := client.Token(filepath.Join(clients, "guangzhou.token"))
	if err != nil {
		t.Fatal(err)
	}
	for who, tc := range map[string]struct {
		token string
		want  int
		says  string
	}{"hk-bank": {readerTokens["hk-bank"], 403, "personal fields in plaintext"}, "mo-notary": {readerTokens["mo-notary"], 403, "do not cover"},
		"guangzhou": {gz, 403, "shenzhen"}, "cn-court": {readerTokens["cn-court"], 200, `"key": "CN/` + uscc}} {
		if code, body := fetch(tc.token); code != tc.want || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s reading CN/%s: %d %s, want %d saying %q", who, uscc, code, body, tc.want, tc.says)
		}
	}
	if rd, err := c.Ready(ctx); err != nil || rd.Status != "ready" || rd.Node != "gw-e2e" || rd.Chain != trust.Chain {
		t.Fatalf("readiness %+v %v", rd, err)
	}
}

// TestDefaultBacklogIsTwoBlocks keeps the standalone gateway's backlog
// limit at two blocks' worth of the orderers' default block size.
func TestDefaultBacklogIsTwoBlocks(t *testing.T) {
	if server.DefaultMaxBacklog != 2*node.DefaultBlockMaxBatches {
		t.Fatalf("DefaultMaxBacklog %d, orderers' blocks of %d batches", server.DefaultMaxBacklog, node.DefaultBlockMaxBatches)
	}
}

// losingPublisher acknowledges every publish while lose is set without
// storing it: a bus that lost acknowledged writes in a crash.
type losingPublisher struct {
	next gateway.Publisher
	lose atomic.Bool
	lost atomic.Int64
}

func (p *losingPublisher) Publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error) {
	if p.lose.Load() {
		n := p.lost.Add(1)
		return &jetstream.PubAck{Stream: bus.StreamTx, Sequence: 1 << 40 / uint64(n)}, nil
	}
	return p.next.Publish(ctx, subject, msgID, data)
}

// TestLostBatchesAreSealedOnce: issue 13 §3 with real orderers. The bus
// acknowledges batches and loses them; the gateway's outbox kept them; a
// new gateway on that outbox (after a restart) publishes them again and
// every accepted transaction is sealed, exactly once on the chain.
func TestLostBatchesAreSealedOnce(t *testing.T) {
	sys := startOrderers(t)
	cons := sys.Consortium
	nc, err := sys.Bus.Connect(bus.IdentityName(bus.RoleCity, "macao"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	real, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := outbox.Open(dir, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lossy := &losingPublisher{next: real}
	first := gateway.New(gateway.Config{Chain: cons.Bundle.Chain, Ledger: sys.Ledger, Outbox: store, RepublishAfter: time.Hour,
		Bridges: bridges, Logger: quiet})
	if err := first.AddCity("macao", cons.Cities["macao"], lossy); err != nil {
		t.Fatal(err)
	}
	city, _ := schemas.LookupCity("macao")
	natives, err := bridge.Sample(city, schemas.KindBusiness, 6, 5)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(gw *gateway.Gateway, raw []byte) *api.Receipt {
		t.Helper()
		out, gerr := gw.Submit(context.Background(), "macao", []gateway.Input{{Raw: raw, Native: true}}, false)
		if gerr != nil || out[0].Err != nil {
			t.Fatalf("%v %+v", gerr, out[0].Err)
		}
		return out[0].Receipt
	}
	// Three batches the bus keeps, then three it acknowledges and loses.
	var receipts []*api.Receipt
	for i, n := range natives {
		lossy.lose.Store(i >= 3)
		receipts = append(receipts, submit(first, n))
	}
	if lossy.lost.Load() != 3 {
		t.Fatalf("%d batches lost", lossy.lost.Load())
	}
	// The gateway stops before the lost ones are sealed (RepublishAfter is
	// an hour), as in a crash of both.
	first.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if store, err = outbox.Open(dir, outbox.Config{}); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if n := store.Stats().Batches; n < 3 {
		t.Fatalf("%d batches kept across the restart, want the 3 lost at least", n)
	}
	second := gateway.New(gateway.Config{Chain: cons.Bundle.Chain, Ledger: sys.Ledger, Outbox: store, RepublishAfter: time.Hour,
		Bridges: bridges, Logger: quiet})
	defer second.Close()
	if err := second.AddCity("macao", cons.Cities["macao"], real); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	want := map[schemas.TxID]bool{}
	for _, r := range receipts {
		id, _ := schemas.ParseID(r.TxID)
		want[id] = true
		loc, err := sys.Ledger.WaitTx(ctx, id)
		if err != nil {
			t.Fatalf("accepted transaction %s never sealed: %v", r.TxID, err)
		}
		if loc.Result != "ok" {
			t.Fatalf("transaction %s sealed as %s", r.TxID, loc.Result)
		}
	}
	// Exactly once: each accepted transaction is "ok" in one block and
	// nowhere else (a copy would be "duplicate").
	seen := countOnChain(t, ctx, sys.Ledger, want)
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("transaction %s appears %d times on the chain", schemas.FormatID(id), seen[id])
		}
	}
	waitFor(t, func() bool { return store.Stats().Batches == 0 })
}

// countOnChain counts, over the whole chain, the blocks holding each of
// the wanted transactions, whatever their result.
func countOnChain(t *testing.T, ctx context.Context, led *query.Client, want map[schemas.TxID]bool) map[schemas.TxID]int {
	t.Helper()
	var height uint64
	for _, st := range led.Statuses(ctx, 5*time.Second) {
		if st != nil {
			height = max(height, st.Height)
		}
	}
	seen := map[schemas.TxID]int{}
	for h := uint64(1); h <= height; h++ {
		for from := 0; ; {
			pg, err := led.Block(ctx, h, from, 1000)
			if err != nil {
				t.Fatalf("block %d: %v", h, err)
			}
			for _, tx := range pg.Txs {
				if want[tx.ID] {
					seen[tx.ID]++
					if tx.Result != block.OK && tx.Result != block.Duplicate {
						t.Errorf("transaction %s at height %d: %s", schemas.FormatID(tx.ID), h, tx.Result)
					}
				}
			}
			if len(pg.Txs) == 0 || pg.Next >= len(pg.Results) {
				break
			}
			from = pg.Next
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d of %d transactions on the chain up to height %d", len(seen), len(want), height)
	}
	return seen
}
