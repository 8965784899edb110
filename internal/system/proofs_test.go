package system_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProofSourceOfARunningSystem: fresh proofs read from a live orderer
// (its state and block log move while we read).
func TestProofSourceOfARunningSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	dir := t.TempDir()
	sys := start(t, dir)
	defer sys.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := cityClient(t, sys, "shenzhen")
	var events []json.RawMessage
	for i := range 3 {
		events = append(events, event("shenzhen", i))
	}
	res, err := cl.Publish(ctx, "shenzhen", events, client.Options{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Error != nil {
			t.Fatalf("event refused: %v", r.Error)
		}
	}
	var key string
	{
		var ev schemas.Event
		if err := json.Unmarshal(events[1], &ev); err != nil {
			t.Fatal(err)
		}
		key = schemas.LicenseKey(schemas.CN, ev.Record.ID)
	}
	src, err := sys.ProofSource()
	if err != nil {
		t.Fatal(err)
	}
	// The node may still be applying the state of the last block: retry
	// until the license is there.
	var b *proof.Bundle
	waitFor(t, "the license in the state", func() bool {
		b, err = proof.Latest(src, key)
		return err == nil
	})
	vd, err := proof.Verify(sys.Consortium.Bundle, b)
	if err != nil {
		t.Fatal(err)
	}
	if vd.Status != schemas.StatusValid || vd.Key != key {
		t.Fatalf("verdict %+v", vd)
	}
}

// TestProofsEndToEnd runs once the system wires the proof publisher
// (its metrics are registered) and the proof route: events published
// through a gateway come out on GBA_PROOFS as verified proofs, and the HTTP
// route serves fresh ones.
func TestProofsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	dir := t.TempDir()
	sys := start(t, dir)
	defer sys.Stop()
	mfs, err := sys.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	wired := false
	for _, mf := range mfs {
		wired = wired || mf.GetName() == "baybus_proofs_generated_total"
	}
	if !wired {
		t.Fatal("the proof publisher is not wired into system.Start: no baybus_proofs_generated_total metric")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := cityClient(t, sys, "zhuhai")
	var events []json.RawMessage
	for i := range 3 {
		events = append(events, event("zhuhai", i))
	}
	if _, err := cl.Publish(ctx, "zhuhai", events, client.Options{Wait: true}); err != nil {
		t.Fatal(err)
	}
	// The license catalogue (kept by two of the orderers) lists them; the
	// gateways' query client finds one that keeps it.
	waitFor(t, "the catalogue to list zhuhai's licenses", func() bool {
		ls, _, err := sys.Ledger.Licenses(ctx, query.LicenseFilter{City: "zhuhai"})
		return err == nil && len(ls) == 3
	})
	nc, err := sys.Bus.Connect("operator")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cons, err := js.OrderedConsumer(ctx, bus.StreamProofs, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.ProofSubject("CN", "business")}})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 3 {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("after %d proofs: %v", got, err)
		}
		b, err := proof.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proof.Verify(sys.Consortium.Bundle, b); err != nil {
			t.Fatal(err)
		}
		got++
	}
	var ev schemas.Event
	_ = json.Unmarshal(events[0], &ev)
	req, _ := http.NewRequest("GET", "http://"+sys.HTTPAddr+"/v1/licenses/CN/"+ev.Record.ID+"/proof", nil)
	tok, _ := sys.Token("zhuhai")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && resp.Header.Get("Content-Type") != "application/json" {
		t.Fatal("the proof route is not mounted")
	}
	body, _ := io.ReadAll(resp.Body)
	b, err := proof.Decode(body)
	if err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
	}
	if v, err := proof.Verify(sys.Consortium.Bundle, b); err != nil || v.Status != schemas.StatusValid {
		t.Fatalf("fresh proof: %v %v", v, err)
	}

	// The proof orderer's mark follows its height once the proofs are
	// stored. Rewound (as if a crash had taken the queue), the next start
	// publishes the licenses of the blocks above it again, and moves it up.
	last := len(sys.Nodes) - 1
	markFile := filepath.Join(dir, "orderers", sys.Consortium.Bundle.Orderers[last], node.ProofMarkFile)
	height := sys.Node(last).Height()
	waitFor(t, "the proof mark to reach the height", func() bool { return readMark(t, markFile) == height })
	sys.Stop()
	if err := os.WriteFile(markFile, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sys = start(t, dir)
	defer sys.Stop()
	waitFor(t, "the 3 licenses' proofs published again", func() bool { return counter(t, sys, "baybus_proofs_published_total") == 3 })
	if g := counter(t, sys, "baybus_proofs_generated_total"); g != 3 {
		t.Errorf("%v proofs made on restart, want 3 (one per license)", g)
	}
	waitFor(t, "the proof mark to return to the height", func() bool { return readMark(t, markFile) >= height })
}

func readMark(t *testing.T, path string) uint64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		t.Fatalf("proof mark %q: %v", raw, err)
	}
	return h
}

// counter reads a counter of the system's registry.
func counter(t *testing.T, sys *system.System, name string) float64 {
	t.Helper()
	mfs, err := sys.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
