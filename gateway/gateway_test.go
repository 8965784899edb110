package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

const chain = "gba-test"

// quiet drops the gateways' logs (each warns that it serves without
// authentication).
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var orderers = []string{"hongkong", "macao", "qianhai", "hengqin"}

type env struct {
	srv  *natsserver.Embedded
	cons *keys.Consortium
	gw   *gateway.Gateway
	http *httptest.Server
}

func newEnv(t *testing.T, cfg gateway.Config) *env {
	t.Helper()
	ids, err := bus.NewIdentities(schemas.CityTokens(), orderers)
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, ids, natstest.Options{})
	cons, err := keys.NewConsortium(chain, schemas.CityTokens(), orderers, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Chain = chain
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	gw := gateway.New(cfg)
	for _, city := range schemas.CityTokens() {
		nc, err := srv.Connect(bus.IdentityName(bus.RoleCity, city))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		pub, err := bus.NewPublisher(nc)
		if err != nil {
			t.Fatal(err)
		}
		if err := gw.AddCity(city, cons.Cities[city], pub); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(gw.Close)
	return &env{srv: srv, cons: cons, gw: gw, http: hs}
}

func event(id string) map[string]any {
	return map[string]any{
		"eventId": "ev-" + id, "kind": "business_registration", "action": "issue", "occurredAt": "2026-03-01T08:00:00Z",
		"record": map[string]any{
			"id": id, "name": map[string]string{"zh-Hans": "深圳测试有限公司"}, "authority": map[string]string{"zh-Hans": "深圳市市场监督管理局"},
			"issuedOn": "2026-03-01", "establishedOn": "2019-03-01", "address": map[string]string{"zh-Hans": "深圳市南山区"},
			"scope": map[string]string{"zh-Hans": "软件开发"}, "capital": map[string]string{"amount": "1000000.00", "currency": "CNY"},
		},
	}
}

func post(t *testing.T, url, ctype string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON: %s", raw)
	}
	return resp.StatusCode, resp.Header, out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// storedBatches reads every batch in GBA_TX and verifies it.
func storedBatches(t *testing.T, e *env) []*schemas.Batch {
	t.Helper()
	nc, _ := e.srv.Connect("operator")
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamTx)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	var out []*schemas.Batch
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		b, err := schemas.DecodeBatch(msg.Data)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if err := schemas.VerifyBatch(b, e.cons.Bundle, 0); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if msg.Subject != "gba.tx."+b.City {
			t.Fatalf("batch of %s on subject %s", b.City, msg.Subject)
		}
		if msg.Header.Get(jetstream.MsgIDHeader) != b.ID() {
			t.Fatalf("Nats-Msg-Id %q, batch id %q", msg.Header.Get(jetstream.MsgIDHeader), b.ID())
		}
		out = append(out, b)
	}
	return out
}

func TestAllElevenCitiesPublishSignedBatches(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	receipts := map[string]string{} // txId -> city
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, city := range schemas.CityTokens() {
		for i := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, body := post(t, e.http.URL+"/v1/cities/"+city+"/events", "application/json", mustJSON(event(fmt.Sprintf("%s-%d", city, i))))
				if code != http.StatusAccepted {
					t.Errorf("%s: status %d %v", city, code, body)
					return
				}
				if body["stream"] != "GBA_TX" || body["status"] != "accepted" || body["duplicate"] != false {
					t.Errorf("receipt %v", body)
				}
				mu.Lock()
				receipts[body["txId"].(string)] = city
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if len(receipts) != 55 {
		t.Fatalf("%d distinct receipts, want 55", len(receipts))
	}
	seen := 0
	for _, b := range storedBatches(t, e) {
		for i, raw := range b.Txs {
			path, err := merkle.Inclusion(b.IDs, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := merkle.VerifyInclusion(b.IDs[i], uint64(i), uint64(len(b.IDs)), path, b.Root); err != nil {
				t.Fatalf("tx path does not verify against the signed root: %v", err)
			}
			tx, err := schemas.DecodeTx(raw)
			if err != nil {
				t.Fatal(err)
			}
			if city := receipts[schemas.FormatID(b.IDs[i])]; city != tx.City || city != b.City {
				t.Fatalf("tx %x of %s in batch of %s, receipt says %s", b.IDs[i], tx.City, b.City, city)
			}
			seen++
		}
	}
	if seen != 55 {
		t.Fatalf("%d transactions stored, want 55", seen)
	}
}

func TestRetryIsRecordedOnce(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	url := e.http.URL + "/v1/cities/shenzhen/events"
	_, _, first := post(t, url, "application/json", mustJSON(event("R1")))
	code, _, second := post(t, url, "application/json", mustJSON(event("R1")))
	if code != http.StatusAccepted || second["txId"] != first["txId"] || second["duplicate"] != true || second["batchId"] != first["batchId"] ||
		second["seq"] != first["seq"] || second["stream"] != first["stream"] {
		t.Fatalf("retry: %d %v, first %v", code, second, first)
	}
	n := 0
	for _, b := range storedBatches(t, e) {
		n += len(b.Txs)
	}
	if n != 1 {
		t.Fatalf("%d transactions stored, want 1", n)
	}
	// GET /v1/tx knows the pending transaction.
	resp, err := http.Get(e.http.URL + "/v1/tx/" + first["txId"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	json.NewDecoder(resp.Body).Decode(&rec)
	resp.Body.Close()
	if resp.StatusCode != 200 || rec["status"] != "pending" {
		t.Fatalf("GET tx: %d %v", resp.StatusCode, rec)
	}
}

func TestBulkJSONArrayAndJSONL(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	url := e.http.URL + "/v1/cities/hongkong/events"
	arr := mustJSON([]any{event("B1"), event("B2"), map[string]any{"eventId": "x"}})
	code, _, body := post(t, url, "application/json", arr)
	if code != http.StatusMultiStatus || body["accepted"] != 2.0 || body["failed"] != 1.0 {
		t.Fatalf("array: %d %v", code, body)
	}
	bad := body["results"].([]any)[2].(map[string]any)["error"].(map[string]any)
	if bad["code"] != "invalid" || bad["field"] == "" {
		t.Fatalf("bad item error %v", bad)
	}
	var lines bytes.Buffer
	for i := range 3 {
		lines.Write(mustJSON(event(fmt.Sprintf("L%d", i))))
		lines.WriteString("\n\n")
	}
	code, _, body = post(t, url, "application/jsonl", lines.Bytes())
	if code != http.StatusAccepted || body["accepted"] != 3.0 {
		t.Fatalf("jsonl: %d %v", code, body)
	}
	// A malformed line fails alone, as invalid_json saying where.
	lines.Reset()
	lines.Write(mustJSON(event("M1")))
	lines.WriteString("\n{\"eventId\": \"M2\",\n")
	code, _, body = post(t, url, "application/jsonl", lines.Bytes())
	if code != http.StatusMultiStatus || body["accepted"] != 1.0 || body["failed"] != 1.0 {
		t.Fatalf("jsonl with a malformed line: %d %v", code, body)
	}
	bad = body["results"].([]any)[1].(map[string]any)["error"].(map[string]any)
	if bad["code"] != "invalid_json" || !strings.Contains(bad["message"].(string), "malformed JSON") {
		t.Fatalf("malformed line error %v", bad)
	}
}

func TestRejections(t *testing.T) {
	e := newEnv(t, gateway.Config{MaxBodyBytes: 4096, MaxEventBytes: 2048})
	url := e.http.URL + "/v1/cities/macao/events"
	noID := event("X")
	delete(noID["record"].(map[string]any), "id")
	badDate := event("X2")
	badDate["record"].(map[string]any)["issuedOn"] = "2026-13-01"
	float := event("X3")
	float["record"].(map[string]any)["capital"] = map[string]any{"amount": 12.5, "currency": "CNY"}
	big := event("X4")
	big["record"].(map[string]any)["scope"] = map[string]string{"en": strings.Repeat("x", 1900)}
	for _, tc := range []struct {
		name, url, ctype string
		body             []byte
		status           int
		code, field      string
	}{
		{"malformed JSON", url, "application/json", []byte(`{"eventId":`), 400, "invalid_json", ""},
		{"missing record id", url, "application/json", mustJSON(noID), 400, "invalid", "record.id"},
		{"bad date", url, "application/json", mustJSON(badDate), 400, "invalid", "record.issuedOn"},
		{"float amount", url, "application/json", mustJSON(float), 400, "invalid", "record.capital.amount"},
		{"unknown city", e.http.URL + "/v1/cities/taipei/events", "application/json", mustJSON(event("X")), 404, "unknown_city", "city"},
		{"wrong content type", url, "text/plain", mustJSON(event("X")), 415, "unsupported_media_type", ""},
		{"oversize body", url, "application/json", bytes.Repeat([]byte(" "), 5000), 413, "too_large", ""},
		{"oversize event", url, "application/json", mustJSON(big), 413, "too_large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := post(t, tc.url, tc.ctype, tc.body)
			errObj, _ := body["error"].(map[string]any)
			if code != tc.status || errObj == nil || errObj["code"] != tc.code {
				t.Fatalf("status %d body %v, want %d %s", code, body, tc.status, tc.code)
			}
			if tc.field != "" && errObj["field"] != tc.field {
				t.Fatalf("field %v, want %s (error %v)", errObj["field"], tc.field, errObj)
			}
			if errObj["message"] == "" {
				t.Fatal("no message")
			}
		})
	}
	if n := len(storedBatches(t, e)); n != 0 {
		t.Fatalf("%d batches stored from rejected input", n)
	}
}

func TestPublishToAnotherCityIsAPermissionError(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	// A "macao" gateway wrongly given Shenzhen's bus identity: the bus refuses.
	gw := gateway.New(gateway.Config{Chain: chain})
	defer gw.Close()
	nc, err := e.srv.Connect("city-shenzhen")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, _ := bus.NewPublisher(nc)
	if err := gw.AddCity("macao", e.cons.Cities["macao"], pub); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, gerr := gw.Submit(context.Background(), "macao", []gateway.Input{{Raw: mustJSON(event("P1"))}}, false)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if out[0].Err == nil || out[0].Err.Code != "permission_denied" || out[0].Err.Status != http.StatusForbidden {
		t.Fatalf("outcome %+v, want permission_denied", out[0])
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v, want under a second", d)
	}
	if n := len(storedBatches(t, e)); n != 0 {
		t.Fatalf("%d batches stored", n)
	}
}

// blockingPublisher holds every publish until released: fault injection
// for backpressure.
type blockingPublisher struct{ release chan struct{} }

func (b *blockingPublisher) Publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error) {
	select {
	case <-b.release:
		return &jetstream.PubAck{Stream: "GBA_TX", Sequence: 1}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestBackpressure(t *testing.T) {
	cons, _ := keys.NewConsortium(chain, schemas.CityTokens(), orderers, keys.Ed25519, rand.Reader)
	gw := gateway.New(gateway.Config{Logger: quiet, Chain: chain, Batch: gateway.BatchConfig{MaxTxs: 1, MaxInFlight: 1, QueueSize: 2}})
	bp := &blockingPublisher{release: make(chan struct{})}
	if err := gw.AddCity("zhuhai", cons.Cities["zhuhai"], bp); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	var lines bytes.Buffer
	for i := range 20 {
		lines.Write(mustJSON(event(fmt.Sprintf("Q%d", i))))
		lines.WriteByte('\n')
	}
	done := make(chan struct{})
	var code int
	var hdr http.Header
	var body map[string]any
	go func() {
		defer close(done)
		code, hdr, body = post(t, hs.URL+"/v1/cities/zhuhai/events", "application/jsonl", lines.Bytes())
	}()
	time.Sleep(200 * time.Millisecond) // let the queue fill; the answer does not depend on this timing
	close(bp.release)
	<-done
	gw.Close()
	if code != http.StatusMultiStatus || hdr.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q, want 207 with Retry-After", code, hdr.Get("Retry-After"))
	}
	refused := 0
	for _, r := range body["results"].([]any) {
		if e, ok := r.(map[string]any)["error"].(map[string]any); ok {
			if e["code"] != "backpressure" {
				t.Fatalf("error %v", e)
			}
			refused++
		}
	}
	if refused == 0 || refused == 20 {
		t.Fatalf("%d of 20 refused: want some accepted and some refused", refused)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	e := newEnv(t, gateway.Config{Ready: func(ctx context.Context) error {
		if down.Load() {
			return errors.New("bus connection down")
		}
		return nil
	}})
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || body["error"].(map[string]any)["code"] != "not_ready" {
		t.Fatalf("readyz with the bus down: %d %v", code, body)
	}
	down.Store(false)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
}

// progressLedger is a ledger that seals nothing and reports a settable
// stream sequence as sealed: fault injection for admission control.
type progressLedger struct{ sealed atomic.Uint64 }

func (l *progressLedger) Lookup(context.Context, schemas.TxID) (gateway.Location, bool, error) {
	return gateway.Location{}, false, nil
}
func (l *progressLedger) LatestProof(context.Context, string) (*proof.Bundle, error) {
	return nil, proof.ErrNotFound
}
func (l *progressLedger) WaitTx(ctx context.Context, _ schemas.TxID) (gateway.Location, error) {
	<-ctx.Done()
	return gateway.Location{}, ctx.Err()
}
func (l *progressLedger) SealedSeq() uint64 { return l.sealed.Load() }

// TestLedgerBacklogHoldsThenRefuses: with more than MaxBacklog batches on
// the bus unsealed, a request is held; it goes through once the ledger
// catches up, and is refused with 429 ledger_backlog (nothing stored) if it
// does not within BacklogWait.
func TestLedgerBacklogHoldsThenRefuses(t *testing.T) {
	led := &progressLedger{}
	e := newEnv(t, gateway.Config{Ledger: led, MaxBacklog: 1, BacklogWait: 1500 * time.Millisecond})
	url := e.http.URL + "/v1/cities/shenzhen/events"
	for i := range 3 { // nothing sealed yet: no measure, all admitted
		if code, _, body := post(t, url, "application/json", mustJSON(event(fmt.Sprintf("L%d", i)))); code != http.StatusAccepted {
			t.Fatalf("event %d: %d %v", i, code, body)
		}
	}
	led.sealed.Store(1) // three stored, one sealed: two behind, limit one
	code, hdr, body := post(t, url, "application/json", mustJSON(event("L3")))
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("behind the limit: %d (Retry-After %q) %v, want 429", code, hdr.Get("Retry-After"), body)
	}
	if e, _ := body["error"].(map[string]any); e["code"] != "ledger_backlog" {
		t.Fatalf("error %v, want ledger_backlog", body)
	}
	if n := len(storedBatches(t, e)); n != 3 {
		t.Fatalf("%d batches stored, want the 3 admitted", n)
	}

	done := make(chan int, 1)
	go func() {
		code, _, _ := post(t, url, "application/json", mustJSON(event("L4")))
		done <- code
	}()
	select {
	case code := <-done:
		t.Fatalf("answered %d while still behind", code)
	case <-time.After(100 * time.Millisecond):
	}
	led.sealed.Store(3) // caught up: the held request goes through
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("after catching up: %d, want 202", code)
	}
}
