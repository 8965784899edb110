package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/cockroachdb/pebble"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// ErrLedger: the blocks read do not hold together (a broken hash link, a
// certificate or batch signature that fails, a transaction the block marks
// OK that the ledger's own rule refuses).
var ErrLedger = errors.New("reconcile: ledger does not verify")

// txFields are what reconcile reads of a canonical transaction.
type txFields struct {
	jurisdiction schemas.Jurisdiction
	city         string
	kind         schemas.Kind
	action       schemas.Action
	id           string // record.id
	native       [32]byte
	record       []byte // the record's canonical bytes (aliases the transaction)
}

// Interned names, so that reading a transaction allocates no strings for
// them (a map index by string(bytes) does not allocate).
var (
	internJur    = map[string]schemas.Jurisdiction{}
	internKind   = map[string]schemas.Kind{}
	internAction = map[string]schemas.Action{}
	internCity   = map[string]string{}
	internStatus = map[string]schemas.Status{}
)

func init() {
	for _, j := range schemas.Jurisdictions {
		internJur[string(j)] = j
	}
	for _, k := range schemas.Kinds {
		internKind[string(k)] = k
	}
	for _, a := range schemas.Actions {
		internAction[string(a)] = a
	}
	for _, c := range schemas.CityTokens() {
		internCity[c] = c
	}
	for _, st := range []schemas.Status{schemas.StatusValid, schemas.StatusSuspended, schemas.StatusRevoked, schemas.StatusExpired} {
		internStatus[string(st)] = st
	}
}

// plainString returns the body of a raw JSON string without escapes.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// scanTx reads a transaction's canonical bytes without decoding the record:
// the orderers sealed only transactions that decode strictly from canonical
// bytes (block.checkTx), and a member of a canonical object is canonical.
func scanTx(raw []byte) (txFields, error) {
	var t txFields
	err := members(raw, func(k, v []byte) error {
		ok := true
		switch string(k) {
		case "jurisdiction":
			b, _ := plainString(v)
			t.jurisdiction, ok = internJur[string(b)]
		case "city":
			b, _ := plainString(v)
			t.city, ok = internCity[string(b)]
		case "kind":
			b, _ := plainString(v)
			t.kind, ok = internKind[string(b)]
		case "action":
			b, _ := plainString(v)
			t.action, ok = internAction[string(b)]
		case "nativeHash":
			b, _ := plainString(v)
			h, found := bytes.CutPrefix(b, []byte("sha256:"))
			if !found || len(h) != 64 {
				ok = false
				break
			}
			_, err := hex.Decode(t.native[:], h)
			ok = err == nil
		case "record":
			t.record = v
			var err error
			var found bool
			t.id, found, err = stringMember(v, "id")
			ok = err == nil && found
		}
		if !ok {
			return fmt.Errorf("%w: transaction member %q", errScan, k)
		}
		return nil
	})
	if err == nil && (t.city == "" || t.id == "" || t.record == nil) {
		err = fmt.Errorf("%w: transaction lacks city or record id", errScan)
	}
	return t, err
}

// ledgerTx is one OK transaction of the city's jurisdiction.
type ledgerTx struct {
	key        string
	city       string
	kind       schemas.Kind
	action     schemas.Action
	id         [32]byte
	native     [32]byte
	recordHash [32]byte // for issue and amend
}

// blockJob is one block record to check and read; parent is the header of
// the block below it (nil for block 1).
type blockJob struct {
	height uint64
	raw    []byte
	parent *block.Header
}

type blockOut struct {
	height uint64
	header block.Header
	txs    []ledgerTx
	err    error
}

// readBlock checks one record against its parent and the trust bundle
// (blocklog.VerifyRecord: hash link, quorum certificate and vote messages,
// batch signatures, results hash, transaction root, consensus metadata) and
// returns the OK transactions of jurisdiction j.
//
// Records of city that hold personal fields as digests (rules version 3)
// are opened with the city's own disclosures (op), so their hash is the
// hash of what the city's register holds; other cities' stay as sealed.
func readBlock(trust *keys.Bundle, j schemas.Jurisdiction, city string, op opener, job blockJob) blockOut {
	out := blockOut{height: job.height}
	fail := func(what string, err error) blockOut {
		out.err = fmt.Errorf("%w: block %d: %s: %w", ErrLedger, job.height, what, err)
		return out
	}
	_, blk, err := blocklog.VerifyRecord(trust, job.parent, job.raw)
	if err != nil {
		return fail("verify", err)
	}
	out.header = blk.Header
	for _, t := range blk.Txs() {
		if t.Result != block.OK {
			continue
		}
		f, err := scanTx(t.Bytes)
		if err != nil {
			return fail(fmt.Sprintf("transaction %d", t.Position), err)
		}
		if f.jurisdiction != j {
			continue
		}
		lt := ledgerTx{key: schemas.LicenseKey(j, f.id), city: f.city, kind: f.kind, action: f.action, id: t.ID, native: f.native}
		if f.action.FullRecord() {
			rec, native, found, err := op.open(f.kind, t.ID, f.record)
			switch {
			case err != nil:
				return fail(fmt.Sprintf("transaction %d", t.Position), err)
			case !found && f.city == city && op.d == nil:
				return fail(fmt.Sprintf("transaction %d", t.Position), fmt.Errorf("%w: reconciling them needs the city's store of disclosures (--disclosures)", ErrDigests))
			case !found && f.city == city:
				return fail(fmt.Sprintf("transaction %d", t.Position), fmt.Errorf("%w: the store holds no disclosures of %s (another gateway's store, or an older copy)", ErrDigests, schemas.FormatID(t.ID)))
			}
			lt.recordHash = sha256.Sum256(rec)
			if lt.native == ([32]byte{}) {
				lt.native = native
			}
		}
		out.txs = append(out.txs, lt)
	}
	return out
}

// ledgerFold applies the OK transactions of the jurisdiction, in chain
// order, to the "L" entries of the index, with the orderers' rule
// (block.compute): status by schemas.StatusAfter, the record in force from
// the last issue or amend. Entries changed recently stay in memory (at most
// flushAt) and are written in one batch.
type ledgerFold struct {
	x       *index
	pending map[string]*ledgerEntry
	written *bloom.BloomFilter // the keys flushed to the index: most keys are new, and a miss costs no read
	txs     uint64
	buf     []byte
}

// newKeyFilter returns a Bloom filter of fixed size (so of fixed memory,
// whatever the ledger's size: with more keys it only answers "maybe" more
// often): 16 MiB and 4 probes, under 1 % false positives up to 10 million
// keys.
func newKeyFilter() *bloom.BloomFilter { return bloom.New(1<<27, 4) }

const flushAt = 50_000

func (f *ledgerFold) apply(height uint64, t *ledgerTx) error {
	e := f.pending[t.key]
	if e == nil {
		e = &ledgerEntry{}
		if f.written.TestString(t.key) {
			le, ok, err := f.x.ledger(t.key)
			if err != nil {
				return err
			}
			if ok {
				*e = le
			}
		}
		f.pending[t.key] = e
	}
	next, ok := schemas.StatusAfter(e.Status, t.action)
	if !ok {
		return fmt.Errorf("%w: block %d: transaction %s: %s of a %s license %s is marked OK", ErrLedger, height, schemas.FormatID(t.id), t.action, orNone(e.Status), t.key)
	}
	e.Status, e.City, e.LastAction, e.Height, e.LastTx, e.LastNative = next, t.city, t.action, height, t.id, t.native
	if t.action.FullRecord() {
		e.Kind, e.RecordTx, e.RecordHeight, e.RecordHash, e.RecordNative = t.kind, t.id, height, t.recordHash, t.native
	}
	f.txs++
	if len(f.pending) >= flushAt {
		return f.flush()
	}
	return nil
}

func orNone(s schemas.Status) string {
	if s == "" {
		return "missing"
	}
	return string(s)
}

func (f *ledgerFold) flush() error {
	if len(f.pending) == 0 {
		return nil
	}
	// In key order: pebble's memtable takes ordered keys much faster.
	keys := make([]string, 0, len(f.pending))
	for key := range f.pending {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	b := f.x.db.NewBatch()
	defer b.Close()
	var k []byte
	for _, key := range keys {
		f.written.AddString(key)
		k = ledgerKey(k[:0], key)
		f.buf = f.pending[key].encode(f.buf[:0])
		if err := b.Set(k, f.buf, nil); err != nil {
			return fmt.Errorf("reconcile: index: %w", err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	clear(f.pending)
	return nil
}

// buildLedger reads blocks 1..height from src, checks them in parallel and
// folds them into the index in order. It returns the header at height.
func (r *run) buildLedger(ctx context.Context, height uint64) (*block.Header, error) {
	f := &ledgerFold{x: r.x, pending: make(map[string]*ledgerEntry, flushAt), written: newKeyFilter()}
	var last *block.Header
	r.meter.phase("ledger", "blocks", int64(height), 0)
	produce := func(ctx context.Context, emit func(blockJob) error) error {
		var parent *block.Header
		next := uint64(1)
		return r.cfg.Source.Records(ctx, 1, height, nil, func(h uint64, raw []byte) error {
			if h != next {
				return fmt.Errorf("%w: the source gave block %d after %d", ErrLedger, h, next-1)
			}
			next++
			rec, err := blocklog.DecodeRecord(raw, true)
			if err != nil {
				return fmt.Errorf("%w: block %d: %w", ErrLedger, h, err)
			}
			if err := emit(blockJob{height: h, raw: raw, parent: parent}); err != nil {
				return err
			}
			hdr := rec.Header
			parent = &hdr
			return nil
		})
	}
	op := opener{r.cfg.Disclosures}
	work := func(j blockJob) blockOut { return readBlock(r.cfg.Trust, r.city.Jurisdiction, r.city.Token, op, j) }
	sink := func(o blockOut) error {
		if o.err != nil {
			return o.err
		}
		for i := range o.txs {
			if err := f.apply(o.height, &o.txs[i]); err != nil {
				return err
			}
		}
		hdr := o.header
		last = &hdr
		r.sum.Blocks++
		r.meter.add(1, 0)
		return nil
	}
	if err := ordered(ctx, r.workers, produce, work, sink); err != nil {
		return nil, err
	}
	if err := f.flush(); err != nil {
		return nil, err
	}
	if r.sum.Blocks != height {
		return nil, fmt.Errorf("%w: read %d blocks, want %d", ErrLedger, r.sum.Blocks, height)
	}
	r.sum.LedgerTxs = f.txs
	return last, nil
}

// recordsIn returns the records (canonical bytes) of the wanted OK
// transactions of a block record.
func recordsIn(raw []byte, want map[[32]byte]bool, op opener) (map[[32]byte][]byte, error) {
	rec, err := blocklog.DecodeRecord(raw, false)
	if err != nil {
		return nil, err
	}
	blk, err := block.Decode(rec.BlockData)
	if err != nil {
		return nil, err
	}
	out := map[[32]byte][]byte{}
	for _, t := range blk.Txs() {
		if t.Result != block.OK || !want[t.ID] {
			continue
		}
		f, err := scanTx(t.Bytes)
		if err != nil {
			return nil, err
		}
		rec, _, _, err := op.open(f.kind, t.ID, f.record)
		if err != nil {
			return nil, err
		}
		out[t.ID] = bytes.Clone(rec)
	}
	return out, nil
}
