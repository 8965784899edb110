package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/keyfilter"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/wire"
)

// The license catalogue: every license the chain holds with the city of
// its last change, its kind, its holder, a display name and its status,
// indexed by city, holder and status, so licenses can be listed by those
// (the explorer, `GET /v1/licenses?city&holder&status`) without reading
// every block. It is derived data, like the transaction index: written
// without fsync by one goroutine that follows the commits, off the commit
// path, and caught up from the block log after a restart or whenever it
// fell behind.
//
// Keys (pebble, DataDir/catalog):
//
//	"m"                          -> catalogued height (8, BE)
//	"k" | key                    -> entry (see encodeCatalogEntry)
//	"c" | city   | 0x00 | key    -> ""
//	"o" | holder | 0x00 | key    -> ""
//	"s" | status | 0x00 | key    -> ""
type catalog struct {
	db  *pebble.DB
	log *slog.Logger

	height atomic.Uint64
	feed   chan committed // committed blocks, from the commit path; dropped when full
	wmu    sync.Mutex     // serialises writes (the follower; tests)
	// seen holds every license key catalogued, so a new license (nearly
	// every one a block brings) costs no read (ledger/keyfilter).
	seen *keyfilter.Filter

	// observe, if set, sees each transaction catalogued (results per kind
	// and action in the metrics).
	observe func(kind schemas.Kind, action schemas.Action, result block.Result)
}

var catalogMeta = []byte("m")

// maxScan bounds the index entries one Licenses call reads: a filter that
// matches little returns a short (even empty) page with a cursor rather
// than scan the whole catalogue in one request.
const maxScan = 20000

func openCatalog(dir string, memTable uint64, log *slog.Logger) (*catalog, error) {
	cache := pebble.NewCache(4 << 20)
	defer cache.Unref()
	po := &pebble.Options{Cache: cache, MemTableSize: memTable, FormatMajorVersion: pebble.FormatNewest, Logger: quietLogger{}}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("node: open catalogue: %w", err)
	}
	c := &catalog{db: db, log: log, feed: make(chan committed, 64)}
	v, closer, err := db.Get(catalogMeta)
	switch {
	case err == nil:
		if len(v) == 8 {
			c.height.Store(binary.BigEndian.Uint64(v))
		}
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		db.Close()
		return nil, fmt.Errorf("node: open catalogue: %w", err)
	}
	if c.seen, err = keyfilter.New(c.keys); err != nil {
		db.Close()
		return nil, fmt.Errorf("node: open catalogue: %w", err)
	}
	return c, nil
}

// keys passes the key of every license entry to add.
func (c *catalog) keys(add func([]byte)) error {
	it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'k'}, UpperBound: []byte{'k' + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		add(it.Key())
	}
	return it.Error()
}

// committed is a block as the commit path hands it over, with its license
// changes (their statuses save the follower a state read per license).
type committed struct {
	blk     *block.Block
	updates []block.StateUpdate
}

// quietLogger keeps pebble's informational chatter out of the node log.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("node: catalogue: "+format, args...))
}

func (c *catalog) close() error { return c.db.Close() }

// offer hands a committed block to the follower without blocking the
// commit path; a full feed drops it, and the follower reads it from the
// block log.
func (c *catalog) offer(b *block.Block, updates []block.StateUpdate) {
	select {
	case c.feed <- committed{b, updates}:
	default:
	}
}

// blockSource is what the follower reads: the chain's height, its blocks
// and the license state (for each license's status after a block).
type blockSource interface {
	Height() uint64
	Block(h uint64) (*block.Block, error)
	StatusAt(key string, h uint64) (schemas.Status, error)
}

// follow catalogues every block up to the chain's height, then each block
// the feed brings, until ctx is done. An error (a block that cannot be
// read) is logged and retried a second later.
func (c *catalog) follow(ctx context.Context, src blockSource) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := c.catchUp(ctx, src, committed{}); err != nil && ctx.Err() == nil {
			c.log.Error("catalogue: cannot follow the chain; retrying", "height", c.height.Load(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case b := <-c.feed:
			if err := c.catchUp(ctx, src, b); err != nil && ctx.Err() == nil {
				c.log.Error("catalogue: cannot follow the chain; retrying", "height", c.height.Load(), "err", err)
			}
		case <-tick.C:
		}
	}
}

// catchUp catalogues the blocks above the catalogue's height up to the
// chain's (or to b's, if b is the next), reading from src what b is not.
func (c *catalog) catchUp(ctx context.Context, src blockSource, b committed) error {
	top := src.Height()
	if b.blk != nil {
		top = max(top, b.blk.Header.Height)
	}
	for h := c.height.Load() + 1; h <= top; h++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		blk, status := b.blk, src.StatusAt
		if blk != nil && blk.Header.Height == h {
			status = updatedStatus(b.updates, h, src.StatusAt)
		} else {
			var err error
			if blk, err = src.Block(h); err != nil {
				return err
			}
		}
		if err := c.add(blk, status); err != nil {
			return err
		}
	}
	return nil
}

// updatedStatus answers a license's status after block h from the block's
// own updates, and from statusAt for a license they lack.
func updatedStatus(ups []block.StateUpdate, h uint64, statusAt func(string, uint64) (schemas.Status, error)) func(string, uint64) (schemas.Status, error) {
	m := make(map[string]schemas.Status, len(ups))
	for _, u := range ups {
		m[u.Key] = u.License.Status
	}
	return func(key string, at uint64) (schemas.Status, error) {
		if st, ok := m[key]; ok && at == h {
			return st, nil
		}
		return statusAt(key, at)
	}
}

// txFields are the few fields of a canonical transaction the catalogue
// keeps: decoded leniently (unknown members skipped), which costs a
// fraction of schemas.DecodeTx.
type txFields struct {
	Jurisdiction schemas.Jurisdiction `json:"jurisdiction"`
	Kind         schemas.Kind         `json:"kind"`
	Action       schemas.Action       `json:"action"`
	Record       struct {
		ID     string       `json:"id"`
		Name   schemas.Text `json:"name"`
		Holder *struct {
			Name     schemas.Text `json:"name"`
			IDNumber string       `json:"idNumber"`
		} `json:"holder"`
	} `json:"record"`
}

// displayName picks one language of a name.
func displayName(t schemas.Text) string {
	for _, lang := range []string{schemas.LangEN, schemas.LangHant, schemas.LangHans, schemas.LangPT} {
		if s := t[lang]; s != "" {
			return s
		}
	}
	for _, s := range t {
		return s
	}
	return ""
}

// add catalogues block blk, the next height; statusAt is the license
// state as of a height.
func (c *catalog) add(blk *block.Block, statusAt func(key string, h uint64) (schemas.Status, error)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := blk.Header.Height
	if h != c.height.Load()+1 {
		return fmt.Errorf("node: catalogue at height %d cannot add block %d", c.height.Load(), h)
	}
	batch := c.db.NewBatch()
	defer batch.Close()
	changed := map[string]*query.LicenseEntry{}
	for _, t := range blk.Txs() {
		var f txFields
		err := jsonv2.Unmarshal(t.Bytes, &f)
		if c.observe != nil {
			if err != nil {
				c.observe("", "", t.Result)
			} else {
				c.observe(f.Kind, f.Action, t.Result)
			}
		}
		if t.Result != block.OK || err != nil || !f.Kind.IsLicense() {
			continue // grants and access records (rules version 3) are not licenses
		}
		key := schemas.LicenseKey(f.Jurisdiction, f.Record.ID)
		e := changed[key]
		if e == nil {
			old, err := c.entry(key)
			if err != nil {
				return err
			}
			e = &query.LicenseEntry{Key: key}
			if old != nil {
				*e = *old
				// Its index entries are rewritten below.
				deleteIndexes(batch, old)
			}
			changed[key] = e
		}
		e.City, e.Height, e.LastTx = blk.Batches[t.Batch].City, h, t.ID
		if f.Kind != "" {
			e.Kind = f.Kind
		}
		if f.Action.FullRecord() || e.Holder == "" {
			e.Holder = f.Record.ID
			name := displayName(f.Record.Name)
			if hd := f.Record.Holder; hd != nil {
				if hd.IDNumber != "" {
					e.Holder = hd.IDNumber
				}
				if name == "" {
					name = displayName(hd.Name)
				}
			}
			if name != "" || f.Action.FullRecord() {
				e.Name = name
			}
		}
	}
	keys := make([][]byte, 0, len(changed))
	for key, e := range changed {
		st, err := statusAt(key, h)
		if err != nil {
			return fmt.Errorf("node: catalogue block %d, license %s: %w", h, key, err)
		}
		e.Status = st
		k := append([]byte{'k'}, key...)
		keys = append(keys, k)
		if err := batch.Set(k, encodeCatalogEntry(e), nil); err != nil {
			return err
		}
		for _, k := range indexKeys(e) {
			if err := batch.Set(k, nil, nil); err != nil {
				return err
			}
		}
	}
	if err := batch.Set(catalogMeta, binary.BigEndian.AppendUint64(nil, h), nil); err != nil {
		return err
	}
	// Known before written: a reader never finds a catalogued key absent.
	if err := c.seen.Add(keys...); err != nil {
		return fmt.Errorf("node: catalogue block %d: %w", h, err)
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("node: catalogue block %d: %w", h, err)
	}
	c.height.Store(h)
	return nil
}

func indexKey(prefix byte, value, key string) []byte {
	k := make([]byte, 0, 2+len(value)+len(key))
	k = append(k, prefix)
	k = append(k, value...)
	k = append(k, 0)
	return append(k, key...)
}

// indexKeys are e's secondary index entries. A value holding a NUL byte
// (which would make its keys ambiguous) is not indexed.
func indexKeys(e *query.LicenseEntry) [][]byte {
	var out [][]byte
	for _, ix := range []struct {
		prefix byte
		value  string
	}{{'c', e.City}, {'o', e.Holder}, {'s', string(e.Status)}} {
		if ix.value != "" && strings.IndexByte(ix.value, 0) < 0 {
			out = append(out, indexKey(ix.prefix, ix.value, e.Key))
		}
	}
	return out
}

func deleteIndexes(b *pebble.Batch, e *query.LicenseEntry) {
	for _, k := range indexKeys(e) {
		_ = b.Delete(k, nil)
	}
}

func encodeCatalogEntry(e *query.LicenseEntry) []byte {
	b := []byte{1} // version
	b = wire.AppendString(b, e.City)
	b = wire.AppendString(b, string(e.Kind))
	b = wire.AppendString(b, e.Holder)
	b = wire.AppendString(b, e.Name)
	b = wire.AppendString(b, string(e.Status))
	b = binary.BigEndian.AppendUint64(b, e.Height)
	return append(b, e.LastTx[:]...)
}

func decodeCatalogEntry(key string, p []byte) (*query.LicenseEntry, error) {
	r := wire.NewReader(p)
	if v := r.U8(); v != 1 {
		return nil, fmt.Errorf("node: catalogue entry of %s: version %d", key, v)
	}
	e := &query.LicenseEntry{Key: key, City: r.String(64), Kind: schemas.Kind(r.String(64)), Holder: r.String(1 << 12),
		Name: r.String(1 << 16), Status: schemas.Status(r.String(64)), Height: r.U64()}
	copy(e.LastTx[:], r.Take(32))
	if r.Err() != nil || r.Len() != 0 {
		return nil, fmt.Errorf("node: catalogue entry of %s is corrupt", key)
	}
	return e, nil
}

// entry reads a license's entry; nil if the catalogue has none.
func (c *catalog) entry(key string) (*query.LicenseEntry, error) {
	k := append([]byte{'k'}, key...)
	if !c.seen.MayHold(k) {
		return nil, nil
	}
	v, closer, err := c.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: catalogue: %w", err)
	}
	defer closer.Close()
	return decodeCatalogEntry(key, v)
}

// list returns up to f.Limit licenses matching f after f.Cursor, in key
// order, and the cursor of the next page ("" after the last). It walks the
// most selective index the filter names (holder, then city, then status;
// else the licenses by key), at most maxScan entries per call.
func (c *catalog) list(f query.LicenseFilter) ([]query.LicenseEntry, string, error) {
	// base is what precedes the license key in the index walked; lo and
	// hi bound the walk.
	var base []byte
	main := byte('k')
	switch {
	case f.Holder != "":
		main, base = 'o', indexKey('o', f.Holder, "")
	case f.City != "":
		main, base = 'c', indexKey('c', f.City, "")
	case f.Status != "":
		main, base = 's', indexKey('s', string(f.Status), "")
	default:
		base = []byte{'k'}
	}
	lo := bytes.Clone(base)
	if main == 'k' && f.Jurisdiction != "" {
		lo = append(lo, f.Jurisdiction+"/"...)
	}
	hi := successor(lo)
	if f.Cursor != "" {
		// The first key after the cursor's.
		if after := append(append(bytes.Clone(base), f.Cursor...), 0); bytes.Compare(after, lo) > 0 {
			lo = after
		}
	}
	it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, "", fmt.Errorf("node: catalogue: %w", err)
	}
	defer it.Close()
	var out []query.LicenseEntry
	scanned, last := 0, ""
	for ok := it.First(); ok; ok = it.Next() {
		if scanned++; scanned > maxScan {
			return out, last, nil // the next page goes on after the last key looked at
		}
		key := string(it.Key()[len(base):])
		last = key
		var e *query.LicenseEntry
		if main == 'k' {
			if e, err = decodeCatalogEntry(key, it.Value()); err != nil {
				return nil, "", err
			}
		} else if e, err = c.entry(key); err != nil {
			return nil, "", err
		} else if e == nil {
			continue // an index entry without its license: not written by add
		}
		if !matches(e, &f) {
			continue
		}
		out = append(out, *e)
		if len(out) == f.Limit {
			if it.Next() {
				return out, key, nil
			}
			return out, "", it.Error()
		}
	}
	return out, "", it.Error()
}

func matches(e *query.LicenseEntry, f *query.LicenseFilter) bool {
	return (f.City == "" || e.City == f.City) && (f.Holder == "" || e.Holder == f.Holder) &&
		(f.Status == "" || e.Status == f.Status) && (f.Kind == "" || e.Kind == f.Kind) &&
		(f.Jurisdiction == "" || strings.HasPrefix(e.Key, f.Jurisdiction+"/"))
}

// successor is the smallest key above every key with prefix p.
func successor(p []byte) []byte {
	out := bytes.Clone(p)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] < 0xff {
			out[i]++
			return out[:i+1]
		}
	}
	return nil
}

// statusAt is the license state's status of key as of height h.
func statusAt(st *state.Store, key string, h uint64) (schemas.Status, error) {
	leaf, err := st.GetAt(key, h)
	if err != nil {
		return "", err
	}
	return leaf.Status, nil
}
