package gateway

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/outbox"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Bridge normalises a jurisdiction's native events and checks identifiers.
type Bridge interface {
	// Normalize parses one native event into a canonical event.
	Normalize(native []byte) (ev *schemas.Event, nativeFormat string, err error)
	// ValidateRecordIDs checks the identifiers inside a canonical record.
	ValidateRecordIDs(kind schemas.Kind, r *schemas.Record) error
}

// Location is where a sealed transaction sits, and what became of it.
type Location struct {
	Height    uint64
	Position  int
	BlockHash [32]byte
	// Result is "ok" when the transaction took effect; otherwise the
	// ledger recorded it as "duplicate" (sealed before), "invalid" or
	// "rejected" (a status change the license's status does not allow).
	Result string
	// Reason is the ledger's machine-readable reason for a Result other
	// than "ok" (e.g. "not_issuer"), if it gives one; the gateway relays it
	// in the refusal's rule and the receipt's reason.
	Reason string
}

// Ledger is what a gateway asks of the ordering service: where a
// transaction was sealed, a wait for it, how far the transaction stream is
// sealed, and fresh license proofs. An orderer node in the same process
// (ledger/node) or a client of the orderers' request/reply service
// (ledger/query) implements it; either way every answer that matters is
// checked against the trust bundle before the gateway relays it.
type Ledger interface {
	// Lookup returns where a transaction was sealed; ok is false when no
	// block holds it (yet). err is for a ledger that cannot answer now.
	Lookup(ctx context.Context, id schemas.TxID) (loc Location, ok bool, err error)
	// WaitTx waits until the transaction is sealed and returns where. It
	// returns ctx's error on cancellation.
	WaitTx(ctx context.Context, id schemas.TxID) (Location, error)
	// SealedSeq returns the highest GBA_TX stream sequence of a batch the
	// ledger has sealed (0 if none, or if it cannot tell now). The gateway
	// holds new events while more than Config.MaxBacklog of the batches it
	// published wait for a block, so a load the orderers cannot keep up
	// with waits at the edge (and is finally refused with 429) instead of
	// piling up on the bus.
	SealedSeq() uint64
	// LatestProof returns a fresh proof of a license's current status
	// (key as schemas.LicenseKey), verified against the trust bundle.
	// It wraps proof.ErrNotFound when the ledger holds no such license.
	LatestProof(ctx context.Context, key string) (*proof.Bundle, error)
}

// Config configures a gateway. Zero fields take the documented defaults.
type Config struct {
	Chain string      // chain id (required)
	Node  string      // this gateway's name, shown by /readyz; default "gateway"
	Batch BatchConfig // batching and backpressure
	// MaxBodyBytes bounds a request's body; default 16 MiB.
	MaxBodyBytes int64
	// MaxEventBytes bounds one event's JSON; default 64 KiB.
	MaxEventBytes int
	// MaxEvents bounds the events of one request; a request with more is
	// refused whole (413 too_many_events). Default 10,000.
	MaxEvents int
	// MaxFailures is how many events of one request may fail before the
	// rest of it is not processed (api.Bulk.Stopped), so the cost of a
	// request and the size of its answer stay proportional to what it got
	// accepted. Default 100.
	MaxFailures int
	// MaxBulkRequests bounds the requests of several events read and
	// validated at once; a request beyond it waits up to BulkWait for a
	// turn, then gets 429 backpressure. Default 16.
	MaxBulkRequests int
	// BulkWait is how long a bulk request waits for a turn; default 5s.
	BulkWait      time.Duration
	CommitTimeout time.Duration                     // longest wait=commit; default 30s
	RecentTxs     int                               // receipts remembered per city for retries; default 65,536
	Bridges       func(schemas.Jurisdiction) Bridge // nil: native input refused, ids unchecked
	Ledger        Ledger                            // nil: wait=commit and GET /v1/tx unavailable
	// TxContent, if set, adds a sealed transaction's content to the
	// answer of GET /v1/tx/{id} ("content"), as much of it as p may read
	// (gateway/explorer's, through the orderers' query service, verified);
	// nil content when the ledger has not sealed it. An error is answered
	// instead of the receipt.
	TxContent func(r *http.Request, p *auth.Principal, id schemas.TxID) (*api.TxContent, *api.Error)
	// Ready probes the bus (for example the connections' state); nil:
	// always ready. /readyz also reports failing publishes and a failing
	// outbox.
	Ready func(ctx context.Context) error
	// Auth authenticates every request but the probes (/healthz,
	// /readyz): publishing needs the city's publish role, a transaction
	// lookup any role, a proof the read role. Nil serves without
	// authentication and says so in the log: only for a handler no one
	// else can reach (tests, benchmarks); gateway/server always sets it
	// unless told to be insecure.
	Auth auth.Authenticator
	// Redactor, on a chain of rules version 3, publishes each record's
	// personal fields as salted digests and keeps what discloses them
	// (gateway/share); nil: records are published as they are posted
	// (rules versions 1 and 2).
	Redactor Redactor
	// Readers looks up a named reader of the trust bundle (its grants),
	// for reader credentials on the proof route; nil: readers refused.
	Readers    func(name string) (*keys.Reader, bool)
	Registerer prometheus.Registerer // nil: metrics not registered
	Logger     *slog.Logger          // default slog.Default()
	Now        func() time.Time      // default time.Now
	// MaxBacklog is how many batches may wait on the bus for a block before
	// new events are held; 0: no limit.
	MaxBacklog int
	// BacklogWait is how long a request is held for the backlog to fall
	// before it is refused with 429 ledger_backlog; default 10s.
	BacklogWait time.Duration
	// Outbox keeps every published batch on local disk (fsynced before
	// the receipt) until the Ledger has sealed it, and the gateway
	// publishes a batch again when the bus seems to have lost it (see
	// RepublishAfter): JetStream may lose acknowledged writes in a crash
	// before its fsync interval. It needs a Ledger (without one it is not
	// used). Nil: receipts rest on the bus alone.
	Outbox *outbox.Store
	// RepublishAfter is how long a kept batch waits to be sealed before
	// the gateway publishes it again, then twice as long each time, up to
	// 10 minutes; default 30s. Kept batches found at start go out at once.
	RepublishAfter time.Duration
	// FailureHold is how long a failed publish keeps /readyz at not_ready
	// when no later publish of that city succeeded; default 30s. Longer
	// than a load balancer's probe interval, so it takes the gateway out of
	// rotation, short enough that a quiet gateway comes back by itself.
	FailureHold time.Duration
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes    = 16 << 20
	DefaultMaxEvents       = 10_000
	DefaultMaxFailures     = 100
	DefaultMaxBulkRequests = 16
)

func (c Config) withDefaults() Config {
	if c.Node == "" {
		c.Node = "gateway"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = schemas.MaxTxBytes
	}
	if c.MaxEvents == 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.MaxBulkRequests == 0 {
		c.MaxBulkRequests = DefaultMaxBulkRequests
	}
	if c.BulkWait == 0 {
		c.BulkWait = 5 * time.Second
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 30 * time.Second
	}
	if c.RecentTxs == 0 {
		c.RecentTxs = 1 << 16
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BacklogWait == 0 {
		c.BacklogWait = 10 * time.Second
	}
	if c.FailureHold == 0 {
		c.FailureHold = 30 * time.Second
	}
	if c.RepublishAfter == 0 {
		c.RepublishAfter = 30 * time.Second
	}
	return c
}

// Gateway serves the eleven cities (or any subset) behind one handler.
type Gateway struct {
	cfg     Config
	metrics *metrics
	bulk    chan struct{} // MaxBulkRequests slots
	keeper  *keeper       // nil without an Outbox
	kept    *pubHealth    // the outbox's writes

	mu     sync.RWMutex
	cities map[string]*cityGateway

	published atomic.Uint64 // highest GBA_TX sequence a publish of ours was stored at
}

type cityGateway struct {
	city   schemas.City
	b      *batcher
	recent *lru.Cache[schemas.TxID, accepted]
	health *pubHealth
}

// accepted is what a gateway remembers of a transaction the bus stored, to
// answer retries and lookups: the receipt's variable part, in about 60
// bytes rather than a Receipt's ~300 (RecentTxs of them per city).
type accepted struct {
	batch     [16]byte // batch id
	seq       uint64
	stream    string // the stream's name
	duplicate bool
}

func acceptedOf(r *Receipt) accepted {
	a := accepted{seq: r.Seq, stream: r.Stream, duplicate: r.Duplicate}
	hex.Decode(a.batch[:], []byte(r.BatchID)) // batch ids are 32 hex digits
	return a
}

func (a accepted) receipt(id schemas.TxID, durability string) Receipt {
	return Receipt{TxID: schemas.FormatID(id), BatchID: hex.EncodeToString(a.batch[:]), Stream: a.stream, Seq: a.seq,
		Duplicate: a.duplicate, Status: api.StatusAccepted, Durability: durability}
}

// New returns a gateway with no cities; add them with AddCity.
func New(cfg Config) *Gateway {
	cfg = cfg.withDefaults()
	if cfg.Auth == nil {
		cfg.Logger.Warn("gateway: serving without authentication: anyone who reaches it may publish as any of its cities")
	}
	if cfg.Outbox != nil && cfg.Ledger == nil {
		cfg.Logger.Warn("gateway: an outbox without a ledger could never tell what is sealed; not using it")
		cfg.Outbox = nil
	}
	g := &Gateway{cfg: cfg, metrics: newMetrics(cfg.Registerer), cities: map[string]*cityGateway{},
		bulk: make(chan struct{}, cfg.MaxBulkRequests)}
	g.kept = newPubHealth(cfg.Now, g.metrics.outboxFailing)
	if cfg.Outbox != nil {
		g.keeper = newKeeper(g, cfg.Outbox)
	}
	return g
}

// RepublishNow publishes every batch kept in the Outbox again at once (the
// bus restarted, or a connection came back); nothing without an Outbox.
func (g *Gateway) RepublishNow() {
	if g.keeper != nil {
		g.keeper.RepublishNow()
	}
}

// AddCity starts the city's batcher. pub must be connected as the city's
// own bus identity, so the bus itself refuses publishes to other cities.
func (g *Gateway) AddCity(token string, signer keys.Signer, pub Publisher) error {
	city, err := schemas.LookupCity(token)
	if err != nil {
		return err
	}
	recent, err := lru.New[schemas.TxID, accepted](g.cfg.RecentTxs)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.cities[token]; dup {
		return fmt.Errorf("gateway: city %s added twice", token)
	}
	subject := "gba.tx." + token
	health := newPubHealth(g.cfg.Now, g.metrics.failing.WithLabelValues(token))
	b := newBatcher(g.cfg.Batch, g.cfg.Chain, token, subject, signer, pub, g.cfg.Logger, g.cfg.Now, g.metrics, health)
	if g.keeper != nil {
		b.keep = &keeping{store: g.cfg.Outbox, keeper: g.keeper, health: g.kept}
	}
	g.cities[token] = &cityGateway{city: city, recent: recent, health: health, b: b}
	if g.keeper != nil {
		g.keeper.kick() // what the outbox kept for this city goes out now
	}
	return nil
}

// Close flushes every city's queued transactions, waits for the publishes
// and stops looking after the outbox (which the caller closes after).
func (g *Gateway) Close() {
	g.mu.RLock()
	var wg sync.WaitGroup
	for _, c := range g.cities {
		wg.Add(1)
		go func() { defer wg.Done(); c.b.Close() }()
	}
	wg.Wait()
	g.mu.RUnlock()
	if g.keeper != nil {
		g.keeper.close()
	}
}

func (g *Gateway) city(token string) (*cityGateway, error) {
	g.mu.RLock()
	c := g.cities[token]
	g.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	if _, err := schemas.LookupCity(token); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: this gateway does not serve %s", schemas.ErrUnknownCity, token)
}

// Receipt is the answer for one accepted event.
type Receipt = api.Receipt

// Error is a failure with its HTTP status and a stable code (api.Codes).
type Error = api.Error

const (
	durabilityAccepted  = "stored by the bus (JetStream file store, fsynced on its interval)"
	durabilityKept      = "stored by the bus, and kept by this gateway (fsynced) until sealed"
	durabilityCommitted = "sealed in a block fsynced by a quorum of orderers"
)

// durability is what an accepted receipt promises here.
func (g *Gateway) durability() string {
	if g.keeper != nil {
		return durabilityKept
	}
	return durabilityAccepted
}

// Input is one event as received.
type Input struct {
	Raw    []byte
	Native bool // the event is in the city's jurisdiction's native format
	// Err, if set, is why the event was refused before it got here (the
	// reader found it too large); it keeps its place in the request.
	Err *Error
}

// Outcome is the result for one event: a receipt or an error. Skipped
// events were not processed, because MaxFailures events before them
// failed; their Err says so.
type Outcome struct {
	Receipt *Receipt
	Err     *Error
	Skipped bool
}

// Submit validates, batches and publishes events of one city, and waits for
// their receipts (and, with waitCommit, for their blocks). Events are
// independent: one bad event does not fail the others, but once
// MaxFailures events failed the rest are skipped (Outcome.Skipped), so a
// request of garbage costs little. With a Redactor, each event's personal
// fields are published as salted digests, and what discloses them is kept
// (Redactor.Keep, one durable write for the request) before anything of
// the request is published.
func (g *Gateway) Submit(ctx context.Context, token string, inputs []Input, waitCommit bool) ([]Outcome, *Error) {
	c, err := g.city(token)
	if err != nil {
		return nil, &Error{Status: http.StatusNotFound, Code: api.CodeUnknownCity, Message: err.Error(), Field: "city"}
	}
	if waitCommit && g.cfg.Ledger == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: api.CodeCommitUnavailable, Message: "this gateway has no ledger to wait on; omit wait=commit"}
	}
	if e := g.admit(ctx); e != nil {
		g.metrics.events.WithLabelValues(token, e.Code).Add(float64(len(inputs)))
		return nil, e
	}
	out := make([]Outcome, len(inputs))
	var (
		ready  []prepared
		kept   []*Kept
		failed int
	)
	for i, in := range inputs {
		if failed >= g.cfg.MaxFailures {
			skip := &Error{Status: http.StatusMultiStatus, Code: api.CodeTooManyFailures,
				Message: fmt.Sprintf("not processed: %d events before it failed (limit %d); nothing from event %d on was stored: fix the input and send these again", failed, g.cfg.MaxFailures, i)}
			for j := i; j < len(inputs); j++ {
				out[j] = Outcome{Err: skip, Skipped: true}
			}
			g.metrics.events.WithLabelValues(token, api.CodeTooManyFailures).Add(float64(len(inputs) - i))
			break
		}
		raw, id, k, e := g.prepare(c, in)
		if e != nil {
			out[i].Err = e
			failed++
			g.metrics.events.WithLabelValues(token, e.Code).Inc()
			continue
		}
		ready = append(ready, prepared{i: i, raw: raw, id: id})
		if k != nil {
			kept = append(kept, k)
		}
	}
	if len(kept) > 0 {
		// Persist before act: the disclosures are durable before the
		// digests that commit to them leave the gateway.
		if err := g.cfg.Redactor.Keep(ctx, kept); err != nil {
			e := &Error{Status: http.StatusServiceUnavailable, Code: api.CodeStoreUnavailable,
				Message: clip("the gateway could not keep the personal fields it would publish as digests: " + err.Error())}
			for _, p := range ready {
				out[p.i].Err = e
			}
			g.metrics.events.WithLabelValues(token, e.Code).Add(float64(len(ready)))
			return out, nil
		}
	}
	g.publish(ctx, c, ready, waitCommit, out)
	return out, nil
}

// prepared is one event ready to publish: its place in the request, its
// canonical bytes and its id.
type prepared struct {
	i   int
	raw []byte
	id  schemas.TxID
}

// SubmitTx publishes one transaction the gateway made itself for city
// (a grant, a revocation, an access record: gateway/share), with the
// receipt, and with waitCommit its block. The transaction must be valid
// by the chain's rules: it is encoded as it is.
func (g *Gateway) SubmitTx(ctx context.Context, city string, tx *schemas.Tx, waitCommit bool) Outcome {
	c, err := g.city(city)
	if err != nil {
		return Outcome{Err: &Error{Status: http.StatusNotFound, Code: api.CodeUnknownCity, Message: err.Error(), Field: "city"}}
	}
	if waitCommit && g.cfg.Ledger == nil {
		return Outcome{Err: &Error{Status: http.StatusNotImplemented, Code: api.CodeCommitUnavailable, Message: "this gateway has no ledger to wait on"}}
	}
	if tx.City != city {
		return Outcome{Err: &Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Field: "city", Message: fmt.Sprintf("a transaction of %s submitted for %s", tx.City, city)}}
	}
	raw, err := schemas.EncodeTx(tx)
	if err != nil {
		return Outcome{Err: validationError(err)}
	}
	if e := g.admit(ctx); e != nil {
		return Outcome{Err: e}
	}
	out := make([]Outcome, 1)
	g.publish(ctx, c, []prepared{{raw: raw, id: schemas.ComputeTxID(raw)}}, waitCommit, out)
	return out[0]
}

// publish hands prepared transactions of city c to its batcher, waits for
// their receipts and, with waitCommit, their blocks, filling out at each
// one's place.
func (g *Gateway) publish(ctx context.Context, c *cityGateway, ready []prepared, waitCommit bool, out []Outcome) {
	token := c.city.Token
	type waiting struct {
		i    int
		id   schemas.TxID
		done <-chan pubResult
	}
	var waits []waiting
	for _, p := range ready {
		i, raw, id := p.i, p.raw, p.id
		if a, ok := c.recent.Get(id); ok {
			r := a.receipt(id, g.durability())
			r.Duplicate = true
			if g.cfg.Ledger != nil {
				if loc, sealed, err := g.cfg.Ledger.Lookup(ctx, id); err == nil && sealed {
					committed(&r, loc)
				}
			}
			out[i].Receipt = &r
			g.metrics.events.WithLabelValues(token, "duplicate").Inc()
			if waitCommit {
				waits = append(waits, waiting{i: i, id: id})
			}
			continue
		}
		done, err := c.b.Submit(raw, id)
		if err != nil {
			out[i].Err = submitError(err)
			g.metrics.events.WithLabelValues(token, out[i].Err.Code).Inc()
			continue
		}
		waits = append(waits, waiting{i: i, id: id, done: done})
	}
	// One deadline for every commit wait of the request, so a bulk
	// request with wait=commit takes at most CommitTimeout more than its
	// publishes, not CommitTimeout per event.
	commitCtx, cancel := context.WithTimeout(ctx, g.cfg.CommitTimeout)
	defer cancel()
	for _, w := range waits {
		if w.done != nil {
			var res pubResult
			select {
			case res = <-w.done:
			case <-ctx.Done():
				out[w.i].Err = &Error{Status: http.StatusServiceUnavailable, Code: api.CodeCanceled, Message: ctx.Err().Error()}
				continue
			}
			if res.err != nil {
				out[w.i].Err = submitError(res.err)
				g.metrics.events.WithLabelValues(token, out[w.i].Err.Code).Inc()
				continue
			}
			g.notePublished(res.pub.Seq)
			r := Receipt{TxID: schemas.FormatID(w.id), BatchID: res.pub.BatchID, Stream: res.pub.Stream, Seq: res.pub.Seq,
				Duplicate: res.pub.Duplicate, Status: api.StatusAccepted, Durability: g.durability()}
			c.recent.Add(w.id, acceptedOf(&r))
			out[w.i].Receipt = &r
			g.metrics.events.WithLabelValues(token, "accepted").Inc()
		}
		if waitCommit {
			g.waitCommit(commitCtx, w.id, &out[w.i])
		}
	}
}

// admit holds a request while the ledger's backlog exceeds MaxBacklog
// batches: until it falls, the request's context ends, or BacklogWait
// passes (then 429 ledger_backlog).
func (g *Gateway) admit(ctx context.Context) *Error {
	p := g.cfg.Ledger
	if p == nil || g.cfg.MaxBacklog <= 0 {
		return nil
	}
	backlog := func() uint64 {
		pub, sealed := g.published.Load(), p.SealedSeq()
		if sealed == 0 || pub <= sealed { // nothing sealed yet: no measure
			return 0
		}
		return pub - sealed
	}
	if backlog() <= uint64(g.cfg.MaxBacklog) {
		return nil
	}
	g.metrics.held.Inc()
	deadline := time.NewTimer(g.cfg.BacklogWait)
	defer deadline.Stop()
	tick := time.NewTicker(backlogPoll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if backlog() <= uint64(g.cfg.MaxBacklog) {
				return nil
			}
		case <-ctx.Done():
			return &Error{Status: http.StatusServiceUnavailable, Code: api.CodeCanceled, Message: ctx.Err().Error()}
		case <-deadline.C:
			return &Error{Status: http.StatusTooManyRequests, Code: api.CodeLedgerBacklog,
				Message: fmt.Sprintf("the orderers are %d batches behind the bus (limit %d); retry after the Retry-After delay", backlog(), g.cfg.MaxBacklog)}
		}
	}
}

// backlogPoll is how often a held request looks at the backlog again.
const backlogPoll = 10 * time.Millisecond

// notePublished raises published to seq.
func (g *Gateway) notePublished(seq uint64) {
	for {
		cur := g.published.Load()
		if seq <= cur || g.published.CompareAndSwap(cur, seq) {
			return
		}
	}
}

func (g *Gateway) waitCommit(ctx context.Context, id schemas.TxID, o *Outcome) {
	loc, err := g.cfg.Ledger.WaitTx(ctx, id)
	if err != nil {
		o.Err = &Error{Status: http.StatusGatewayTimeout, Code: api.CodeCommitTimeout,
			Message: fmt.Sprintf("transaction %s was accepted (batch %s) but not sealed in time: %v", schemas.FormatID(id), o.Receipt.BatchID, err)}
		return
	}
	if loc.Result != "" && loc.Result != "ok" {
		o.Receipt, o.Err = nil, refused(id, loc)
		return
	}
	r := *o.Receipt
	committed(&r, loc)
	o.Receipt = &r
}

// refused is the answer for a transaction the orderers sealed without
// effect.
func refused(id schemas.TxID, loc Location) *Error {
	code, why := api.CodeLedgerRejected, "the license's status on the ledger does not allow this action (e.g. amending a license never issued, or anything after revocation)"
	switch loc.Result {
	case "invalid":
		code, why = api.CodeLedgerInvalid, "it is well signed but not a valid record"
	case "rejected":
	default:
		why = "the ledger recorded it as " + loc.Result
	}
	if loc.Reason != "" {
		why += " (reason: " + loc.Reason + ")"
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: code, Rule: loc.Reason,
		Message: fmt.Sprintf("transaction %s was sealed at height %d (block %s) with result %q, without effect: %s",
			schemas.FormatID(id), loc.Height, schemas.FormatID(loc.BlockHash), loc.Result, why)}
}

func committed(r *Receipt, loc Location) {
	pos := loc.Position
	r.Status, r.Durability = api.StatusCommitted, durabilityCommitted
	if loc.Result != "" && loc.Result != "ok" {
		r.Status = api.StatusRefused
	}
	r.Result, r.Reason = loc.Result, loc.Reason
	r.Height, r.BlockHash, r.Position = loc.Height, schemas.FormatID(loc.BlockHash), &pos
}

// prepare turns one input into canonical transaction bytes and its id,
// and, with a Redactor, what must be kept before they are published.
func (g *Gateway) prepare(c *cityGateway, in Input) ([]byte, schemas.TxID, *Kept, *Error) {
	raw, id, tx, e := g.prepareEvent(c, in)
	if e != nil || g.cfg.Redactor == nil {
		return raw, id, nil, e
	}
	red, kept, err := g.cfg.Redactor.Redact(tx)
	if err != nil {
		return nil, id, nil, validationError(err)
	}
	if raw, err = schemas.EncodeTx(red); err != nil {
		return nil, id, nil, validationError(err)
	}
	id = schemas.ComputeTxID(raw)
	kept.TxID, kept.Tx = id, red
	return raw, id, kept, nil
}

// prepareEvent turns one input into a checked transaction, its canonical
// bytes and its id.
func (g *Gateway) prepareEvent(c *cityGateway, in Input) ([]byte, schemas.TxID, *schemas.Tx, *Error) {
	var id schemas.TxID
	if in.Err != nil {
		return nil, id, nil, in.Err
	}
	if len(in.Raw) > g.cfg.MaxEventBytes {
		return nil, id, nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge,
			Message: fmt.Sprintf("event is %d bytes, limit %d", len(in.Raw), g.cfg.MaxEventBytes)}
	}
	var br Bridge
	if g.cfg.Bridges != nil {
		br = g.cfg.Bridges(c.city.Jurisdiction)
	}
	var (
		ev                     *schemas.Event
		nativeFormat, nativeID string
		err                    error
	)
	if in.Native {
		if br == nil {
			return nil, id, nil, &Error{Status: http.StatusBadRequest, Code: api.CodeNativeUnavailable, Message: "this gateway has no bridge for native input"}
		}
		if !json.Valid(in.Raw) {
			return nil, id, nil, &Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: "event is not valid JSON"}
		}
		ev, nativeFormat, err = br.Normalize(in.Raw)
		if err != nil {
			return nil, id, nil, validationError(err)
		}
		if nativeID, err = schemas.NativeHash(in.Raw); err != nil {
			return nil, id, nil, validationError(err)
		}
		// The bridge's output must pass the same schema as canonical
		// input: checked as it is, not encoded and decoded again.
		if ev, err = schemas.ValidateEvent(ev); err != nil {
			return nil, id, nil, validationError(err)
		}
	} else if ev, err = schemas.ValidateEventJSON(in.Raw); err != nil {
		// Malformed JSON is invalid_json here too: the validator's decoder
		// says where (a separate json.Valid pass cost 7 µs an event). Only
		// a refused event is looked at again, for a better answer.
		return nil, id, nil, diagnose(in.Raw, validationError(err))
	}
	if _, err := schemas.ParseTime(ev.OccurredAt); err != nil {
		return nil, id, nil, &Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Field: "occurredAt", Rule: "rfc3339", Message: err.Error()}
	}
	if br != nil && ev.Action.FullRecord() {
		if err := br.ValidateRecordIDs(ev.Kind, &ev.Record); err != nil {
			return nil, id, nil, validationError(err)
		}
	}
	tx := schemas.NewTx(g.cfg.Chain, c.city, ev)
	tx.NativeFormat, tx.NativeHash = nativeFormat, nativeID
	// The ledger's own record check (rules version 2): what it needs the
	// city for, such as a handover's city being of its jurisdiction, is
	// refused here rather than sealed invalid. The event's own rules were
	// applied just above; CheckNewTx does not apply them again.
	if err := schemas.CheckNewTx(tx); err != nil {
		return nil, id, nil, validationError(err)
	}
	raw, err := schemas.EncodeTx(tx)
	if err != nil {
		return nil, id, nil, validationError(err)
	}
	return raw, schemas.ComputeTxID(raw), tx, nil
}

func validationError(err error) *Error {
	if fe, ok := schemas.AsFieldError(err); ok {
		code, status := api.CodeInvalid, http.StatusBadRequest
		if fe.Rule == "maxBytes" {
			code, status = api.CodeTooLarge, http.StatusRequestEntityTooLarge
		}
		if fe.Rule == "json" {
			code = api.CodeInvalidJSON
		}
		return &Error{Status: status, Code: code, Field: fe.Field, Rule: fe.Rule, Message: clip(fe.Msg)}
	}
	return &Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Message: clip(err.Error())}
}

// maxMessage bounds an error message: a schema rule may quote the value it
// refused, and an answer must not grow with the input.
const maxMessage = 512

func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

func submitError(err error) *Error {
	switch {
	case errors.Is(err, ErrBackpressure):
		return &Error{Status: http.StatusTooManyRequests, Code: api.CodeBackpressure, Message: "the city's queue is full; retry after the Retry-After delay"}
	case errors.Is(err, ErrClosed), errors.Is(err, outbox.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Code: api.CodeShuttingDown, Message: "the gateway is shutting down"}
	case errors.Is(err, outbox.ErrFull):
		return &Error{Status: http.StatusTooManyRequests, Code: api.CodeBackpressure, Message: clip(err.Error()) + "; retry after the Retry-After delay"}
	case errors.Is(err, ErrNotKept):
		return &Error{Status: http.StatusServiceUnavailable, Code: api.CodeStoreUnavailable, Message: clip(err.Error())}
	case isPermission(err):
		return &Error{Status: http.StatusForbidden, Code: api.CodePermissionDenied, Message: err.Error()}
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: api.CodeBusUnavailable, Message: clip(err.Error())}
}

// Lookup reports where a transaction is: committed (with its block),
// pending (accepted by this gateway, not yet sealed), or unknown.
func (g *Gateway) Lookup(ctx context.Context, id schemas.TxID) (*Receipt, bool, error) {
	if g.cfg.Ledger != nil {
		loc, ok, err := g.cfg.Ledger.Lookup(ctx, id)
		if err != nil {
			return nil, false, err
		}
		if ok {
			r := Receipt{TxID: schemas.FormatID(id)}
			if p, found := g.recentReceipt(id); found {
				r = p
			}
			committed(&r, loc)
			return &r, true, nil
		}
	}
	if r, ok := g.recentReceipt(id); ok {
		r.Status = api.StatusPending
		return &r, true, nil
	}
	return nil, false, nil
}

func (g *Gateway) recentReceipt(id schemas.TxID) (Receipt, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, c := range g.cities {
		if a, ok := c.recent.Peek(id); ok {
			return a.receipt(id, g.durability()), true
		}
	}
	return Receipt{}, false
}
