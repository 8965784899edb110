package query

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

// ClientConfig configures a Client. Zero fields take the defaults given.
type ClientConfig struct {
	// Conn is any bus identity that may publish on gba.query.* (a city
	// gateway's, the service identity, an orderer's); the caller closes
	// it after Close.
	Conn  *nats.Conn
	Trust *keys.Bundle // required: what every reply is verified against
	// Orderers are asked in turn, starting with the one that answered
	// last. Default Trust.Orderers.
	Orderers []string
	// Timeout bounds one request to one orderer (a commit wait: its hold
	// plus this). Default 5 s.
	Timeout time.Duration
	// WaitRound is how long an orderer holds a commit wait with nothing
	// sealed before it answers. Default 2 s.
	WaitRound time.Duration
	// MaxRounds bounds the commit-wait requests in flight; transactions
	// that arrive meanwhile join the next. Default 4.
	MaxRounds int
	// StatusEvery is how often SealedSeq's value is refreshed from the
	// orderers while it is being asked for (no traffic otherwise).
	// Default 100 ms.
	StatusEvery time.Duration
	Logger      *slog.Logger
}

// Client asks the orderers' query service and verifies what they answer
// before it returns it: a header by its quorum certificate against the
// trust bundle, a transaction's place by its path under the header's
// TxRoot (or the block's results under its ResultsHash), a proof with
// proof.Verify. An orderer that does not answer, or answers something that
// does not verify, is passed over for the next. It implements
// gateway.Ledger, so a gateway in another process than the orderers (or in
// the same one) waits for commits and serves proofs through it.
//
// Commit waits are coalesced: every transaction waited for joins one
// request per round (up to MaxIDs ids), and an orderer answers a round as
// soon as a block seals any of them, so under load there is one request
// per block, not one per transaction.
//
// Goroutines: the wait loop and the status poller start on first use and
// stop with Close; everything else runs on the caller's goroutine. All
// methods are safe for concurrent use.
type Client struct {
	cfg      ClientConfig
	log      *slog.Logger
	orderers []string
	next     atomic.Int32 // the orderer to ask first

	hmu      sync.Mutex
	verified map[[32]byte]bool // header hashes whose certificates verified
	proofs   *proof.Verifier

	wmu     sync.Mutex
	pending map[schemas.TxID]*waiting
	wake    chan struct{}

	sealedSeq atomic.Uint64
	seqAsked  atomic.Int64 // unix nanos of the last SealedSeq call

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	loopOnce sync.Once
	pollOnce sync.Once
}

var _ gateway.Ledger = (*Client)(nil)

// waiting is a transaction someone waits for.
type waiting struct {
	chans   []chan Location
	inRound bool
}

// ErrClosed is returned by a closed client.
var ErrClosed = errors.New("query: client closed")

// maxVerified bounds the header hashes remembered as verified.
const maxVerified = 4096

// NewClient returns a client; Close it when done.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Conn == nil || cfg.Trust == nil {
		return nil, errors.New("query: a client needs a bus connection and the trust bundle")
	}
	if len(cfg.Orderers) == 0 {
		cfg.Orderers = cfg.Trust.Orderers
	}
	for _, o := range cfg.Orderers {
		if cfg.Trust.OrdererIndex(o) < 0 {
			return nil, fmt.Errorf("query: %q is not an orderer of chain %s", o, cfg.Trust.Chain)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.WaitRound <= 0 {
		cfg.WaitRound = 2 * time.Second
	}
	cfg.WaitRound = min(cfg.WaitRound, MaxWait)
	if cfg.MaxRounds <= 0 {
		cfg.MaxRounds = 4
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, log: cfg.Logger.With("component", "query-client"), orderers: cfg.Orderers,
		verified: map[[32]byte]bool{}, proofs: proof.NewVerifier(cfg.Trust, 1024),
		pending: map[schemas.TxID]*waiting{}, wake: make(chan struct{}, 1)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Close stops the client's goroutines; waits in progress return ErrClosed.
func (c *Client) Close() {
	c.cancel()
	c.wg.Wait()
}

// do sends req to the orderers in turn, from the one that answered last,
// until handle accepts a reply. A reply that says the thing asked for does
// not exist, or that the request is bad, is an answer: it is returned, not
// asked again elsewhere. timeout bounds each attempt.
func (c *Client) do(ctx context.Context, req []byte, timeout time.Duration, handle func(node string, data []byte) error) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	n := len(c.orderers)
	first := int(c.next.Load())
	var errs []error
	for i := range n {
		at := (first + i) % n
		node := c.orderers[at]
		rctx, cancel := context.WithTimeout(ctx, timeout)
		msg, err := c.cfg.Conn.RequestWithContext(rctx, bus.QuerySubject(node), req)
		cancel()
		if err == nil {
			err = handle(node, msg.Data)
		}
		var re *ReplyError
		if errors.As(err, &re) {
			re.Node = node
		}
		switch {
		case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrBadRequest):
			c.next.Store(int32(at))
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrUnverified):
			c.log.Warn("query: an orderer's reply does not verify; asking the next", "orderer", node, "err", err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", node, err))
	}
	return fmt.Errorf("%w: %w", ErrNoOrderer, errors.Join(errs...))
}

// header decodes a sealed header and verifies its certificate (once per
// header hash).
func (c *Client) header(raw []byte) (*block.Header, *block.QC, error) {
	h, qc, err := block.DecodeSealed(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnverified, err)
	}
	if h.Chain != c.cfg.Trust.Chain {
		return nil, nil, fmt.Errorf("%w: a header of chain %q, trust bundle for %q", ErrUnverified, h.Chain, c.cfg.Trust.Chain)
	}
	hash := h.Hash()
	c.hmu.Lock()
	ok := c.verified[hash]
	c.hmu.Unlock()
	if ok {
		return h, qc, nil
	}
	if err := block.VerifyQC(c.cfg.Trust, h, qc); err != nil {
		return nil, nil, fmt.Errorf("%w: header %d: %w", ErrUnverified, h.Height, err)
	}
	c.hmu.Lock()
	if len(c.verified) >= maxVerified {
		clear(c.verified)
	}
	c.verified[hash] = true
	c.hmu.Unlock()
	return h, qc, nil
}

// checkResults verifies a block's results against its header.
func checkResults(h *block.Header, raw []byte) ([]block.Result, error) {
	if sha256.Sum256(raw) != h.ResultsHash {
		return nil, fmt.Errorf("%w: the results of block %d do not hash to its header's", ErrUnverified, h.Height)
	}
	out := make([]block.Result, len(raw))
	for i, r := range raw {
		out[i] = block.Result(r)
	}
	return out, nil
}

// checkPlace verifies that transaction id sits where e says in the block
// of header h: under TxRoot if it took effect, else with that result in
// the block's results.
func checkPlace(id schemas.TxID, e *entry, h *block.Header, results []block.Result) error {
	if e.result == block.OK {
		if e.leaf < 0 || merkle.VerifyInclusion(id, uint64(e.leaf), uint64(h.TxCount), e.path, h.TxRoot) != nil {
			return fmt.Errorf("%w: transaction %x is not under the transaction root of block %d at leaf %d", ErrUnverified, id[:4], h.Height, e.leaf)
		}
		return nil
	}
	if results == nil {
		return fmt.Errorf("%w: block %d's results are missing", ErrUnverified, h.Height)
	}
	if int(e.position) >= len(results) || results[e.position] != e.result {
		return fmt.Errorf("%w: block %d does not record result %s at position %d", ErrUnverified, h.Height, e.result, e.position)
	}
	return nil
}

// locations verifies a Lookup or Wait reply for ids and returns what it
// places (nil where nothing was found).
func (c *Client) locations(ids []schemas.TxID, data []byte) ([]*Location, error) {
	l, err := decodeLocated(data)
	if err != nil {
		return nil, err
	}
	if len(l.entries) != len(ids) {
		return nil, fmt.Errorf("%w: %d answers for %d transactions", ErrUnverified, len(l.entries), len(ids))
	}
	type head struct {
		h       *block.Header
		results []block.Result
	}
	heads := map[uint64]*head{}
	for _, s := range l.headers {
		h, _, err := c.header(s.raw)
		if err != nil {
			return nil, err
		}
		hd := &head{h: h}
		if len(s.results) > 0 {
			if hd.results, err = checkResults(h, s.results); err != nil {
				return nil, err
			}
		}
		heads[h.Height] = hd
	}
	out := make([]*Location, len(ids))
	for i := range l.entries {
		e := &l.entries[i]
		if !e.found {
			continue
		}
		hd, ok := heads[e.height]
		if !ok {
			return nil, fmt.Errorf("%w: no header for block %d", ErrUnverified, e.height)
		}
		if err := checkPlace(ids[i], e, hd.h, hd.results); err != nil {
			return nil, err
		}
		out[i] = &Location{Height: e.height, Position: int(e.position), Leaf: int(e.leaf), Result: e.result, BlockHash: hd.h.Hash()}
	}
	return out, nil
}

// Locate returns where a transaction was sealed, verified; ok is false
// if the orderer asked has not sealed it.
func (c *Client) Locate(ctx context.Context, id schemas.TxID) (*Location, bool, error) {
	var loc *Location
	ids := []schemas.TxID{id}
	err := c.do(ctx, encodeRequest(&request{op: opLookup, ids: ids}), c.cfg.Timeout, func(_ string, data []byte) error {
		locs, err := c.locations(ids, data)
		if err == nil {
			loc = locs[0]
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return loc, loc != nil, nil
}

// Lookup implements gateway.Ledger.
func (c *Client) Lookup(ctx context.Context, id schemas.TxID) (gateway.Location, bool, error) {
	loc, ok, err := c.Locate(ctx, id)
	if err != nil || !ok {
		return gateway.Location{}, false, err
	}
	return gatewayLocation(loc), true, nil
}

func gatewayLocation(l *Location) gateway.Location {
	return gateway.Location{Height: l.Height, Position: l.Position, BlockHash: l.BlockHash, Result: l.Result.String(), Reason: l.Result.Reason().String()}
}

// WaitTx implements gateway.Ledger: it waits until the transaction is
// sealed (verified as Locate does) and returns where.
func (c *Client) WaitTx(ctx context.Context, id schemas.TxID) (gateway.Location, error) {
	loc, err := c.Wait(ctx, id)
	if err != nil {
		return gateway.Location{}, err
	}
	return gatewayLocation(loc), nil
}

// Wait waits until the transaction is sealed and returns where, verified.
// It returns ctx's error on cancellation, ErrClosed once the client is.
func (c *Client) Wait(ctx context.Context, id schemas.TxID) (*Location, error) {
	c.loopOnce.Do(func() {
		c.wg.Add(1)
		go c.waitLoop()
	})
	ch := make(chan Location, 1)
	c.wmu.Lock()
	w := c.pending[id]
	if w == nil {
		w = &waiting{}
		c.pending[id] = w
	}
	w.chans = append(w.chans, ch)
	c.wmu.Unlock()
	c.signal()
	select {
	case l := <-ch:
		return &l, nil
	case <-ctx.Done():
		c.forget(id, ch)
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
}

func (c *Client) forget(id schemas.TxID, ch chan Location) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w := c.pending[id]
	if w == nil {
		return
	}
	for i, x := range w.chans {
		if x == ch {
			w.chans = append(w.chans[:i], w.chans[i+1:]...)
			break
		}
	}
	if len(w.chans) == 0 {
		delete(c.pending, id)
	}
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// waitLoop sends the rounds: whatever transactions are waited for and in
// no round go in the next, up to MaxRounds in flight.
func (c *Client) waitLoop() {
	defer c.wg.Done()
	slots := make(chan struct{}, c.cfg.MaxRounds)
	for {
		select {
		case <-c.wake:
		case <-c.ctx.Done():
			return
		}
		for {
			ids := c.takeIdle()
			if len(ids) == 0 {
				break
			}
			select {
			case slots <- struct{}{}:
			case <-c.ctx.Done():
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.round(ids)
				<-slots
				c.signal()
			}()
		}
	}
}

// takeIdle marks up to MaxIDs waited-for transactions in no round as in
// one, and returns them.
func (c *Client) takeIdle() []schemas.TxID {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var ids []schemas.TxID
	for id, w := range c.pending {
		if w.inRound {
			continue
		}
		w.inRound = true
		if ids = append(ids, id); len(ids) == MaxIDs {
			break
		}
	}
	return ids
}

// round asks an orderer to hold a wait for ids, and hands what it places
// to their waiters; the others go back to waiting for the next round.
func (c *Client) round(ids []schemas.TxID) {
	var locs []*Location
	req := encodeRequest(&request{op: opWait, ids: ids, wait: c.cfg.WaitRound})
	err := c.do(c.ctx, req, c.cfg.WaitRound+c.cfg.Timeout, func(_ string, data []byte) (err error) {
		locs, err = c.locations(ids, data)
		return err
	})
	c.wmu.Lock()
	for i, id := range ids {
		w := c.pending[id]
		if w == nil {
			continue // nobody waits any more
		}
		if err == nil && locs[i] != nil {
			for _, ch := range w.chans {
				ch <- *locs[i]
			}
			delete(c.pending, id)
			continue
		}
		w.inRound = false
	}
	c.wmu.Unlock()
	if err != nil && c.ctx.Err() == nil {
		c.log.Warn("query: commit wait round failed; retrying", "transactions", len(ids), "err", err)
		select {
		case <-time.After(200 * time.Millisecond): // every orderer failed: do not spin
		case <-c.ctx.Done():
		}
	}
}

// SealedSeq implements gateway.Progress: the highest GBA_TX sequence any
// orderer reports sealed, refreshed every StatusEvery while it is asked
// for (0 until the first answer).
func (c *Client) SealedSeq() uint64 {
	c.seqAsked.Store(time.Now().UnixNano())
	c.pollOnce.Do(func() {
		c.wg.Add(1)
		go c.pollStatus()
	})
	return c.sealedSeq.Load()
}

func (c *Client) pollStatus() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.StatusEvery)
	defer t.Stop()
	for {
		if time.Since(time.Unix(0, c.seqAsked.Load())) < 10*c.cfg.StatusEvery+time.Second {
			var best uint64
			for _, s := range c.Statuses(c.ctx, min(c.cfg.Timeout, 10*c.cfg.StatusEvery)) {
				if s != nil {
					best = max(best, s.SealedSeq)
				}
			}
			if best > c.sealedSeq.Load() {
				c.sealedSeq.Store(best)
			}
		}
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return
		}
	}
}

// Statuses asks every orderer for its status at once, each within
// timeout; an orderer that does not answer, or whose head does not verify,
// is nil.
func (c *Client) Statuses(ctx context.Context, timeout time.Duration) []*Status {
	out := make([]*Status, len(c.orderers))
	var wg sync.WaitGroup
	for i, node := range c.orderers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			s, err := c.status(rctx, node)
			if err != nil {
				c.log.Debug("query: status", "orderer", node, "err", err)
				return
			}
			out[i] = s
		}()
	}
	wg.Wait()
	return out
}

// Status asks one orderer for its status.
func (c *Client) Status(ctx context.Context, node string) (*Status, error) {
	if c.cfg.Trust.OrdererIndex(node) < 0 {
		return nil, fmt.Errorf("%w: %q is not an orderer", ErrBadRequest, node)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return c.status(ctx, node)
}

func (c *Client) status(ctx context.Context, node string) (*Status, error) {
	msg, err := c.cfg.Conn.RequestWithContext(ctx, bus.QuerySubject(node), encodeRequest(&request{op: opStatus}))
	if err != nil {
		return nil, err
	}
	s, err := decodeStatus(msg.Data)
	if err != nil {
		return nil, err
	}
	if s.name != node {
		return nil, fmt.Errorf("%w: %s answered as %q", ErrUnverified, node, s.name)
	}
	out := &Status{Node: node, Height: s.height, SealedSeq: s.sealedSeq, Ready: s.ready}
	if len(s.head) > 0 {
		h, _, err := c.header(s.head)
		if err != nil {
			return nil, err
		}
		if h.Height != s.height {
			return nil, fmt.Errorf("%w: %s is at height %d with head %d", ErrUnverified, node, s.height, h.Height)
		}
		out.Head = h
	}
	return out, nil
}

// LatestProof implements gateway.Ledger: a fresh proof of a license,
// checked with proof.Verify against the trust bundle. It wraps
// proof.ErrNotFound when the orderer asked holds no such license.
func (c *Client) LatestProof(ctx context.Context, key string) (*proof.Bundle, error) {
	var out *proof.Bundle
	err := c.do(ctx, encodeRequest(&request{op: opProof, key: key}), c.cfg.Timeout, func(_ string, data []byte) error {
		raw, err := decodeProof(data)
		if err != nil {
			return err
		}
		b, err := proof.Decode(raw)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnverified, err)
		}
		if b.Key != key {
			return fmt.Errorf("%w: asked for %s, got a proof of %s", ErrUnverified, key, b.Key)
		}
		if _, err := c.proofs.Verify(b); err != nil {
			return fmt.Errorf("%w: %w", ErrUnverified, err)
		}
		out = b
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", proof.ErrNotFound, err)
	}
	return out, err
}

// SubmitConfig hands a configuration transaction to an orderer (the first
// that takes it), which checks it under the configuration in force and
// submits it to consensus. A transaction the orderer refuses (its
// signatures, its base, a change the orderers cannot follow) is an
// answer: an ErrBadRequest naming the reason, not asked elsewhere. It
// returns when an orderer holds it, not when it is sealed.
func (c *Client) SubmitConfig(ctx context.Context, tx *config.Tx) error {
	raw := config.Encode(tx)
	if len(raw) > MaxConfigBytes {
		return fmt.Errorf("%w: configuration of %d bytes, limit %d", ErrBadRequest, len(raw), MaxConfigBytes)
	}
	return c.do(ctx, encodeRequest(&request{op: opConfig, config: raw}), c.cfg.Timeout+configSubmitTimeout, func(_ string, data []byte) error {
		return decodeEmpty(data)
	})
}

// SealedHeader is a header with its verified certificate.
type SealedHeader struct {
	Header *block.Header
	QC     *block.QC
}

// Headers returns the sealed headers from height from on, up to limit
// (MaxHeaders at most; fewer if the chain ends first or the reply is
// full), each certificate verified and each header linked to the one
// before.
func (c *Client) Headers(ctx context.Context, from uint64, limit int) ([]SealedHeader, error) {
	var out []SealedHeader
	req := encodeRequest(&request{op: opHeaders, height: from, limit: uint32(min(max(limit, 1), MaxHeaders))})
	err := c.do(ctx, req, c.cfg.Timeout, func(_ string, data []byte) error {
		raws, err := decodeHeaders(data)
		if err != nil {
			return err
		}
		hs := make([]SealedHeader, 0, len(raws))
		for i, raw := range raws {
			h, qc, err := c.header(raw)
			if err != nil {
				return err
			}
			if h.Height != from+uint64(i) || (i > 0 && h.Prev != hs[i-1].Header.Hash()) {
				return fmt.Errorf("%w: header %d does not follow in the range from %d", ErrUnverified, h.Height, from)
			}
			hs = append(hs, SealedHeader{Header: h, QC: qc})
		}
		out = hs
		return nil
	})
	return out, err
}

// BlockPage is a page of a block's transactions.
type BlockPage struct {
	Header  *block.Header
	QC      *block.QC
	Results []block.Result // the whole block's, verified against the header
	Txs     []BlockTx
	// Next is the position of the next page's first transaction;
	// len(Results) after the last page.
	Next int
}

// BlockTx is one transaction of a block page. Its bytes hash to its id,
// and an OK transaction's path leads to the header's TxRoot; the batch
// fields are as the orderer reports them (the batch signature is checked
// by Tx, which has the batch path).
type BlockTx struct {
	Position int
	ID       schemas.TxID
	Bytes    []byte
	Result   block.Result
	Leaf     int
	Batch    int // index among the block's batches
	InBatch  int
	City     string
	BatchSeq uint64
}

// Block returns a page of block height's transactions from position from,
// up to limit (MaxPageTxs at most; fewer if the reply fills), verified.
func (c *Client) Block(ctx context.Context, height uint64, from, limit int) (*BlockPage, error) {
	var out *BlockPage
	req := encodeRequest(&request{op: opBlock, height: height, from: uint32(max(from, 0)), limit: uint32(min(max(limit, 1), MaxPageTxs))})
	err := c.do(ctx, req, c.cfg.Timeout, func(_ string, data []byte) error {
		pg, err := decodePage(data)
		if err != nil {
			return err
		}
		h, qc, err := c.header(pg.header.raw)
		if err != nil {
			return err
		}
		if h.Height != height {
			return fmt.Errorf("%w: asked for block %d, got %d", ErrUnverified, height, h.Height)
		}
		results, err := checkResults(h, pg.header.results)
		if err != nil {
			return err
		}
		if int(pg.total) != len(results) {
			return fmt.Errorf("%w: block %d has %d results, the page says %d transactions", ErrUnverified, height, len(results), pg.total)
		}
		batches := map[uint32]*batchInfo{}
		for i := range pg.batches {
			batches[pg.batches[i].index] = &pg.batches[i]
		}
		p := &BlockPage{Header: h, QC: qc, Results: results, Next: len(results)}
		for i, t := range pg.txs {
			if int(t.position) != from+i {
				return fmt.Errorf("%w: block %d page from %d holds position %d at %d", ErrUnverified, height, from, t.position, i)
			}
			id := schemas.ComputeTxID(t.bytes)
			e := entry{found: true, height: height, position: t.position, leaf: t.leaf, result: t.result, path: t.path}
			if err := checkPlace(id, &e, h, results); err != nil {
				return err
			}
			if results[t.position] != t.result {
				return fmt.Errorf("%w: block %d records %s at %d, the page %s", ErrUnverified, height, results[t.position], t.position, t.result)
			}
			bt := BlockTx{Position: int(t.position), ID: id, Bytes: t.bytes, Result: t.result, Leaf: int(t.leaf), Batch: int(t.batch), InBatch: int(t.inBatch)}
			if bi := batches[t.batch]; bi != nil {
				bt.City, bt.BatchSeq = bi.city, bi.seq
			}
			p.Txs = append(p.Txs, bt)
		}
		if len(p.Txs) > 0 {
			p.Next = p.Txs[len(p.Txs)-1].Position + 1
		} else if from < len(results) {
			return fmt.Errorf("%w: an empty page of block %d from %d", ErrUnverified, height, from)
		}
		out = p
		return nil
	})
	return out, err
}

// TxContent is a transaction's canonical content with where it was sealed,
// all verified: its bytes hash to its id; its city signed its batch (the
// batch path leads to the signed root, the signature verifies with the
// city's key at that height); its header's certificate verifies; and it
// sits under the header's TxRoot, or the block's results record its other
// result.
type TxContent struct {
	Location
	Bytes     []byte
	Tx        *schemas.Tx // decoded; nil if the bytes are not a valid transaction (result invalid)
	Header    *block.Header
	City      string // the city whose batch carried it
	BatchSeq  uint64
	BatchTime int64 // the batch's creation, Unix nanoseconds (the gateway's clock)
}

// Tx returns a sealed transaction's content, verified (ErrNotFound if the
// orderer asked has not sealed it).
func (c *Client) Tx(ctx context.Context, id schemas.TxID) (*TxContent, error) {
	var out *TxContent
	err := c.do(ctx, encodeRequest(&request{op: opTx, ids: []schemas.TxID{id}}), c.cfg.Timeout, func(_ string, data []byte) error {
		t, err := decodeTx(data)
		if err != nil {
			return err
		}
		if schemas.ComputeTxID(t.bytes) != id {
			return fmt.Errorf("%w: the bytes returned for %x hash to another id", ErrUnverified, id[:4])
		}
		h, _, err := c.header(t.header.raw)
		if err != nil {
			return err
		}
		if h.Height != t.entry.height {
			return fmt.Errorf("%w: transaction at %d with header %d", ErrUnverified, t.entry.height, h.Height)
		}
		var results []block.Result
		if len(t.header.results) > 0 {
			if results, err = checkResults(h, t.header.results); err != nil {
				return err
			}
		}
		if err := checkPlace(id, &t.entry, h, results); err != nil {
			return err
		}
		if err := c.checkBatch(id, t, h.Height); err != nil {
			return err
		}
		tc := &TxContent{Location: Location{Height: h.Height, Position: int(t.entry.position), Leaf: int(t.entry.leaf), Result: t.entry.result, BlockHash: h.Hash()},
			Bytes: t.bytes, Header: h, City: t.batch.city, BatchSeq: t.batch.seq, BatchTime: t.batch.createdAt}
		if tx, err := schemas.DecodeTx(t.bytes); err == nil {
			tc.Tx = tx
		}
		out = tc
		return nil
	})
	return out, err
}

// checkBatch verifies that id is in the batch t names and that the
// batch's city signed it with a key valid at height.
func (c *Client) checkBatch(id schemas.TxID, t *txReply, height uint64) error {
	bi := &t.batch
	bh := schemas.BatchHeader{Chain: c.cfg.Trust.Chain, City: bi.city, CreatedAt: bi.createdAt, Seq: bi.seq, Count: bi.count, Root: bi.root}
	if merkle.VerifyInclusion(id, uint64(t.inBatch), uint64(bi.count), t.batchPath, bi.root) != nil {
		return fmt.Errorf("%w: transaction %x is not in the batch of %s it is said to be in", ErrUnverified, id[:4], bi.city)
	}
	pk, err := c.cfg.Trust.KeyAt(bi.keyID, keys.RoleCity, bi.city, height)
	if err != nil {
		return fmt.Errorf("%w: batch key: %w", ErrUnverified, err)
	}
	if err := pk.Verify(keys.Domain{Chain: bh.Chain, Purpose: keys.PurposeBatch}, bh.SignedBytes(), bi.signature); err != nil {
		return fmt.Errorf("%w: batch signature of %s: %w", ErrUnverified, bi.city, err)
	}
	return nil
}

// History returns up to limit versions of a license (MaxHistory at most),
// newest first, made below height before (0: from the latest). It is the
// orderer's index, relayed as it answers: each version names the
// transaction that made it, which Tx returns verified.
func (c *Client) History(ctx context.Context, key string, before uint64, limit int) ([]LicenseVersion, error) {
	var out []LicenseVersion
	req := encodeRequest(&request{op: opHistory, key: key, height: before, limit: uint32(min(max(limit, 1), MaxHistory))})
	err := c.do(ctx, req, c.cfg.Timeout, func(_ string, data []byte) error {
		vs, err := decodeHistory(data)
		if err != nil {
			return err
		}
		for i := 1; i < len(vs); i++ {
			if vs[i].Height >= vs[i-1].Height {
				return fmt.Errorf("%w: history of %s out of order", ErrUnverified, key)
			}
		}
		out = vs
		return nil
	})
	return out, err
}

// Licenses returns a page of licenses matching f, in key order, and the
// cursor of the next page ("" after the last). It is the orderer's
// catalogue, relayed as it answers: LatestProof proves any license in it.
func (c *Client) Licenses(ctx context.Context, f LicenseFilter) ([]LicenseEntry, string, error) {
	var (
		out  []LicenseEntry
		next string
	)
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	req := encodeRequest(&request{op: opLicenses, filter: f, limit: uint32(min(limit, MaxLicenses))})
	err := c.do(ctx, req, c.cfg.Timeout, func(_ string, data []byte) error {
		ls, nx, err := decodeLicenses(data)
		if err != nil {
			return err
		}
		for i := 1; i < len(ls); i++ {
			if ls[i].Key <= ls[i-1].Key {
				return fmt.Errorf("%w: licenses out of key order", ErrUnverified)
			}
		}
		out, next = ls, nx
		return nil
	})
	return out, next, err
}
