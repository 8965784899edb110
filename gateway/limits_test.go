package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// TestNoLiteralErrorCodes: the gateway answers only the codes of
// gateway/api (which the README's table is checked against): no error is
// built with a code spelled out.
func TestNoLiteralErrorCodes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Code" {
				if _, lit := kv.Value.(*ast.BasicLit); lit {
					t.Errorf("%s: an error code spelled out; use a gateway/api constant", fset.Position(kv.Pos()))
				}
			}
			return true
		})
	}
}

// raw posts and returns the status and the answer's bytes.
func raw(t *testing.T, url, ctype string, body io.Reader) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func storedTxs(t *testing.T, e *env) int {
	n := 0
	for _, b := range storedBatches(t, e) {
		n += len(b.Txs)
	}
	return n
}

// TestGarbageBulkCostsLittle reproduces issue 13's 16 MiB body of
// [{},{},…] (247 s of server time, a 659 MB answer) at a smaller size:
// past MaxEvents the request is refused whole at once, and within it the
// request stops after MaxFailures failures, so the answer's size is
// bounded by what was accepted plus MaxFailures errors.
func TestGarbageBulkCostsLittle(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	url := e.http.URL + "/v1/cities/shenzhen/events"
	garbage := func(n int) []byte {
		return append(append([]byte("["), bytes.Repeat([]byte("{},"), n-1)...), "{}]"...)
	}

	// 1 MiB of [{},…]: 350,000 events, far over the 10,000 limit.
	code, body := raw(t, url, api.MediaJSON, bytes.NewReader(garbage(350_000)))
	if code != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte(api.CodeTooManyEvents)) || len(body) > 1024 {
		t.Fatalf("350,000 events: %d, %d bytes: %.300s", code, len(body), body)
	}

	// 9,000 events, all failing: 100 errors, the rest skipped.
	code, body = raw(t, url, api.MediaJSON, bytes.NewReader(garbage(9_000)))
	var bulk api.Bulk
	if err := json.Unmarshal(body, &bulk); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusMultiStatus || bulk.Accepted != 0 || bulk.Failed != gateway.DefaultMaxFailures ||
		bulk.Skipped != 9_000-gateway.DefaultMaxFailures || bulk.Stopped == nil || bulk.Stopped.Code != api.CodeTooManyFailures {
		t.Fatalf("9,000 failing events: %d accepted %d failed %d skipped %d stopped %+v", code, bulk.Accepted, bulk.Failed, bulk.Skipped, bulk.Stopped)
	}
	// Each error is at most ~1 KiB (message clipped at 512 bytes).
	if limit := gateway.DefaultMaxFailures * 1024; len(body) > limit {
		t.Fatalf("answer of %d bytes for %d failures, want at most %d", len(body), bulk.Failed, limit)
	}

	// Valid events before the failures are accepted; those after the stop
	// are not processed, and nothing of them is stored.
	var in bytes.Buffer
	for i := range 20 {
		in.Write(mustJSON(event(fmt.Sprintf("OK%d", i))))
		in.WriteByte('\n')
	}
	for range 150 {
		in.WriteString("{}\n")
	}
	for i := range 20 {
		in.Write(mustJSON(event(fmt.Sprintf("LATE%d", i))))
		in.WriteByte('\n')
	}
	code, body = raw(t, url, api.MediaJSONL, &in)
	bulk = api.Bulk{}
	if err := json.Unmarshal(body, &bulk); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusMultiStatus || bulk.Accepted != 20 || bulk.Failed != 100 || bulk.Skipped != 70 || len(bulk.Results) != 120 {
		t.Fatalf("mixed: %d accepted %d failed %d skipped %d results %d", code, bulk.Accepted, bulk.Failed, bulk.Skipped, len(bulk.Results))
	}
	if limit := bulk.Accepted*512 + bulk.Failed*1024; len(body) > limit {
		t.Fatalf("answer of %d bytes, want at most %d", len(body), limit)
	}
	if n := storedTxs(t, e); n != 20 {
		t.Fatalf("%d transactions stored, want the 20 valid ones before the stop", n)
	}
}

// TestOversizeEventFailsAlone: in a bulk request, an event over the limit
// is refused by itself (its place kept), and the others go on.
func TestOversizeEventFailsAlone(t *testing.T) {
	e := newEnv(t, gateway.Config{MaxEventBytes: 2048})
	big := event("BIG")
	big["record"].(map[string]any)["scope"] = map[string]string{"en": strings.Repeat("x", 5000)}
	body := mustJSON([]any{event("S1"), big, event("S2")})
	code, out := raw(t, e.http.URL+"/v1/cities/shenzhen/events", api.MediaJSON, bytes.NewReader(body))
	var bulk api.Bulk
	if err := json.Unmarshal(out, &bulk); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusMultiStatus || bulk.Accepted != 2 || len(bulk.Results) != 3 || bulk.Results[1].Error == nil ||
		bulk.Results[1].Error.Code != api.CodeTooLarge || bulk.Results[2].Receipt == nil {
		t.Fatalf("%d %s", code, out)
	}
}

// TestErrorsPointToTheFix: issue 16 §5. A native record posted to the
// canonical endpoint is wrong_format naming ?format=native; a missing
// action is reported as missing action, not as the field a rule would
// require once action is known.
func TestErrorsPointToTheFix(t *testing.T) {
	e := newEnv(t, gateway.Config{Bridges: func(j schemas.Jurisdiction) gateway.Bridge { return bridge.For(j) }})
	sample := func(city string) []byte {
		c, err := schemas.LookupCity(city)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := bridge.Sample(c, "", 1, 7)
		if err != nil {
			t.Fatal(err)
		}
		return evs[0]
	}
	cnNoFormat := map[string]any{}
	if err := json.Unmarshal(sample("shenzhen"), &cnNoFormat); err != nil {
		t.Fatal(err)
	}
	delete(cnNoFormat, "format")
	noAction := event("NA1")
	delete(noAction, "action")
	suspendNoAction := map[string]any{"eventId": "x", "kind": "business_registration", "occurredAt": "2026-03-01T08:00:00Z", "record": map[string]any{"id": "91440304MAWTK5709N"}}
	noReason := event("NR1")
	noReason["action"] = "suspend"
	for _, tc := range []struct {
		name, city  string
		body        []byte
		code, field string
		mention     string
	}{
		{"CN native", "shenzhen", sample("shenzhen"), api.CodeWrongFormat, "format", "?format=native"},
		{"HK native", "hongkong", sample("hongkong"), api.CodeWrongFormat, "format", "--native"},
		{"MO native", "macao", sample("macao"), api.CodeWrongFormat, "format", "?format=native"},
		{"CN native without format", "shenzhen", mustJSON(cnNoFormat), api.CodeWrongFormat, "format", "?format=native"},
		{"missing action", "shenzhen", mustJSON(noAction), api.CodeInvalid, "action", "action"},
		{"status change without action", "shenzhen", mustJSON(suspendNoAction), api.CodeInvalid, "action", "action"},
		{"suspend without reason", "shenzhen", mustJSON(noReason), api.CodeInvalid, "reason", "reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := post(t, e.http.URL+"/v1/cities/"+tc.city+"/events", api.MediaJSON, tc.body)
			er, _ := body["error"].(map[string]any)
			if code != http.StatusBadRequest || er == nil || er["code"] != tc.code || er["field"] != tc.field ||
				!strings.Contains(er["message"].(string), tc.mention) {
				t.Fatalf("%d %v, want %s on %s mentioning %q", code, body, tc.code, tc.field, tc.mention)
			}
		})
	}
	// The same native record with ?format=native is accepted.
	if code, _, body := post(t, e.http.URL+"/v1/cities/hongkong/events?format=native", api.MediaJSON, sample("hongkong")); code != http.StatusAccepted {
		t.Fatalf("native with ?format=native: %d %v", code, body)
	}
}

// TestErrorMessagesAreClipped: a schema rule that quotes the refused value
// does not make the answer grow with it.
func TestErrorMessagesAreClipped(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	ev := event("CLIP")
	ev["kind"] = strings.Repeat("k", 20000)
	code, out := raw(t, e.http.URL+"/v1/cities/shenzhen/events", api.MediaJSON, bytes.NewReader(mustJSON(ev)))
	if code != http.StatusBadRequest || len(out) > 2048 {
		t.Fatalf("%d, %d bytes", code, len(out))
	}
}

// slowBody sends its first part, then waits for release before the rest.
type slowBody struct {
	first   []byte
	rest    []byte
	release chan struct{}
	sent    chan struct{}
	state   int
}

func (s *slowBody) Read(p []byte) (int, error) {
	switch s.state {
	case 0:
		s.state = 1
		n := copy(p, s.first)
		close(s.sent)
		return n, nil
	case 1:
		<-s.release
		s.state = 2
		return copy(p, s.rest), nil
	}
	return 0, io.EOF
}

// TestBulkRequestsAreBounded: with MaxBulkRequests being read, another bulk
// request waits BulkWait and gets 429 backpressure; single events still
// pass; once the turn is free, bulk requests pass again.
func TestBulkRequestsAreBounded(t *testing.T) {
	e := newEnv(t, gateway.Config{MaxBulkRequests: 1, BulkWait: 300 * time.Millisecond})
	url := e.http.URL + "/v1/cities/zhuhai/events"
	slow := &slowBody{first: append(mustJSON(event("SLOW1")), '\n'), rest: append(mustJSON(event("SLOW2")), '\n'),
		release: make(chan struct{}), sent: make(chan struct{})}
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url, slow)
		req.Header.Set("Content-Type", api.MediaJSONL)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-slow.sent
	// The slow request holds the one turn as soon as the gateway saw its
	// first event; poll until a second bulk request is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, body := post(t, url, api.MediaJSONL, append(mustJSON(event("B2")), '\n'))
		if code == http.StatusTooManyRequests {
			if er := body["error"].(map[string]any); er["code"] != api.CodeBackpressure {
				t.Fatalf("refused with %v", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a second bulk request kept passing (%d)", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _, body := post(t, url, api.MediaJSON, mustJSON(event("ONE"))); code != http.StatusAccepted {
		t.Fatalf("a single event while the bulk turn is taken: %d %v", code, body)
	}
	close(slow.release)
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("slow bulk request: %d", code)
	}
	if code, _, body := post(t, url, api.MediaJSONL, append(mustJSON(event("B3")), '\n')); code != http.StatusAccepted {
		t.Fatalf("bulk after the turn was freed: %d %v", code, body)
	}
}

// faultyPublisher fails every publish while failing is set, as a bus that
// cannot write (file descriptors, disk) would: fault injection by
// decoration of the real publisher.
type faultyPublisher struct {
	next    gateway.Publisher
	failing atomic.Bool
	calls   atomic.Int64
}

var errNoSpace = errors.New("nats: insufficient resources")

func (f *faultyPublisher) Publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error) {
	f.calls.Add(1)
	if f.failing.Load() {
		return nil, errNoSpace
	}
	return f.next.Publish(ctx, subject, msgID, data)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestBusWriteFailureShowsAndHeals: a bus that stops storing batches turns
// /readyz to 503 naming the city and sets the failing metric; once it
// stores again the next publish goes through and both recover by
// themselves; a quiet gateway is ready again after FailureHold.
func TestBusWriteFailureShowsAndHeals(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	reg := prometheus.NewRegistry()
	clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	gw := gateway.New(gateway.Config{Logger: quiet, Chain: chain, Registerer: reg, Now: clk.Now, FailureHold: time.Minute, Node: "gw-test"})
	defer gw.Close()
	nc, err := e.srv.Connect(bus.IdentityName(bus.RoleCity, "foshan"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	real, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultyPublisher{next: real}
	if err := gw.AddCity("foshan", e.cons.Cities["foshan"], fp); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	url := hs.URL + "/v1/cities/foshan/events"
	ready := func() (int, api.Readiness) {
		t.Helper()
		resp, err := http.Get(hs.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r api.Readiness
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, r
	}
	failing := func() float64 {
		return gauge(t, reg, "baybus_gateway_bus_write_failing", "foshan")
	}
	if code, r := ready(); code != http.StatusOK || r.Chain != chain || r.Node != "gw-test" || len(r.Cities) != 1 {
		t.Fatalf("ready at start: %d %+v", code, r)
	}

	fp.failing.Store(true)
	code, _, body := post(t, url, api.MediaJSON, mustJSON(event("F1")))
	if code != http.StatusServiceUnavailable || body["error"].(map[string]any)["code"] != api.CodeBusUnavailable {
		t.Fatalf("publish while the bus fails: %d %v", code, body)
	}
	code, r := ready()
	if code != http.StatusServiceUnavailable || r.Status != "not_ready" || len(r.Problems) != 1 ||
		!strings.Contains(r.Problems[0], "foshan") || !strings.Contains(r.Problems[0], "insufficient resources") ||
		r.Error == nil || r.Error.Code != api.CodeNotReady {
		t.Fatalf("readyz while the bus fails: %d %+v", code, r)
	}
	if failing() != 1 {
		t.Fatal("failing metric not set")
	}

	// The cause goes away: the next publish passes, and readiness with it.
	fp.failing.Store(false)
	if code, _, body := post(t, url, api.MediaJSON, mustJSON(event("F2"))); code != http.StatusAccepted {
		t.Fatalf("publish after the bus healed: %d %v", code, body)
	}
	if code, r := ready(); code != http.StatusOK {
		t.Fatalf("readyz after the bus healed: %d %+v", code, r)
	}
	if failing() != 0 {
		t.Fatal("failing metric still set")
	}

	// A failure with no traffic after it holds readiness for FailureHold
	// only.
	fp.failing.Store(true)
	post(t, url, api.MediaJSON, mustJSON(event("F3")))
	if code, _ := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz after a failure: %d", code)
	}
	clk.Add(time.Minute)
	if code, r := ready(); code != http.StatusOK {
		t.Fatalf("readyz after FailureHold with no traffic: %d %+v", code, r)
	}
}

// gauge reads a gauge of one city from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name, city string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "city" && l.GetValue() == city {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{city=%q}", name, city)
	return 0
}
