package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/baybus/baybus/gateway/outbox"
	"github.com/baybus/baybus/schemas"
)

// maxRepublishWait caps the doubling wait between publishes of a batch the
// ledger has not sealed.
const maxRepublishWait = 10 * time.Minute

// maxWatched bounds the batches whose transactions are waited for at once;
// the others wait their turn, oldest first.
const maxWatched = 256

// keeper looks after the Outbox: it forgets a batch once the ledger has
// sealed every transaction in it, and publishes a batch again when it has
// waited RepublishAfter (then twice as long, up to 10 minutes) without
// being sealed, at once for the batches found in the outbox at start, and
// at once for all of them when RepublishNow is called (the bus came back).
// Publishing a batch again is safe: the bus answers a batch it still holds
// as a duplicate, and the ledger records a batch it sealed once.
//
// Concurrency: run owns the schedule (states); one watch goroutine per
// watched batch waits on the ledger and tells the store when it is sealed.
type keeper struct {
	g     *Gateway
	store *outbox.Store

	mu       sync.Mutex
	states   map[string]*keptState // by batch id
	watching int
	nowAll   bool          // RepublishNow asked
	wake     chan struct{} // a round now (buffered, 1)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type keptState struct {
	next    time.Time     // when to publish again
	wait    time.Duration // the wait after that
	watched bool
}

func newKeeper(g *Gateway, store *outbox.Store) *keeper {
	k := &keeper{g: g, store: store, states: map[string]*keptState{}, wake: make(chan struct{}, 1)}
	// What the outbox kept from an earlier run goes out again at once: the
	// bus may have lost it in the same crash.
	for _, e := range store.Pending() {
		k.states[e.BatchID] = &keptState{wait: g.cfg.RepublishAfter}
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	k.wg.Add(1)
	go k.run()
	return k
}

// published schedules a batch the batcher just kept and published.
func (k *keeper) published(id string) {
	now := k.g.cfg.Now()
	k.mu.Lock()
	if _, ok := k.states[id]; !ok {
		k.states[id] = &keptState{next: now.Add(k.g.cfg.RepublishAfter), wait: 2 * k.g.cfg.RepublishAfter}
	}
	k.mu.Unlock()
}

// RepublishNow has the keeper publish every kept batch again at its next
// round, as after the bus restarted.
func (k *keeper) RepublishNow() {
	k.mu.Lock()
	k.nowAll = true
	k.mu.Unlock()
	k.kick()
}

// kick has the keeper run a round now (a city was added, or RepublishNow).
func (k *keeper) kick() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *keeper) close() {
	k.cancel()
	k.wg.Wait()
}

func (k *keeper) run() {
	defer k.wg.Done()
	tick := time.NewTicker(min(time.Second, max(k.g.cfg.RepublishAfter/4, 10*time.Millisecond)))
	defer tick.Stop()
	for {
		k.round()
		select {
		case <-tick.C:
		case <-k.wake:
		case <-k.ctx.Done():
			return
		}
	}
}

// round starts watchers for the oldest batches not watched yet, and
// publishes again those due.
func (k *keeper) round() {
	pending := k.store.Pending()
	k.g.metrics.outboxBatches.Set(float64(len(pending)))
	k.g.metrics.outboxBytes.Set(float64(k.store.Stats().Bytes))
	now := k.g.cfg.Now()
	var due []outbox.Entry
	k.mu.Lock()
	all := k.nowAll
	k.nowAll = false
	live := make(map[string]bool, len(pending))
	for _, e := range pending {
		live[e.BatchID] = true
		st, ok := k.states[e.BatchID]
		if !ok { // added by another path (a batcher that has not told us yet)
			st = &keptState{next: e.Added.Add(k.g.cfg.RepublishAfter), wait: 2 * k.g.cfg.RepublishAfter}
			k.states[e.BatchID] = st
		}
		if !st.watched && k.watching < maxWatched {
			st.watched = true
			k.watching++
			k.wg.Add(1)
			go k.watch(e)
		}
		if all || !now.Before(st.next) {
			due = append(due, e)
		}
	}
	for id := range k.states {
		if !live[id] {
			delete(k.states, id)
		}
	}
	k.mu.Unlock()
	for _, e := range due {
		if k.ctx.Err() != nil {
			return
		}
		if !k.republish(e) {
			continue // its city is not served (yet): due again next round
		}
		k.mu.Lock()
		if st, ok := k.states[e.BatchID]; ok {
			st.next = k.g.cfg.Now().Add(st.wait)
			st.wait = min(2*st.wait, maxRepublishWait)
		}
		k.mu.Unlock()
	}
}

// republish publishes a kept batch again on its city's subject; false if
// this gateway does not serve the city (yet: AddCity comes after New).
func (k *keeper) republish(e outbox.Entry) bool {
	c, err := k.g.city(e.City)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(k.ctx, 5*time.Second)
	defer cancel()
	ack, err := c.b.pub.Publish(ctx, c.b.subject, e.BatchID, e.Frame)
	if err != nil {
		if k.ctx.Err() == nil {
			c.health.failed(err)
			k.g.metrics.republished.WithLabelValues("failed").Inc()
			k.g.cfg.Logger.Warn("gateway: publishing a kept batch again failed", "city", e.City, "batch", e.BatchID, "err", err)
		}
		return true
	}
	c.health.ok()
	if ack.Duplicate {
		k.g.metrics.republished.WithLabelValues("duplicate").Inc()
		return true
	}
	k.g.metrics.republished.WithLabelValues("stored").Inc()
	k.g.cfg.Logger.Info("gateway: the bus no longer held a kept batch; stored it again", "city", e.City, "batch", e.BatchID,
		"seq", ack.Sequence, "txs", len(e.TxIDs))
	return true
}

// watch waits until the ledger has sealed every transaction of a kept
// batch, counting each one's result (baybus_gateway_sealed_total: a batch
// still kept when the gateway restarts is counted again after), then
// forgets it.
func (k *keeper) watch(e outbox.Entry) {
	defer k.wg.Done()
	defer func() {
		k.mu.Lock()
		k.watching--
		if st, ok := k.states[e.BatchID]; ok {
			st.watched = false
		}
		k.mu.Unlock()
	}()
	for _, id := range e.TxIDs {
		loc, ok := k.sealed(id)
		if !ok {
			return
		}
		result := loc.Result
		if result == "" {
			result = "ok"
		}
		k.g.metrics.sealed.WithLabelValues(e.City, result).Inc()
	}
	if err := k.store.Done(e.BatchID); err != nil && k.ctx.Err() == nil {
		k.g.cfg.Logger.Warn("gateway: outbox", "err", err)
	}
}

// sealed waits for one transaction, a minute at a time, until the keeper
// stops (false), and returns where it was sealed.
func (k *keeper) sealed(id schemas.TxID) (Location, bool) {
	for {
		ctx, cancel := context.WithTimeout(k.ctx, time.Minute)
		loc, err := k.g.cfg.Ledger.WaitTx(ctx, id)
		cancel()
		if err == nil {
			return loc, true
		}
		if k.ctx.Err() != nil {
			return Location{}, false
		}
		select { // a ledger that fails at once is asked again after a pause
		case <-time.After(time.Second):
		case <-k.ctx.Done():
			return Location{}, false
		}
	}
}
