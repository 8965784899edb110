package bench

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/baybus/baybus/internal/system"
)

// synthetic builds a CPU profile of one sample per entry: its labels, its
// stack (innermost first) and its CPU in milliseconds.
func synthetic(t *testing.T, samples []struct {
	labels map[string]string
	stack  []string
	ms     int64
}) *profile.Profile {
	t.Helper()
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}
	fns := map[string]*profile.Location{}
	for _, s := range samples {
		ps := &profile.Sample{Value: []int64{1, s.ms * 1e6}, Label: map[string][]string{}}
		for k, v := range s.labels {
			ps.Label[k] = []string{v}
		}
		for _, name := range s.stack {
			loc, ok := fns[name]
			if !ok {
				fn := &profile.Function{ID: uint64(len(fns) + 1), Name: name}
				loc = &profile.Location{ID: uint64(len(fns) + 1), Line: []profile.Line{{Function: fn}}}
				p.Function = append(p.Function, fn)
				p.Location = append(p.Location, loc)
				fns[name] = loc
			}
			ps.Location = append(ps.Location, loc)
		}
		p.Sample = append(p.Sample, ps)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAttributeSumsByRole(t *testing.T) {
	role := func(r string) map[string]string { return map[string]string{system.RoleLabel: r} }
	o1, o2 := role(system.RoleOrdererPrefix+"o1"), role(system.RoleOrdererPrefix+"o2")
	p := synthetic(t, []struct {
		labels map[string]string
		stack  []string
		ms     int64
	}{
		{role(system.RoleGateways), []string{"encoding/json.Unmarshal", "github.com/baybus/baybus/gateway.(*Gateway).prepare"}, 30},
		{role(system.RoleBus), []string{"github.com/nats-io/nats-server/v2/server.(*client).readLoop"}, 20},
		{map[string]string{"account": "GBA", "stream": "GBA_TX"}, []string{"github.com/nats-io/nats-server/v2/server.(*stream).internalLoop"}, 5},
		{o1, []string{"crypto/sha256.Sum256", "github.com/baybus/baybus/ledger/block.(*Checks).Batch"}, 12},
		// A vote's SHA-256 under SmartBFT: consensus, though under o1's label.
		{o1, []string{"crypto/sha256.Sum256", "github.com/baybus/baybus/ledger/bft.(*verifier).VerifyConsenterSig", "github.com/hyperledger-labs/SmartBFT/internal/bft.(*View).run"}, 4},
		// The commit runs on the engine's goroutine: the orderer's own.
		{o2, []string{"github.com/baybus/baybus/ledger/state.(*Store).Commit", "github.com/baybus/baybus/ledger/orderer.(*app).Deliver", "github.com/hyperledger-labs/SmartBFT/internal/bft.(*Controller).run"}, 9},
		// Proofs built inside the commit: the proofs', whatever is innermost.
		{o2, []string{"github.com/baybus/baybus/ledger/state.(*Store).Prove", "github.com/baybus/baybus/ledger/proof.Builder.ForBlock", "github.com/baybus/baybus/ledger/orderer.(*app).Deliver"}, 7},
		{role(roleBench), []string{"net/http.(*Client).Do"}, 3},
		{nil, []string{"runtime.gcDrain", "runtime.gcBgMarkWorker"}, 6},
		{role(system.RoleGateways), []string{"runtime.gcAssistAlloc", "runtime.mallocgc", "github.com/baybus/baybus/gateway.(*Gateway).prepare"}, 2},
		{nil, []string{"runtime.timerproc"}, 2},
		{map[string]string{"pebble": "compact"}, []string{"github.com/cockroachdb/pebble.(*DB).compact"}, 5},
	})
	r, err := attribute(p)
	if err != nil {
		t.Fatal(err)
	}
	ms := func(v float64) int64 { return int64(v*1000 + 0.5) }
	for _, c := range []struct {
		name string
		got  float64
		want int64
	}{
		{"gateways", r.Gateways, 32}, {"bus", r.Bus, 25}, {"o1", r.Orderers["o1"], 12}, {"o2", r.Orderers["o2"], 9},
		{"consensus", r.Consensus, 4}, {"proofs", r.Proofs, 7}, {"bench", r.Bench, 3}, {"gc", r.GC, 6}, {"other", r.Other, 2},
		{"storage", r.Storage, 5}, {"profiled", r.Profiled, 105}, {"sum", r.Sum(), 105},
	} {
		if got := ms(c.got); got != c.want {
			t.Errorf("%s = %d ms, want %d", c.name, got, c.want)
		}
	}
	if got, want := r.GCShare, 8.0/105; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("gc share %v, want %v (background 6 ms and assists 2 ms of 105)", got, want)
	}
	share := r.GCShare
	r.scale(10)
	if ms(r.Gateways) != 320 || ms(r.Orderers["o2"]) != 90 || r.GCShare != share {
		t.Errorf("scaled: %+v", r)
	}
}

func TestAttributeRefusesAHeapProfile(t *testing.T) {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}}}
	if _, err := attribute(p); err == nil || !strings.Contains(err.Error(), "not a CPU profile") {
		t.Fatalf("heap profile: %v", err)
	}
}

// TestRoleProfileOfThisProcess profiles a labelled busy loop and finds it
// under its role, within the process's CPU.
func TestRoleProfileOfThisProcess(t *testing.T) {
	rp, err := startRoleProfile()
	if err != nil {
		t.Skipf("a CPU profile is already running: %v", err)
	}
	var sink uint64
	labelled(context.Background(), roleBench, func(context.Context) {
		// Work until the profiler has had time for samples: CPU, not time.
		for i := uint64(0); cpuSeconds()-rp.cpu0 < 0.3; i++ {
			sink += i * i
		}
	})
	rp.stop()
	if _, err := startRoleProfile(); err == nil {
		pprof.StopCPUProfile()
	} else {
		t.Errorf("the profiler is still running after stop: %v", err)
	}
	r, err := rp.attribute(1000)
	if err != nil {
		t.Fatal(err)
	}
	if r.Bench <= 0 || r.Profiled > r.Process*1.05+0.01 || r.WindowTxs != 1000 {
		t.Errorf("bench %v s per 1k, profiled %v of process %v (sink %d)", r.Bench, r.Profiled, r.Process, sink)
	}
	if _, err := (&roleProfile{buf: *bytes.NewBufferString("not a profile")}).attribute(1); err == nil {
		t.Error("garbage parsed as a profile")
	}
}
