// Package bench measures baybus on the machine it runs on: the full
// pipeline (HTTP gateways, JetStream, SmartBFT orderers, fsynced block
// logs) and, in the same process, the machine's own limits for the same
// work: raw JetStream publishes of the same size and the signature work the
// design needs per transaction. Figures are reported, never asserted.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// Config of a run. Zero fields take the defaults in withDefaults.
type Config struct {
	Duration time.Duration // measured window; default 10s
	Warmup   time.Duration // before the window; default 3s
	Orderers int           // default 4
	Cities   int           // 1..11 publishing cities; default 11
	Size     int           // target canonical transaction size in bytes; default 1024
	Rate     float64       // offered tx/s (open loop); 0 = closed loop, as fast as acknowledged
	Bulk     int           // events per HTTP request; 1 = one per request; default 256 closed loop, OpenLoopBulk open loop
	Workers  int           // concurrent HTTP clients per city; default 2
	DataDir  string        // default a temporary directory, removed after
	Recovery bool          // measure an orderer's restart and catch-up after the load
	Proofs   bool          // measure license-proof generation and verification after the load
	NoRefs   bool          // skip the reference measurements (sweeps measure them once)
	// BlockBatches and MaxBacklog override the system's defaults (batches
	// per block; batches waiting on the bus before the gateways hold events).
	BlockBatches int
	MaxBacklog   int
	// HeapProfile, if set, is a file the heap profile taken at the
	// pipeline's peak resident set (PeakMemory) is written to.
	HeapProfile string
	// CPUProfile, if set, is a file the CPU profile of the measured window
	// is written to: the profile CPUByRole is summed from, with the role
	// labels (go tool pprof -tagfocus / -tags).
	CPUProfile string
	// NoRoles skips the CPU profile of the window and CPUByRole.
	NoRoles bool
	// PeerCmd, if set, is a shell command run after the references that
	// measures another system on this machine and prints its tx/s
	// (PeerResult); PeerTimeout bounds it (default DefaultPeerTimeout).
	PeerCmd     string
	PeerTimeout time.Duration
	Logger      *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = 3 * time.Second
	}
	if c.Orderers == 0 {
		c.Orderers = 4
	}
	if c.Cities == 0 {
		c.Cities = 11
	}
	c.Cities = min(max(c.Cities, 1), 11)
	if c.Size == 0 {
		c.Size = 1024
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Bulk == 0 {
		c.Bulk = 256
		if c.Rate > 0 {
			c.Bulk = OpenLoopBulk(c.Rate, c.Cities*c.Workers)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// openLoopPeriod is how often each client sends in an open loop when the
// request size is left to the bench.
const openLoopPeriod = 500 * time.Millisecond

// OpenLoopBulk is the request size (1 to 256 events) an open loop at rate
// tx/s uses by default: each of the clients sends about every
// openLoopPeriod, so the offered load is smooth at low rates as at high.
func OpenLoopBulk(rate float64, clients int) int {
	return min(max(int(rate*openLoopPeriod.Seconds()/float64(clients)), 1), 256)
}

// sendInterval is each client's period in an open loop (0 in a closed
// one). It must leave every client several sends in the window, or the
// window would measure when the sends happened to fall.
func (c Config) sendInterval() (time.Duration, error) {
	if c.Rate <= 0 {
		return 0, nil
	}
	clients := c.Cities * c.Workers
	iv := time.Duration(float64(time.Second) * float64(c.Bulk) * float64(clients) / c.Rate)
	if iv > c.Duration/4 {
		return 0, fmt.Errorf("bench: at %.0f tx/s each of %d clients sends %d events every %v, too seldom for a %v window; lower --bulk",
			c.Rate, clients, c.Bulk, iv.Round(time.Millisecond), c.Duration)
	}
	return iv, nil
}

// Latency is a distribution in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Result is the documented JSON output of `baybus bench --json`.
type Result struct {
	CommittedTPS        float64 `json:"committed_tps"`           // transactions sealed per second in the window
	AckedTPS            float64 `json:"acked_tps"`               // transactions acknowledged by the gateways per second in the window
	OfferedTPS          float64 `json:"offered_tps,omitempty"`   // --rate, if open loop
	Finality            Latency `json:"finality_ms"`             // accepted (or intended send time, open loop) -> sealed
	Committed           int64   `json:"committed"`               // sealed in the window
	Acked               int64   `json:"acked"`                   // acknowledged in the window
	Refused             int64   `json:"refused"`                 // refused by the gateways (backpressure or errors), whole run
	JetStreamRawPubPerS float64 `json:"jetstream_raw_pub_per_s"` // async publishes/s of messages of the same size, same storage
	CryptoFloorTPS      float64 `json:"crypto_floor_tps"`        // best rate of the per-transaction signature work
	RatioVsJetStream    float64 `json:"ratio_vs_jetstream"`
	RatioVsCryptoFloor  float64 `json:"ratio_vs_crypto_floor"`
	RSSPeakBytes        int64   `json:"rss_peak_bytes"`
	CPUSecondsPer1kTx   float64 `json:"cpu_s_per_1k_tx"`
	DiskBytesPerTx      float64 `json:"disk_bytes_per_tx"` // block logs of all orderers + JetStream, per sealed transaction
	DiskBytesPerTxOne   float64 `json:"disk_bytes_per_tx_per_orderer"`
	// PeakMemory is when the sampled resident set was largest and how
	// much of it was the Go runtime's.
	PeakMemory *PeakMemory `json:"rss_peak,omitempty"`
	// CPUByRole is where the CPU of the measured window went, per 1,000
	// transactions sealed in it; absent if no profile could be taken.
	CPUByRole *CPUByRole `json:"cpu_s_per_1k_tx_by_role,omitempty"`
	// Disk is where those bytes are, per sealed transaction.
	Disk           DiskBreakdown `json:"disk_per_tx"`
	MeanBatchTxs   float64       `json:"mean_batch_txs"`
	MeanBlockTxs   float64       `json:"mean_block_txs"`
	Blocks         uint64        `json:"blocks"`
	Proofs         *Proofs       `json:"proofs,omitempty"`      // license proofs: generation and verification rates
	RecoveryMS     float64       `json:"recovery_ms,omitempty"` // restart of one orderer to the cluster's height
	RecoveryBlocks uint64        `json:"recovery_blocks,omitempty"`
	RecoveryTxs    int64         `json:"recovery_txs,omitempty"`
	Mode           string        `json:"mode"` // "bulk N per request" or "one per request"
	Orderers       int           `json:"orderers"`
	Cities         int           `json:"cities"`
	SizeBytes      int           `json:"size_bytes"`
	DurationS      float64       `json:"duration_s"`
	GoVersion      string        `json:"go_version"`
	CPUs           int           `json:"cpus"`
	GOOS           string        `json:"goos"`
	GOARCH         string        `json:"goarch"`
	// Peer is the peer measured by Config.PeerCmd in the same run.
	Peer *PeerResult `json:"peer,omitempty"`
	// RefusedBy counts refused events by the gateway's error code
	// ("transport" when no answer came); `bench --cluster` only.
	RefusedBy map[string]int64 `json:"refused_by,omitempty"`
}

// Run measures the pipeline, then the references, and returns the figures.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	dir := cfg.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "baybus-bench-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	res := &Result{Orderers: cfg.Orderers, Cities: cfg.Cities, SizeBytes: cfg.Size, DurationS: cfg.Duration.Seconds(),
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, OfferedTPS: cfg.Rate}
	res.Mode = "one event per request"
	if cfg.Bulk > 1 {
		res.Mode = fmt.Sprintf("bulk, %d events per request (JSONL)", cfg.Bulk)
	}
	watch := startPeakWatch(ctx, cfg.HeapProfile != "")
	err := runPipeline(ctx, cfg, dir, res, watch)
	peak, heap := watch.stop()
	if err != nil {
		return nil, err
	}
	// The pipeline's own peak: the references below fill memory of their own.
	res.RSSPeakBytes = peakRSS()
	res.PeakMemory = &peak
	if cfg.HeapProfile != "" && heap != nil {
		if err := os.WriteFile(cfg.HeapProfile, heap, 0o644); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	if cfg.NoRefs {
		return res, nil
	}
	raw, err := RawJetStream(ctx, cfg.Size, cfg.Cities, 3*time.Second)
	if err != nil {
		return nil, fmt.Errorf("bench: raw JetStream: %w", err)
	}
	res.JetStreamRawPubPerS = raw
	batchesPerBlock := 16.0
	if res.MeanBatchTxs > 0 && res.MeanBlockTxs > 0 {
		batchesPerBlock = res.MeanBlockTxs / res.MeanBatchTxs
	}
	res.CryptoFloorTPS = CryptoFloor(cfg.Orderers, max(res.MeanBatchTxs, 1), batchesPerBlock, 2*time.Second)
	if raw > 0 {
		res.RatioVsJetStream = res.CommittedTPS / raw
	}
	if res.CryptoFloorTPS > 0 {
		res.RatioVsCryptoFloor = res.CommittedTPS / res.CryptoFloorTPS
	}
	if cfg.PeerCmd != "" {
		res.Peer = runPeer(ctx, cfg, res.CommittedTPS)
	}
	return res, nil
}

// DiskBreakdown splits the bytes on disk per sealed transaction by where
// they are: one orderer's block log, and JetStream's three streams (the
// signed batches, the sealed headers, the license proofs).
type DiskBreakdown struct {
	BlockLogPerOrderer float64 `json:"block_log_per_orderer"`
	JetStreamTx        float64 `json:"jetstream_tx"`
	JetStreamBlocks    float64 `json:"jetstream_blocks"`
	JetStreamProofs    float64 `json:"jetstream_proofs"`
}

// finality pairs the clients' acknowledgements with the tracker's seals,
// in whichever order they come: a block may be read before the answer to
// the request that carried one of its transactions. Safe for concurrent use.
type finality struct {
	inWindow func(time.Time) bool
	mu       sync.Mutex
	from     map[schemas.TxID]time.Time // acknowledged, not yet seen sealed: accepted, or intended send time in open loop
	early    map[schemas.TxID]time.Time // seen sealed before acknowledged: when
	lat      []time.Duration            // of the transactions sealed in the window
}

func newFinality(inWindow func(time.Time) bool) *finality {
	return &finality{inWindow: inWindow, from: map[schemas.TxID]time.Time{}, early: map[schemas.TxID]time.Time{}}
}

// acked records that id was accepted, counting from the time from.
func (f *finality) acked(id schemas.TxID, from time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at, ok := f.early[id]; ok {
		delete(f.early, id)
		f.stamp(from, at)
		return
	}
	f.from[id] = from
}

// sealed records that the transactions ids were seen sealed at at.
func (f *finality) sealed(ids []schemas.TxID, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		from, ok := f.from[id]
		if !ok {
			f.early[id] = at
			continue
		}
		delete(f.from, id)
		f.stamp(from, at)
	}
}

func (f *finality) stamp(from, at time.Time) {
	if f.inWindow(at) {
		f.lat = append(f.lat, max(at.Sub(from), 0))
	}
}

// pending is how many acknowledged transactions are not yet seen sealed.
func (f *finality) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.from)
}

// result is how many transactions were sealed in the window and their
// finality.
func (f *finality) result() (int64, Latency) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.lat)), percentiles(f.lat)
}

func runPipeline(ctx context.Context, cfg Config, dir string, res *Result, watch *peakWatch) error {
	interval, err := cfg.sendInterval()
	if err != nil {
		return err
	}
	// Rules version 2 by name, the chain every figure in
	// docs/performance.md was measured on (the library default was 2
	// until it became keys.MaxRules).
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "-", Orderers: cfg.Orderers, Rules: 2,
		Chain: "gba-bench", Engine: bft.Options{BlockMaxBatches: uint64(cfg.BlockBatches)}, MaxBacklog: cfg.MaxBacklog, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer sys.Stop()
	base := "http://" + sys.HTTPAddr
	tokens := map[string]string{}
	for _, city := range schemas.CityTokens()[:cfg.Cities] {
		if tokens[city], err = sys.Token(city); err != nil {
			return err
		}
	}
	cpu0 := cpuSeconds()
	watch.setPhase("load")

	var acked, refused, seq atomic.Int64
	start := time.Now()
	winFrom, winTo := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	inWindow := func(t time.Time) bool { return !t.Before(winFrom) && t.Before(winTo) }
	fin := newFinality(inWindow)

	// profiling is set while the window's CPU profile runs, so the
	// tracker counts what was sealed under it.
	var profiling atomic.Bool

	// Tracker: reads each new block of orderer 0 and stamps finality.
	node := sys.Nodes[0]
	trackCtx, stopTrack := context.WithCancel(ctx)
	trackDone := make(chan struct{})
	var blockTxs, blocks, windowTxs atomic.Int64
	go labelled(ctx, roleBench, func(context.Context) {
		defer close(trackDone)
		var h uint64
		for {
			if err := node.WaitHeight(trackCtx, h+1); err != nil {
				return
			}
			for ; h < node.Height(); h++ {
				blk, err := node.Store().Block(h + 1)
				if err != nil {
					cfg.Logger.Error("bench: read block", "height", h+1, "err", err)
					continue
				}
				now := time.Now()
				blocks.Add(1)
				var ids []schemas.TxID
				for _, t := range blk.Txs() {
					if t.Result == block.OK {
						ids = append(ids, t.ID)
					}
				}
				blockTxs.Add(int64(len(ids)))
				if profiling.Load() {
					windowTxs.Add(int64(len(ids)))
				}
				fin.sealed(ids, now)
			}
		}
	})

	// Load: workers per city, closed or open loop.
	loadCtx, stopLoad := context.WithDeadline(ctx, winTo)
	defer stopLoad()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	template, padLen := makeTemplate(cfg.Size)
	var wg sync.WaitGroup
	workers := cfg.Cities * cfg.Workers
	cities := schemas.CityTokens()[:cfg.Cities]
	loadStart := time.Now()
	// CPU by role: a profile of the measured window.
	var (
		prof     *roleProfile
		profErr  error
		stopProf = make(chan struct{})
		profDone = make(chan struct{})
	)
	go func() {
		defer close(profDone)
		if cfg.NoRoles {
			return
		}
		select {
		case <-time.After(time.Until(winFrom)):
		case <-loadCtx.Done():
			return
		}
		p, err := startRoleProfile()
		if err != nil {
			profErr = err
			return
		}
		profiling.Store(true)
		<-stopProf
		profiling.Store(false)
		p.stop()
		prof = p
	}()
	for w := range workers {
		city := cities[w%len(cities)]
		wg.Add(1)
		go labelled(ctx, roleBench, func(context.Context) {
			defer wg.Done()
			pad := newFiller(uint64(w), padLen)
			// Open loop: the workers' sends are spread evenly over the
			// interval, not fired together (a burst of every worker's
			// request at once each interval would measure the burst).
			next := loadStart.Add(interval * time.Duration(w) / time.Duration(workers))
			for loadCtx.Err() == nil {
				intended := time.Now()
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-loadCtx.Done():
							return
						}
					}
					intended = next // latency from the intended send time: a stall is not hidden
					next = next.Add(interval)
				}
				body := &bytes.Buffer{}
				for range cfg.Bulk {
					n := seq.Add(1)
					fmt.Fprintf(body, template, city, n, benchID(city, n), pad.next())
					body.WriteByte('\n')
				}
				receipts, err := post(loadCtx, hc, base+"/v1/cities/"+city+"/events", tokens[city], body.Bytes())
				if err != nil {
					if loadCtx.Err() == nil {
						refused.Add(int64(cfg.Bulk))
						time.Sleep(50 * time.Millisecond)
					}
					continue
				}
				now := time.Now()
				from := now
				if interval > 0 {
					from = intended
				}
				for _, r := range receipts {
					if r.Error != nil {
						refused.Add(1)
						continue
					}
					id, _ := schemas.ParseID(r.TxID)
					if inWindow(now) {
						acked.Add(1)
					}
					fin.acked(id, from)
				}
			}
		})
	}
	wg.Wait()
	close(stopProf)
	<-profDone
	watch.setPhase("drain")
	// Let what is in flight drain a little, for the disk and block figures.
	drain := time.Now().Add(5 * time.Second)
	for time.Now().Before(drain) && fin.pending() > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	stopTrack()
	<-trackDone

	cpu := cpuSeconds() - cpu0
	res.Committed, res.Finality = fin.result()
	res.Acked, res.Refused = acked.Load(), refused.Load()
	res.CommittedTPS = float64(res.Committed) / cfg.Duration.Seconds()
	res.AckedTPS = float64(res.Acked) / cfg.Duration.Seconds()
	res.Blocks = uint64(blocks.Load())
	if b := blocks.Load(); b > 0 {
		res.MeanBlockTxs = float64(blockTxs.Load()) / float64(b)
	}
	res.MeanBatchTxs = meanBatch(sys)
	if total := blockTxs.Load(); total > 0 {
		res.CPUSecondsPer1kTx = cpu / float64(total) * 1000
		// One walk, so the total and its parts describe the same moment:
		// the proof publisher may still be writing.
		u := measureDisk(dir)
		perTx := func(b int64) float64 { return float64(b) / float64(total) }
		perOrderer := u.blockLogs / int64(cfg.Orderers)
		res.DiskBytesPerTx = perTx(u.blockLogs + u.jetstream)
		res.DiskBytesPerTxOne = perTx(perOrderer + u.jetstream)
		res.Disk = DiskBreakdown{
			BlockLogPerOrderer: perTx(perOrderer),
			JetStreamTx:        perTx(u.streams[bus.StreamTx]),
			JetStreamBlocks:    perTx(u.streams[bus.StreamBlocks]),
			JetStreamProofs:    perTx(u.streams[bus.StreamProofs]),
		}
	}
	switch {
	case prof != nil:
		if res.CPUByRole, err = prof.attribute(windowTxs.Load()); err != nil {
			return err
		}
		if cfg.CPUProfile != "" {
			if err := os.WriteFile(cfg.CPUProfile, prof.buf.Bytes(), 0o644); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
		}
	case profErr != nil:
		cfg.Logger.Warn("bench: no CPU by role", "err", profErr)
	}
	if cfg.Proofs {
		watch.setPhase("proofs")
		if res.Proofs, err = measureProofs(sys, time.Second); err != nil {
			return err
		}
	}
	if cfg.Recovery {
		watch.setPhase("recovery")
		if err := measureRecovery(ctx, sys, res, blockTxs.Load()); err != nil {
			return err
		}
	}
	return nil
}

// measureRecovery restarts the last orderer from its data and times how
// long it takes to be back at the cluster's height.
func measureRecovery(ctx context.Context, sys *system.System, res *Result, txs int64) error {
	i := len(sys.Nodes) - 1
	top := sys.Nodes[0].Height()
	sys.StopOrderer(i)
	start := time.Now()
	if err := sys.StartOrderer(i); err != nil {
		return fmt.Errorf("bench: restart orderer: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := sys.Node(i).WaitHeight(wctx, top); err != nil {
		return fmt.Errorf("bench: restarted orderer did not catch up to %d: %w", top, err)
	}
	res.RecoveryMS = float64(time.Since(start).Microseconds()) / 1000
	res.RecoveryBlocks, res.RecoveryTxs = top, txs
	return nil
}

func meanBatch(sys *system.System) float64 {
	mf := gather(sys, "baybus_gateway_batch_transactions")
	if mf == nil || len(mf.Metric) == 0 {
		return 0
	}
	h := mf.Metric[0].GetHistogram()
	if h.GetSampleCount() == 0 {
		return 0
	}
	return h.GetSampleSum() / float64(h.GetSampleCount())
}

// counter returns a counter's value from the system's registry (0 if it
// has none).
func counter(sys *system.System, name string) float64 {
	if mf := gather(sys, name); mf != nil && len(mf.Metric) > 0 {
		return mf.Metric[0].GetCounter().GetValue()
	}
	return 0
}

func gather(sys *system.System, name string) *dto.MetricFamily {
	mfs, err := sys.Registry.Gather()
	if err != nil {
		return nil
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

type receipt struct {
	TxID  string         `json:"txId"`
	Error *gateway.Error `json:"error"`
}

func post(ctx context.Context, hc *http.Client, url, token string, body []byte) ([]receipt, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/jsonl")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Results []receipt      `json:"results"`
		Error   *gateway.Error `json:"error"`
	}
	if err := jsonDecode(resp.Body, &out); err != nil {
		return nil, err
	}
	if out.Error != nil {
		return nil, out.Error
	}
	return out.Results, nil
}

// makeTemplate returns a JSONL event template (city, seq, id, filler)
// whose canonical transaction is about size bytes, and the filler's length.
func makeTemplate(size int) (string, int) {
	const head = `{"eventId":"bench-%s-%d","kind":"business_registration","action":"issue","occurredAt":"2026-01-01T00:00:00Z","record":{"id":"%s","name":{"en":"Bench Co"},"authority":{"en":"Registry"},"issuedOn":"2026-01-01","establishedOn":"2020-01-01","address":{"en":"1 Bench Road"},"scope":{"en":"%s`
	const tail = `"}}}`
	// The envelope adds about 110 bytes (v, chain, city, jurisdiction);
	// the filler replaces the last %s.
	return head + tail, max(1, size-len(head)-len(tail)-110+2)
}

// benchID is the business registration number of event n of city, valid
// by its jurisdiction's check rules, which the ledger's rules check: a USCC
// of the city's division in CN, an eight-digit BR number in HK, a
// registration number in MO.
func benchID(city string, n int64) string {
	c, err := schemas.LookupCity(city)
	if err != nil {
		panic(err) // the load runs over the registry's cities
	}
	switch c.Jurisdiction {
	case schemas.HK:
		return fmt.Sprintf("%08d", 10000000+n%90000000)
	case schemas.MO:
		return fmt.Sprint(1 + n%99999999)
	}
	id, err := ids.MakeUSCC(c.Division, fmt.Sprintf("B%07d", n%10000000))
	if err != nil {
		panic(err)
	}
	return id
}

// filler makes each event's business scope: random lowercase letters, so
// that no transaction repeats another and compression on disk (the proof
// stream's S2) is not flattered by a repeated pad. It is not safe for
// concurrent use; each load worker has its own.
type filler struct {
	rng *rand.ChaCha8
	buf []byte
}

func newFiller(seed uint64, n int) *filler {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return &filler{rng: rand.NewChaCha8(s), buf: make([]byte, n)}
}

func (f *filler) next() string {
	_, _ = f.rng.Read(f.buf)
	for i, b := range f.buf {
		f.buf[i] = 'a' + b%26
	}
	return string(f.buf)
}

func percentiles(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		return float64(d[min(len(d)-1, int(q*float64(len(d))))].Microseconds()) / 1000
	}
	return Latency{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: float64(d[len(d)-1].Microseconds()) / 1000}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// peakRSS reads VmHWM from /proc/self/status (Linux); 0 elsewhere.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// diskUsage is what a run left on disk: the orderers' block logs, all of
// JetStream's store, and that store split by stream name.
type diskUsage struct {
	blockLogs int64
	jetstream int64
	streams   map[string]int64
}

// measureDisk walks the data directory once. JetStream keeps a stream's
// files under .../streams/<name>/, which is how they are told apart.
func measureDisk(dir string) diskUsage {
	u := diskUsage{streams: map[string]int64{}}
	size := func(d fs.DirEntry) int64 {
		if fi, err := d.Info(); err == nil {
			return fi.Size()
		}
		return 0
	}
	_ = filepath.WalkDir(filepath.Join(dir, "orderers"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "blocks") {
			u.blockLogs += size(d)
		}
		return nil
	})
	_ = filepath.WalkDir(filepath.Join(dir, "jetstream"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		n := size(d)
		u.jetstream += n
		parts := strings.Split(filepath.ToSlash(p), "/")
		for i := 0; i+1 < len(parts)-1; i++ {
			if parts[i] == "streams" {
				u.streams[parts[i+1]] += n
				break
			}
		}
		return nil
	})
	return u
}
