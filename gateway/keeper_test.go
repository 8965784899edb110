package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/outbox"
	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// streamLedger stands in for the orderers: it reads GBA_TX from the real
// bus and "seals" every transaction of every batch it finds there, once,
// as the ledger would. A batch the bus never stored is never sealed.
type streamLedger struct {
	mu      sync.Mutex
	sealed  map[schemas.TxID]gateway.Location
	batches map[string]int // batch id -> copies seen on the stream
	seq     uint64
	changed chan struct{}
}

func startStreamLedger(t *testing.T, srv *natsserver.Embedded) *streamLedger {
	t.Helper()
	l := &streamLedger{sealed: map[schemas.TxID]gateway.Location{}, batches: map[string]int{}, changed: make(chan struct{})}
	nc, err := srv.Connect(bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, bus.StreamTx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		b, err := schemas.DecodeBatch(m.Data())
		if err != nil {
			t.Errorf("stream holds a bad frame: %v", err)
			return
		}
		md, _ := m.Metadata()
		l.mu.Lock()
		l.batches[b.ID()]++
		l.seq = md.Sequence.Stream
		for i, id := range b.IDs {
			if _, ok := l.sealed[id]; !ok {
				l.sealed[id] = gateway.Location{Height: md.Sequence.Stream, Position: i, Result: "ok"}
			}
		}
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return l
}

func (l *streamLedger) Lookup(_ context.Context, id schemas.TxID) (gateway.Location, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	loc, ok := l.sealed[id]
	return loc, ok, nil
}

func (l *streamLedger) WaitTx(ctx context.Context, id schemas.TxID) (gateway.Location, error) {
	for {
		l.mu.Lock()
		loc, ok := l.sealed[id]
		ch := l.changed
		l.mu.Unlock()
		if ok {
			return loc, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return gateway.Location{}, ctx.Err()
		}
	}
}

func (l *streamLedger) SealedSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

func (l *streamLedger) LatestProof(context.Context, string) (*proof.Bundle, error) {
	return nil, proof.ErrNotFound
}

func (l *streamLedger) copies(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.batches[id]
}

// droppingPublisher acknowledges its first drop publishes without storing
// them, as a bus that loses acknowledged writes in a crash would; the
// rest go to the real bus.
type droppingPublisher struct {
	next    gateway.Publisher
	drop    atomic.Int64
	dropped atomic.Int64
}

func (d *droppingPublisher) Publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error) {
	if d.drop.Add(-1) >= 0 {
		n := d.dropped.Add(1)
		return &jetstream.PubAck{Stream: bus.StreamTx, Sequence: 1_000_000 + uint64(n)}, nil
	}
	return d.next.Publish(ctx, subject, msgID, data)
}

func cityPublisher(t *testing.T, e *env, city string) gateway.Publisher {
	t.Helper()
	nc, err := e.srv.Connect(bus.IdentityName(bus.RoleCity, city))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pub, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func openOutbox(t *testing.T, dir string, cfg outbox.Config) *outbox.Store {
	t.Helper()
	s, err := outbox.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// submitOne submits one event and returns its receipt.
func submitOne(t *testing.T, gw *gateway.Gateway, city, id string) *api.Receipt {
	t.Helper()
	out, gerr := gw.Submit(context.Background(), city, []gateway.Input{{Raw: mustJSON(event(id))}}, false)
	if gerr != nil || out[0].Err != nil {
		t.Fatalf("%s: %v %v", id, gerr, out[0].Err)
	}
	return out[0].Receipt
}

// TestLostBatchesArePublishedAgain: issue 13 §3. The bus acknowledges
// three batches and loses them; the gateway kept them, publishes them
// again once they are not sealed in time, and every accepted transaction
// is sealed, once. The outbox is empty after.
func TestLostBatchesArePublishedAgain(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	led := startStreamLedger(t, e.srv)
	store := openOutbox(t, t.TempDir(), outbox.Config{})
	defer store.Close()
	reg := prometheus.NewRegistry()
	gw := gateway.New(gateway.Config{Logger: quiet, Chain: chain, Ledger: led, Outbox: store, RepublishAfter: 300 * time.Millisecond, Registerer: reg})
	defer gw.Close()
	pub := &droppingPublisher{next: cityPublisher(t, e, "zhuhai")}
	pub.drop.Store(3)
	if err := gw.AddCity("zhuhai", e.cons.Cities["zhuhai"], pub); err != nil {
		t.Fatal(err)
	}
	var receipts []*api.Receipt
	for i := range 5 {
		r := submitOne(t, gw, "zhuhai", fmt.Sprintf("LOST%d", i))
		if r.Durability == "" || r.Status != api.StatusAccepted {
			t.Fatalf("receipt %+v", r)
		}
		receipts = append(receipts, r)
	}
	if pub.dropped.Load() != 3 {
		t.Fatalf("%d publishes dropped", pub.dropped.Load())
	}
	for _, r := range receipts {
		id, _ := schemas.ParseID(r.TxID)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := led.WaitTx(ctx, id); err != nil {
			t.Fatalf("transaction %s of an accepted receipt never sealed: %v", r.TxID, err)
		}
		cancel()
		if n := led.copies(r.BatchID); n != 1 {
			t.Fatalf("batch %s stored %d times", r.BatchID, n)
		}
	}
	waitUntil(t, "the outbox empties", func() bool { return store.Stats().Batches == 0 })
	if got := counterValue(t, reg, "baybus_gateway_republished_total", "result", "stored"); got != 3 {
		t.Fatalf("republished stored = %v, want 3", got)
	}
}

// TestKeptBatchesSurviveARestart: a gateway whose batches the bus lost
// stops before they are sealed; the next one, on the same outbox,
// publishes them at once (not after RepublishAfter) and they are sealed.
func TestKeptBatchesSurviveARestart(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	led := startStreamLedger(t, e.srv)
	dir := t.TempDir()
	store := openOutbox(t, dir, outbox.Config{})
	first := gateway.New(gateway.Config{Logger: quiet, Chain: chain, Ledger: led, Outbox: store, RepublishAfter: time.Hour})
	lost := &droppingPublisher{next: cityPublisher(t, e, "jiangmen")}
	lost.drop.Store(1 << 30)
	if err := first.AddCity("jiangmen", e.cons.Cities["jiangmen"], lost); err != nil {
		t.Fatal(err)
	}
	var receipts []*api.Receipt
	for i := range 3 {
		receipts = append(receipts, submitOne(t, first, "jiangmen", fmt.Sprintf("RS%d", i)))
	}
	first.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store = openOutbox(t, dir, outbox.Config{})
	defer store.Close()
	if n := store.Stats().Batches; n != 3 {
		t.Fatalf("%d batches kept across the restart, want 3", n)
	}
	second := gateway.New(gateway.Config{Logger: quiet, Chain: chain, Ledger: led, Outbox: store, RepublishAfter: time.Hour})
	defer second.Close()
	if err := second.AddCity("jiangmen", e.cons.Cities["jiangmen"], cityPublisher(t, e, "jiangmen")); err != nil {
		t.Fatal(err)
	}
	for _, r := range receipts {
		id, _ := schemas.ParseID(r.TxID)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := led.WaitTx(ctx, id); err != nil {
			t.Fatalf("kept transaction %s not sealed after the restart: %v", r.TxID, err)
		}
		cancel()
	}
	waitUntil(t, "the outbox empties", func() bool { return store.Stats().Batches == 0 })
}

// TestFullOutboxRefusesBeforePublishing: when the ledger has sealed
// nothing for long enough to fill the outbox, new events are refused with
// 429 and nothing reaches the bus.
func TestFullOutboxRefusesBeforePublishing(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	store := openOutbox(t, t.TempDir(), outbox.Config{MaxBytes: 100})
	defer store.Close()
	gw := gateway.New(gateway.Config{Logger: quiet, Chain: chain, Ledger: &progressLedger{}, Outbox: store})
	defer gw.Close()
	if err := gw.AddCity("zhaoqing", e.cons.Cities["zhaoqing"], cityPublisher(t, e, "zhaoqing")); err != nil {
		t.Fatal(err)
	}
	out, gerr := gw.Submit(context.Background(), "zhaoqing", []gateway.Input{{Raw: mustJSON(event("FULL1"))}}, false)
	if gerr != nil || out[0].Err == nil || out[0].Err.Code != api.CodeBackpressure || out[0].Err.Status != http.StatusTooManyRequests {
		t.Fatalf("%v %+v", gerr, out[0])
	}
	if n := len(storedBatches(t, e)); n != 0 {
		t.Fatalf("%d batches on the bus", n)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
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
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
