package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/schemas/bus"
)

// leaderlessPublisher answers no publish while gone is set: each waits
// until its deadline, as a publish to a stream without a leader does
// (internal/natsserver's TestNoLeaderIsReportedNotWaitedOut shows it on a
// real cluster). Fault injection by decoration of the real publisher.
type leaderlessPublisher struct {
	next     gateway.Publisher
	gone     atomic.Bool
	attempts atomic.Int64
}

func (p *leaderlessPublisher) Publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error) {
	if p.gone.Load() {
		p.attempts.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return p.next.Publish(ctx, subject, msgID, data)
}

// TestNoLeaderShowsAndHeals: with no JetStream leader a batch is tried in
// short attempts, then refused with bus_unavailable naming the missing
// leader; /readyz says "no JetStream leader" for the city and the
// no-leader counter counts it; once a leader answers, the next publish
// passes and readiness comes back by itself.
func TestNoLeaderShowsAndHeals(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	reg := prometheus.NewRegistry()
	gw := gateway.New(gateway.Config{Logger: quiet, Chain: chain, Registerer: reg, Node: "gw-test",
		Batch: gateway.BatchConfig{PublishAttempt: 100 * time.Millisecond, PublishTimeout: 600 * time.Millisecond}})
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
	lp := &leaderlessPublisher{next: real}
	if err := gw.AddCity("foshan", e.cons.Cities["foshan"], lp); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	hs := srv.URL
	url := hs + "/v1/cities/foshan/events"

	lp.gone.Store(true)
	code, _, body := post(t, url, api.MediaJSON, mustJSON(event("L1")))
	e1, _ := body["error"].(map[string]any)
	if code != http.StatusServiceUnavailable || e1["code"] != api.CodeBusUnavailable || !strings.Contains(e1["message"].(string), "no JetStream leader") {
		t.Fatalf("publish with no leader: %d %v", code, body)
	}
	if n := lp.attempts.Load(); n < 2 {
		t.Fatalf("%d attempts with no leader, want several short ones", n)
	}
	rcode, r := readiness(t, hs)
	if rcode != http.StatusServiceUnavailable || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "foshan: no JetStream leader") {
		t.Fatalf("readyz with no leader: %d %+v", rcode, r)
	}
	if got := counter(t, reg, "baybus_gateway_bus_no_leader_total", "foshan"); got != 1 {
		t.Fatalf("no-leader counter %v, want 1", got)
	}

	lp.gone.Store(false)
	if code, _, body := post(t, url, api.MediaJSON, mustJSON(event("L2"))); code != http.StatusAccepted {
		t.Fatalf("publish once a leader answers: %d %v", code, body)
	}
	if rcode, r := readiness(t, hs); rcode != http.StatusOK {
		t.Fatalf("readyz once a leader answers: %d %+v", rcode, r)
	}
}

func readiness(t *testing.T, base string) (int, api.Readiness) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
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

func counter(t *testing.T, reg *prometheus.Registry, name, city string) float64 {
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
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRealJetStreamWriteFailureHeals is issue 13 §6's "a JetStream write
// failure shows in /readyz and in metrics, and the node recovers by itself
// once the cause is gone", against a real JetStream server: the operator
// caps GBA_TX where it stands and makes it refuse new messages (what a
// store out of space does to every publish), then lifts the cap. No
// fault injection: the server refuses the writes.
func TestRealJetStreamWriteFailureHeals(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	reg := prometheus.NewRegistry()
	gw := gateway.New(gateway.Config{Logger: quiet, Chain: chain, Registerer: reg, Node: "gw-test"})
	defer gw.Close()
	nc, err := e.srv.Connect(bus.IdentityName(bus.RoleCity, "jiangmen"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.AddCity("jiangmen", e.cons.Cities["jiangmen"], pub); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/v1/cities/jiangmen/events"

	op, err := e.srv.Connect(bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	js, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, bus.StreamTx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	was := info.Config
	capped := was
	capped.MaxMsgs, capped.Discard = int64(max(info.State.Msgs, 1)), jetstream.DiscardNew
	if _, err := js.UpdateStream(ctx, capped); err != nil {
		t.Fatal(err)
	}
	// Fill it to the cap if it is empty, so the next write is refused.
	post(t, url, api.MediaJSON, mustJSON(event("W0")))

	code, _, body := post(t, url, api.MediaJSON, mustJSON(event("W1")))
	if e1, _ := body["error"].(map[string]any); code != http.StatusServiceUnavailable || e1["code"] != api.CodeBusUnavailable {
		t.Fatalf("publish while the stream refuses writes: %d %v", code, body)
	}
	rcode, r := readiness(t, srv.URL)
	if rcode != http.StatusServiceUnavailable || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "jiangmen: the bus did not store its last batch") {
		t.Fatalf("readyz while the stream refuses writes: %d %+v", rcode, r)
	}
	if gauge(t, reg, "baybus_gateway_bus_write_failing", "jiangmen") != 1 {
		t.Fatal("bus_write_failing not set")
	}
	if counter(t, reg, "baybus_gateway_bus_no_leader_total", "jiangmen") != 0 {
		t.Fatal("a refused write counted as no leader")
	}

	// The cause goes away: the same gateway, with no restart, stores again.
	if _, err := js.UpdateStream(ctx, was); err != nil {
		t.Fatal(err)
	}
	if code, _, body := post(t, url, api.MediaJSON, mustJSON(event("W2"))); code != http.StatusAccepted {
		t.Fatalf("publish once the stream takes writes: %d %v", code, body)
	}
	if rcode, r := readiness(t, srv.URL); rcode != http.StatusOK {
		t.Fatalf("readyz once the stream takes writes: %d %+v", rcode, r)
	}
	if gauge(t, reg, "baybus_gateway_bus_write_failing", "jiangmen") != 0 {
		t.Fatal("bus_write_failing still set")
	}
}
