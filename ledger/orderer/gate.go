package orderer

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/api"
	"github.com/hyperledger-labs/SmartBFT/pkg/metrics"
	"github.com/hyperledger-labs/SmartBFT/pkg/metrics/disabled"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
)

// The gate sits between the transport and the engine and keeps consensus
// messages from being lost in two windows where SmartBFT drops them:
//
//   - Before the engine starts. The transport subscribes first and the gate
//     holds what arrives until the engine has started: peers that started a
//     moment earlier send their votes for the in-flight proposal at once,
//     and a message sent to a subject nobody subscribes to is gone. After a
//     whole-cluster restart, orderers that had missed those votes stayed a
//     sequence behind, refused the others' view data, and sealing waited
//     25 s for the request timers (issue 13).
//   - During a view change. The engine hands proposals and votes to its
//     current view only; a message of the next view that arrives before the
//     engine has installed it (the new leader proposes as soon as it sends
//     its NewView, and the followers install the view only after checking
//     every view data in it, on another goroutine) is dropped. With one
//     orderer down every other one's vote is needed, so one follower that
//     missed the new leader's first proposal stalled the cluster until the
//     request timers fired, 25 s after a leader was killed. The gate keeps a
//     copy of every message of a view the engine has not installed and
//     hands it in again once the engine starts that view. The engine drops
//     duplicates (a vote counts once per sender; a second proposal for the
//     sequence in progress is discarded), so a copy that was not needed
//     costs nothing.
//
// Which view the engine runs is read from its own view-number metric,
// which it sets each time it starts a view (viewWatch).
//
// The gate also keeps the replica's verification free of waiting: a
// proposal (pre-prepare) that names batches this orderer does not hold yet
// is held back, on a goroutine of the gate, until the driver has them
// (Node.awaitBatches: its own GBA_TX consumer, then its peers, up to
// Config.BatchWait) and only then handed to the engine. Votes for it that
// arrive meanwhile go on at once: the engine registers votes for its
// current and next sequence before their proposal. A sender's proposals
// reach the engine in the order they came: one that arrives while an
// earlier one of the same sender waits queues behind it (up to
// queuedMax; past that, and once its wait is over, a proposal goes to the
// engine as it is, which refuses it if its batches are still missing,
// replica.ErrBatchMissing, as it would any bad proposal).

// heldMax bounds the messages the gate keeps for views not yet installed.
const heldMax = 1024

// defaultReplayAfter are the delays after a view starts at which held messages of
// that view are handed in again: the engine sets the view's metric just
// before it makes the view current, and a view that commits the previous
// view's in-flight proposal first sets it well before the controller takes
// over.
var defaultReplayAfter = [...]time.Duration{5 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond, time.Second}

type engineGate struct {
	ctx         context.Context
	replayAfter []time.Duration
	ready       chan struct{}
	h           bft.Handler
	view        *viewWatch

	// missing returns the batches a pre-prepare names that the replica
	// does not hold (no I/O); await waits for them (the driver's fetch).
	// Either nil: no proposal is held back.
	missing func(*protos.PrePrepare) []block.BatchRef
	await   func([]block.BatchRef)

	stale atomic.Uint64 // proposals and votes of a view the engine had left, dropped

	mu     sync.Mutex
	held   []heldMsg
	queues map[uint64]*proposalQueue // by sender: proposals waiting for their batches
	wg     sync.WaitGroup            // replays and proposal waits in progress
}

// queuedMax bounds the proposals of one sender the gate holds back.
const queuedMax = 8

// proposalQueue chains one sender's held-back proposals: each waits for
// the one before it to reach the engine.
type proposalQueue struct {
	n    int           // proposals queued
	tail chan struct{} // closed once the last queued has been handed on
}

type heldMsg struct {
	view   uint64
	sender uint64
	m      *protos.Message
}

func newEngineGate(ctx context.Context, view *viewWatch) *engineGate {
	g := &engineGate{ctx: ctx, replayAfter: defaultReplayAfter[:], ready: make(chan struct{}), view: view}
	view.onStart = g.viewStarted
	return g
}

// open starts handing messages to h.
func (g *engineGate) open(h bft.Handler) {
	g.h = h
	close(g.ready)
}

func (g *engineGate) wait() bool {
	select {
	case <-g.ready:
		return true
	case <-g.ctx.Done():
		return false
	}
}

// HandleMessage implements bft.Handler.
func (g *engineGate) HandleMessage(sender uint64, m *protos.Message) {
	if !g.wait() {
		return
	}
	v, ok := viewOf(m)
	if ok && v < g.view.current() {
		// A proposal or vote of a view the engine has left. The engine
		// would take one from the leader of its own view as that leader
		// misbehaving, complain and abort the view: a leader restarted
		// with an old view in its engine WAL (every orderer killed at
		// once, the others come back in a later view it leads) and
		// sending its restored proposal and votes again made its
		// followers give up, one view after another, the view it was
		// about to lead (the soak's 78 s stall, docs/faults.md). Nothing
		// is lost by dropping them: that leader learns the view from the
		// answers to its heartbeats and syncs, and if it does not, the
		// followers' heartbeat timeout replaces it.
		g.stale.Add(1)
		return
	}
	if ok && v > g.view.current() {
		g.mu.Lock()
		if len(g.held) == heldMax {
			g.held = append(g.held[:0], g.held[1:]...)
		}
		g.held = append(g.held, heldMsg{view: v, sender: sender, m: m})
		g.mu.Unlock()
	}
	g.pass(sender, m)
}

// pass hands m to the engine, once the batches of a proposal are held.
func (g *engineGate) pass(sender uint64, m *protos.Message) {
	pp := m.GetPrePrepare()
	if pp == nil || g.missing == nil || g.await == nil {
		g.h.HandleMessage(sender, m)
		return
	}
	refs := g.missing(pp)
	g.mu.Lock()
	q := g.queues[sender]
	queued := q != nil && q.n > 0
	if len(refs) == 0 && !queued || queued && q.n >= queuedMax || g.ctx.Err() != nil {
		g.mu.Unlock()
		g.h.HandleMessage(sender, m)
		return
	}
	if q == nil {
		if g.queues == nil {
			g.queues = map[uint64]*proposalQueue{}
		}
		q = &proposalQueue{}
		g.queues[sender] = q
	}
	prev, done := q.tail, make(chan struct{})
	q.tail = done
	q.n++
	g.mu.Unlock()
	g.wg.Go(func() {
		defer func() {
			g.mu.Lock()
			q.n--
			g.mu.Unlock()
			close(done)
		}()
		if prev != nil {
			select {
			case <-prev:
			case <-g.ctx.Done():
				return
			}
		}
		if refs := g.missing(pp); len(refs) > 0 {
			g.await(refs)
		}
		if g.ctx.Err() == nil {
			g.h.HandleMessage(sender, m)
		}
	})
}

// HandleRequest implements bft.Handler.
func (g *engineGate) HandleRequest(sender uint64, req []byte) {
	if g.wait() {
		g.h.HandleRequest(sender, req)
	}
}

// viewStarted is called by the engine (through its metric) as it starts
// view v: held messages of earlier views are dropped, those of v are
// handed in again over the next moments.
func (g *engineGate) viewStarted(v uint64) {
	g.mu.Lock()
	var mine []heldMsg
	keep := g.held[:0]
	for _, h := range g.held {
		switch {
		case h.view == v:
			mine = append(mine, h)
			keep = append(keep, h) // a later start of v (the controller's, after an in-flight view's) replays them too
		case h.view > v:
			keep = append(keep, h)
		}
	}
	g.held = keep
	g.mu.Unlock()
	if len(mine) == 0 || g.ctx.Err() != nil {
		return
	}
	g.wg.Go(func() {
		for _, d := range g.replayAfter {
			select {
			case <-g.ctx.Done():
				return
			case <-time.After(d):
			}
			if g.view.current() != v {
				return // moved on: a message of an old view from the new leader would make the engine complain
			}
			for _, h := range mine {
				g.pass(h.sender, h.m)
			}
		}
	})
}

// viewOf returns the view a proposal or vote belongs to.
func viewOf(m *protos.Message) (uint64, bool) {
	switch c := m.GetContent().(type) {
	case *protos.Message_PrePrepare:
		return c.PrePrepare.GetView(), true
	case *protos.Message_Prepare:
		return c.Prepare.GetView(), true
	case *protos.Message_Commit:
		return c.Commit.GetView(), true
	}
	return 0, false
}

// viewWatch learns which view the engine runs from the view-number gauge
// the engine sets each time it starts a view; every other metric of the
// engine is discarded.
type viewWatch struct {
	v       atomic.Uint64
	onStart func(uint64)
}

func (w *viewWatch) current() uint64 { return w.v.Load() }

// metrics returns the engine's metrics, reporting its view to w.
func (w *viewWatch) metrics() *api.Metrics {
	return api.NewMetrics(viewProvider{Provider: &disabled.Provider{}, w: w})
}

type viewProvider struct {
	*disabled.Provider
	w *viewWatch
}

func (p viewProvider) NewGauge(o metrics.GaugeOpts) metrics.Gauge {
	if o.Subsystem == "smartbft" && o.Name == "view_number" {
		return viewGauge{w: p.w}
	}
	return p.Provider.NewGauge(o)
}

type viewGauge struct{ w *viewWatch }

func (g viewGauge) With(...string) metrics.Gauge { return g }
func (g viewGauge) Add(float64)                  {}

func (g viewGauge) Set(v float64) {
	if v < 0 || v > math.MaxUint64/2 {
		return
	}
	view := uint64(v)
	g.w.v.Store(view)
	if g.w.onStart != nil {
		g.w.onStart(view)
	}
}
