package blocksync

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/ledger/bft/envelope"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	Conn  *nats.Conn   // supplied and closed by the caller
	Trust *keys.Bundle // replies must be signed by the orderer asked
	// Name and Key identify the orderer this client belongs to; only
	// Batches, a request signed by an orderer, needs them.
	Name string
	Key  keys.Signer
	// Timeout bounds one blocks or batches request. Default 5 s.
	Timeout time.Duration
	// StatusTimeout bounds one status request. Default 1 s, at most
	// Timeout.
	StatusTimeout time.Duration
	// KeyHeight is the height at which status and batch replies' signing
	// keys must be valid: an orderer's next height. Default 1. (The records
	// of a blocks reply are checked at the height asked from.)
	KeyHeight func() uint64
	// TrustAt, if set, is the configuration in force at a height (an
	// orderer's replica.TrustAt): Blocks checks the first record it asks
	// for under TrustAt(from), and each later one under the configuration
	// the configuration blocks before it make. Nil: Trust at every height.
	TrustAt func(height uint64) *keys.Bundle
	// TrustNow, if set, is the configuration in force now (an orderer's
	// replica.Trust): which orderers may be asked and with which keys
	// their replies are signed, as orderers join and leave (issue 17 §2).
	// With it the client does not require Name to be an orderer of Trust:
	// an orderer added since the genesis syncs before it counts. Nil:
	// Trust.
	TrustNow func() *keys.Bundle
	// Chunk is the largest payload of the envelope of a batches request.
	// Default the connection's maximum payload less envelope.MaxOverhead.
	Chunk int
}

// Client asks orderers for their height, their blocks and (for an orderer)
// their unsealed batches on gba.sync.<orderer>. It knows nothing of
// consensus: it hands back what it received, authenticated as the peer's
// (signed envelopes) and, for Blocks, verified with blocklog.VerifyRecord;
// what to commit, and which peer to ask when, is the caller's.
//
// A Client is safe for concurrent use: each request has its own reply
// subject under the client's one reply subscription.
type Client struct {
	cfg   ClientConfig
	reqID atomic.Uint64

	mu      sync.Mutex
	sub     *nats.Subscription // <prefix>*, from the first request until it closes
	prefix  string             // the reply subjects' prefix, "<inbox>."
	waiting map[string]*replyQueue
	closed  bool
}

// The bounds of what one request's reply may hold unread while its caller
// works (the subscription's pending limits before the reply subscription
// was shared): a whole reply fits.
const (
	maxPendingMsgs  = 1 << 16
	maxPendingBytes = MaxReplyBytes + 8<<20
)

// replyQueue is one request's reply messages, received but not yet read.
// The client's mu guards it.
type replyQueue struct {
	msgs  []*nats.Msg
	head  int   // msgs[:head] are read
	bytes int   // of msgs[head:]
	err   error // the queue fails: overflow, the subscription closed
	ready chan struct{}
}

// NewClient checks the configuration.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Conn == nil || cfg.Trust == nil {
		return nil, errors.New("blocksync: a client needs a connection and a trust bundle")
	}
	if cfg.Key != nil && cfg.TrustNow == nil && cfg.Trust.OrdererIndex(cfg.Name) < 0 {
		return nil, fmt.Errorf("blocksync: %q is not an orderer of chain %s", cfg.Name, cfg.Trust.Chain)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.StatusTimeout <= 0 {
		cfg.StatusTimeout = time.Second
	}
	cfg.StatusTimeout = min(cfg.StatusTimeout, cfg.Timeout)
	if cfg.KeyHeight == nil {
		cfg.KeyHeight = func() uint64 { return 1 }
	}
	if cfg.TrustNow == nil {
		trust := cfg.Trust
		cfg.TrustNow = func() *keys.Bundle { return trust }
	}
	if cfg.Key != nil {
		var err error
		if cfg.Chunk, err = chunkSize(cfg.Conn, cfg.Chunk); err != nil {
			return nil, err
		}
	}
	return &Client{cfg: cfg, waiting: make(map[string]*replyQueue)}, nil
}

// Close ends the client's reply subscription; requests in progress and
// later ones fail with ErrClosed. The connection stays the caller's.
func (c *Client) Close() {
	c.mu.Lock()
	sub := c.sub
	c.closed, c.sub = true, nil
	c.failAllLocked(ErrClosed)
	c.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
	}
}

// failAllLocked fails every request in progress with err.
func (c *Client) failAllLocked(err error) {
	for _, q := range c.waiting {
		if q.err == nil {
			q.err, q.msgs, q.bytes = err, nil, 0
		}
		q.signal()
	}
}

func (q *replyQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// subscribeLocked makes the client's one reply subscription, <inbox>.*,
// whose handler files each message under its request. nats.go's
// SubscribeSync would allocate a channel of the connection's SubChanLen
// (64k entries, 512 KiB) per request, and cost a SUB and an UNSUB; the
// shared subscription costs a request only its reply subject.
func (c *Client) subscribeLocked() error {
	if c.closed {
		return ErrClosed
	}
	if c.sub != nil {
		return nil
	}
	prefix := c.cfg.Conn.NewInbox() + "."
	sub, err := c.cfg.Conn.Subscribe(prefix+"*", func(m *nats.Msg) { c.route(prefix, m) })
	if err != nil {
		return fmt.Errorf("blocksync: reply subscription: %w", err)
	}
	// route never blocks, and each request's queue has its own bounds,
	// so the subscription needs none of its own.
	_ = sub.SetPendingLimits(-1, -1)
	sub.SetClosedHandler(func(string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.sub != sub {
			return // Close, or an earlier subscription
		}
		c.sub = nil
		c.failAllLocked(nats.ErrConnectionClosed)
	})
	c.sub, c.prefix = sub, prefix
	return nil
}

// route files a reply message under the request its subject names, and
// drops one for a request that is over (late replies after a time-out).
// It runs on the subscription's goroutine.
func (c *Client) route(prefix string, m *nats.Msg) {
	token, ok := strings.CutPrefix(m.Subject, prefix)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.waiting[token]
	if q == nil || q.err != nil {
		return
	}
	if len(q.msgs)-q.head >= maxPendingMsgs || q.bytes+len(m.Data) > maxPendingBytes {
		q.err, q.msgs, q.bytes = fmt.Errorf("blocksync: reply over %d messages or %d bytes unread: %w", maxPendingMsgs, maxPendingBytes, nats.ErrSlowConsumer), nil, 0
	} else {
		q.msgs = append(q.msgs, m)
		q.bytes += len(m.Data)
	}
	q.signal()
}

// open registers a request and returns its token and reply subject.
func (c *Client) open() (token, reply string, q *replyQueue, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.subscribeLocked(); err != nil {
		return "", "", nil, err
	}
	// A random token, so that a peer that has seen one reply subject
	// cannot guess another request's.
	token = rand.Text()
	q = &replyQueue{ready: make(chan struct{}, 1)}
	c.waiting[token] = q
	return token, c.prefix + token, q, nil
}

// done ends a request: later messages for it are dropped.
func (c *Client) done(token string) {
	c.mu.Lock()
	delete(c.waiting, token)
	c.mu.Unlock()
}

// next waits for the request's next reply message.
func (c *Client) next(ctx context.Context, q *replyQueue) (*nats.Msg, error) {
	for {
		c.mu.Lock()
		if q.head < len(q.msgs) {
			m := q.msgs[q.head]
			q.msgs[q.head] = nil
			q.head++
			q.bytes -= len(m.Data)
			if q.head == len(q.msgs) {
				q.msgs, q.head = q.msgs[:0], 0
			}
			c.mu.Unlock()
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				return nil, nats.ErrNoResponders
			}
			return m, nil
		}
		err := q.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Status asks peer for its height.
func (c *Client) Status(ctx context.Context, peer string) (uint64, error) {
	var height uint64
	err := c.request(ctx, peer, encodePlain(opStatus, 0, 0), c.cfg.KeyHeight(), c.cfg.StatusTimeout, func(msg []byte) (bool, error) {
		var err error
		height, err = parseStatus(msg)
		return true, err
	})
	if err != nil {
		return 0, err
	}
	return height, nil
}

// PeerHeight is a peer's reported height.
type PeerHeight struct {
	Name   string
	Height uint64
}

// Heights asks every peer for its height, in parallel, and returns those
// that answered, highest first (ties in the order given), with the errors
// of those that did not joined (nil if all answered).
func (c *Client) Heights(ctx context.Context, peers []string) ([]PeerHeight, error) {
	var (
		mu   sync.Mutex
		out  []PeerHeight
		errs []error
		wg   sync.WaitGroup
	)
	for _, p := range peers {
		wg.Go(func() {
			h, err := c.Status(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out = append(out, PeerHeight{p, h})
		})
	}
	wg.Wait()
	order := func(name string) int { return slices.Index(peers, name) }
	slices.SortFunc(out, func(a, b PeerHeight) int {
		if c := cmp.Compare(b.Height, a.Height); c != 0 {
			return c
		}
		return cmp.Compare(order(a.Name), order(b.Name))
	})
	return out, errors.Join(errs...)
}

// Records asks peer for the records of blocks from..from+count-1 and calls
// fn with each as it arrives, in height order. A record is authenticated as
// the peer's (its envelopes are signed by the peer's key valid at from) and
// must be of the next height, but it is not otherwise verified: fn gets it
// raw, for blocklog.VerifyRecord. The peer may send fewer than asked (it
// has fewer, or its reply is full); Records returns how many it handed to
// fn, and the first error: a bad reply (ErrReply), the peer's silence past
// Timeout, ctx's, or fn's (as is).
func (c *Client) Records(ctx context.Context, peer string, from uint64, count uint32, fn func(height uint64, raw []byte) error) (int, error) {
	from = max(from, 1)
	got := 0
	err := c.request(ctx, peer, encodePlain(opBlocks, from, count), from, c.cfg.Timeout, func(msg []byte) (bool, error) {
		if len(msg) == 0 {
			return true, nil
		}
		want := from + uint64(got)
		if got >= int(count) {
			return false, fmt.Errorf("%w: %s sent more than %d records", ErrReply, peer, count)
		}
		rec, err := blocklog.DecodeRecord(msg, true)
		if err != nil {
			return false, fmt.Errorf("%w: %s: record %d: %w", ErrReply, peer, want, err)
		}
		if rec.Header.Height != want {
			return false, fmt.Errorf("%w: %s sent block %d, want %d", ErrReply, peer, rec.Header.Height, want)
		}
		if err := fn(want, msg); err != nil {
			return false, &callerError{err}
		}
		got++
		return false, nil
	})
	var ce *callerError
	if errors.As(err, &ce) {
		err = ce.err
	}
	return got, err
}

// Blocks asks peer for up to count blocks after parent (the header of the
// last block the caller holds; nil for none) and calls fn with each one
// that blocklog.VerifyRecord accepts against the one before it, in height
// order: hash link, batch signatures, results, transaction root, quorum
// certificate, vote messages, consensus metadata. What needs the license
// state (block.Verify) is fn's. It returns how many blocks fn accepted and
// the first error: a record that does not verify (a *blocklog.RecordError),
// a bad reply, a time-out, ctx's, or fn's (as is).
func (c *Client) Blocks(ctx context.Context, peer string, parent *block.Header, count uint32, fn func(rec *blocklog.Record, blk *block.Block) error) (int, error) {
	from := uint64(1)
	if parent != nil {
		from = parent.Height + 1
	}
	trust := c.cfg.Trust
	if c.cfg.TrustAt != nil {
		trust = c.cfg.TrustAt(from)
	}
	return c.Records(ctx, peer, from, count, func(_ uint64, raw []byte) error {
		rec, blk, err := blocklog.VerifyRecord(trust, parent, raw)
		if err != nil {
			return err
		}
		// A configuration block: the blocks after it are judged by the
		// configuration it makes (docs/governance.md).
		next, err := block.NextTrust(trust, blk)
		if err != nil {
			return &blocklog.RecordError{Height: blk.Header.Height, Err: err}
		}
		if err := fn(rec, blk); err != nil {
			return err
		}
		parent, trust = &blk.Header, next
		return nil
	})
}

// Batches asks peer, in a request signed as this client's orderer, for the
// unsealed batches refs name, and calls fn with each reply that is exactly
// one of them (block.RefOf: the city, the id and a hash of the city's
// signature), so a peer can withhold a batch but not substitute one. The
// batch's signature and transactions are not checked here (the orderer's
// ingestion checks are fn's). It returns how many replies it refused (not
// a batch, or not one asked for) and the first error: a bad reply, a
// time-out, ctx's, or fn's (as is). A client without a Key cannot ask.
func (c *Client) Batches(ctx context.Context, peer string, refs []block.BatchRef, fn func(*schemas.Batch) error) (refused int, err error) {
	if c.cfg.Key == nil {
		return 0, errors.New("blocksync: only an orderer may ask for batches: the client has no key")
	}
	if len(refs) == 0 {
		return 0, nil
	}
	if len(refs) > MaxBatchIDs {
		refs = refs[:MaxBatchIDs]
	}
	want := make(map[string]block.BatchRef, len(refs))
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		if _, dup := want[r.ID]; !dup {
			want[r.ID] = r
			ids = append(ids, r.ID)
		}
	}
	frames, err := envelope.Seal(c.cfg.Trust.Chain, c.cfg.Key, envelope.KindSyncReq, c.cfg.Name, peer, c.reqID.Add(1), encodeBatches(ids), c.cfg.Chunk)
	if err != nil {
		return 0, fmt.Errorf("blocksync: batches request: %w", err)
	}
	if len(frames) != 1 {
		return 0, fmt.Errorf("blocksync: a batches request of %d ids does not fit one message", len(ids))
	}
	err = c.request(ctx, peer, frames[0], c.cfg.KeyHeight(), c.cfg.Timeout, func(msg []byte) (bool, error) {
		if len(msg) == 0 {
			return true, nil
		}
		bt, err := schemas.DecodeBatch(msg)
		if err != nil {
			refused++
			return false, nil
		}
		ref, ok := want[bt.ID()]
		if !ok || block.RefOf(bt) != ref {
			refused++
			return false, nil
		}
		delete(want, bt.ID()) // once each
		if err := fn(bt); err != nil {
			return false, &callerError{err}
		}
		return len(want) == 0, nil
	})
	var ce *callerError
	if errors.As(err, &ce) {
		err = ce.err
	}
	return refused, err
}

// callerError carries an error of the caller's fn out of a request.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }

// request sends req to gba.sync.<peer> and hands each whole reply message,
// authenticated as the peer's (signed with its key valid at keyHeight), to
// each until each says done or fails, or timeout passes.
func (c *Client) request(ctx context.Context, peer string, req []byte, keyHeight uint64, timeout time.Duration, each func(msg []byte) (done bool, err error)) error {
	trust := c.cfg.TrustNow()
	if trust.OrdererIndex(peer) < 0 {
		return fmt.Errorf("blocksync: %q is not an orderer of chain %s", peer, trust.Chain)
	}
	token, reply, q, err := c.open()
	if err != nil {
		return err
	}
	defer c.done(token)
	if err := c.cfg.Conn.PublishRequest(bus.SyncSubject(peer), reply, req); err != nil {
		return fmt.Errorf("blocksync: ask %s: %w", peer, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var re envelope.Reassembler
	for {
		m, err := c.next(ctx, q)
		if errors.Is(err, ErrClosed) {
			return err
		}
		if err != nil {
			return fmt.Errorf("blocksync: %s: %w", peer, err)
		}
		e, err := envelope.Decode(m.Data)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrReply, peer, err)
		}
		if e.Kind != envelope.KindSyncResp || e.From != peer {
			return fmt.Errorf("%w: a reply from %q (kind %d), asked %s", ErrReply, e.From, e.Kind, peer)
		}
		if err := e.Verify(trust, max(keyHeight, 1)); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrReply, peer, err)
		}
		msg, complete, _ := re.Add(e)
		if !complete {
			continue
		}
		done, err := each(msg)
		if err != nil || done {
			return err
		}
	}
}
