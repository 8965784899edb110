package orderer

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"

	"github.com/baybus/baybus/ledger/block"
)

// recorder is a bft.Handler that records what it is handed.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) HandleMessage(sender uint64, m *protos.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, _ := viewOf(m)
	r.msgs = append(r.msgs, kindOf(m)+string(rune('0'+v)))
}

func (r *recorder) HandleRequest(uint64, []byte) {}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func kindOf(m *protos.Message) string {
	switch m.GetContent().(type) {
	case *protos.Message_PrePrepare:
		return "pp"
	case *protos.Message_Prepare:
		return "p"
	case *protos.Message_Commit:
		return "c"
	}
	return "other"
}

func prePrepare(view uint64) *protos.Message {
	return &protos.Message{Content: &protos.Message_PrePrepare{PrePrepare: &protos.PrePrepare{View: view, Seq: 1, Proposal: &protos.Proposal{}}}}
}

func prepare(view uint64) *protos.Message {
	return &protos.Message{Content: &protos.Message_Prepare{Prepare: &protos.Prepare{View: view, Seq: 1}}}
}

// The gate holds messages until the engine has started, then hands them
// over in order; once its context ends it drops them.
func TestGateHoldsMessagesUntilTheEngineStarts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &viewWatch{}
	g := newEngineGate(ctx, w)
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		g.HandleMessage(2, prepare(0))
		g.HandleMessage(2, prePrepare(0))
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a message reached the engine before it started")
	case <-time.After(50 * time.Millisecond):
	}
	g.open(r)
	<-done
	if got := r.got(); len(got) != 2 || got[0] != "p0" || got[1] != "pp0" {
		t.Fatalf("handed %v, want [p0 pp0]", got)
	}

	stopped, stop := context.WithCancel(context.Background())
	g2 := newEngineGate(stopped, &viewWatch{})
	stop()
	g2.HandleMessage(1, prepare(0)) // returns at once, dropped
	g2.HandleRequest(1, []byte("x"))
}

// A proposal or vote of a view the engine has not started is handed in
// again once the engine starts that view, and is forgotten once the engine
// has moved past it.
func TestGateReplaysMessagesOfTheNextView(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &viewWatch{}
	g := newEngineGate(ctx, w)
	g.replayAfter = []time.Duration{time.Millisecond, 5 * time.Millisecond}
	r := &recorder{}
	g.open(r)
	gauge := viewGauge{w: w}
	gauge.Set(1)

	g.HandleMessage(2, prePrepare(2)) // the new leader's first proposal, early
	g.HandleMessage(3, prepare(2))
	g.HandleMessage(3, prepare(1)) // of the running view: not held
	g.HandleMessage(4, prepare(3)) // of a later view still
	if got := r.got(); len(got) != 4 {
		t.Fatalf("handed %v, want each message once", got)
	}
	gauge.Set(2)
	g.wg.Wait()
	want := []string{"pp2", "p2", "p1", "p3", "pp2", "p2", "pp2", "p2"}
	if got := r.got(); !slices.Equal(got, want) {
		t.Fatalf("handed %v, want %v", got, want)
	}
	// Held: only the view-3 vote. Past views are dropped when view 4 starts.
	g.mu.Lock()
	n := len(g.held)
	g.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d messages held after view 2 started, want 3 (view 2's until it is left, and view 3's)", n)
	}
	gauge.Set(4)
	g.wg.Wait()
	g.mu.Lock()
	n = len(g.held)
	g.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d messages held after view 4 started, want 0", n)
	}
	if got := r.got(); len(got) != len(want) {
		t.Fatalf("handed %v after view 4 started: nothing of an earlier view may be replayed", got[len(want):])
	}
}

// A replay is abandoned when the engine moves to another view meanwhile:
// a message of an old view from the new leader would make it complain.
func TestGateStopsReplayingAfterTheViewMovesOn(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &viewWatch{}
	g := newEngineGate(ctx, w)
	g.replayAfter = []time.Duration{20 * time.Millisecond}
	r := &recorder{}
	g.open(r)
	gauge := viewGauge{w: w}
	g.HandleMessage(2, prePrepare(1))
	gauge.Set(1)
	w.v.Store(2) // the engine moved on before the replay's moment
	g.wg.Wait()
	if got := r.got(); len(got) != 1 {
		t.Fatalf("handed %v, want the proposal once", got)
	}
}

// A proposal naming batches not held waits, on a goroutine of the gate,
// until the driver has fetched them; votes go on meanwhile, and a later
// proposal from the same sender queues behind it, even one whose batches
// are held, so the engine sees a sender's proposals in order.
func TestGateHoldsAProposalUntilItsBatchesAreHeld(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := newEngineGate(ctx, &viewWatch{})
	r := &recorder{}
	release := make(chan struct{})
	var (
		mu      sync.Mutex
		awaited []block.BatchRef
		fetched bool
	)
	g.missing = func(pp *protos.PrePrepare) []block.BatchRef {
		mu.Lock()
		defer mu.Unlock()
		if pp.View == 0 && !fetched {
			return []block.BatchRef{{City: "macao", ID: "b1"}}
		}
		return nil
	}
	g.await = func(refs []block.BatchRef) {
		<-release
		mu.Lock()
		defer mu.Unlock()
		awaited = refs
		fetched = true
	}
	g.open(r)
	g.HandleMessage(1, prePrepare(0))
	g.HandleMessage(2, prepare(0))
	g.HandleMessage(1, prePrepare(1)) // batches held, but behind the first
	g.HandleMessage(3, prePrepare(2)) // another sender: straight through
	if got, want := r.got(), []string{"p0", "pp2"}; !slices.Equal(got, want) {
		t.Fatalf("while the batches are fetched: %v, want %v", got, want)
	}
	close(release)
	g.wg.Wait()
	if got, want := r.got(), []string{"p0", "pp2", "pp0", "pp1"}; !slices.Equal(got, want) {
		t.Fatalf("once fetched: %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(awaited) != 1 || awaited[0].ID != "b1" {
		t.Fatalf("awaited %v, want b1", awaited)
	}
}

// A sender's queue is bounded: past queuedMax, proposals go to the engine
// as they are (it refuses those whose batches are missing).
func TestGateBoundsTheProposalsItHolds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := newEngineGate(ctx, &viewWatch{})
	r := &recorder{}
	release := make(chan struct{})
	g.missing = func(*protos.PrePrepare) []block.BatchRef { return []block.BatchRef{{City: "macao", ID: "b1"}} }
	g.await = func([]block.BatchRef) { <-release }
	g.open(r)
	for range queuedMax + 3 {
		g.HandleMessage(1, prePrepare(0))
	}
	if got := len(r.got()); got != 3 {
		t.Fatalf("%d proposals passed with %d held, want 3", got, queuedMax)
	}
	close(release)
	g.wg.Wait()
	if got := len(r.got()); got != queuedMax+3 {
		t.Fatalf("%d proposals reached the engine, want %d", got, queuedMax+3)
	}
}

// A proposal or vote of a view the engine has left never reaches it: the
// engine would take one from its own view's leader as misbehaviour and
// give the view up (a leader restarted with an older view in its WAL).
func TestGateDropsMessagesOfAnEarlierView(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &viewWatch{}
	g := newEngineGate(ctx, w)
	g.replayAfter = nil
	r := &recorder{}
	g.open(r)
	viewGauge{w: w}.Set(3)
	g.HandleMessage(2, prePrepare(2))
	g.HandleMessage(2, prepare(1))
	g.HandleMessage(2, prepare(3))
	g.HandleMessage(2, prePrepare(4))
	if got, want := r.got(), []string{"p3", "pp4"}; !slices.Equal(got, want) {
		t.Fatalf("handed %v, want %v", got, want)
	}
	if got := g.stale.Load(); got != 2 {
		t.Fatalf("counted %d stale messages, want 2", got)
	}
}
