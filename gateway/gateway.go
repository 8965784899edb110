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
	Chain         string                            // chain id (required)
	Batch         BatchConfig                       // batching and backpressure
	MaxBodyBytes  int64                             // HTTP body limit; default 32 MiB
	MaxEventBytes int                               // one event's JSON; default 64 KiB
	CommitTimeout time.Duration                     // longest wait=commit; default 30s
	RecentTxs     int                               // receipts remembered per city for retries; default 65,536
	Bridges       func(schemas.Jurisdiction) Bridge // nil: native input refused, ids unchecked
	Ledger        Ledger                            // nil: wait=commit and GET /v1/tx unavailable
	Ready         func(ctx context.Context) error   // readiness probe of the bus; nil = always ready
	Registerer    prometheus.Registerer             // nil: metrics not registered
	Logger        *slog.Logger                      // default slog.Default()
	Now           func() time.Time                  // default time.Now
	// MaxBacklog is how many batches may wait on the bus for a block before
	// new events are held; 0: no limit.
	MaxBacklog int
	// BacklogWait is how long a request is held for the backlog to fall
	// before it is refused with 429 ledger_backlog; default 10s.
	BacklogWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = schemas.MaxTxBytes
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
	return c
}

// Gateway serves the eleven cities (or any subset) behind one handler.
type Gateway struct {
	cfg     Config
	metrics *metrics

	mu     sync.RWMutex
	cities map[string]*cityGateway

	published atomic.Uint64 // highest GBA_TX sequence a publish of ours was stored at
}

type cityGateway struct {
	city   schemas.City
	b      *batcher
	recent *lru.Cache[schemas.TxID, accepted]
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

func (a accepted) receipt(id schemas.TxID) Receipt {
	return Receipt{TxID: schemas.FormatID(id), BatchID: hex.EncodeToString(a.batch[:]), Stream: a.stream, Seq: a.seq,
		Duplicate: a.duplicate, Status: "accepted", Durability: durabilityAccepted}
}

// New returns a gateway with no cities; add them with AddCity.
func New(cfg Config) *Gateway {
	cfg = cfg.withDefaults()
	return &Gateway{cfg: cfg, metrics: newMetrics(cfg.Registerer), cities: map[string]*cityGateway{}}
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
	g.cities[token] = &cityGateway{city: city, recent: recent,
		b: newBatcher(g.cfg.Batch, g.cfg.Chain, token, subject, signer, pub, g.cfg.Logger, g.cfg.Now, g.metrics)}
	return nil
}

// Close flushes every city's queued transactions and waits for the publishes.
func (g *Gateway) Close() {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var wg sync.WaitGroup
	for _, c := range g.cities {
		wg.Add(1)
		go func() { defer wg.Done(); c.b.Close() }()
	}
	wg.Wait()
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
type Receipt struct {
	TxID      string `json:"txId"`
	BatchID   string `json:"batchId"`
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
	// Status is "accepted" (stored by the bus) or "committed" (sealed in a
	// block fsynced by a quorum of orderers).
	Status     string `json:"status"`
	Durability string `json:"durability"`
	Result     string `json:"result,omitempty"`
	Height     uint64 `json:"height,omitempty"`
	BlockHash  string `json:"blockHash,omitempty"`
	Position   *int   `json:"position,omitempty"`
}

const (
	durabilityAccepted  = "stored by the bus (JetStream file store, fsynced on its interval)"
	durabilityCommitted = "sealed in a block fsynced by a quorum of orderers"
)

// Error is a failure with its HTTP status and a stable code.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule,omitempty"`
}

func (e *Error) Error() string { return "gateway: " + e.Code + ": " + e.Message }

// Input is one event as received.
type Input struct {
	Raw    []byte
	Native bool // the event is in the city's jurisdiction's native format
}

// Outcome is the result for one event: a receipt or an error.
type Outcome struct {
	Receipt *Receipt
	Err     *Error
}

// Submit validates, batches and publishes events of one city, and waits for
// their receipts (and, with waitCommit, for their blocks). Events are
// independent: one bad event does not fail the others.
func (g *Gateway) Submit(ctx context.Context, token string, inputs []Input, waitCommit bool) ([]Outcome, *Error) {
	c, err := g.city(token)
	if err != nil {
		return nil, &Error{Status: http.StatusNotFound, Code: "unknown_city", Message: err.Error(), Field: "city"}
	}
	if waitCommit && g.cfg.Ledger == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "commit_unavailable", Message: "this gateway has no ledger to wait on; omit wait=commit"}
	}
	if e := g.admit(ctx); e != nil {
		g.metrics.events.WithLabelValues(token, e.Code).Add(float64(len(inputs)))
		return nil, e
	}
	out := make([]Outcome, len(inputs))
	type waiting struct {
		i    int
		id   schemas.TxID
		done <-chan pubResult
	}
	var waits []waiting
	for i, in := range inputs {
		raw, id, e := g.prepare(c, in)
		if e != nil {
			out[i].Err = e
			g.metrics.events.WithLabelValues(token, e.Code).Inc()
			continue
		}
		if a, ok := c.recent.Get(id); ok {
			r := a.receipt(id)
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
		done, err := c.b.Submit(raw)
		if err != nil {
			out[i].Err = submitError(err)
			g.metrics.events.WithLabelValues(token, out[i].Err.Code).Inc()
			continue
		}
		waits = append(waits, waiting{i: i, id: id, done: done})
	}
	for _, w := range waits {
		if w.done != nil {
			var res pubResult
			select {
			case res = <-w.done:
			case <-ctx.Done():
				out[w.i].Err = &Error{Status: http.StatusServiceUnavailable, Code: "canceled", Message: ctx.Err().Error()}
				continue
			}
			if res.err != nil {
				out[w.i].Err = submitError(res.err)
				g.metrics.events.WithLabelValues(token, out[w.i].Err.Code).Inc()
				continue
			}
			g.notePublished(res.pub.Seq)
			r := Receipt{TxID: schemas.FormatID(w.id), BatchID: res.pub.BatchID, Stream: res.pub.Stream, Seq: res.pub.Seq,
				Duplicate: res.pub.Duplicate, Status: "accepted", Durability: durabilityAccepted}
			c.recent.Add(w.id, acceptedOf(&r))
			out[w.i].Receipt = &r
			g.metrics.events.WithLabelValues(token, "accepted").Inc()
		}
		if waitCommit {
			g.waitCommit(ctx, w.id, &out[w.i])
		}
	}
	return out, nil
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
			return &Error{Status: http.StatusServiceUnavailable, Code: "canceled", Message: ctx.Err().Error()}
		case <-deadline.C:
			return &Error{Status: http.StatusTooManyRequests, Code: "ledger_backlog",
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
	ctx, cancel := context.WithTimeout(ctx, g.cfg.CommitTimeout)
	defer cancel()
	loc, err := g.cfg.Ledger.WaitTx(ctx, id)
	if err != nil {
		o.Err = &Error{Status: http.StatusGatewayTimeout, Code: "commit_timeout",
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
	why := map[string]string{
		"invalid":  "it is well signed but not a valid record",
		"rejected": "the license's status on the ledger does not allow this action (e.g. amending a license never issued, or anything after revocation)",
	}[loc.Result]
	return &Error{Status: http.StatusUnprocessableEntity, Code: "ledger_" + loc.Result,
		Message: fmt.Sprintf("transaction %s was sealed at height %d (block %s) with result %q, without effect: %s",
			schemas.FormatID(id), loc.Height, schemas.FormatID(loc.BlockHash), loc.Result, why)}
}

func committed(r *Receipt, loc Location) {
	pos := loc.Position
	r.Status, r.Durability = "committed", durabilityCommitted
	if loc.Result != "" && loc.Result != "ok" {
		r.Status = "refused"
	}
	r.Result = loc.Result
	r.Height, r.BlockHash, r.Position = loc.Height, schemas.FormatID(loc.BlockHash), &pos
}

// prepare turns one input into canonical transaction bytes and its id.
func (g *Gateway) prepare(c *cityGateway, in Input) ([]byte, schemas.TxID, *Error) {
	var id schemas.TxID
	if len(in.Raw) > g.cfg.MaxEventBytes {
		return nil, id, &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
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
			return nil, id, &Error{Status: http.StatusBadRequest, Code: "native_unavailable", Message: "this gateway has no bridge for native input"}
		}
		if !json.Valid(in.Raw) {
			return nil, id, &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "event is not valid JSON"}
		}
		ev, nativeFormat, err = br.Normalize(in.Raw)
		if err != nil {
			return nil, id, validationError(err)
		}
		if nativeID, err = schemas.NativeHash(in.Raw); err != nil {
			return nil, id, validationError(err)
		}
		// The bridge's output must pass the same schema as canonical input.
		canon, err := json.Marshal(ev)
		if err != nil {
			return nil, id, validationError(err)
		}
		if ev, err = schemas.ValidateEventJSON(canon); err != nil {
			return nil, id, validationError(err)
		}
	} else if ev, err = schemas.ValidateEventJSON(in.Raw); err != nil {
		// Malformed JSON is invalid_json here too: the validator's decoder
		// says where (a separate json.Valid pass cost 7 µs an event).
		return nil, id, validationError(err)
	}
	if _, err := schemas.ParseTime(ev.OccurredAt); err != nil {
		return nil, id, &Error{Status: http.StatusBadRequest, Code: "invalid", Field: "occurredAt", Rule: "rfc3339", Message: err.Error()}
	}
	if br != nil && ev.Action.FullRecord() {
		if err := br.ValidateRecordIDs(ev.Kind, &ev.Record); err != nil {
			return nil, id, validationError(err)
		}
	}
	tx := schemas.NewTx(g.cfg.Chain, c.city, ev)
	tx.NativeFormat, tx.NativeHash = nativeFormat, nativeID
	raw, err := schemas.EncodeTx(tx)
	if err != nil {
		return nil, id, validationError(err)
	}
	return raw, schemas.ComputeTxID(raw), nil
}

func validationError(err error) *Error {
	if fe, ok := schemas.AsFieldError(err); ok {
		code, status := "invalid", http.StatusBadRequest
		if fe.Rule == "maxBytes" {
			code, status = "too_large", http.StatusRequestEntityTooLarge
		}
		if fe.Rule == "json" {
			code = "invalid_json"
		}
		return &Error{Status: status, Code: code, Field: fe.Field, Rule: fe.Rule, Message: fe.Msg}
	}
	return &Error{Status: http.StatusBadRequest, Code: "invalid", Message: err.Error()}
}

func submitError(err error) *Error {
	switch {
	case errors.Is(err, ErrBackpressure):
		return &Error{Status: http.StatusTooManyRequests, Code: "backpressure", Message: "the city's queue is full; retry after the Retry-After delay"}
	case errors.Is(err, ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: "the gateway is shutting down"}
	case isPermission(err):
		return &Error{Status: http.StatusForbidden, Code: "permission_denied", Message: err.Error()}
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: "bus_unavailable", Message: err.Error()}
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
		r.Status = "pending"
		return &r, true, nil
	}
	return nil, false, nil
}

func (g *Gateway) recentReceipt(id schemas.TxID) (Receipt, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, c := range g.cities {
		if a, ok := c.recent.Peek(id); ok {
			return a.receipt(id), true
		}
	}
	return Receipt{}, false
}
