package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/orderer"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// MetricNames are the names of the metrics every node registers (each
// labelled orderer=<name>), for dashboards and the test that pins them.
var MetricNames = []string{
	"baybus_orderer_height",
	"baybus_orderer_view",
	"baybus_orderer_leader",
	"baybus_orderer_is_leader",
	"baybus_orderer_decisions_total",
	"baybus_orderer_cluster_height",
	"baybus_orderer_ready",
	"baybus_orderer_consumer_pending",
	"baybus_orderer_consumer_ack_pending",
	"baybus_orderer_commit_seconds",
	"baybus_orderer_block_latency_seconds",
	"baybus_orderer_blocklog_fsync_seconds",
	"baybus_orderer_results_total",
	"baybus_orderer_ingested_batches_total",
	"baybus_orderer_ingest_refused_total",
	"baybus_orderer_bad_proposals_total",
	"baybus_orderer_sync_blocks_total",
	"baybus_orderer_sync_refused_total",
	"baybus_orderer_batch_fetches_total",
	"baybus_orderer_batch_fetch_refused_total",
	"baybus_orderer_disk_bytes",
	"baybus_orderer_catalog_height",
}

// stores are the data directory's parts whose size the node reports.
var stores = []string{"blocks", "engine", "index", "state", "catalog"}

// metrics are a node's operator metrics (issue 16 §3). The commit path
// feeds the histograms and counters through Node.committed; the observer
// goroutine sets what it samples from the bus and the disk; the rest are
// read from the node when scraped.
type metrics struct {
	n *Node

	commit, latency, fsync *prometheus.HistogramVec
	decisions              *prometheus.CounterVec // by proposer
	results                *prometheus.CounterVec // by kind, action, result
	pending, ackPending    prometheus.Gauge
	cluster                prometheus.Gauge
	disk                   *prometheus.GaugeVec // by store

	view atomic.Uint64

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

// unregister takes the node's metrics out of the registry, so a node
// opened again on the same data (and name) can register its own.
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

func newMetrics(n *Node) *metrics {
	secs := prometheus.ExponentialBuckets(0.001, 2, 15) // 1 ms to 16 s
	m := &metrics{n: n,
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baybus_orderer_commit_seconds",
			Help: "Time of the commit path of a block: block log append and fsync, state, index, proofs, acknowledgements."}, nil),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baybus_orderer_block_latency_seconds",
			Help: "From a block's timestamp (its proposal) to its commit on this orderer.", Buckets: secs}, nil),
		fsync: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baybus_orderer_blocklog_fsync_seconds",
			Help: "Block log append of one block, fsync included.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, nil),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_orderer_decisions_total",
			Help: "Blocks committed here, by the orderer that proposed them (its leader then)."}, []string{"proposer"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_orderer_results_total",
			Help: "Transactions sealed, by kind, action and result (ok, duplicate, invalid, rejected); kind and action are empty for bytes that are not a transaction."},
			[]string{"kind", "action", "result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "baybus_orderer_consumer_pending",
			Help: "Batches on GBA_TX this orderer's consumer has not yet delivered (sampled)."}),
		ackPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "baybus_orderer_consumer_ack_pending",
			Help: "Batches delivered to this orderer and not yet sealed and acknowledged (sampled)."}),
		cluster: prometheus.NewGauge(prometheus.GaugeOpts{Name: "baybus_orderer_cluster_height",
			Help: "Height of the newest header on gba.blocks (any orderer's), sampled."}),
		disk: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "baybus_orderer_disk_bytes",
			Help: "Bytes on disk per store of this orderer (sampled)."}, []string{"store"}),
	}
	m.commit.WithLabelValues()
	m.latency.WithLabelValues()
	m.fsync.WithLabelValues()
	for _, s := range stores {
		m.disk.WithLabelValues(s)
	}
	if h := n.cfg.Trust; h != nil {
		for _, o := range h.Orderers {
			m.decisions.WithLabelValues(o)
		}
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	n := m.n
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func(orderer.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(n.ord.Stats())) })
	}
	cs := []prometheus.Collector{
		m.commit, m.latency, m.fsync, m.decisions, m.results, m.pending, m.ackPending, m.cluster, m.disk,
		gauge("baybus_orderer_height", "Height of the last block sealed here.", func() float64 { return float64(n.ord.Height()) }),
		gauge("baybus_orderer_view", "SmartBFT view of the last block sealed here.", func() float64 { return float64(m.view.Load()) }),
		gauge("baybus_orderer_leader", "The leader this orderer's engine follows, by consensus id (keys.Bundle.ConsensusID); 0 if the engine is not running.",
			func() float64 { return float64(n.ord.LeaderID()) }),
		gauge("baybus_orderer_is_leader", "1 if this orderer leads now.", func() float64 {
			if id := n.ord.ID(); id != 0 && n.ord.LeaderID() == id {
				return 1
			}
			return 0
		}),
		gauge("baybus_orderer_ready", "1 if the orderer is ready (/readyz): its engine runs and it is within the lag bound of the cluster.", func() float64 {
			if n.Ready() == nil {
				return 1
			}
			return 0
		}),
		gauge("baybus_orderer_catalog_height", "Height the license catalogue has reached (it follows the chain off the commit path).", func() float64 {
			if n.catalog == nil {
				return 0
			}
			return float64(n.catalog.height.Load())
		}),
		counter("baybus_orderer_ingested_batches_total", "Batches read from GBA_TX and submitted to the engine.", func(s orderer.Stats) uint64 { return s.Ingested }),
		counter("baybus_orderer_ingest_refused_total", "Batches refused at ingestion (malformed, bad signature, wrong subject).", func(s orderer.Stats) uint64 { return s.IngestBad }),
		counter("baybus_orderer_bad_proposals_total", "Proposals this orderer refused.", func(s orderer.Stats) uint64 { return s.BadProposals }),
		counter("baybus_orderer_sync_blocks_total", "Blocks fetched from peers by sync.", func(s orderer.Stats) uint64 { return s.Synced }),
		counter("baybus_orderer_sync_refused_total", "Fetched blocks that failed verification.", func(s orderer.Stats) uint64 { return s.SyncRefused }),
		counter("baybus_orderer_batch_fetches_total", "Batches a proposal named, fetched from a peer.", func(s orderer.Stats) uint64 { return s.Fetched }),
		counter("baybus_orderer_batch_fetch_refused_total", "Fetched batches that were not the one referenced or failed their checks.", func(s orderer.Stats) uint64 { return s.FetchRefused }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return fmt.Errorf("node: metrics: %w", err)
		}
		m.reg, m.registered = reg, append(m.registered, c)
	}
	if n.catalog != nil {
		n.catalog.observe = func(kind schemas.Kind, action schemas.Action, r block.Result) {
			m.results.WithLabelValues(string(kind), string(action), r.String()).Inc()
		}
	}
	return nil
}

// committed is the orderer's OnCommitted: metrics, and the block handed to
// the catalogue. It runs on the commit path and does not block.
func (n *Node) committed(ci orderer.CommitInfo) {
	h := &ci.Record.Header
	m := n.metrics
	m.commit.WithLabelValues().Observe(ci.Total.Seconds())
	m.fsync.WithLabelValues().Observe(ci.Append.Seconds())
	if d := time.Since(time.Unix(0, h.Timestamp)); d >= 0 {
		m.latency.WithLabelValues().Observe(d.Seconds())
	}
	m.decisions.WithLabelValues(h.Proposer).Inc()
	var md protos.ViewMetadata
	if proto.Unmarshal(h.Consensus, &md) == nil {
		m.view.Store(md.ViewId)
	}
	if n.catalog != nil {
		n.catalog.offer(ci.Block, ci.Updates)
	}
}

// observer samples, every Config.ObserveEvery, what the node reads from the
// bus and the disk: its GBA_TX consumer's lag, the cluster's height (the
// newest header on gba.blocks) and the bytes of each store. It runs on one
// goroutine of the node's; the values it keeps are read by Ready and the
// metrics.
type observer struct {
	n       *Node
	cluster atomic.Uint64
	sampled atomic.Bool // the cluster's height was read at least once

	mu     sync.Mutex
	js     jetstream.JetStream
	lastEr error
}

func newObserver(n *Node) *observer { return &observer{n: n} }

func (o *observer) run(ctx context.Context) {
	t := time.NewTicker(o.n.cfg.ObserveEvery)
	defer t.Stop()
	for {
		o.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (o *observer) sample(ctx context.Context) {
	n := o.n
	m := n.metrics
	ctx, cancel := context.WithTimeout(ctx, min(n.cfg.ObserveEvery, 5*time.Second))
	defer cancel()
	var errs []error
	if o.js == nil {
		js, err := jetstream.New(n.cfg.Conn)
		if err != nil {
			errs = append(errs, err)
		}
		o.js = js
	}
	if o.js != nil {
		if c, err := o.js.Consumer(ctx, bus.StreamTx, bus.OrdererConsumer(n.cfg.Name)); err == nil {
			if info, err := c.Info(ctx); err == nil {
				m.pending.Set(float64(info.NumPending))
				m.ackPending.Set(float64(info.NumAckPending))
			} else {
				errs = append(errs, fmt.Errorf("consumer info: %w", err))
			}
		} else {
			errs = append(errs, fmt.Errorf("consumer: %w", err))
		}
		if s, err := o.js.Stream(ctx, bus.StreamBlocks); err == nil {
			msg, err := s.GetLastMsgForSubject(ctx, bus.SubjectBlocks)
			switch {
			case err == nil:
				if h, err := strconv.ParseUint(msg.Header.Get("Baybus-Height"), 10, 64); err == nil {
					o.cluster.Store(max(h, o.cluster.Load()))
				}
				o.sampled.Store(true)
			case errors.Is(err, jetstream.ErrMsgNotFound):
				o.sampled.Store(true) // nothing sealed yet
			default:
				errs = append(errs, fmt.Errorf("gba.blocks: %w", err))
			}
		} else {
			errs = append(errs, fmt.Errorf("GBA_BLOCKS: %w", err))
		}
	}
	m.cluster.Set(float64(max(o.cluster.Load(), n.ord.Height())))
	for _, s := range stores {
		m.disk.WithLabelValues(s).Set(float64(dirBytes(filepath.Join(n.cfg.DataDir, s))))
	}
	o.mu.Lock()
	o.lastEr = errors.Join(errs...)
	o.mu.Unlock()
	if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
		n.log.Debug("observe", "err", err)
	}
}

// dirBytes is the size of the files under dir (0 if there is none).
func dirBytes(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

// ErrNotReady is returned by Ready for a node that should not be sent
// work: not started, stopping, or too far behind the cluster.
var ErrNotReady = errors.New("node: not ready")

// Ready reports whether the node is ready: its engine runs, and it is
// within Config.ReadyMaxLag blocks of the newest header any orderer
// published on gba.blocks (sampled every ObserveEvery).
func (n *Node) Ready() error {
	n.mu.Lock()
	started, stopped, failed := n.started, n.stopped, n.err
	n.mu.Unlock()
	switch {
	case failed != nil:
		return fmt.Errorf("%w: %s stopped: %w", ErrNotReady, n.cfg.Name, failed)
	case !started || stopped || !n.ord.Running():
		return fmt.Errorf("%w: the engine of %s is not running", ErrNotReady, n.cfg.Name)
	case n.obs == nil || !n.obs.sampled.Load():
		return fmt.Errorf("%w: %s has not yet read the cluster's height from gba.blocks", ErrNotReady, n.cfg.Name)
	}
	h, top := n.ord.Height(), n.obs.cluster.Load()
	if top > h+n.cfg.ReadyMaxLag {
		return fmt.Errorf("%w: %s is at height %d, the cluster at %d (more than %d behind)", ErrNotReady, n.cfg.Name, h, top, n.cfg.ReadyMaxLag)
	}
	return nil
}
