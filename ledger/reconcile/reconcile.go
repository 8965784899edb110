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
	"os"
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

	// Disclosures, on a chain of rules version 3, is the city's own store
	// of the disclosures of its records (gateway/share): the city's
	// records are compared with their personal fields opened. Without it,
	// a record of the city holding digests stops the run (ErrDigests).
	Disclosures Disclosures

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
	cfg      Config
	city     schemas.City
	nk       *nativeKeys
	x        *index
	workers  int
	meter    *Meter
	sum      Summary
	out      *bufio.Writer
	register io.Reader // cfg.Register, through the spool if it cannot be read again

	// register reading
	batch        *sortedBatch
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
	start, cpuStart := time.Now(), cpuTime()
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
	t, c := time.Now(), cpuTime()
	hdr, err := r.buildLedger(ctx, height)
	if err != nil {
		return nil, err
	}
	if hdr != nil {
		r.sum.Head = schemas.FormatID(hdr.Hash())
	}
	r.sum.Seconds.Ledger = time.Since(t).Seconds()
	r.sum.CPUSeconds.Ledger = (cpuTime() - c).Seconds()

	t, c = time.Now(), cpuTime()
	p := &preparer{j: r.city.Jurisdiction, nk: r.nk, noFast: cfg.noFast}
	var cleanup func()
	if r.register, p.src, cleanup, err = rereadable(cfg.Register, x.dir); err != nil {
		return nil, err
	}
	defer cleanup()
	if err := r.readRegister(ctx, p); err != nil {
		return nil, err
	}
	r.sum.Seconds.Register = time.Since(t).Seconds()
	r.sum.CPUSeconds.Register = (cpuTime() - c).Seconds()

	t, c = time.Now(), cpuTime()
	if err := r.compare(ctx, p); err != nil {
		return nil, err
	}
	if err := r.fieldDetails(ctx); err != nil {
		return nil, err
	}
	if err := r.writeOutput(); err != nil {
		return nil, err
	}
	r.sum.Seconds.Compare = time.Since(t).Seconds()
	r.sum.CPUSeconds.Compare = (cpuTime() - c).Seconds()

	if cfg.Repair != nil && r.sum.Repair != nil {
		t, c = time.Now(), cpuTime()
		if err := r.repair(ctx); err != nil {
			return &r.sum, err
		}
		r.sum.Seconds.Repair = time.Since(t).Seconds()
		r.sum.CPUSeconds.Repair = (cpuTime() - c).Seconds()
	}
	r.sum.Seconds.Total = time.Since(start).Seconds()
	r.sum.CPUSeconds.Total = (cpuTime() - cpuStart).Seconds()
	if r.sum.Seconds.Total > 0 {
		r.sum.RowsPerSecond = float64(r.sum.Rows) / r.sum.Seconds.Total
	}
	r.meter.phase("done", "", 0, 0)
	return &r.sum, nil
}

// rowResult is one row's outcome of the register phase.
type rowResult struct {
	line    uint64
	end     int64 // register bytes read through this row
	key     string
	row     regRow
	invalid *Difference
	foreign bool // the row names another jurisdiction's format
}

// readRegister streams the register through the workers (parse) into "R"
// entries; rows whose license cannot be read are normalised at once, and
// invalid ones go straight to the output.
func (r *run) readRegister(ctx context.Context, p *preparer) error {
	r.meter.phase("register", "rows", 0, r.cfg.RegisterSize)
	r.batch = newSortedBatch(r.x.db, 8<<20)
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
			err = readCSV(ctx, r.register, func(h []string) error {
				l, err := parseCSVHeader(h)
				p.csv = l // before any row is emitted: the channel orders it
				return err
			}, add)
		default:
			err = readJSONL(ctx, r.register, add)
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
			raw, res := &rows[i], &out[i]
			res.line, res.end = raw.line, raw.end
			pr := p.parse(raw)
			switch {
			case pr.invalid != nil:
				res.invalid = pr.invalid
			case pr.key != "":
				res.key, res.row = pr.key, deferred(raw.line, raw, &pr)
			default:
				// The license or the action cannot be read cheaply: the
				// bridge reads it, or says what is wrong.
				res.key, res.row, res.invalid = p.normalize(raw.line, &pr, nil)
				res.foreign = res.invalid != nil && res.invalid.Rule == "format-jurisdiction"
			}
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
	return r.batch.flush()
}

func (r *run) consume(res *rowResult) error {
	r.sum.Rows++
	r.meter.set(int64(r.sum.Rows), res.end)
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
	r.keyBuf = registerKey(r.keyBuf[:0], res.key, res.line)
	r.vBuf = res.row.encode(r.vBuf[:0])
	return r.batch.set(r.keyBuf, r.vBuf)
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
	d := newDecoder(b)
	if d.byte() != entryVersion {
		return errIndexValue
	}
	p.diff, p.register = d.bytes(), d.bytes()
	p.recordTx, p.recordHash = d.hash(), d.hash()
	return d.done()
}

// part is some (at most partRows) of one license's register rows, with
// the ledger's entry; first and last mark the license's first and last
// part.
type part struct {
	key         string
	led         *ledgerEntry
	rows        []regRow
	first, last bool
}

// outcome is a register row settled against the ledger.
type outcome struct {
	row     regRow
	invalid *Difference
	fast    bool
}

type settled struct {
	part
	out []outcome
	err error
}

const (
	partRows  = 256 // rows per part
	jobRows   = 256 // rows per job, over its parts
	jobGroups = 64  // parts per job
)

// compare merges the ledger's and the register's entries in key order
// (producer), settles each deferred row against the ledger (workers: a hash
// comparison, or the bridge), then folds and judges each license in key
// order (here), writing the differences ("O"), the fields differences
// waiting for the ledger's record ("P") and the repair events ("Q").
func (r *run) compare(ctx context.Context, p *preparer) error {
	r.meter.phase("compare", "licenses", 0, 0)
	produce := func(ctx context.Context, emit func([]part) error) error {
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
		var job []part
		rows := 0
		send := func(pt part) error {
			job = append(job, pt)
			rows += len(pt.rows)
			if len(job) < jobGroups && rows < jobRows {
				return nil
			}
			err := emit(job)
			job, rows = nil, 0
			return err
		}
		regKey := func() string { k := rit.Key(); return string(k[1 : len(k)-9]) }
		lok, rok := lit.First(), rit.First()
		for lok || rok {
			var key string
			switch {
			case !rok:
				key = string(lit.Key()[1:])
			case !lok:
				key = regKey()
			default:
				key = min(string(lit.Key()[1:]), regKey())
			}
			pt := part{key: key, first: true}
			if lok && string(lit.Key()[1:]) == key {
				pt.led = &ledgerEntry{}
				if err := pt.led.decode(lit.Value()); err != nil {
					return err
				}
				lok = lit.Next()
			}
			for rok && regKey() == key {
				var row regRow
				if err := row.decode(rit.Value()); err != nil {
					return err
				}
				pt.rows = append(pt.rows, row)
				rok = rit.Next()
				if len(pt.rows) == partRows && rok && regKey() == key {
					if err := send(pt); err != nil {
						return err
					}
					pt = part{key: key, led: pt.led}
				}
			}
			pt.last = true
			if err := send(pt); err != nil {
				return err
			}
		}
		if err := errors.Join(lit.Error(), rit.Error()); err != nil {
			return fmt.Errorf("reconcile: index: %w", err)
		}
		if len(job) > 0 {
			return emit(job)
		}
		return nil
	}
	work := func(job []part) []settled {
		out := make([]settled, len(job))
		for i, pt := range job {
			s := &out[i]
			s.part = pt
			s.out = make([]outcome, len(pt.rows))
			for j := range pt.rows {
				row, o := &pt.rows[j], &s.out[j]
				if !row.Deferred {
					o.row = *row
					if led := pt.led; led != nil && !row.Same && row.Action.FullRecord() && row.RecordHash == led.RecordHash {
						o.row.Same, o.row.Record = true, nil
					}
					continue
				}
				if o.row, o.invalid, o.fast, s.err = p.resolve(pt.key, row, pt.led); s.err != nil {
					break
				}
			}
		}
		return out
	}

	w := newBatchWriter(r.x.db)
	defer w.close()
	put := w.put
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
	var f folder
	var n int64
	sink := func(job []settled) error {
		for i := range job {
			s := &job[i]
			if s.err != nil {
				return s.err
			}
			if s.first {
				f = folder{}
			}
			for j := range s.out {
				o := &s.out[j]
				if o.invalid != nil {
					if err := writeDiff(s.key, o.invalid, o.invalid.Line); err != nil {
						return err
					}
					continue
				}
				if o.fast {
					r.sum.FastRows++
				}
				f.add(s.key, &o.row, r.nk.action)
			}
			if !s.last {
				continue
			}
			if n++; n%4096 == 0 {
				r.meter.set(n, 0)
			}
			if err := r.judgeLicense(s.key, &f, s.led, writeDiff, put, rs); err != nil {
				return err
			}
		}
		return nil
	}
	if err := ordered(ctx, r.workers, produce, work, sink); err != nil {
		return err
	}
	r.sum.Repair = rs
	if err := w.commit(); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	return nil
}

// judgeLicense compares one license's folded register rows with its
// ledger entry and writes what follows.
func (r *run) judgeLicense(key string, f *folder, led *ledgerEntry, writeDiff func(string, *Difference, uint64) error, put func(k, v []byte) error, rs *RepairSummary) error {
	for i := range f.invalid {
		if err := writeDiff(key, &f.invalid[i], f.invalid[i].Line); err != nil {
			return err
		}
	}
	var reg *regLicense
	if f.lic.Rows > 0 {
		reg = &f.lic
		r.sum.RegisterLicenses++
	}
	if led != nil && led.City == r.city.Token {
		r.sum.LedgerLicenses++
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
	if len(v.repair) == 0 {
		return nil
	}
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
	return nil
}

// fieldDetails fetches the ledger's records of the fields differences, the
// blocks that hold them in height order, and completes their field lists
// on the workers.
func (r *run) fieldDetails(ctx context.Context) error {
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
	type job struct {
		height uint64
		raw    []byte
		keys   []string
		pend   []*pendingFields
	}
	type done struct {
		keys  []string
		diffs [][]byte
		err   error
	}
	produce := func(ctx context.Context, emit func(job) error) error {
		want := func(h uint64) bool { _, ok := slices.BinarySearch(heights, h); return ok }
		served := 0
		err := r.cfg.Source.Records(ctx, heights[0], heights[len(heights)-1], want, func(h uint64, raw []byte) error {
			served++
			j := job{height: h, raw: raw}
			lo := binary.BigEndian.AppendUint64([]byte{prefixPending}, h)
			hi := binary.BigEndian.AppendUint64([]byte{prefixPending}, h+1)
			pit, err := r.x.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
			if err != nil {
				return err
			}
			for ok := pit.First(); ok; ok = pit.Next() {
				p := &pendingFields{}
				if err := p.decode(pit.Value()); err != nil {
					pit.Close()
					return err
				}
				j.keys = append(j.keys, string(pit.Key()[9:]))
				j.pend = append(j.pend, p)
			}
			if err := pit.Close(); err != nil {
				return err
			}
			return emit(j)
		})
		if err == nil && served != len(heights) {
			err = fmt.Errorf("%w: the source served %d of the %d blocks asked for", ErrLedger, served, len(heights))
		}
		return err
	}
	work := func(j job) (d done) {
		want := map[[32]byte]bool{}
		for _, p := range j.pend {
			want[p.recordTx] = true
		}
		recs, err := recordsIn(j.raw, want, opener{r.cfg.Disclosures})
		if err != nil {
			d.err = fmt.Errorf("%w: block %d: %w", ErrLedger, j.height, err)
			return d
		}
		for i, p := range j.pend {
			rec := recs[p.recordTx]
			if rec == nil || sha256.Sum256(rec) != p.recordHash {
				d.err = fmt.Errorf("%w: block %d no longer holds the record %s read before", ErrLedger, j.height, schemas.FormatID(p.recordTx))
				return d
			}
			var diff Difference
			if d.err = json.Unmarshal(p.diff, &diff); d.err != nil {
				return d
			}
			fields, err := diffRecords(p.register, rec)
			if err != nil {
				d.err = err
				return d
			}
			diff.Fields = append(diff.Fields, fields...)
			v, err := json.Marshal(&diff)
			if err != nil {
				d.err = err
				return d
			}
			d.keys = append(d.keys, j.keys[i])
			d.diffs = append(d.diffs, v)
		}
		return d
	}
	w := newBatchWriter(r.x.db)
	defer w.close()
	sink := func(d done) error {
		if d.err != nil {
			return d.err
		}
		r.meter.add(1, 0)
		for i, key := range d.keys {
			if err := w.put(binary.BigEndian.AppendUint64(outputKey(nil, key, FieldsDiffer.order()), 0), d.diffs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := ordered(ctx, r.workers, produce, work, sink); err != nil {
		return err
	}
	return w.commit()
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

// rereadable returns the register to stream and a ReaderAt over the same
// bytes (offset 0 = where the stream starts): the register itself if it is
// a regular file or seekable in memory, else a spool file in dir that the
// stream is copied to as it is read.
func rereadable(reg io.Reader, dir string) (io.Reader, io.ReaderAt, func(), error) {
	type seekReaderAt interface {
		io.ReaderAt
		io.Seeker
	}
	if s, ok := reg.(seekReaderAt); ok {
		regular := true
		if f, ok := reg.(*os.File); ok {
			fi, err := f.Stat()
			regular = err == nil && fi.Mode().IsRegular()
		}
		if base, err := s.Seek(0, io.SeekCurrent); regular && err == nil {
			return reg, io.NewSectionReader(s, base, 1<<62), func() {}, nil
		}
	}
	spool, err := os.CreateTemp(dir, "register-*")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reconcile: spool: %w", err)
	}
	cleanup := func() { spool.Close(); os.Remove(spool.Name()) }
	return io.TeeReader(reg, spool), spool, cleanup, nil
}
