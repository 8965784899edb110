package reconcile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

// FixtureConfig describes a synthetic ledger and register.
type FixtureConfig struct {
	// Dir receives a `baybus up`-shaped data directory: trust.json,
	// orderers/<name>/blocks, and register.jsonl beside them.
	Dir string
	// Licenses is how many licenses the ledger holds for the city, and
	// about how many rows the register has. Default 1,000,000.
	Licenses int
	// City is a CN city token. Default shenzhen.
	City string
	// DiffEvery puts one difference of each class in every DiffEvery
	// licenses. Default 1,000 (0.1 % each).
	DiffEvery int
	// NoDiffs makes a register that matches the ledger exactly.
	NoDiffs bool
	// Seed picks the sample records the licenses are made from.
	Seed int64
}

// Fixture is what WriteFixture made.
type Fixture struct {
	Dir, Register string
	City          schemas.City
	Trust         *keys.Bundle
	Rows          uint64 // register rows
	Blocks        uint64
	LedgerTxs     uint64
	Expected      Counts // the differences injected
}

// benchOrderers are the orderers of a fixture's consortium.
var benchOrderers = []string{"hongkong", "macao", "qianhai", "hengqin"}

// WriteFixture writes a synthetic ledger of issued business licenses of a
// CN city and the city's register, with known differences: per DiffEvery
// licenses one is left out of the register (ledger_only), one is only in
// the register (register_only), one has a different address (fields), one
// is revoked on the ledger (status), and one extra row has a broken USCC
// check character (invalid). The licenses are sample records with fresh
// valid USCCs, made by substituting bytes in normalised templates (checked
// against the bridge every 997 licenses), so a million take seconds, not
// the minutes normalising each would.
//
// The blocks are real (signed batches, results, transaction roots, quorum
// certificates of three of four orderers, a hash-linked block log), but
// their state roots are zero: reconcile does not read them, verify-chain
// would refuse them.
func WriteFixture(ctx context.Context, cfg FixtureConfig) (*Fixture, error) {
	if cfg.Licenses <= 0 {
		cfg.Licenses = 1_000_000
	}
	if cfg.City == "" {
		cfg.City = "shenzhen"
	}
	if cfg.DiffEvery <= 0 {
		cfg.DiffEvery = 1000
	}
	c, err := schemas.LookupCity(cfg.City)
	if err != nil {
		return nil, err
	}
	if c.Jurisdiction != schemas.CN {
		return nil, fmt.Errorf("reconcile: fixtures are of CN cities, not %s", c.Token)
	}
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	cons, err := keys.NewConsortiumRules("gba-bench", schemas.CityTokens(), benchOrderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		return nil, err
	}
	// The fixture writes its blocks without running the ledger's rules
	// (every transaction OK, no state root): rules version 1 headers,
	// which reconcile reads as it always did.
	cons.Bundle.Rules = 1
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	tb, err := cons.Bundle.Marshal()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, keys.TrustFile), tb, 0o644); err != nil {
		return nil, err
	}
	fx := &Fixture{Dir: cfg.Dir, Register: filepath.Join(cfg.Dir, "register.jsonl"), City: c, Trust: cons.Bundle}
	tpl, err := templates(cons.Bundle.Chain, c, cfg.Seed)
	if err != nil {
		return nil, err
	}
	l, err := wal.Open(filepath.Join(cfg.Dir, "orderers", benchOrderers[0], "blocks"), wal.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	rf, err := os.Create(fx.Register)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	reg := bufio.NewWriterSize(rf, 1<<20)

	bw := &blockWriter{cons: cons, city: c.Token, log: l}
	var revokes [][]byte
	class := func(i int) int {
		if cfg.NoDiffs {
			return 0
		}
		return i % cfg.DiffEvery
	}
	for i := range cfg.Licenses {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t := &tpl[i%len(tpl)]
		lic, err := t.license(i, i%997 == 0)
		if err != nil {
			return nil, err
		}
		if err := bw.add(lic.tx); err != nil {
			return nil, err
		}
		row := lic.native
		switch class(i) {
		case 1: // ledger only
			row = nil
			fx.Expected.LedgerOnly++
		case 2: // also a license only the register holds
			extra, err := t.license(cfg.Licenses+i, i%997 == 2)
			if err != nil {
				return nil, err
			}
			writeRow(reg, extra.native)
			fx.Rows++
			fx.Expected.RegisterOnly++
		case 3: // another address
			row = bytes.Replace(row, []byte(t.address), []byte(t.address+"A座"), 1)
			fx.Expected.Fields++
		case 4: // revoked on the ledger
			ev := &schemas.Event{EventID: fmt.Sprintf("bench-revoke-%08d", i), Kind: schemas.KindBusiness, Action: schemas.ActionRevoke,
				OccurredAt: "2024-06-01T10:00:00+08:00", Reason: "吊销营业执照", Record: schemas.Record{ID: lic.id}}
			raw, err := bridge.For(schemas.CN).Native(ev)
			if err != nil {
				return nil, err
			}
			tx, err := bridge.ToTx(cons.Bundle.Chain, c, raw)
			if err != nil {
				return nil, err
			}
			enc, err := schemas.EncodeTx(tx)
			if err != nil {
				return nil, err
			}
			revokes = append(revokes, enc)
			fx.Expected.Status++
		case 5: // an extra row with a broken check character
			bad := lic.id[:17] + "0"
			if lic.id[17] == '0' {
				bad = lic.id[:17] + "1"
			}
			writeRow(reg, bytes.Replace(lic.native, []byte(lic.id), []byte(bad), 1))
			fx.Rows++
			fx.Expected.Invalid++
		}
		if row != nil {
			writeRow(reg, row)
			fx.Rows++
		}
	}
	for _, r := range revokes {
		if err := bw.add(r); err != nil {
			return nil, err
		}
	}
	if err := bw.flush(); err != nil {
		return nil, err
	}
	if err := reg.Flush(); err != nil {
		return nil, err
	}
	if err := l.Sync(); err != nil {
		return nil, err
	}
	fx.Blocks, fx.LedgerTxs = bw.height, bw.txs
	e := &fx.Expected
	e.Total = e.LedgerOnly + e.RegisterOnly + e.Fields + e.Status + e.Invalid
	return fx, nil
}

func writeRow(w *bufio.Writer, row []byte) {
	w.Write(row)
	w.WriteByte('\n')
}

// template is one normalised sample license whose id, event id and native
// hash are substituted to make others.
type template struct {
	chain   string
	city    schemas.City
	native  []byte // canonical
	tx      []byte // canonical
	id      string
	eventID string
	hash    string // hex of the native hash
	prefix8 string // the USCC's authority, category and division
	address string // its 住所, to change for a fields difference
}

func templates(chain string, c schemas.City, seed int64) ([]template, error) {
	evs, err := bridge.Sample(c, schemas.KindBusiness, 400, seed)
	if err != nil {
		return nil, err
	}
	var out []template
	for _, raw := range evs {
		tx, err := bridge.ToTx(chain, c, raw)
		if err != nil {
			return nil, err
		}
		if tx.Action != schemas.ActionIssue || len(tx.Record.ID) != 18 {
			continue
		}
		canon, err := schemas.CanonicalizeJSON(raw)
		if err != nil {
			return nil, err
		}
		enc, err := schemas.EncodeTx(tx)
		if err != nil {
			return nil, err
		}
		t := template{chain: chain, city: c, native: canon, tx: enc, id: tx.Record.ID, eventID: tx.EventID,
			hash: strings.TrimPrefix(tx.NativeHash, "sha256:"), prefix8: tx.Record.ID[:8], address: tx.Record.Address[schemas.LangHans]}
		// Every substituted string must occur where it is meant to only.
		if bytes.Count(canon, []byte(t.id)) != 1 || bytes.Count(enc, []byte(t.id)) != 1 || bytes.Count(canon, []byte(t.eventID)) != 1 ||
			bytes.Count(enc, []byte(t.eventID)) != 1 || bytes.Count(enc, []byte(t.hash)) != 1 || t.address == "" || bytes.Count(canon, []byte(t.address)) != 1 {
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("reconcile: no sample license fits as a template")
	}
	return out, nil
}

type benchLicense struct {
	id     string
	native []byte
	tx     []byte
}

// license makes license n from the template; check normalises it through
// the bridge and compares.
func (t *template) license(n int, check bool) (benchLicense, error) {
	body := fmt.Sprintf("%08d", n)
	oc, err := ids.OrgCodeCheckChar(body)
	if err != nil {
		return benchLicense{}, err
	}
	first17 := t.prefix8 + body + string(oc)
	cc, err := ids.USCCCheckChar(first17)
	if err != nil {
		return benchLicense{}, err
	}
	id := first17 + string(cc)
	eventID := fmt.Sprintf("bench-%s-%08d", t.city.Token, n)
	native := bytes.Replace(t.native, []byte(t.id), []byte(id), 1)
	native = bytes.Replace(native, []byte(t.eventID), []byte(eventID), 1)
	sum := sha256.Sum256(native)
	tx := bytes.Replace(t.tx, []byte(t.id), []byte(id), 1)
	tx = bytes.Replace(tx, []byte(t.eventID), []byte(eventID), 1)
	tx = bytes.Replace(tx, []byte(t.hash), []byte(hex.EncodeToString(sum[:])), 1)
	if check {
		want, err := bridge.ToTx(t.chain, t.city, native)
		if err != nil {
			return benchLicense{}, fmt.Errorf("reconcile: fixture license %d: %w", n, err)
		}
		enc, err := schemas.EncodeTx(want)
		if err != nil {
			return benchLicense{}, err
		}
		if !bytes.Equal(enc, tx) {
			return benchLicense{}, fmt.Errorf("reconcile: fixture license %d: substituted transaction differs from the bridge's", n)
		}
	}
	return benchLicense{id: id, native: native, tx: tx}, nil
}

// blockWriter seals transactions into batches of one city and blocks of
// several batches, all OK, with a quorum certificate.
type blockWriter struct {
	cons    *keys.Consortium
	city    string
	log     *wal.Log
	pending [][]byte
	batches []*schemas.Batch
	size    int
	parent  *block.Header
	height  uint64
	txs     uint64
	seq     uint64
}

const (
	benchBatchBytes   = 700 << 10
	benchBlockBatches = 8
)

func (w *blockWriter) add(tx []byte) error {
	if w.size+len(tx) > benchBatchBytes || len(w.pending) == schemas.MaxBatchTxs {
		if err := w.seal(); err != nil {
			return err
		}
	}
	w.pending = append(w.pending, tx)
	w.size += len(tx)
	if len(w.batches) == benchBlockBatches {
		return w.cut()
	}
	return nil
}

func (w *blockWriter) seal() error {
	if len(w.pending) == 0 {
		return nil
	}
	w.seq++
	b, err := schemas.SealBatch(w.cons.Bundle.Chain, w.city, int64(w.seq), w.seq, w.pending, w.cons.Cities[w.city])
	if err != nil {
		return err
	}
	w.batches = append(w.batches, b)
	w.pending, w.size = nil, 0
	return nil
}

func (w *blockWriter) flush() error {
	if err := w.seal(); err != nil {
		return err
	}
	return w.cut()
}

func (w *blockWriter) cut() error {
	if len(w.batches) == 0 {
		return nil
	}
	w.height++
	md := blocklog.ViewMetadata{LatestSequence: w.height, DecisionsInView: w.height - 1}
	blk := &block.Block{Header: block.Header{Chain: w.cons.Bundle.Chain, Height: w.height, Timestamp: int64(w.height),
		Proposer: benchOrderers[1], Consensus: md.Encode()}, Batches: w.batches}
	var ok []schemas.TxID
	for _, b := range w.batches {
		ok = append(ok, b.IDs...)
		blk.Results = append(blk.Results, make([]block.Result, len(b.IDs))...)
	}
	if w.parent != nil {
		blk.Header.Prev = w.parent.Hash()
	}
	blk.Header.TxRoot = merkle.Root(ok)
	blk.Header.ResultsHash = block.ResultsHash(blk.Results)
	blk.Header.TxCount = uint32(len(ok))
	rec := &blocklog.Record{Header: blk.Header, BlockData: block.Encode(blk)}
	for _, o := range benchOrderers[:3] {
		rec.AddVote(w.cons.Orderers[o], o, nil)
	}
	if _, err := w.log.Append(rec.Encode()); err != nil {
		return err
	}
	hdr := blk.Header
	w.parent = &hdr
	w.txs += uint64(len(ok))
	w.batches = nil
	return nil
}

// BenchConfig configures RunBench.
type BenchConfig struct {
	Fixture FixtureConfig
	// Workers for Run (default GOMAXPROCS).
	Workers int
	// Keep leaves the fixture in Fixture.Dir; by default it is removed.
	Keep bool
}

// BenchResult is what RunBench measured.
type BenchResult struct {
	Rows          uint64  `json:"rows"`
	Licenses      int     `json:"licenses"`
	Blocks        uint64  `json:"blocks"`
	LedgerTxs     uint64  `json:"ledgerTxs"`
	SetupSeconds  float64 `json:"setupSeconds"`
	Seconds       float64 `json:"seconds"`
	RowsPerSecond float64 `json:"rowsPerSecond"` // register rows / total run time
	// PeakRSSBytes is the process's peak resident set during the run
	// (VmHWM, reset before it on Linux; 0 where unknown). PeakHeapBytes is
	// the largest Go heap sampled every 50 ms.
	PeakRSSBytes  uint64 `json:"peakRssBytes"`
	PeakHeapBytes uint64 `json:"peakHeapBytes"`
	RSSReset      bool   `json:"rssReset"` // false: PeakRSSBytes includes the fixture's setup
	// CPUSeconds is the process's user and system time during the run: on
	// a shared machine, rows per CPU second says more than rows per second.
	CPUSeconds float64 `json:"cpuSeconds"`
	// LoadAverage is the machine's 1-minute load average when the run
	// ended (Linux; 0 elsewhere).
	LoadAverage float64  `json:"loadAverage"`
	GOMAXPROCS  int      `json:"gomaxprocs"`
	Summary     *Summary `json:"summary"`
	Expected    Counts   `json:"expected"`
}

// RunBench writes a fixture (WriteFixture), reconciles its register against
// its block log read in place, checks that exactly the injected differences
// are found, and reports rows/s and peak memory. `baybus bench reconcile`
// and BenchmarkReconcile call it.
func RunBench(ctx context.Context, cfg BenchConfig) (*BenchResult, error) {
	if cfg.Fixture.Dir == "" {
		return nil, errors.New("reconcile: bench needs a directory")
	}
	t0 := time.Now()
	fx, err := WriteFixture(ctx, cfg.Fixture)
	if err != nil {
		return nil, err
	}
	if !cfg.Keep {
		defer os.RemoveAll(cfg.Fixture.Dir)
	}
	res := &BenchResult{Rows: fx.Rows, Licenses: cfg.Fixture.Licenses, Blocks: fx.Blocks, LedgerTxs: fx.LedgerTxs,
		SetupSeconds: time.Since(t0).Seconds(), Expected: fx.Expected, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if res.Licenses == 0 {
		res.Licenses = 1_000_000
	}
	dir, err := BlocksDir(fx.Dir, "", fx.Trust)
	if err != nil {
		return nil, err
	}
	src, err := OpenBlockLog(dir)
	if err != nil {
		return nil, err
	}
	reg, err := os.Open(fx.Register)
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	fi, _ := reg.Stat()

	runtime.GC()
	debug.FreeOSMemory()
	res.RSSReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			res.PeakHeapBytes = max(res.PeakHeapBytes, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	t1, c1 := time.Now(), cpuTime()
	sum, err := Run(ctx, Config{City: fx.City, Source: src, Trust: fx.Trust, Register: reg, RegisterName: fx.Register,
		RegisterSize: fi.Size(), Format: FormatJSONL, TempDir: cfg.Fixture.Dir, Workers: cfg.Workers})
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	res.Seconds = time.Since(t1).Seconds()
	res.CPUSeconds = (cpuTime() - c1).Seconds()
	res.LoadAverage = loadAverage()
	res.RowsPerSecond = float64(sum.Rows) / res.Seconds
	res.PeakRSSBytes = peakRSS()
	res.Summary = sum
	if sum.Differences != fx.Expected {
		return res, fmt.Errorf("reconcile: bench found %+v, injected %+v", sum.Differences, fx.Expected)
	}
	return res, nil
}

// peakRSS reads VmHWM from /proc/self/status (Linux); 0 elsewhere.
func peakRSS() uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// loadAverage reads the 1-minute load average from /proc/loadavg.
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
