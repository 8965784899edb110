package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocksync"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas/keys"
)

// Source serves a ledger's block records (the blocklog.Record encoding) in
// height order: a stopped node's block log read in place (OpenBlockLog), or
// the orderers of a running system over the bus (NewBusSource). Records are
// checked by the reader (hash links, quorum certificates, batch signatures),
// not by the source.
type Source interface {
	// Height returns the height of the last block the source can serve.
	Height(ctx context.Context) (uint64, error)
	// Records calls fn with the record of every block from..to in order,
	// or only of the heights want accepts if want is not nil. fn owns raw.
	Records(ctx context.Context, from, to uint64, want func(uint64) bool, fn func(height uint64, raw []byte) error) error
	// String names the source in reports.
	String() string
	Close() error
}

// ErrNoBlockLog: the data directory holds no block log.
var ErrNoBlockLog = errors.New("reconcile: no block log")

// BlocksDir finds the block log in a data directory: a `baybus up` data
// directory (DIR/orderers/<name>/blocks: orderer names which, default the
// first orderer of the trust bundle that has one), an orderer's directory
// (DIR/blocks) or the block log itself.
func BlocksDir(dataDir, ordererName string, trust *keys.Bundle) (string, error) {
	isLog := func(d string) bool {
		ents, err := os.ReadDir(d)
		if err != nil {
			return false
		}
		for _, e := range ents {
			if len(e.Name()) == walSegmentNameLen && !e.IsDir() {
				return true
			}
		}
		return false
	}
	if ordererName != "" {
		d := filepath.Join(dataDir, "orderers", ordererName, "blocks")
		if !isLog(d) {
			return "", fmt.Errorf("%w for orderer %q in %s", ErrNoBlockLog, ordererName, dataDir)
		}
		return d, nil
	}
	if trust != nil {
		for _, o := range trust.Orderers {
			if d := filepath.Join(dataDir, "orderers", o, "blocks"); isLog(d) {
				return d, nil
			}
		}
	}
	for _, d := range []string{filepath.Join(dataDir, "blocks"), dataDir} {
		if isLog(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w in %s (neither orderers/<name>/blocks, blocks/ nor a log itself)", ErrNoBlockLog, dataDir)
}

// walSegmentNameLen is the length of a ledger/wal segment file's name (the
// 20-digit index of its first record).
const walSegmentNameLen = 20

// ErrTruncating: the block log holds the files of an interrupted
// truncation, which only opening it for writing (starting the node)
// resolves. It is wal.ErrTruncating.
var ErrTruncating = wal.ErrTruncating

// OpenBlockLog opens a block log for reading only, through
// blocklog.OpenReader: nothing in dir is written, created, cut or fsynced,
// so it is safe on a stopped node's data and on a read-only mount. A torn
// last record (a crash in the middle of a write, which a restart cuts) ends
// the log; Warnings says so. Corruption is a *wal.CorruptError, at open
// (last segment) or while reading (older segments); a log that does not
// start at block 1 is blocklog.ErrBrokenChain.
func OpenBlockLog(dir string) (Source, error) { return OpenBlockLogCold(dir, nil) }

// OpenBlockLogCold is OpenBlockLog for a log whose oldest blocks were
// archived (blocklog.Store.Archive, ledger/archive): the blocks below the
// live log are read from cold, which must hold every one of them (a gap is
// blocklog.ErrArchive). Without it such a log is blocklog.ErrBrokenChain.
func OpenBlockLogCold(dir string, cold blocklog.Cold) (Source, error) {
	r, err := blocklog.OpenReaderCold(dir, cold)
	if errors.Is(err, wal.ErrTruncating) {
		return nil, fmt.Errorf("reconcile: block log: %w (start the node once to finish it)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile: block log: %w", err)
	}
	return &logSource{log: r}, nil
}

type logSource struct {
	log *blocklog.Reader
}

func (s *logSource) Height(context.Context) (uint64, error) { return s.log.Height(), nil }

func (s *logSource) Records(ctx context.Context, from, to uint64, want func(uint64) bool, fn func(uint64, []byte) error) error {
	return s.log.Scan(ctx, from, to, want, fn)
}

func (s *logSource) String() string { return "block log " + s.log.Dir() }
func (s *logSource) Close() error   { return nil }

// Warnings reports a torn last record.
func (s *logSource) Warnings() []string {
	tail := s.log.Torn()
	if tail == nil {
		return nil
	}
	return []string{fmt.Sprintf("the block log ends in a torn write at height %d (%v): read up to block %d; the orderer cuts it when it next starts", tail.Index, tail, s.log.Height())}
}

// BusConfig configures a Source that fetches blocks from running orderers.
type BusConfig struct {
	// Conn is a connection as the bus's `service` identity (it may publish
	// on gba.sync.* and read its inbox).
	Conn *nats.Conn
	// Trust is the consortium's trust bundle: replies must be signed by the
	// orderer asked.
	Trust *keys.Bundle
	// Orderer names the one orderer to read from; "" tries them all, the
	// highest first.
	Orderer string
	// Timeout bounds one request. Default 10 s.
	Timeout time.Duration
	// Batch is how many blocks one request asks for. Default 64 (an
	// orderer answers at most blocksync.MaxReplyBytes per request).
	Batch int
}

// NewBusSource returns a Source that fetches block records from the
// orderers with ledger/blocksync's client, the protocol the orderers serve
// for block sync on gba.sync.<orderer>. Records come authenticated as the
// orderer's and at consecutive heights; the reader verifies them
// (blocklog.VerifyRecord), in parallel, as it does a block log's.
func NewBusSource(cfg BusConfig) (Source, error) {
	if cfg.Conn == nil || cfg.Trust == nil {
		return nil, errors.New("reconcile: bus source needs a connection and a trust bundle")
	}
	if cfg.Orderer != "" && cfg.Trust.OrdererIndex(cfg.Orderer) < 0 {
		return nil, fmt.Errorf("reconcile: %q is not an orderer of the trust bundle (%v)", cfg.Orderer, cfg.Trust.Orderers)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	c, err := blocksync.NewClient(blocksync.ClientConfig{Conn: cfg.Conn, Trust: cfg.Trust, Timeout: cfg.Timeout, StatusTimeout: min(cfg.Timeout, 2*time.Second)})
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	return &busSource{cfg: cfg, client: c}, nil
}

// ErrNoOrderer: no orderer answered.
var ErrNoOrderer = errors.New("reconcile: no orderer answered")

type busSource struct {
	cfg    BusConfig
	client *blocksync.Client
	mu     sync.Mutex
	peers  []blocksync.PeerHeight // highest first, from the last Height
}

func (s *busSource) String() string {
	if s.cfg.Orderer != "" {
		return "bus " + s.cfg.Conn.ConnectedUrlRedacted() + " (orderer " + s.cfg.Orderer + ")"
	}
	return "bus " + s.cfg.Conn.ConnectedUrlRedacted()
}

func (s *busSource) Close() error {
	s.client.Close()
	return nil
}

// Height asks the orderers (or the one configured) for their heights, in
// parallel, and returns the highest. Blocks are self-certifying (quorum
// certificates), so an orderer that claims too much can only fail to serve.
func (s *busSource) Height(ctx context.Context) (uint64, error) {
	names := s.cfg.Trust.Orderers
	if s.cfg.Orderer != "" {
		names = []string{s.cfg.Orderer}
	}
	got, err := s.client.Heights(ctx, names)
	if len(got) == 0 {
		return 0, fmt.Errorf("%w: %w", ErrNoOrderer, err)
	}
	s.mu.Lock()
	s.peers = got
	s.mu.Unlock()
	return got[0].Height, nil
}

// Records fetches runs of consecutive wanted heights, Batch blocks per
// request, from the highest orderer that holds them, falling back to the
// others.
func (s *busSource) Records(ctx context.Context, from, to uint64, want func(uint64) bool, fn func(uint64, []byte) error) error {
	s.mu.Lock()
	peers := slices.Clone(s.peers)
	s.mu.Unlock()
	if len(peers) == 0 {
		if _, err := s.Height(ctx); err != nil {
			return err
		}
		s.mu.Lock()
		peers = slices.Clone(s.peers)
		s.mu.Unlock()
	}
	for h := max(from, 1); h <= to; {
		if want != nil && !want(h) {
			h++
			continue
		}
		end := h
		for end < to && end-h+1 < uint64(s.cfg.Batch) && (want == nil || want(end+1)) {
			end++
		}
		next, err := s.fetch(ctx, peers, h, end, fn)
		if err != nil {
			return err
		}
		h = next
	}
	return nil
}

// fetch gets blocks from..to from the first peer that serves them and
// returns the height after the last one handed to fn (at least from+1).
func (s *busSource) fetch(ctx context.Context, peers []blocksync.PeerHeight, from, to uint64, fn func(uint64, []byte) error) (uint64, error) {
	var errs []error
	for _, p := range peers {
		if p.Height < from {
			continue
		}
		callerFailed := false
		got, err := s.client.Records(ctx, p.Name, from, uint32(to-from+1), func(h uint64, raw []byte) error {
			if err := fn(h, raw); err != nil {
				callerFailed = true
				return err
			}
			return nil
		})
		if callerFailed {
			return 0, err
		}
		if got > 0 {
			return from + uint64(got), nil // progress; the rest comes with the next request
		}
		if err == nil {
			err = fmt.Errorf("reconcile: %s served no block from %d", p.Name, from)
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	return 0, fmt.Errorf("%w with blocks %d..%d: %w", ErrNoOrderer, from, to, errors.Join(errs...))
}
