package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/ledger/orderer"
	"github.com/baybus/baybus/ledger/wal"
)

// KeepConfig tunes a Keeper. Zero fields take the defaults given.
type KeepConfig struct {
	// MinBackoff and MaxBackoff bound the wait before a failed node is
	// opened again; it doubles from one to the other while opening fails.
	// Defaults 1 s and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// OnStart, if set, is called with every node the keeper has started,
	// the first included, before Keep returns or the restart is logged.
	OnStart func(*Node)
}

// KeeperMetricNames are the metrics a Keeper registers (labelled
// orderer=<name>), beside its node's MetricNames.
var KeeperMetricNames = []string{
	"baybus_orderer_up",
	"baybus_orderer_failures_total",
	"baybus_orderer_restarts_total",
	"baybus_orderer_disk_free_bytes",
}

// Keeper keeps one node running. A node whose orderer fails (it cannot
// write its block log or engine WAL, its disk is short of MinFreeDisk, a
// decided block is refused by its own state) stops by itself, and the
// keeper opens it again from its data directory, which repairs what can
// be repaired and catches up from the peers, after a back-off; a node
// stopped for a full disk is reopened only once the space is back. In
// `baybus up`, where every orderer shares one process, a failing orderer
// so never takes the others, the bus or the gateways down with it.
//
// The keeper owns one goroutine, from Keep until Stop.
type Keeper struct {
	cfg Config
	kc  KeepConfig
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards cur, lastErr, down
	cur     *Node
	lastErr error
	down    bool // between a failure and the next start

	failures *prometheus.CounterVec // by cause
	restarts prometheus.Counter
	reg      prometheus.Registerer
	metrics  []prometheus.Collector
}

// Keep opens and starts a node with cfg and keeps it running until Stop
// or the end of ctx. An error opening or starting the first node is
// returned (a node that cannot start on its data at all needs an
// operator); failures after that are the keeper's.
func Keep(ctx context.Context, cfg Config, kc KeepConfig) (*Keeper, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if kc.MinBackoff <= 0 {
		kc.MinBackoff = time.Second
	}
	if kc.MaxBackoff < kc.MinBackoff {
		kc.MaxBackoff = max(30*time.Second, kc.MinBackoff)
	}
	k := &Keeper{cfg: cfg, kc: kc, log: cfg.Logger.With("node", cfg.Name), done: make(chan struct{})}
	k.ctx, k.cancel = context.WithCancel(ctx)
	n, err := k.start()
	if err != nil {
		k.cancel()
		return nil, err
	}
	if err := k.register(); err != nil {
		n.Stop()
		k.cancel()
		return nil, err
	}
	k.cur = n
	if kc.OnStart != nil {
		kc.OnStart(n)
	}
	go k.run()
	return k, nil
}

// start opens and starts a node. A node that failed while starting (its
// scrub found damage, its disk filled) is returned stopped, with its Err
// set, for run to restart; any other error is returned.
func (k *Keeper) start() (*Node, error) {
	n, err := Open(k.cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(k.ctx); err != nil {
		n.Stop()
		if n.Err() != nil && k.ctx.Err() == nil {
			return n, nil
		}
		return nil, err
	}
	return n, nil
}

// Node returns the node as it runs now (or, while the keeper waits to
// restart it, the node that failed).
func (k *Keeper) Node() *Node {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur
}

// Err returns the last failure, nil if the node has not failed since it
// last started.
func (k *Keeper) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.down {
		return nil
	}
	return k.lastErr
}

// Stop stops the node and the keeper. It is safe to call more than once.
func (k *Keeper) Stop() {
	k.cancel()
	<-k.done
	k.Node().Stop()
	for _, c := range k.metrics {
		k.reg.Unregister(c)
	}
	k.metrics = nil
}

func (k *Keeper) run() {
	defer close(k.done)
	for {
		n := k.Node()
		select {
		case <-k.ctx.Done():
			return
		case <-n.Done():
		}
		err := n.Err()
		if err == nil {
			return // stopped on purpose
		}
		if errors.Is(err, orderer.ErrRemoved) {
			// A configuration block took it out of the orderers: opening
			// it again would only stop it again.
			k.mu.Lock()
			k.down, k.lastErr = true, err
			k.mu.Unlock()
			k.log.Warn("node removed from the orderers; not restarting it", "err", err, "height", n.Height())
			return
		}
		k.mu.Lock()
		k.down, k.lastErr = true, err
		k.mu.Unlock()
		k.failures.WithLabelValues(failureCause(err)).Inc()
		k.log.Error("node failed; it will be opened again", "err", err, "height", n.Height(), "after", k.kc.MinBackoff)
		next, ok := k.restart(err)
		if !ok {
			return
		}
		k.mu.Lock()
		k.cur, k.down = next, false
		k.mu.Unlock()
		k.restarts.Inc()
		if k.kc.OnStart != nil {
			k.kc.OnStart(next)
		}
		k.log.Info("node restarted", "height", next.Height(), "after", err)
	}
}

// restart opens and starts the node again, after a back-off, and for a
// full disk only once there is room again. It returns false when the
// keeper stops first.
func (k *Keeper) restart(cause error) (*Node, bool) {
	diskFull := errors.Is(cause, orderer.ErrDiskFull)
	for backoff := k.kc.MinBackoff; ; backoff = min(2*backoff, k.kc.MaxBackoff) {
		select {
		case <-k.ctx.Done():
			return nil, false
		case <-time.After(backoff):
		}
		if diskFull {
			free, err := k.cfg.FreeDisk(k.cfg.DataDir)
			if err == nil && free < k.cfg.MinFreeDisk {
				k.log.Warn("disk still full; the node stays stopped", "dir", k.cfg.DataDir, "free", free, "need", k.cfg.MinFreeDisk)
				continue
			}
		}
		n, err := k.start()
		if err == nil && n.Err() == nil {
			return n, true
		}
		if err == nil {
			err = n.Err() // failed again as it started
		}
		if k.ctx.Err() != nil {
			return nil, false
		}
		k.mu.Lock()
		k.lastErr = err
		k.mu.Unlock()
		diskFull = errors.Is(err, orderer.ErrDiskFull)
		k.log.Warn("node did not start again", "err", err, "retry_in", min(2*backoff, k.kc.MaxBackoff))
	}
}

// failureCause is the failures metric's label for err.
func failureCause(err error) string {
	switch {
	case errors.Is(err, orderer.ErrDiskFull):
		return "disk_full"
	case errors.Is(err, wal.ErrCorrupt):
		return "corrupt"
	default:
		return "other"
	}
}

func (k *Keeper) register() error {
	k.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baybus_orderer_failures_total",
		Help: "Times the node stopped by itself, by cause (disk_full, corrupt, other); its keeper opens it again."}, []string{"cause"})
	for _, c := range []string{"disk_full", "corrupt", "other"} {
		k.failures.WithLabelValues(c)
	}
	k.restarts = prometheus.NewCounter(prometheus.CounterOpts{Name: "baybus_orderer_restarts_total",
		Help: "Times the keeper opened and started the node again after a failure."})
	if k.cfg.Registerer == nil {
		return nil
	}
	k.reg = prometheus.WrapRegistererWith(prometheus.Labels{"orderer": k.cfg.Name}, k.cfg.Registerer)
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "baybus_orderer_up",
		Help: "1 while the node runs, 0 while it is stopped after a failure (baybus_orderer_failures_total says why)."},
		func() float64 {
			if k.Err() != nil {
				return 0
			}
			return 1
		})
	free := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "baybus_orderer_disk_free_bytes",
		Help: "Free bytes on the file system of the node's data directory; below the node's minimum it stops sealing."},
		func() float64 {
			f, err := k.cfg.FreeDisk(k.cfg.DataDir)
			if err != nil {
				return -1
			}
			return float64(f)
		})
	for _, c := range []prometheus.Collector{k.failures, k.restarts, up, free} {
		if err := k.reg.Register(c); err != nil {
			for _, r := range k.metrics {
				k.reg.Unregister(r)
			}
			k.metrics = nil
			return fmt.Errorf("node: keeper metrics: %w", err)
		}
		k.metrics = append(k.metrics, c)
	}
	return nil
}
