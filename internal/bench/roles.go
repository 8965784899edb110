package bench

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/baybus/baybus/internal/system"
)

// roleBench labels the bench's own goroutines (the load clients and the
// finality tracker), which share the process with what they measure.
const roleBench = "bench"

// CPUByRole is where the process's CPU went in the measured window, in CPU
// seconds per 1,000 transactions sealed in the window. It comes from a CPU
// profile of the window whose samples are told apart by the goroutine
// labels the system gives each role (internal/system: RoleLabel) and,
// inside an orderer, by the stack: a sample under the orderer's label is
// the proofs' if a frame is the proof builder's or publisher's, the
// consensus's if the innermost baybus or SmartBFT frame is the engine's or
// ledger/bft's, the orderer's own otherwise (ingestion, checks, commit,
// query service). The roles sum to the profiled CPU, which is at most the
// process's CPU over the same span (the profiler samples every 10 ms of
// CPU a thread uses).
type CPUByRole struct {
	Gateways float64 `json:"gateways"` // HTTP, validation, encoding, signing, batching, the ledger client
	Bus      float64 `json:"bus"`      // nats-server (JetStream store and delivery) and both ends of every connection
	// Orderers is each orderer's own work by name: ingestion (decoding and
	// checking every batch), state and block log commit, index, query
	// service; not its consensus or proofs.
	Orderers  map[string]float64 `json:"orderers"`
	Consensus float64            `json:"consensus"` // SmartBFT and ledger/bft of all orderers: views, votes, envelopes
	// Storage is pebble's flushes and compactions of every orderer's
	// state and index: pebble labels those goroutines itself ("pebble"),
	// which drops the orderer's label, so they are not told apart.
	Storage float64 `json:"storage"`
	Proofs  float64 `json:"proofs"` // license proofs built and published on commit
	GC      float64 `json:"gc"`     // the runtime's background GC workers (assists count where they happen)
	Bench   float64 `json:"bench"`  // the load clients and the tracker
	Other   float64 `json:"other"`  // unlabelled: the runtime, timers, the profiler
	// Profiled is the sum of the roles; Process is the process's CPU
	// (getrusage) over the profile's span. Both per 1,000 sealed
	// transactions.
	Profiled float64 `json:"profiled"`
	Process  float64 `json:"process"`
	// GCShare is the share of the profile's samples in garbage collection,
	// background workers and assists both.
	GCShare float64 `json:"gc_share"`
	// WindowTxs is how many transactions were sealed while the profile
	// ran; WindowS how long it ran.
	WindowTxs int64   `json:"window_txs"`
	WindowS   float64 `json:"window_s"`
}

// roleProfile is a CPU profile of part of a run, with the process's CPU
// over the same span.
type roleProfile struct {
	buf        bytes.Buffer
	cpu0, cpu  float64
	start, end time.Time
}

// startRoleProfile starts the process's CPU profiler. It fails if a
// profile is already running (`--cpuprofile` of a sweep).
func startRoleProfile() (*roleProfile, error) {
	p := &roleProfile{cpu0: cpuSeconds(), start: time.Now()}
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return nil, fmt.Errorf("bench: CPU by role: %w", err)
	}
	return p, nil
}

// stop ends the profile; the process's CPU is read after the profiler
// stopped, so it covers every sample.
func (p *roleProfile) stop() {
	pprof.StopCPUProfile()
	p.cpu, p.end = cpuSeconds()-p.cpu0, time.Now()
}

// attribute sums the profile by role, per 1,000 of txs transactions.
func (p *roleProfile) attribute(txs int64) (*CPUByRole, error) {
	prof, err := profile.Parse(bytes.NewReader(p.buf.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("bench: CPU by role: %w", err)
	}
	r, err := attribute(prof)
	if err != nil {
		return nil, err
	}
	r.Process = p.cpu
	r.WindowS, r.WindowTxs = p.end.Sub(p.start).Seconds(), txs
	if txs > 0 {
		r.scale(1000 / float64(txs))
	}
	return r, nil
}

// attribute sums a CPU profile's samples by role, in CPU seconds.
func attribute(prof *profile.Profile) (*CPUByRole, error) {
	cpu := -1
	for i, st := range prof.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			cpu = i
		}
	}
	if cpu < 0 {
		return nil, fmt.Errorf("bench: CPU by role: not a CPU profile (%v)", prof.SampleType)
	}
	r := &CPUByRole{Orderers: map[string]float64{}}
	var gc float64
	for _, s := range prof.Sample {
		sec := float64(s.Value[cpu]) / 1e9
		r.Profiled += sec
		if inGC(s) {
			gc += sec
		}
		r.add(s, sec)
	}
	if r.Profiled > 0 {
		r.GCShare = gc / r.Profiled
	}
	return r, nil
}

// add adds a sample's CPU to its role.
func (r *CPUByRole) add(s *profile.Sample, sec float64) {
	role := label(s, system.RoleLabel)
	switch {
	case role == system.RoleGateways:
		r.Gateways += sec
	case role == system.RoleBus:
		r.Bus += sec
	case role == roleBench:
		r.Bench += sec
	case strings.HasPrefix(role, system.RoleOrdererPrefix):
		switch ordererPart(s) {
		case "proofs":
			r.Proofs += sec
		case "consensus":
			r.Consensus += sec
		default:
			r.Orderers[strings.TrimPrefix(role, system.RoleOrdererPrefix)] += sec
		}
	case role == "" && label(s, "pebble") != "":
		r.Storage += sec
	case role == "" && (label(s, "stream") != "" || label(s, "account") != ""):
		// JetStream's stream and consumer goroutines relabel themselves.
		r.Bus += sec
	case role == "" && hasFrame(s, "runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge"):
		r.GC += sec
	default:
		r.Other += sec
	}
}

// ordererPart tells an orderer's sample apart by its stack: "proofs",
// "consensus" or "" (the orderer's own work).
func ordererPart(s *profile.Sample) string {
	if hasFramePrefix(s, "github.com/baybus/baybus/ledger/proof.") || hasFrameContaining(s, "ProofPublisher") {
		return "proofs"
	}
	// Innermost first: a SHA-256 under a vote's check is consensus, one
	// under a batch's check the orderer's.
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			fn := ln.Function.Name
			switch {
			case strings.HasPrefix(fn, "github.com/hyperledger-labs/SmartBFT"),
				strings.HasPrefix(fn, "github.com/baybus/baybus/ledger/bft."),
				strings.HasPrefix(fn, "github.com/baybus/baybus/ledger/bft/"):
				return "consensus"
			case strings.HasPrefix(fn, "github.com/baybus/baybus/"):
				return ""
			}
		}
	}
	return ""
}

func inGC(s *profile.Sample) bool {
	return hasFrame(s, "runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge")
}

func label(s *profile.Sample, key string) string {
	if v := s.Label[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func hasFrame(s *profile.Sample, names ...string) bool {
	return anyFrame(s, func(fn string) bool {
		for _, n := range names {
			if fn == n {
				return true
			}
		}
		return false
	})
}

func hasFramePrefix(s *profile.Sample, prefix string) bool {
	return anyFrame(s, func(fn string) bool { return strings.HasPrefix(fn, prefix) })
}

func hasFrameContaining(s *profile.Sample, sub string) bool {
	return anyFrame(s, func(fn string) bool { return strings.Contains(fn, sub) })
}

func anyFrame(s *profile.Sample, match func(string) bool) bool {
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function != nil && match(ln.Function.Name) {
				return true
			}
		}
	}
	return false
}

// scale multiplies every figure but the share and the window by k.
func (r *CPUByRole) scale(k float64) {
	for _, f := range []*float64{&r.Gateways, &r.Bus, &r.Consensus, &r.Storage, &r.Proofs, &r.GC, &r.Bench, &r.Other, &r.Profiled, &r.Process} {
		*f *= k
	}
	for n, v := range r.Orderers {
		r.Orderers[n] = v * k
	}
}

// Sum is the roles' total: the profiled CPU, computed again from the parts.
func (r *CPUByRole) Sum() float64 {
	t := r.Gateways + r.Bus + r.Consensus + r.Storage + r.Proofs + r.GC + r.Bench + r.Other
	for _, v := range r.Orderers {
		t += v
	}
	return t
}

// labelled runs f on the calling goroutine labelled role; goroutines f
// starts carry it too.
func labelled(ctx context.Context, role string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(system.RoleLabel, role), f)
}
