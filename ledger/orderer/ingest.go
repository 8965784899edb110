package orderer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// Ingestion: every orderer reads the whole GBA_TX stream through its own
// durable consumer ("orderer-<name>") and submits each batch to its engine
// as a request. Because every orderer holds every batch, a leader that
// leaves one out is caught by the followers' request timers (forward, then
// complain, then view change).
//
// A message is acknowledged only once the block holding its batch is
// fsynced here (or at once if the batch is already on the chain), so a
// crash never loses a batch: JetStream redelivers it. A batch that is not a
// valid signed batch for its subject is terminated (never redelivered) and
// counted.

type ingester struct {
	n  *Node
	js jetstream.JetStream

	mu   sync.Mutex // guards cons and iter: run replaces them, the stopper stops iter
	cons jetstream.Consumer
	iter jetstream.MessagesContext

	// created receives the result of the first creation of the
	// consumer, which newIngester starts in the background.
	created chan error

	backoff time.Duration // before the next re-creation; reset by a message (run's own)
}

// consumerTimeout bounds the creation of the orderer's consumer, in
// attempts of bus.DefaultAttempt: long enough for a restarted NATS cluster
// to elect GBA_TX's leader.
const consumerTimeout = 30 * time.Second

// pullExpiry bounds how long the ingester's pull request lives on the
// server; see open.
const pullExpiry = 5 * time.Second

// newIngester creates the orderer's consumer in the background and
// returns at once: Start runs its catch-up from the peers and starts the
// engine meanwhile, so after a whole-deployment restart the wait for
// GBA_TX's leader (nats-server's election, seconds) and the sync overlap.
// start then begins pulling.
func newIngester(n *Node) (*ingester, error) {
	js, err := jetstream.New(n.cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("orderer: jetstream: %w", err)
	}
	in := &ingester{n: n, js: js, created: make(chan error, 1)}
	go func() { in.created <- in.create() }()
	return in, nil
}

// start waits for the consumer newIngester began to create, starts pulling
// from it, and starts the ingest and keep-alive goroutines. The engine
// must be running: every message pulled is submitted to it.
func (in *ingester) start() error {
	n := in.n
	select {
	case err := <-in.created:
		if err != nil {
			return err
		}
	case <-n.ctx.Done():
		return ErrStopped
	}
	if err := in.iterate(); err != nil {
		return err
	}
	go func() {
		<-n.ctx.Done()
		in.mu.Lock()
		in.iter.Stop()
		in.mu.Unlock()
	}()
	n.wg.Add(2)
	go in.keepAlive()
	go in.run()
	return nil
}

// open creates (or updates) the orderer's durable consumer and starts
// pulling from it.
func (in *ingester) open() error {
	if err := in.create(); err != nil {
		return err
	}
	return in.iterate()
}

// create creates (or updates) the orderer's durable consumer.
func (in *ingester) create() error {
	n := in.n
	// Short attempts (bus.Retry): a request sent while GBA_TX has no
	// leader (its cluster restarting) is never answered, or refused with
	// a 503 while there is no quorum, and one request with the whole
	// deadline waited it out even when a leader came a second later; the
	// orderer then exited and a restart cost seconds more.
	ctx, cancel := context.WithTimeout(n.ctx, consumerTimeout)
	defer cancel()
	var cons jetstream.Consumer
	// Attempts of 1 s, pauses of at most 250 ms: after a whole restart
	// an attempt sent before GBA_TX's leader is elected goes unanswered,
	// and the next one should follow the election closely (bus.Retry's
	// 2 s and 1 s added up to 3 s to sealing again).
	err := bus.Retry{Attempt: time.Second, MaxBackoff: 250 * time.Millisecond, Also: bus.Unavailable}.Do(ctx, "create consumer", func(ctx context.Context) (err error) {
		cons, err = in.js.CreateOrUpdateConsumer(ctx, bus.StreamTx, bus.OrdererConsumerConfig(n.cfg.Name, n.cfg.AckWait, int(n.cfg.Engine.PoolSize)))
		return err
	})
	if err != nil {
		return fmt.Errorf("orderer: consumer %s: %w", bus.OrdererConsumer(n.cfg.Name), err)
	}
	in.mu.Lock()
	in.cons = cons
	in.mu.Unlock()
	return nil
}

// iterate starts pulling from the consumer create made.
func (in *ingester) iterate() error {
	n := in.n
	in.mu.Lock()
	cons := in.cons
	in.mu.Unlock()
	// Pull requests expire after pullExpiry, with heartbeats at half of it,
	// so a pull lost with the consumer's leader (a NATS server going down)
	// is noticed and renewed within seconds. nats.go's default, 30 s, left
	// an orderer without batches, refusing every proposal that named one,
	// for half a minute.
	iter, err := cons.Messages(jetstream.PullMaxMessages(int(n.cfg.Engine.BlockMaxBatches)), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return fmt.Errorf("orderer: consume %s: %w", bus.StreamTx, err)
	}
	in.mu.Lock()
	in.iter = iter
	in.mu.Unlock()
	if n.ctx.Err() != nil {
		iter.Stop() // the stopper may have run before the swap
	}
	return nil
}

// reopen re-creates the consumer and its iterator, with back-off, until it
// succeeds or the node stops. The iterator ends for good when its consumer
// is deleted (an operator, a stream re-created); before, the ingester then
// stopped in silence and the orderer never received another batch.
// The back-off grows across calls until a message arrives, so a consumer
// that opens but ends at once is not re-created in a tight loop.
func (in *ingester) reopen() {
	n := in.n
	n.log.Warn("ingest: GBA_TX consumer gone; re-creating it", "consumer", bus.OrdererConsumer(n.cfg.Name), "after", in.backoff)
	for n.ctx.Err() == nil {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(in.backoff):
		}
		in.backoff = min(max(2*in.backoff, 100*time.Millisecond), 5*time.Second)
		err := in.open()
		if err == nil {
			n.stats.reopened.Add(1)
			return
		}
		n.log.Warn("ingest: re-create consumer", "err", err)
	}
}

// keepAlive tells JetStream that batches still waiting for a block are in
// progress, so only a crash (not a slow block) makes them redeliver after
// AckWait. A batch waiting longer than the engine's auto-remove timeout has
// left the engine's pool unsealed: it is let go (Nak), so JetStream
// redelivers it and it is submitted again.
func (in *ingester) keepAlive() {
	defer in.n.wg.Done()
	n := in.n
	t := time.NewTicker(n.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		stale := time.Now().Add(-n.cfg.Engine.AutoRemoveTimeout)
		n.ackMu.Lock()
		for id, f := range n.fetched {
			if f.since.Before(stale) {
				delete(n.fetched, id) // its proposal failed, or it was sealed without us
			}
		}
		for id, m := range n.pending {
			if m.since.Before(stale) {
				delete(n.pending, id)
				_ = m.msg.Nak()
				continue
			}
			_ = m.msg.InProgress()
		}
		n.ackMu.Unlock()
	}
}

func (in *ingester) run() {
	defer in.n.wg.Done()
	for {
		in.mu.Lock()
		iter := in.iter
		in.mu.Unlock()
		msg, err := iter.Next()
		switch {
		case err == nil:
			in.backoff = 0
			in.handle(msg)
		case in.n.ctx.Err() != nil:
			return
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			in.reopen()
		default:
			in.n.log.Warn("ingest: next", "err", err)
		}
	}
}

func (in *ingester) handle(msg jetstream.Msg) {
	n := in.n
	frame := msg.Data()
	city := strings.TrimPrefix(msg.Subject(), "gba.tx.")
	bt, err := schemas.DecodeBatch(frame)
	if err == nil && bt.City != city {
		err = fmt.Errorf("batch of %q published on %s", bt.City, msg.Subject())
	}
	if err == nil {
		// Checks the signature and every transaction now, in parallel
		// with consensus, so proposing and verifying the block reuse it.
		_, err = n.checks.Batch(n.rep.Trust(), bt, n.store.Height()+1)
	}
	if err != nil {
		n.stats.ingestBad.Add(1)
		n.log.Warn("ingest: refusing batch", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	id := bt.ID()
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	n.ackMu.Lock()
	if n.idx.BatchSeen(id) {
		n.ackMu.Unlock()
		if msg.Ack() == nil {
			n.stats.acked.Add(1)
		}
		return
	}
	since := time.Now()
	if old, ok := n.pending[id]; ok {
		since = old.since // a redelivery replaces the older handle
	}
	n.pending[id] = pendingMsg{msg: msg, batch: bt, seq: seq, since: since}
	n.ackMu.Unlock()

	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		err := n.engine.SubmitRequest(frame)
		switch {
		case err == nil:
			n.stats.ingested.Add(1)
			// A proposal may name a batch before it reaches our pool (we
			// resolve it from pending), so its block can be delivered, and
			// the engine clean its pool, between our check above and this
			// submit. Left in the pool, the sealed batch would be forwarded
			// and complained about as if the leader censored it.
			if n.idx.BatchSeen(id) {
				n.removeRequest(types.RequestInfo{ClientID: bt.City, ID: id})
			}
			return
		case strings.Contains(err.Error(), "already exists"):
			return
		case strings.Contains(err.Error(), "already processed"):
			// The pool dropped it unsealed (auto-remove) or sealed it just
			// now; if unsealed, let JetStream bring it back later.
			if !n.idx.BatchSeen(id) {
				n.ackMu.Lock()
				delete(n.pending, id)
				n.ackMu.Unlock()
				_ = msg.NakWithDelay(30 * time.Second)
			}
			return
		}
		// No leader yet, or the pool is full: wait and retry.
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(backoff):
		}
		if n.idx.BatchSeen(id) {
			return
		}
	}
}

// awaitBatches waits until this orderer holds every batch refs names
// (resolve), for the gate before it hands a proposal to the engine and for
// deliver before it commits a decided block: the replica's verification
// never waits.
func (n *Node) awaitBatches(refs []block.BatchRef) error {
	_, err := n.resolve(refs)
	return err
}

// resolve returns the batches a proposal references, from those this
// orderer holds unsealed (ingested and checked, or fetched), waiting up to
// BatchWait for any not received yet. After a short wait it asks its peers
// for those still missing (fetch.go). A batch already on the chain is an
// error at once. Whether each batch is exactly the one referenced is
// block.Refs.Block's check.
func (n *Node) resolve(refs []block.BatchRef) ([]*schemas.Batch, error) {
	out := make([]*schemas.Batch, len(refs))
	var deadline, fetchAt time.Time
	for i, r := range refs {
		for {
			if n.idx.BatchSeen(r.ID) {
				return nil, fmt.Errorf("batch %s of %s is already on the chain", r.ID, r.City)
			}
			if bt := n.heldBatch(r.ID); bt != nil {
				out[i] = bt
				break
			}
			now := time.Now()
			if deadline.IsZero() {
				deadline = now.Add(n.cfg.BatchWait)
				// Most batches arrive from GBA_TX within milliseconds of
				// the proposal; a peer is asked only after this.
				fetchAt = now.Add(n.cfg.BatchWait / 8)
				n.stats.batchWaits.Add(1)
			}
			if !fetchAt.IsZero() && now.After(fetchAt) && n.syncer != nil {
				fetchAt = time.Time{} // once per proposal
				n.syncer.fetchBatches(n.ctx, refs[i:], time.Until(deadline))
				continue
			}
			if now.After(deadline) {
				return nil, fmt.Errorf("orderer: waited %v: %w", n.cfg.BatchWait, &replica.MissingError{Refs: refs[i:]})
			}
			select {
			case <-n.ctx.Done():
				return nil, ErrStopped
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	return out, nil
}
