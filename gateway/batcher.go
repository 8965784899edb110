package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/gateway/outbox"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// Errors of the batcher.
var (
	// ErrBackpressure: the city's queue is full; retry after a short wait.
	ErrBackpressure = errors.New("gateway: queue full")
	// ErrClosed: the gateway is shutting down.
	ErrClosed = errors.New("gateway: closed")
	// ErrNotKept: the bus stored a batch but the outbox could not keep it,
	// so its receipts would promise more than is true.
	ErrNotKept = errors.New("gateway: batch not kept")
)

// keeping is a batcher's part in the outbox: keep each batch before its
// receipts, tell the keeper it was published.
type keeping struct {
	store  *outbox.Store
	keeper *keeper
	health *pubHealth
}

// BatchConfig tunes a city's batcher. Zero fields take the defaults.
type BatchConfig struct {
	MaxTxs   int           // transactions per batch; default 256
	MaxBytes int           // canonical bytes per batch; default 512 KiB
	Linger   time.Duration // how long a batch that is not full waits for more while earlier batches are in flight; default 2ms
	// MaxInFlight is how many of the city's batches are published at once.
	// Default 1: the bus then stores a city's batches in the order its
	// events arrived, so an issue and the suspension after it are ordered
	// as sent. Above 1, batches may overtake each other.
	MaxInFlight int
	QueueSize   int // transactions waiting for a batch; default 8192 (beyond it: ErrBackpressure)
	// PublishAttempt bounds one attempt to publish a batch, PublishTimeout
	// all of them (bus.Retry): a stream without a leader (a NATS server
	// down, an election under way) answers no publish, and a new attempt
	// reaches a new leader as soon as there is one. Defaults
	// bus.DefaultAttempt (2 s) and 10 s; past it the batch fails with
	// bus.ErrNoLeader.
	PublishAttempt time.Duration
	PublishTimeout time.Duration
}

func (c BatchConfig) withDefaults() BatchConfig {
	if c.MaxTxs == 0 {
		c.MaxTxs = 256
	}
	c.MaxTxs = min(c.MaxTxs, schemas.MaxBatchTxs)
	if c.MaxBytes == 0 {
		c.MaxBytes = 512 << 10
	}
	if c.Linger == 0 {
		c.Linger = 2 * time.Millisecond
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1
	}
	if c.QueueSize == 0 {
		c.QueueSize = 8192
	}
	if c.PublishAttempt <= 0 {
		c.PublishAttempt = bus.DefaultAttempt
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 10 * time.Second
	}
	return c
}

// Publisher stores a batch frame on the bus. *bus.Publisher implements it.
type Publisher interface {
	Publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error)
}

// Published says where a transaction's batch was stored.
type Published struct {
	BatchID   string
	Stream    string
	Seq       uint64
	Duplicate bool // the stream already held this batch (a retried publish)
	Index     int  // the transaction's position in the batch
	Batch     *schemas.Batch
}

type pending struct {
	raw  []byte
	id   schemas.TxID   // ComputeTxID(raw), computed once by the gateway
	done chan pubResult // buffered, 1
}

type pubResult struct {
	pub Published
	err error
}

// batcher gathers one city's transactions into signed batches.
//
// Concurrency: Submit may be called from any goroutine; it only sends on the
// bounded queue. run owns the batch being gathered; each publish runs in its
// own goroutine, bounded by the slots semaphore.
type batcher struct {
	cfg     BatchConfig
	chain   string
	city    string
	subject string
	signer  keys.Signer
	pub     Publisher
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	health  *pubHealth
	keep    *keeping // nil without an outbox

	queue chan pending
	slots chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup
	seq   uint64
	once  sync.Once
}

func newBatcher(cfg BatchConfig, chain, city, subject string, signer keys.Signer, pub Publisher, log *slog.Logger, now func() time.Time, m *metrics, health *pubHealth) *batcher {
	cfg = cfg.withDefaults()
	b := &batcher{cfg: cfg, chain: chain, city: city, subject: subject, signer: signer, pub: pub, log: log, now: now, metrics: m, health: health,
		queue: make(chan pending, cfg.QueueSize), slots: make(chan struct{}, cfg.MaxInFlight), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.run()
	return b
}

// Submit queues one canonical transaction and its id (ComputeTxID(raw),
// which the batch's root is built from without hashing again). It never
// blocks: a full queue is ErrBackpressure.
func (b *batcher) Submit(raw []byte, id schemas.TxID) (<-chan pubResult, error) {
	p := pending{raw: raw, id: id, done: make(chan pubResult, 1)}
	select {
	case <-b.stop:
		return nil, ErrClosed
	default:
	}
	select {
	case b.queue <- p:
		return p.done, nil
	default:
		return nil, ErrBackpressure
	}
}

// Close stops taking transactions, flushes what is queued and waits for
// every publish to finish.
func (b *batcher) Close() {
	b.once.Do(func() { close(b.stop) })
	b.wg.Wait()
}

func (b *batcher) run() {
	defer b.wg.Done()
	var timer *time.Timer
	for {
		var first pending
		select {
		case first = <-b.queue:
		case <-b.stop:
			b.drainOnStop()
			return
		}
		batch, size := []pending{first}, len(first.raw)
		full := func() bool { return len(batch) >= b.cfg.MaxTxs || size >= b.cfg.MaxBytes }
		take := func(p pending) { batch = append(batch, p); size += len(p.raw) }
		// Take whatever is already queued.
	drain:
		for !full() {
			select {
			case p := <-b.queue:
				take(p)
			default:
				break drain
			}
		}
		// If the bus is busy with earlier batches, wait a little for more,
		// until the batch is full or a publish slot frees; when idle, go now.
		if !full() && len(b.slots) > 0 {
			if timer == nil {
				timer = time.NewTimer(b.cfg.Linger)
			} else {
				timer.Reset(b.cfg.Linger)
			}
		linger:
			for !full() {
				select {
				case p := <-b.queue:
					take(p)
				case <-timer.C:
					break linger
				case <-b.stop:
					break linger
				}
			}
			timer.Stop()
		}
		b.slots <- struct{}{} // bounded in-flight publishes; the queue absorbs the wait
		b.seq++
		b.wg.Add(1)
		go b.publish(batch, b.seq)
	}
}

// drainOnStop publishes what is left in the queue at shutdown.
func (b *batcher) drainOnStop() {
	for {
		var batch []pending
		size := 0
	more:
		for len(batch) < b.cfg.MaxTxs && size < b.cfg.MaxBytes {
			select {
			case p := <-b.queue:
				batch = append(batch, p)
				size += len(p.raw)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			return
		}
		b.slots <- struct{}{}
		b.seq++
		b.wg.Add(1)
		go b.publish(batch, b.seq)
	}
}

// publish seals and publishes one batch; seq is assigned by run, which
// alone owns b.seq.
func (b *batcher) publish(items []pending, seq uint64) {
	defer b.wg.Done()
	defer func() { <-b.slots }()
	txs := make([][]byte, len(items))
	ids := make([]schemas.TxID, len(items))
	for i, p := range items {
		txs[i], ids[i] = p.raw, p.id
	}
	batch, err := schemas.SealBatchIDs(b.chain, b.city, b.now().UnixNano(), seq, txs, ids, b.signer)
	if err != nil {
		b.fail(items, err)
		return
	}
	frame, id := batch.Encode(), batch.ID()
	// The outbox writes (and fsyncs) while the bus stores: a receipt
	// waits for both.
	var kept <-chan error
	if b.keep != nil {
		if kept, err = b.keep.store.Add(batch, frame); err != nil {
			b.keep.health.failed(err)
			b.fail(items, err)
			return
		}
	}
	start := time.Now()
	var ack *jetstream.PubAck
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.PublishTimeout)
	attempt := 0
	err = bus.Retry{Attempt: b.cfg.PublishAttempt}.Do(ctx, "publish batch "+id, func(ctx context.Context) (err error) {
		if attempt++; attempt > 1 {
			b.log.Warn("batch publish unanswered, retrying", "city", b.city, "batch", id, "attempt", attempt)
		}
		ack, err = b.pub.Publish(ctx, b.subject, id, frame)
		return err
	})
	cancel()
	if errors.Is(err, bus.ErrNoLeader) {
		b.metrics.noLeader.WithLabelValues(b.city).Inc()
	}
	if kept != nil {
		kerr := <-kept
		switch {
		case kerr != nil:
			b.keep.health.failed(kerr)
			if err == nil {
				b.fail(items, fmt.Errorf("%w: batch %s is on the bus but not in the outbox: %w", ErrNotKept, id, kerr))
				return
			}
		case err != nil:
			// Never stored on the bus as far as we know: the client is
			// told so and sends again; not kept.
			b.keep.health.ok()
			if derr := b.keep.store.Done(id); derr != nil {
				b.log.Warn("gateway: outbox", "err", derr)
			}
		default:
			b.keep.health.ok()
			b.keep.keeper.published(id)
		}
	}
	if err != nil {
		b.metrics.publishErrors.WithLabelValues(b.city).Inc()
		b.health.failed(err)
		b.fail(items, fmt.Errorf("gateway: publish batch %s: %w", id, err))
		return
	}
	b.health.ok()
	b.metrics.batches.WithLabelValues(b.city).Inc()
	b.metrics.batchSize.Observe(float64(len(items)))
	b.metrics.publishSeconds.Observe(time.Since(start).Seconds())
	for i, p := range items {
		p.done <- pubResult{pub: Published{BatchID: id, Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate, Index: i, Batch: batch}}
	}
}

func (b *batcher) fail(items []pending, err error) {
	for _, p := range items {
		p.done <- pubResult{err: err}
	}
}
