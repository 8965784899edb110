package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// ProofMetricNames are the names of the proof publisher's metrics.
var ProofMetricNames = []string{
	"baybus_proofs_generate_seconds",
	"baybus_proofs_generated_total",
	"baybus_proofs_published_total",
	"baybus_proofs_dropped_total",
	"baybus_proofs_failed_total",
	"baybus_proofs_skipped_blocks_total",
	"baybus_proofs_queued",
	"baybus_proofs_mark_height",
}

// ProofSink publishes one message to JetStream with a message id and
// waits for the stream's acknowledgement (*bus.Publisher).
type ProofSink interface {
	Publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error)
}

var _ ProofSink = (*bus.Publisher)(nil)

// ProveRootFunc is a license state's ProveRoot (ledger/state.Store).
type ProveRootFunc func(key string) (*smt.Leaf, *smt.Proof, uint64, [32]byte, error)

// ProofPublisherConfig configures a ProofPublisher. Zero fields take the
// defaults given.
type ProofPublisherConfig struct {
	Sink ProofSink // required: an orderer's or the operator's bus.Publisher
	// Queue is how many bundles may wait for publishing. Default 16,384
	// (about 45 MB of 1 KiB-transaction bundles): a block of a few thousand
	// transactions queues its bundles at once.
	Queue int
	// QueueWait is how long the commit hook waits for room in a full queue
	// before it drops the rest of a block's bundles and counts them
	// (subscribers can fetch fresh proofs on demand). Default 2 s, room for
	// a few blocks' bundles at the publish rate; negative: drop at once.
	// Waiting holds back only the publishing orderer, which a quorum does
	// not need, and it is kept short because that orderer's engine waits on
	// its commit.
	QueueWait time.Duration
	// Publishers is how many publishes are in flight. Default 1,024: at a
	// few thousand proofs a second and milliseconds per acknowledgement on
	// a busy server, 32 fell behind and the queue dropped proofs.
	Publishers int
	// Workers decode and prove a block's transactions in parallel on the
	// commit path (proof.Builder). Default GOMAXPROCS: the commit waits
	// for the proofs, and an orderer that lags behind its peers leaves the
	// cluster without a spare vote. Encoding and publishing happen on the
	// publisher goroutines.
	Workers int
	// Timeout bounds one publish with its retries. Default 10 s.
	Timeout time.Duration
	// Cache, if set, keeps each block the hook proves with its trees, so
	// fresh proofs of its licenses (the query service, a backfill) need
	// not read it again.
	Cache      *proof.BlockCache
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics registered
}

// ProofStats are a publisher's counters.
type ProofStats struct {
	Blocks     uint64 // blocks proved
	Generated  uint64 // bundles made
	Published  uint64 // bundles stored by GBA_PROOFS (duplicates included)
	Duplicates uint64 // bundles the stream already had (same Nats-Msg-Id)
	Dropped    uint64 // bundles dropped because the queue was full
	Failed     uint64 // bundles whose publish failed after retries
	Skipped    uint64 // blocks skipped because the state was not at their height and root
	Errors     uint64 // blocks whose proofs could not be made for another reason
	Queued     int    // bundles waiting now
}

// proofMsg is a bundle waiting to be published: encoded by the publisher
// goroutines, off the commit path.
type proofMsg struct {
	height uint64
	bundle *proof.Bundle
	mark   *proofMark // the mark it is accounted to; nil before Resume
}

// ProofPublisher publishes a proof of every OK transaction of each block
// the orderer commits, on gba.proofs.<jurisdiction>.<kind> (the issuer's
// jurisdiction, the kind's short name) of stream GBA_PROOFS, with
// Nats-Msg-Id = the transaction id, in the compact binary form.
//
// A proof cannot leave out the bytes it proves, so a proof of a record
// that holds natural persons' names or identity numbers in plaintext (a
// chain of rules version 1 or 2) goes instead on
// gba.proofs.<jurisdiction>.<kind>.personal, which only a reader with a
// personal grant ("CN.certificate.personal", `keys add-reader`) may
// subscribe to (issue 14 §4). Records of rules version 3 hold digests,
// and their proofs all go on the plain subjects.
//
// The hook (Hook) runs on the orderer's commit path, after the block is
// fsynced and its state applied and before the next block's state is: it
// makes the bundles there, synchronously, because the state proofs must be
// read at exactly that height, and only queues them. Publisher goroutines
// started by Start encode and publish from the queue; a full queue drops
// bundles and counts them rather than slowing consensus down.
//
// Goroutines: the commit path (one at a time per orderer) runs the hook;
// Publishers goroutines own the sends. Counters are atomic.
type ProofPublisher struct {
	cfg   ProofPublisherConfig
	log   *slog.Logger
	queue chan proofMsg

	blocks, generated, published, duplicates, dropped, failed, skipped, errs atomic.Uint64
	inFlight                                                                 atomic.Int64
	mark                                                                     atomic.Pointer[proofMark] // set by Resume

	bfMu     sync.Mutex // guards the running backfill's handles
	bfCancel context.CancelFunc
	bfDone   chan struct{}
	closed   chan struct{} // closed by Close

	genSeconds prometheus.Histogram
	registered []prometheus.Collector // in cfg.Registerer, until Close

	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// NewProofPublisher returns a publisher; call Start to publish.
func NewProofPublisher(cfg ProofPublisherConfig) (*ProofPublisher, error) {
	if cfg.Sink == nil {
		return nil, errors.New("node: proof publisher needs a sink")
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 16384
	}
	if cfg.Publishers <= 0 {
		cfg.Publishers = 1024
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.QueueWait == 0 {
		cfg.QueueWait = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &ProofPublisher{cfg: cfg, log: cfg.Logger.With("component", "proofs"), queue: make(chan proofMsg, cfg.Queue), closed: make(chan struct{}),
		genSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "baybus_proofs_generate_seconds",
			Help: "Time to make the proofs of one block on the commit path.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})}
	if cfg.Registerer != nil {
		counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
		}
		for _, c := range []prometheus.Collector{
			p.genSeconds,
			counter("baybus_proofs_generated_total", "License proofs made on commit.", &p.generated),
			counter("baybus_proofs_published_total", "License proofs stored by GBA_PROOFS.", &p.published),
			counter("baybus_proofs_dropped_total", "License proofs dropped because the publish queue was full.", &p.dropped),
			counter("baybus_proofs_failed_total", "License proofs whose publish failed.", &p.failed),
			counter("baybus_proofs_skipped_blocks_total", "Blocks not proved because the state was not at their height.", &p.skipped),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "baybus_proofs_queued", Help: "License proofs waiting to be published."},
				func() float64 { return float64(len(p.queue)) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "baybus_proofs_mark_height",
				Help: "Height through which every block's proofs are stored or counted lost (proofs.mark); far below the chain, a block's proofs are stuck."},
				func() float64 {
					if m := p.mark.Load(); m != nil {
						return float64(m.height())
					}
					return 0
				}),
		} {
			if err := cfg.Registerer.Register(c); err != nil {
				p.unregister()
				return nil, fmt.Errorf("node: proof metrics: %w", err)
			}
			p.registered = append(p.registered, c)
		}
	}
	return p, nil
}

// Start starts the publisher goroutines; they run until Close or until ctx
// is done.
func (p *ProofPublisher) Start(ctx context.Context) {
	p.startOnce.Do(func() {
		ctx, p.cancel = context.WithCancel(ctx)
		for range p.cfg.Publishers {
			p.wg.Add(1)
			go p.run(ctx)
		}
	})
}

// Close stops the publisher goroutines; bundles still queued are dropped
// (and counted).
func (p *ProofPublisher) Close() {
	p.stopOnce.Do(func() {
		close(p.closed)
		p.StopBackfill()
		if p.cancel != nil {
			p.cancel()
		}
		p.wg.Wait()
		p.unregister()
		for {
			select {
			case <-p.queue:
				p.dropped.Add(1)
			default:
				return
			}
		}
	})
}

// unregister takes the publisher's metrics out of the registry, so a
// publisher made again (a node opened again) can register its own.
func (p *ProofPublisher) unregister() {
	for _, c := range p.registered {
		p.cfg.Registerer.Unregister(c)
	}
	p.registered = nil
}

// Stats returns the counters.
func (p *ProofPublisher) Stats() ProofStats {
	return ProofStats{Blocks: p.blocks.Load(), Generated: p.generated.Load(), Published: p.published.Load(),
		Duplicates: p.duplicates.Load(), Dropped: p.dropped.Load(), Failed: p.failed.Load(), Skipped: p.skipped.Load(),
		Errors: p.errs.Load(), Queued: len(p.queue) + int(p.inFlight.Load())}
}

// Hook returns the commit hook of an orderer whose license state's
// ProveRoot is prove: orderer.Config.OnCommit. It must be called after the
// state holds rec's height and before it moves on; a state at another
// height or root is detected, the block skipped and counted.
func (p *ProofPublisher) Hook(prove ProveRootFunc) func(rec *blocklog.Record, blk *block.Block) {
	return func(rec *blocklog.Record, blk *block.Block) { p.OnCommit(rec, blk, prove) }
}

// OnCommit makes and queues the proofs of one committed block.
func (p *ProofPublisher) OnCommit(rec *blocklog.Record, blk *block.Block, prove ProveRootFunc) {
	h, mark := rec.Header.Height, p.mark.Load()
	if rec.Header.TxCount == 0 {
		mark.add(h, 0)
		return
	}
	start := time.Now()
	bundles, err := proof.Builder{Workers: p.cfg.Workers, Cache: p.cfg.Cache}.ForBlock(&rec.Header, &rec.QC, blk, proof.ProveAt(&rec.Header, prove))
	mark.add(h, len(bundles))
	if err != nil {
		if errors.Is(err, proof.ErrStateMoved) {
			p.skipped.Add(1)
			p.log.Warn("proofs: state not at the block's height; block skipped", "height", rec.Header.Height, "err", err)
		} else {
			p.errs.Add(1)
			p.log.Error("proofs: cannot prove block", "height", rec.Header.Height, "err", err)
		}
		return
	}
	p.blocks.Add(1)
	p.genSeconds.Observe(time.Since(start).Seconds())
	// A full queue holds this orderer's commit for up to QueueWait: it may
	// fall behind the others (a quorum does not need it) rather than lose
	// proofs. Past the wait, the rest of the block's bundles are dropped.
	var expired <-chan time.Time
	if p.cfg.QueueWait > 0 {
		t := time.NewTimer(p.cfg.QueueWait)
		defer t.Stop()
		expired = t.C
	}
	for _, b := range bundles {
		p.generated.Add(1)
		m := proofMsg{height: h, bundle: b, mark: mark}
		select {
		case p.queue <- m:
			continue
		default:
		}
		if expired != nil {
			select {
			case p.queue <- m:
				continue
			case <-expired:
				expired = nil
			case <-p.closed:
				expired = nil
			}
		}
		p.dropped.Add(1)
		mark.settle(h)
	}
}

func (p *ProofPublisher) run(ctx context.Context) {
	defer p.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-p.queue:
			p.inFlight.Add(1)
			if p.send(ctx, m) {
				m.mark.settle(m.height)
			}
			p.inFlight.Add(-1)
		}
	}
}

// send encodes one bundle and publishes it on its jurisdiction's and
// kind's subject (the personal one if it proves a record with personal
// fields in plaintext: PersonalInPlaintext), retrying with back-off within the timeout. It reports
// whether the bundle is accounted for: stored, or failed and counted; not
// when the publisher stopped under it (the proof mark then keeps its
// height for the next run).
func (p *ProofPublisher) send(ctx context.Context, pm proofMsg) bool {
	tx, err := pm.bundle.Transaction()
	if err == nil && !tx.Kind.IsLicense() {
		// Grants and access records (rules version 3) are no one's to
		// follow: they are proved on demand to their city and reader
		// (gateway/share), never published on the proof subjects.
		return true
	}
	var data []byte
	if err == nil {
		data, err = pm.bundle.MarshalBinary()
	}
	if err != nil {
		p.errs.Add(1)
		p.log.Error("proofs: encode", "height", pm.height, "key", pm.bundle.Key, "err", err)
		return true
	}
	subject, id := bus.ProofSubject(string(tx.Jurisdiction), tx.Kind.Short()), hex.EncodeToString(pm.bundle.Tx.ID[:])
	personal, err := PersonalInPlaintext(pm.bundle)
	if err != nil {
		// Not published: a proof whose records cannot be read cannot be
		// shown to hold no personal field.
		p.errs.Add(1)
		p.log.Error("proofs: read the records proved", "height", pm.height, "key", pm.bundle.Key, "err", err)
		return true
	}
	if personal {
		subject = bus.PersonalProofSubject(string(tx.Jurisdiction), tx.Kind.Short())
	}
	run := ctx
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	fail := func(err error) bool {
		if run.Err() != nil {
			p.dropped.Add(1) // stopped: like a bundle left in the queue
			return false
		}
		p.failed.Add(1)
		p.log.Warn("proofs: publish failed", "subject", subject, "tx", id, "err", err)
		return true
	}
	wait := 50 * time.Millisecond
	for {
		ack, err := p.cfg.Sink.Publish(ctx, subject, id, data)
		if err == nil {
			p.published.Add(1)
			if ack != nil && ack.Duplicate {
				p.duplicates.Add(1)
			}
			return true
		}
		if errors.Is(err, bus.ErrPermission) || ctx.Err() != nil {
			return fail(err)
		}
		select {
		case <-ctx.Done():
			return fail(err)
		case <-time.After(wait):
			wait = min(2*wait, time.Second)
		}
	}
}

// PersonalInPlaintext reports whether a bundle proves a record holding a
// natural person's name or identity number in plaintext
// (schemas.PersonalPaths, values not digests): the transaction proved, or
// the record in force beside it. Such a bundle is published only on the
// personal proof subject.
func PersonalInPlaintext(b *proof.Bundle) (bool, error) {
	tx, err := b.Transaction()
	if err != nil {
		return false, err
	}
	if plaintextPersonal(tx) {
		return true, nil
	}
	if b.Record == nil {
		return false, nil
	}
	rec, err := schemas.DecodeTx(b.Record.Bytes)
	if err != nil {
		return false, fmt.Errorf("node: record in force of %s: %w", b.Key, err)
	}
	return plaintextPersonal(rec), nil
}

// plaintextPersonal reports whether tx's record holds a personal field's
// value itself: PersonalPaths of the record with its digests set aside
// finds only the values present.
func plaintextPersonal(tx *schemas.Tx) bool {
	r := tx.Record
	r.SD = nil
	if r.Holder != nil {
		h := *r.Holder
		h.SD = nil
		r.Holder = &h
	}
	r.People = slices.Clone(r.People)
	for i := range r.People {
		r.People[i].SD = nil
	}
	return len(schemas.PersonalPaths(tx.Kind, &r)) > 0
}
