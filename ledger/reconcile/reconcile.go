package reconcile

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Config configures one reconciliation.
type Config struct {
	// City is the city whose register is reconciled.
	City schemas.City
	// Source serves the ledger's blocks; Trust is the consortium's trust
	// bundle they are checked against (required).
	Source Source
	Trust  *keys.Bundle
	// AsOf is the height to reconcile against; 0 means the source's last
	// block.
	AsOf uint64

	// Register is read once, as a stream. RegisterName names it in the
	// summary; RegisterSize (bytes, 0 if unknown) gives progress an ETA.
	Register     io.Reader
	RegisterName string
	RegisterSize int64
	Format       Format

	// Differences receives the report's differences as JSONL: the invalid
	// rows found while reading, in line order, then every other difference
	// in license-key order. Nil discards them.
	Differences io.Writer

	// Repair, if not nil, receives the planned repair events (native JSON,
	// in license-key order) once the differences are known.
	Repair Publisher
	// RepairChunk is how many events go in one Publish call. Default 200.
	RepairChunk int

	// TempDir holds the scratch index ("" = os.TempDir()); it is removed
	// at the end.
	TempDir string
	// Workers is how many goroutines check blocks and normalise rows.
	// Default GOMAXPROCS.
	Workers int
	// CacheSize is the scratch index's cache. Default 32 MiB.
	CacheSize int64
	// Meter, if not nil, is kept up to date for a progress display.
	Meter *Meter

	noFast bool // tests: normalise every row
}

// Errors that stop a run (the command's exit status 2).
var (
	// ErrWrongJurisdiction: the register's rows are in another
	// jurisdiction's native formats (the first 100 rows, or all of them).
	ErrWrongJurisdiction = errors.New("reconcile: register in another jurisdiction's format")
	// ErrHeight: AsOf is above the ledger's height.
	ErrHeight = errors.New("reconcile: height not reached")
)

// foreignLimit is how many rows in another jurisdiction's formats, and
// nothing else, make a register the wrong one.
const foreignLimit = 100

// run is one reconciliation's state. Its fields are owned by the goroutine
// that calls Run; the parallel workers see only the preparer and the index.
type run struct {
	cfg     Config
	city    schemas.City
	nk      *nativeKeys
	x       *index
	workers int
	meter   *Meter
	sum     Summary
	out     *bufio.Writer

	// register reading
	batch        *pebble.Batch
	foreign      uint64
	mixed        bool // a row that is not in a foreign format was seen
	keyBuf, vBuf []byte
}

// Run reconciles a city's register with the ledger: it indexes the
// ledger's licenses of the city's jurisdiction as of the height (block log
// read through Source, checked against Trust), streams the register against
// them, writes the differences to cfg.Differences and returns the summary.
// With cfg.Repair set it then publishes the repair events. Memory does not
// grow with the register or the ledger: both sides live in a scratch pebble
// index under cfg.TempDir.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	start := time.Now()
	if cfg.Source == nil || cfg.Trust == nil || cfg.Register == nil {
		return nil, errors.New("reconcile: a source, a trust bundle and a register are required")
	}
	if cfg.Format == "" {
		cfg.Format = FormatJSONL
	}
	if _, err := ParseFormat(string(cfg.Format)); err != nil {
		return nil, err
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nk, err := learnNativeKeys(cfg.City.Jurisdiction)
	if err != nil {
		return nil, err
	}
	x, err := openIndex(cfg.TempDir, indexOptions{CacheSize: cfg.CacheSize})
	if err != nil {
		return nil, err
	}
	defer x.close()
	diffs := cfg.Differences
	if diffs == nil {
		diffs = io.Discard
	}
	r := &run{cfg: cfg, city: cfg.City, nk: nk, x: x, workers: workers, meter: cfg.Meter, out: bufio.NewWriterSize(diffs, 64<<10)}
	r.sum = Summary{City: cfg.City.Token, Jurisdiction: string(cfg.City.Jurisdiction), Source: cfg.Source.String(),
		Register: cfg.RegisterName, Format: cfg.Format}
	if w, ok := cfg.Source.(interface{ Warnings() []string }); ok {
		r.sum.Warnings = append(r.sum.Warnings, w.Warnings()...)
	}

	top, err := cfg.Source.Height(ctx)
	if err != nil {
		return nil, err
	}
	height := top
	if cfg.AsOf > 0 {
		if cfg.AsOf > top {
			return nil, fmt.Errorf("%w: asked for height %d, the ledger is at %d", ErrHeight, cfg.AsOf, top)
		}
		height = cfg.AsOf
	}
	r.sum.Height = height
	t := time.Now()
	hdr, err := r.buildLedger(ctx, height)
	if err != nil {
		return nil, err
	}
	if hdr != nil {
		r.sum.Head = schemas.FormatID(hdr.Hash())
	}
	r.sum.Seconds.Ledger = time.Since(t).Seconds()

	t = time.Now()
	if err := r.readRegister(ctx); err != nil {
		return nil, err
	}
	r.sum.Seconds.Register = time.Since(t).Seconds()

	t = time.Now()
	if err := r.compare(ctx); err != nil {
		return nil, err
	}
	if err := r.fieldDetails(ctx, height); err != nil {
		return nil, err
	}
	if err := r.writeOutput(); err != nil {
		return nil, err
	}
	r.sum.Seconds.Compare = time.Since(t).Seconds()

	if cfg.Repair != nil && r.sum.Repair != nil {
		t = time.Now()
		if err := r.repair(ctx); err != nil {
			return &r.sum, err
		}
		r.sum.Seconds.Repair = time.Since(t).Seconds()
	}
	r.sum.Seconds.Total = time.Since(start).Seconds()
	if r.sum.Seconds.Total > 0 {
		r.sum.RowsPerSecond = float64(r.sum.Rows) / r.sum.Seconds.Total
	}
	r.meter.phase("done", "", 0, 0)
	return &r.sum, nil
}

// readRegister streams the register through the workers into "R" entries;
// invalid rows go straight to the output.
func (r *run) readRegister(ctx context.Context) error {
	p := &preparer{j: r.city.Jurisdiction, nk: r.nk, x: r.x, noFast: r.cfg.noFast}
	r.meter.phase("register", "rows", 0, r.cfg.RegisterSize)
	r.batch = r.x.db.NewBatch()
	defer func() { r.batch.Close() }()
	const chunk = 128
	produce := func(ctx context.Context, emit func([]rawRow) error) error {
		rows := make([]rawRow, 0, chunk)
		add := func(row rawRow) error {
			rows = append(rows, row)
			if len(rows) < chunk {
				return nil
			}
			err := emit(rows)
			rows = make([]rawRow, 0, chunk)
			return err
		}
		var err error
		switch r.cfg.Format {
		case FormatCSV:
			err = readCSV(ctx, r.cfg.Register, func(h []string) error {
				l, err := parseCSVHeader(h)
				p.csv = l // before any row is emitted: the channel orders it
				return err
			}, add)
		default:
			err = readJSONL(ctx, r.cfg.Register, add)
		}
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			return emit(rows)
		}
		return nil
	}
	work := func(rows []rawRow) []rowResult {
		out := make([]rowResult, len(rows))
		for i := range rows {
			out[i] = p.prepare(rows[i])
		}
		return out
	}
	sink := func(res []rowResult) error {
		for i := range res {
			if err := r.consume(&res[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := ordered(ctx, r.workers, produce, work, sink); err != nil {
		return err
	}
	if !r.mixed && r.foreign > 0 {
		return fmt.Errorf("%w: all %d rows name formats of another jurisdiction than %s's (%s)", ErrWrongJurisdiction, r.foreign, r.city.Token, r.city.Jurisdiction)
	}
	return r.commit(true)
}

func (r *run) consume(res *rowResult) error {
	r.sum.Rows++
	r.meter.set(int64(r.sum.Rows), res.offset)
	if res.foreign && !r.mixed {
		r.foreign++
		if r.foreign >= foreignLimit {
			return fmt.Errorf("%w: the first %d rows name formats of another jurisdiction than %s's (%s)", ErrWrongJurisdiction, r.foreign, r.city.Token, r.city.Jurisdiction)
		}
	} else {
		r.mixed = true
	}
	if res.invalid != nil {
		r.sum.Differences.add(InvalidRow)
		return r.emit(res.invalid)
	}
	if res.fast {
		r.sum.FastRows++
	}
	r.keyBuf = registerKey(r.keyBuf[:0], res.key, res.line)
	r.vBuf = res.row.encode(r.vBuf[:0])
	if err := r.batch.Set(r.keyBuf, r.vBuf, nil); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	return r.commit(false)
}

// commit writes the batch once it is large (or at the end).
func (r *run) commit(final bool) error {
	if !final && r.batch.Len() < 4<<20 {
		return nil
	}
	if err := r.batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	r.batch.Close()
	r.batch = r.x.db.NewBatch()
	return nil
}

// emit writes one difference line to the output.
func (r *run) emit(d *Difference) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	r.out.Write(b)
	return r.out.WriteByte('\n')
}

// pendingFields is a fields difference waiting for the ledger's record.
type pendingFields struct {
	diff       []byte // Difference JSON without the record's fields
	register   []byte // the register's record, canonical
	recordTx   [32]byte
	recordHash [32]byte
}

func (p *pendingFields) encode(dst []byte) []byte {
	w := encoder{b: dst}
	w.byte(entryVersion)
	w.bytes(p.diff)
	w.bytes(p.register)
	w.hash(p.recordTx)
	w.hash(p.recordHash)
	return w.b
}

func (p *pendingFields) decode(b []byte) error {
	d := decoder{b: b}
	if d.byte() != entryVersion {
		return errIndexValue
	}
	p.diff, p.register = d.bytes(), d.bytes()
	p.recordTx, p.recordHash = d.hash(), d.hash()
	return d.done()
}

// compare merges the ledger's and the register's entries in key order,
// judges each license, and writes the differences ("O"), the fields
// differences waiting for the ledger's record ("P") and the repair events
// ("Q").
func (r *run) compare(ctx context.Context) error {
	r.meter.phase("compare", "licenses", 0, 0)
	lit, err := r.x.db.NewIter(prefixBounds(prefixLedger))
	if err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	defer lit.Close()
	rit, err := r.x.db.NewIter(prefixBounds(prefixRegister))
	if err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	defer rit.Close()
	b := r.x.db.NewBatch()
	defer func() { b.Close() }()
	put := func(k, v []byte) error {
		if err := b.Set(k, v, nil); err != nil {
			return err
		}
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			b.Close()
			b = r.x.db.NewBatch()
		}
		return nil
	}
	writeDiff := func(key string, d *Difference, seq uint64) error {
		r.sum.Differences.add(d.Class)
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64(outputKey(nil, key, d.Class.order()), seq)
		return put(k, v)
	}
	rs := &RepairSummary{}
	regKey := func() string { k := rit.Key(); return string(k[1 : len(k)-9]) }
	lok, rok := lit.First(), rit.First()
	var n int64
	for lok || rok {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			r.meter.set(n, 0)
		}
		var key string
		switch {
		case !rok:
			key = string(lit.Key()[1:])
		case !lok:
			key = regKey()
		default:
			key = min(string(lit.Key()[1:]), regKey())
		}
		var led *ledgerEntry
		if lok && string(lit.Key()[1:]) == key {
			led = &ledgerEntry{}
			if err := led.decode(lit.Value()); err != nil {
				return err
			}
			lok = lit.Next()
		}
		var reg *regLicense
		if rok && regKey() == key {
			f := folder{}
			for rok && regKey() == key {
				var row regRow
				if err := row.decode(rit.Value()); err != nil {
					return err
				}
				f.add(key, &row, r.nk.action)
				rok = rit.Next()
			}
			for i := range f.invalid {
				if err := writeDiff(key, &f.invalid[i], f.invalid[i].Line); err != nil {
					return err
				}
			}
			if f.lic.Rows > 0 {
				reg = &f.lic
			}
		}
		if led != nil && led.City == r.city.Token {
			r.sum.LedgerLicenses++
		}
		if reg != nil {
			r.sum.RegisterLicenses++
		}
		v := judge(r.city.Token, key, reg, led)
		if v.matched {
			r.sum.Matched++
		}
		for i := range v.diffs {
			if err := writeDiff(key, &v.diffs[i], 0); err != nil {
				return err
			}
		}
		if d := v.fields; d != nil {
			if reg.Kind != led.Kind {
				kr, _ := json.Marshal(reg.Kind)
				kl, _ := json.Marshal(led.Kind)
				d.Fields = []FieldDiff{{Field: "kind", Register: kr, Ledger: kl}}
			}
			if reg.Same {
				if err := writeDiff(key, d, 0); err != nil {
					return err
				}
			} else {
				r.sum.Differences.add(FieldsDiffer)
				dj, err := json.Marshal(d)
				if err != nil {
					return err
				}
				p := pendingFields{diff: dj, register: reg.Record, recordTx: led.RecordTx, recordHash: led.RecordHash}
				if err := put(pendingKey(nil, led.RecordHeight, key), p.encode(nil)); err != nil {
					return err
				}
			}
		}
		if len(v.repair) > 0 {
			var ledKind schemas.Kind
			if led != nil {
				ledKind = led.Kind
			}
			evs, err := repairEvents(r.city, key, reg, ledKind, v.repair)
			if err != nil {
				return err
			}
			for i := range evs {
				raw, err := r.nk.bridge.Native(&evs[i])
				if err != nil {
					return fmt.Errorf("reconcile: repair event for %s: %w", key, err)
				}
				if err := put(repairKey(nil, key, byte(i)), raw); err != nil {
					return err
				}
				rs.Planned++
			}
		}
	}
	if err := lit.Error(); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	if err := rit.Error(); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	r.sum.Repair = rs
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	return nil
}

// fieldDetails fetches the ledger's records of the fields differences, a
// block at a time in height order, and completes their field lists.
func (r *run) fieldDetails(ctx context.Context, height uint64) error {
	var heights []uint64
	it, err := r.x.db.NewIter(prefixBounds(prefixPending))
	if err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		h := binary.BigEndian.Uint64(it.Key()[1:9])
		if len(heights) == 0 || heights[len(heights)-1] != h {
			heights = append(heights, h)
		}
	}
	err = it.Close()
	if err != nil || len(heights) == 0 {
		return err
	}
	r.meter.phase("details", "blocks", int64(len(heights)), 0)
	want := func(h uint64) bool { _, ok := slices.BinarySearch(heights, h); return ok }
	b := r.x.db.NewBatch()
	defer b.Close()
	served := 0
	err = r.cfg.Source.Records(ctx, heights[0], heights[len(heights)-1], want, func(h uint64, raw []byte) error {
		served++
		r.meter.add(1, 0)
		lo := binary.BigEndian.AppendUint64([]byte{prefixPending}, h)
		hi := binary.BigEndian.AppendUint64([]byte{prefixPending}, h+1)
		pit, err := r.x.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return err
		}
		pend := map[[32]byte][]*pendingFields{}
		byKey := map[*pendingFields]string{}
		for ok := pit.First(); ok; ok = pit.Next() {
			p := &pendingFields{}
			if err := p.decode(pit.Value()); err != nil {
				pit.Close()
				return err
			}
			key := string(pit.Key()[9:])
			pend[p.recordTx] = append(pend[p.recordTx], p)
			byKey[p] = key
		}
		if err := pit.Close(); err != nil {
			return err
		}
		recs, err := recordsIn(raw, pend)
		if err != nil {
			return fmt.Errorf("%w: block %d: %w", ErrLedger, h, err)
		}
		for txid, list := range pend {
			rec := recs[txid]
			if rec == nil || sha256.Sum256(rec) != list[0].recordHash {
				return fmt.Errorf("%w: block %d no longer holds the record %s read before", ErrLedger, h, schemas.FormatID(txid))
			}
			for _, p := range list {
				var d Difference
				if err := json.Unmarshal(p.diff, &d); err != nil {
					return err
				}
				fields, err := diffRecords(p.register, rec)
				if err != nil {
					return err
				}
				d.Fields = append(d.Fields, fields...)
				v, err := json.Marshal(&d)
				if err != nil {
					return err
				}
				if err := b.Set(binary.BigEndian.AppendUint64(outputKey(nil, byKey[p], FieldsDiffer.order()), 0), v, nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if served != len(heights) {
		return fmt.Errorf("%w: the source served %d of the %d blocks asked for", ErrLedger, served, len(heights))
	}
	return b.Commit(pebble.NoSync)
}

// writeOutput writes the "O" entries, in key order, after the invalid rows
// already written.
func (r *run) writeOutput() error {
	it, err := r.x.db.NewIter(prefixBounds(prefixOutput))
	if err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		r.out.Write(it.Value())
		if err := r.out.WriteByte('\n'); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	return r.out.Flush()
}
