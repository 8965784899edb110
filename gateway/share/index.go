package share

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
)

// Chain is what the share service reads of the ledger, every answer
// verified against the trust bundle: ledger/query's Client implements it.
type Chain interface {
	LatestProof(ctx context.Context, key string) (*proof.Bundle, error)
	Headers(ctx context.Context, from uint64, limit int) ([]query.SealedHeader, error)
	Block(ctx context.Context, height uint64, from, limit int) (*query.BlockPage, error)
}

var _ Chain = (*query.Client)(nil)

// GrantEntry is a grant as the index keeps it: its terms as issued, and
// its state as the chain has made it so far.
type GrantEntry struct {
	City    string         `json:"city"`
	ID      string         `json:"id"`
	Key     string         `json:"key"` // grant/<city>/<id>
	Grant   schemas.Grant  `json:"grant"`
	From    string         `json:"from"`
	To      string         `json:"to"`
	Status  schemas.Status `json:"status"` // valid or revoked, as recorded
	Uses    uint64         `json:"uses"`
	Height  uint64         `json:"height"` // of its issue
	TxID    string         `json:"tx"`     // its issue, hex
	Revoked string         `json:"revokedTx,omitempty"`
}

// Terms returns the grant's terms.
func (g *GrantEntry) Terms() *schemas.GrantTerms {
	return &schemas.GrantTerms{Grant: g.Grant, From: g.From}
}

// AccessEntry is an access record as the index keeps it.
type AccessEntry struct {
	Key     string          `json:"key"` // access/<city>/<id>
	TxID    string          `json:"tx"`  // hex
	Height  uint64          `json:"height"`
	Time    time.Time       `json:"time"` // the block's
	City    string          `json:"city"` // the owner asked, which recorded it
	Reader  string          `json:"reader"`
	Op      string          `json:"op"`
	License string          `json:"license,omitempty"`
	Kind    schemas.Kind    `json:"kind"`
	Fields  []string        `json:"fields,omitempty"`
	Purpose string          `json:"purpose"`
	Outcome string          `json:"outcome"`
	Reason  schemas.Refusal `json:"reason,omitempty"`
	Grant   string          `json:"grant,omitempty"`
	Result  *bool           `json:"result,omitempty"`
	At      string          `json:"requestedAt"` // the reader's clock
}

// Index is the gateway's index of the chain's grants and access records,
// derived from the chain by a follower (see the package documentation).
// Safe for concurrent use: one writer at a time (the follower, CatchUp),
// readers from pebble snapshots.
type Index struct {
	db     *pebble.DB
	chain  Chain
	log    *slog.Logger
	height atomic.Uint64

	wmu  sync.Mutex // one writer
	kick chan struct{}
	done chan struct{}
	stop context.CancelFunc
}

// IndexConfig configures an Index.
type IndexConfig struct {
	Chain Chain
	Log   *slog.Logger
	// Every is how often the follower looks for new blocks; default 1s.
	Every time.Duration
}

// OpenIndex opens (or creates) the index in dir.
func OpenIndex(dir string, cfg IndexConfig) (*Index, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("share: open index %s: %w", dir, err)
	}
	ix := &Index{db: db, chain: cfg.Chain, log: cfg.Log, kick: make(chan struct{}, 1)}
	v, closer, err := db.Get([]byte("m"))
	switch {
	case err == nil:
		if len(v) == 8 {
			ix.height.Store(binary.BigEndian.Uint64(v))
		}
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		db.Close()
		return nil, fmt.Errorf("share: open index: %w", err)
	}
	return ix, nil
}

// Height is the height the index has followed the chain to.
func (ix *Index) Height() uint64 { return ix.height.Load() }

// Start runs the follower until Close, looking for new blocks every
// every (or when Kick says there are some).
func (ix *Index) Start(every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	ix.stop, ix.done = cancel, make(chan struct{})
	go func() {
		defer close(ix.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if err := ix.CatchUp(ctx); err != nil && ctx.Err() == nil {
				ix.log.Warn("share: index: cannot follow the chain; retrying", "height", ix.Height(), "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-ix.kick:
			}
		}
	}()
}

// Kick asks the follower to look for new blocks now.
func (ix *Index) Kick() {
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// Close stops the follower and closes the index.
func (ix *Index) Close() error {
	if ix.stop != nil {
		ix.stop()
		<-ix.done
	}
	return ix.db.Close()
}

// CatchUp indexes every block the chain has above the index's height.
func (ix *Index) CatchUp(ctx context.Context) error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	for {
		from := ix.Height() + 1
		hs, err := ix.chain.Headers(ctx, from, 64)
		if errors.Is(err, query.ErrNotFound) || err == nil && len(hs) == 0 {
			return nil
		}
		if err != nil {
			return err
		}
		for _, sh := range hs {
			if err := ix.addBlock(ctx, sh.Header); err != nil {
				return err
			}
		}
	}
}

// addBlock indexes the share transactions of one block that took effect.
func (ix *Index) addBlock(ctx context.Context, h *block.Header) error {
	b := ix.db.NewBatch()
	defer b.Close()
	grants := map[string]*GrantEntry{} // changed in this block
	at := time.Unix(0, h.Timestamp).UTC()
	for from := 0; ; {
		pg, err := ix.chain.Block(ctx, h.Height, from, query.MaxPageTxs)
		if err != nil {
			return fmt.Errorf("share: index: block %d: %w", h.Height, err)
		}
		for _, t := range pg.Txs {
			if t.Result != block.OK || !bytes.Contains(t.Bytes, []byte(`"kind":"share_`)) {
				continue
			}
			tx, err := schemas.DecodeTx(t.Bytes)
			if err != nil {
				continue // sealed OK by a quorum: cannot happen; skip rather than stop following
			}
			if err := ix.addTx(b, grants, tx, t.ID, h.Height, at); err != nil {
				return err
			}
		}
		if from = pg.Next; from >= len(pg.Results) {
			break
		}
	}
	for _, g := range grants {
		raw, _ := json.Marshal(g)
		if err := b.Set(grantKey(g.City, g.ID), raw, nil); err != nil {
			return err
		}
		if err := b.Set(readerGrantKey(g.Grant.Reader, g.City, g.ID), nil, nil); err != nil {
			return err
		}
	}
	if err := b.Set([]byte("m"), binary.BigEndian.AppendUint64(nil, h.Height), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("share: index block %d: %w", h.Height, err)
	}
	ix.height.Store(h.Height)
	return nil
}

func (ix *Index) addTx(b *pebble.Batch, grants map[string]*GrantEntry, tx *schemas.Tx, id schemas.TxID, height uint64, at time.Time) error {
	grant := func(city, gid string) (*GrantEntry, error) {
		k := city + "/" + gid
		if g, ok := grants[k]; ok {
			return g, nil
		}
		g, err := ix.Grant(city, gid)
		if err != nil || g == nil {
			return nil, err
		}
		grants[k] = g
		return g, nil
	}
	switch {
	case tx.Kind == schemas.KindShareGrant && tx.Action == schemas.ActionIssue && tx.Grant != nil && tx.Record.Validity != nil:
		grants[tx.City+"/"+tx.Record.ID] = &GrantEntry{City: tx.City, ID: tx.Record.ID, Key: tx.LicenseKey(), Grant: *tx.Grant,
			From: tx.Record.Validity.From, To: tx.Record.Validity.To, Status: schemas.StatusValid, Height: height, TxID: schemas.FormatID(id)}
	case tx.Kind == schemas.KindShareGrant && tx.Action == schemas.ActionRevoke:
		g, err := grant(tx.City, tx.Record.ID)
		if err != nil {
			return err
		}
		if g != nil {
			g.Status, g.Revoked = schemas.StatusRevoked, schemas.FormatID(id)
		}
	case tx.Kind == schemas.KindShareAccess && tx.Access != nil:
		a := tx.Access
		rq := &a.Request
		e := AccessEntry{Key: tx.LicenseKey(), TxID: schemas.FormatID(id), Height: height, Time: at, City: tx.City, Reader: rq.Reader,
			Op: rq.Op, License: rq.License, Kind: rq.Kind, Fields: rq.Fields, Purpose: rq.Purpose, Outcome: a.Outcome, Reason: a.Reason,
			Grant: a.Grant, Result: a.Result, At: rq.At}
		raw, _ := json.Marshal(e)
		for _, k := range accessKeys(&e) {
			if err := b.Set(k, raw, nil); err != nil {
				return err
			}
		}
		if a.Outcome == schemas.OutcomeGranted {
			g, err := grant(tx.City, a.Grant)
			if err != nil {
				return err
			}
			if g != nil {
				g.Uses++
			}
		}
	}
	return nil
}

func grantKey(city, id string) []byte {
	return append(append(append([]byte{'g'}, city...), 0), id...)
}

func readerGrantKey(reader, city, id string) []byte {
	k := append(append([]byte{'G'}, reader...), 0)
	return append(append(append(k, city...), 0), id...)
}

// accessKeys are an access record's entries: by license, by reader, by
// owner city, each in time order (the block's time, then the key).
func accessKeys(e *AccessEntry) [][]byte {
	var out [][]byte
	add := func(prefix byte, value string) {
		k := append(append([]byte{prefix}, value...), 0)
		k = binary.BigEndian.AppendUint64(k, uint64(e.Time.UnixNano()))
		out = append(out, append(k, e.Key...))
	}
	if e.License != "" {
		add('l', e.License)
	}
	add('r', e.Reader)
	add('c', e.City)
	return out
}

// Grant returns the index's entry of city's grant id, nil if it has none.
func (ix *Index) Grant(city, id string) (*GrantEntry, error) {
	v, closer, err := ix.db.Get(grantKey(city, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	var g GrantEntry
	if err := json.Unmarshal(v, &g); err != nil {
		return nil, fmt.Errorf("%w: grant %s/%s", ErrCorrupt, city, id)
	}
	return &g, nil
}

// GrantsOf lists city's grants, in id order.
func (ix *Index) GrantsOf(city string) ([]GrantEntry, error) {
	lo := append(append([]byte{'g'}, city...), 0)
	return ix.grants(lo, func(k, v []byte) (*GrantEntry, error) {
		var g GrantEntry
		if err := json.Unmarshal(v, &g); err != nil {
			return nil, fmt.Errorf("%w: grant %q", ErrCorrupt, k)
		}
		return &g, nil
	})
}

// GrantsTo lists the grants to reader, by city and id.
func (ix *Index) GrantsTo(reader string) ([]GrantEntry, error) {
	lo := append(append([]byte{'G'}, reader...), 0)
	return ix.grants(lo, func(k, _ []byte) (*GrantEntry, error) {
		city, id, ok := bytes.Cut(k[len(lo):], []byte{0})
		if !ok {
			return nil, fmt.Errorf("%w: reader grant %q", ErrCorrupt, k)
		}
		return ix.Grant(string(city), string(id))
	})
}

func (ix *Index) grants(lo []byte, get func(k, v []byte) (*GrantEntry, error)) ([]GrantEntry, error) {
	it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: successor(lo)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []GrantEntry
	for ok := it.First(); ok; ok = it.Next() {
		g, err := get(bytes.Clone(it.Key()), it.Value())
		if err != nil {
			return nil, err
		}
		if g != nil {
			out = append(out, *g)
		}
	}
	return out, it.Error()
}

// AccessFilter selects access records. Exactly one of License, Reader and
// City picks the index walked; the others, when set, also filter.
type AccessFilter struct {
	License, Reader, City string
	From, To              time.Time // the block's time, [From, To); zero: unbounded
	// After is a previous page's cursor (hex): the records after it.
	After string
	Limit int // default 100, at most 1000
}

// Accesses lists the access records matching f, oldest first, and the
// cursor of the next page ("" after the last).
func (ix *Index) Accesses(f AccessFilter) ([]AccessEntry, string, error) {
	var prefix byte
	var value string
	switch {
	case f.License != "":
		prefix, value = 'l', f.License
	case f.Reader != "":
		prefix, value = 'r', f.Reader
	case f.City != "":
		prefix, value = 'c', f.City
	default:
		return nil, "", errors.New("share: an access list names a license, a reader or a city")
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	base := append(append([]byte{prefix}, value...), 0)
	lo, hi := bytes.Clone(base), successor(base)
	if !f.From.IsZero() {
		lo = binary.BigEndian.AppendUint64(bytes.Clone(base), uint64(max(f.From.UnixNano(), 0)))
	}
	if !f.To.IsZero() {
		hi = binary.BigEndian.AppendUint64(bytes.Clone(base), uint64(max(f.To.UnixNano(), 0)))
	}
	if f.After != "" {
		c, err := hex.DecodeString(f.After)
		if err != nil {
			return nil, "", fmt.Errorf("share: cursor %q is not a cursor this gateway gave", f.After)
		}
		if after := append(append(bytes.Clone(base), c...), 0); bytes.Compare(after, lo) > 0 {
			lo = after
		}
	}
	it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, "", err
	}
	defer it.Close()
	var out []AccessEntry
	for ok := it.First(); ok; ok = it.Next() {
		var e AccessEntry
		if err := json.Unmarshal(it.Value(), &e); err != nil {
			return nil, "", fmt.Errorf("%w: access entry %q", ErrCorrupt, it.Key())
		}
		if f.License != "" && e.License != f.License || f.Reader != "" && e.Reader != f.Reader || f.City != "" && e.City != f.City {
			continue
		}
		out = append(out, e)
		if len(out) == f.Limit {
			cursor := hex.EncodeToString(it.Key()[len(base):])
			if it.Next() {
				return out, cursor, nil
			}
			break
		}
	}
	return out, "", it.Error()
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
