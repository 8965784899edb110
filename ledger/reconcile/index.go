package reconcile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/wire"
)

// The scratch index: one pebble database in a temporary directory, removed
// when the run ends. Memory is pebble's cache and memtables, whatever the
// register's or the ledger's size.
//
//	"L" | license key                         -> ledgerEntry (the city's jurisdiction)
//	"R" | license key | 0x00 | line (8, BE)   -> regRow (one per register row)
//	"P" | record height (8, BE) | license key -> pendingFields (waits for the ledger record)
//	"O" | license key | 0x00 | class          -> Difference JSON, in report order
//	"Q" | license key | 0x00 | step           -> repair event (native JSON)
const (
	prefixLedger   = 'L'
	prefixRegister = 'R'
	prefixPending  = 'P'
	prefixOutput   = 'O'
	prefixRepair   = 'Q'
)

// indexOptions size the scratch index.
type indexOptions struct {
	CacheSize    int64  // default 32 MiB
	MemTableSize uint64 // default 64 MiB
}

type index struct {
	db  *pebble.DB
	dir string
}

func openIndex(tempDir string, opts indexOptions) (*index, error) {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 32 << 20
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 64 << 20
	}
	dir, err := os.MkdirTemp(tempDir, "baybus-reconcile-*")
	if err != nil {
		return nil, fmt.Errorf("reconcile: scratch index: %w", err)
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	po := &pebble.Options{
		Cache:              cache,
		MemTableSize:       opts.MemTableSize,
		DisableWAL:         true, // scratch: rebuilt by running again
		FormatMajorVersion: pebble.FormatNewest,
		// The index is written once, then read in order: compacting it
		// costs more than merging a few dozen files when reading. Only a
		// ledger or register of tens of millions compacts.
		L0CompactionThreshold: 48,
		L0StopWritesThreshold: 1 << 20, // never stall writes
		Logger:                quietLogger{},
	}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].BlockSize = 4 << 10
		po.Levels[i].Compression = pebble.NoCompression // mostly hashes
	}
	po.EnsureDefaults()
	db, err := pebble.Open(dir, po)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("reconcile: scratch index: %w", err)
	}
	return &index{db: db, dir: dir}, nil
}

// close closes the database and removes its directory.
func (x *index) close() error {
	err := x.db.Close()
	if rerr := os.RemoveAll(x.dir); err == nil {
		err = rerr
	}
	return err
}

func ledgerKey(dst []byte, key string) []byte {
	return append(append(dst, prefixLedger), key...)
}

func registerKey(dst []byte, key string, line uint64) []byte {
	dst = append(append(dst, prefixRegister), key...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, line)
}

func outputKey(dst []byte, key string, class byte) []byte {
	dst = append(append(dst, prefixOutput), key...)
	return append(dst, 0, class)
}

func pendingKey(dst []byte, height uint64, key string) []byte {
	dst = binary.BigEndian.AppendUint64(append(dst, prefixPending), height)
	return append(dst, key...)
}

func repairKey(dst []byte, key string, step byte) []byte {
	dst = append(append(dst, prefixRepair), key...)
	return append(dst, 0, step)
}

// sortedBatch gathers writes and applies them in key order once they reach
// limit bytes: pebble's memtable takes ordered keys much faster than
// scattered ones. Not safe for concurrent use.
type sortedBatch struct {
	db    *pebble.DB
	limit int
	arena []byte
	ents  [][4]int // key start, key end, value start, value end in arena
}

func newSortedBatch(db *pebble.DB, limit int) *sortedBatch {
	return &sortedBatch{db: db, limit: limit, arena: make([]byte, 0, limit+(64<<10))}
}

func (s *sortedBatch) set(k, v []byte) error {
	ks := len(s.arena)
	s.arena = append(s.arena, k...)
	vs := len(s.arena)
	s.arena = append(s.arena, v...)
	s.ents = append(s.ents, [4]int{ks, vs, vs, len(s.arena)})
	if len(s.arena) >= s.limit {
		return s.flush()
	}
	return nil
}

func (s *sortedBatch) flush() error {
	if len(s.ents) == 0 {
		return nil
	}
	a := s.arena
	slices.SortFunc(s.ents, func(x, y [4]int) int { return bytes.Compare(a[x[0]:x[1]], a[y[0]:y[1]]) })
	b := s.db.NewBatchWithSize(len(a) + 16*len(s.ents))
	defer b.Close()
	for _, e := range s.ents {
		if err := b.Set(a[e[0]:e[1]], a[e[2]:e[3]], nil); err != nil {
			return fmt.Errorf("reconcile: index: %w", err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	s.arena, s.ents = s.arena[:0], s.ents[:0]
	return nil
}

// prefixBounds returns iterator bounds for every key starting with p.
func prefixBounds(p byte) *pebble.IterOptions {
	return &pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}}
}

// get reads a ledger entry; ok is false if there is none.
func (x *index) ledger(key string) (e ledgerEntry, ok bool, err error) {
	v, closer, err := x.db.Get(ledgerKey(nil, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("reconcile: index: %w", err)
	}
	defer closer.Close()
	if err := e.decode(v); err != nil {
		return e, false, err
	}
	return e, true, nil
}

// ledgerEntry is a license of the city's jurisdiction as of the height
// reconciled: what the orderers' rule (block.compute) made of its OK
// transactions.
type ledgerEntry struct {
	Status       schemas.Status
	City         string // city of the last change
	LastAction   schemas.Action
	Height       uint64 // of the last change
	LastTx       [32]byte
	LastNative   [32]byte // native hash of the last change, zero if none
	Kind         schemas.Kind
	RecordTx     [32]byte // the last issue or amend: the record in force
	RecordHeight uint64
	RecordHash   [32]byte // SHA-256 of the record's canonical bytes
	RecordNative [32]byte // native hash of the record's transaction, zero if none
}

const entryVersion = 1

func (e *ledgerEntry) encode(dst []byte) []byte {
	w := encoder{b: dst}
	w.byte(entryVersion)
	w.str(string(e.Status))
	w.str(e.City)
	w.str(string(e.LastAction))
	w.u64(e.Height)
	w.hash(e.LastTx)
	w.hash(e.LastNative)
	w.str(string(e.Kind))
	w.hash(e.RecordTx)
	w.u64(e.RecordHeight)
	w.hash(e.RecordHash)
	w.hash(e.RecordNative)
	return w.b
}

func (e *ledgerEntry) decode(b []byte) error {
	r := newDecoder(b)
	if r.byte() != entryVersion {
		return fmt.Errorf("reconcile: index: ledger entry version")
	}
	e.Status = intern(r, internStatus)
	e.City = intern(r, internCity)
	e.LastAction = intern(r, internAction)
	e.Height = r.u64()
	e.LastTx = r.hash()
	e.LastNative = r.hash()
	e.Kind = intern(r, internKind)
	e.RecordTx = r.hash()
	e.RecordHeight = r.u64()
	e.RecordHash = r.hash()
	e.RecordNative = r.hash()
	return r.done()
}

// regRow is one register row as the fold needs it. While the register is
// read it is Deferred: its native hash and place in the file stand for its
// record, which resolve settles against the ledger's entry.
type regRow struct {
	Line       uint64
	Action     schemas.Action
	Status     schemas.Status // explicit registerStatus, "" if none
	Kind       schemas.Kind
	OccurredAt string
	Reason     string

	Deferred       bool
	SynthAt        bool     // occurredAt was missing (Deferred)
	NativeHash     [32]byte // of the row's canonical bytes (Deferred)
	Offset, Length int64    // the row's bytes in the register (Deferred)

	// Same: the row's record equals the ledger's record in force; Record
	// is kept only when it does not (and the action carries a record).
	Same       bool
	RecordHash [32]byte
	Record     []byte
}

func (r *regRow) encode(dst []byte) []byte {
	w := encoder{b: dst}
	w.byte(entryVersion)
	w.u64(r.Line)
	w.str(string(r.Action))
	w.str(string(r.Status))
	w.str(string(r.Kind))
	w.str(r.OccurredAt)
	w.str(r.Reason)
	w.byte(bit(r.Deferred) | bit(r.SynthAt)<<1 | bit(r.Same)<<2)
	if r.Deferred {
		w.hash(r.NativeHash)
		w.u64(uint64(r.Offset))
		w.u64(uint64(r.Length))
		return w.b
	}
	w.hash(r.RecordHash)
	w.bytes(r.Record)
	return w.b
}

func bit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func (r *regRow) decode(b []byte) error {
	d := newDecoder(b)
	if d.byte() != entryVersion {
		return fmt.Errorf("reconcile: index: register row version")
	}
	r.Line = d.u64()
	r.Action = intern(d, internAction)
	r.Status = intern(d, internStatus)
	r.Kind = intern(d, internKind)
	r.OccurredAt = d.str()
	r.Reason = d.str()
	f := d.byte()
	r.Deferred, r.SynthAt, r.Same = f&1 != 0, f&2 != 0, f&4 != 0
	if r.Deferred {
		r.NativeHash = d.hash()
		r.Offset, r.Length = int64(d.u64()), int64(d.u64())
		return d.done()
	}
	r.RecordHash = d.hash()
	r.Record = d.bytes()
	return d.done()
}

// batchWriter writes to the scratch index in pebble batches of about
// 4 MiB, committed without sync (the index is thrown away after the run).
type batchWriter struct {
	db *pebble.DB
	b  *pebble.Batch
}

func newBatchWriter(db *pebble.DB) *batchWriter { return &batchWriter{db: db, b: db.NewBatch()} }

// put sets k to v, committing the batch once it passes 4 MiB.
func (w *batchWriter) put(k, v []byte) error {
	if err := w.b.Set(k, v, nil); err != nil {
		return err
	}
	if w.b.Len() > 4<<20 {
		return w.commit()
	}
	return nil
}

// commit commits what is batched and starts a new batch.
func (w *batchWriter) commit() error {
	err := w.b.Commit(pebble.NoSync)
	w.b.Close()
	w.b = w.db.NewBatch()
	return err
}

func (w *batchWriter) close() { w.b.Close() }

// encoder and decoder write and read the index's values: uvarint-prefixed
// strings and bytes, big-endian integers, raw 32-byte hashes.
type encoder struct{ b []byte }

func (w *encoder) byte(c byte)     { w.b = append(w.b, c) }
func (w *encoder) u64(v uint64)    { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *encoder) hash(h [32]byte) { w.b = append(w.b, h[:]...) }
func (w *encoder) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}
func (w *encoder) bytes(p []byte) {
	w.b = binary.AppendUvarint(w.b, uint64(len(p)))
	w.b = append(w.b, p...)
}

// decoder reads them through internal/wire (minimal uvarints, the first
// error sticking); any malformed value is errIndexValue.
type decoder struct{ r *wire.Reader }

var errIndexValue = errors.New("reconcile: index: malformed value")

func newDecoder(b []byte) decoder { return decoder{wire.NewReader(b)} }

// maxValue bounds one length-prefixed string or byte string: a value is
// never larger than a block.
const maxValue = 1 << 30

func (d decoder) byte() byte  { return d.r.U8() }
func (d decoder) u64() uint64 { return d.r.U64() }

func (d decoder) hash() (h [32]byte) {
	copy(h[:], d.r.Take(32))
	return h
}

// raw returns a length-prefixed value without copying it.
func (d decoder) raw() []byte { return d.r.Bytes(maxValue) }

// bytes returns a length-prefixed value as a copy (nil if empty).
func (d decoder) bytes() []byte {
	if p := d.raw(); len(p) > 0 {
		return append([]byte(nil), p...)
	}
	return nil
}

func (d decoder) str() string { return string(d.raw()) }

// intern reads a string from a small known set without allocating; one
// outside the set is copied.
func intern[T ~string](d decoder, set map[string]T) T {
	b := d.raw()
	if v, ok := set[string(b)]; ok {
		return v
	}
	return T(b)
}

// done checks that the whole value was read.
func (d decoder) done() error {
	if d.r.Err() == nil && d.r.Len() != 0 {
		d.r.Fail(errors.New("trailing bytes"))
	}
	if err := d.r.Err(); err != nil {
		return fmt.Errorf("%w: %w", errIndexValue, err)
	}
	return nil
}

// quietLogger drops pebble's informational messages.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
