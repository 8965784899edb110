package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/config"
)

// Backend is the ledger a Server answers from. ledger/node implements it
// over an orderer's block log, index, state and catalogue. Every method
// may be called from several goroutines at once.
type Backend interface {
	// Status reports the node's height, sealed GBA_TX sequence and
	// readiness (Node and Head are the server's to fill).
	Status() Status
	// Lookup returns where a transaction was sealed.
	Lookup(id schemas.TxID) (Location, bool)
	// WaitHeight returns once the chain is at height h, or ctx's error.
	WaitHeight(ctx context.Context, h uint64) error
	// Sealed returns header h and its certificate.
	Sealed(h uint64) (*block.Header, *block.QC, error)
	// Block returns block h (through a cache: pages of one block read it
	// once).
	Block(h uint64) (*block.Block, error)
	// TxAt proves the transaction at position pos of block h as far as it
	// can (proof.Prover.TxAt).
	TxAt(h uint64, pos int) (*proof.TxProof, block.Tx, error)
	// LeafPath is the path of leaf leaf under block h's TxRoot, and
	// Results block h's results: what placing a transaction takes, which
	// a node keeps for its newest blocks without the blocks
	// (proof.Prover.LeafPath, Results).
	LeafPath(h uint64, leaf int) ([]proof.Hash, error)
	Results(h uint64) ([]block.Result, error)
	// LatestProof returns a fresh proof of a license (wrapping
	// proof.ErrNotFound for one the ledger does not hold).
	LatestProof(key string) (*proof.Bundle, error)
	// History returns up to limit versions of a license, newest first,
	// made at heights below before (0: any). ErrNotFound for a license
	// the ledger never held.
	History(key string, before uint64, limit int) ([]LicenseVersion, error)
	// Licenses returns a page of the catalogue and the cursor of the next
	// ("" at the end); ErrUnavailable if the node keeps no catalogue.
	Licenses(f LicenseFilter) ([]LicenseEntry, string, error)
}

// ServerConfig tunes a Server. Zero fields take the defaults given.
type ServerConfig struct {
	// Workers answer requests other than waits, in parallel. Default 4.
	Workers int
	// Queue is how many requests may wait for a worker. Default 1,024:
	// a burst of proofs asked for by the gateways' share routes at a few
	// hundred requests a second queues rather than fails over. More are
	// refused at once (ErrUnavailable, "busy").
	Queue int
	// QueueWait bounds how long a request waits for a worker; one that
	// waited longer is answered busy rather than late. Default 2 s, under
	// the client's 5 s per-orderer timeout, so that a busy answer still
	// leaves it time to ask another orderer.
	QueueWait time.Duration
	// Now is the clock the queue's wait is measured by; default time.Now.
	Now func() time.Time
	// MaxWaits bounds the Wait requests held at once; more are refused
	// (ErrUnavailable) so a client falls over to another orderer.
	// Default 4,096.
	MaxWaits int
	Logger   *slog.Logger
}

// Server answers the ledger query service of one orderer on
// bus.QuerySubject(name).
//
// Goroutines: the subscription's NATS goroutine decodes each request and
// hands it to a pool of Workers through a queue of Queue requests, each
// waiting at most QueueWait (a full queue refuses the request rather than
// block the subscription); each Wait runs on a goroutine of its own, at
// most MaxWaits at once. Stop unsubscribes and waits for them all.
type Server struct {
	name    string
	backend Backend
	cfg     ServerConfig
	log     *slog.Logger
	sub     *nats.Subscription
	work    chan queued
	waits   chan struct{} // a token per Wait held
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once

	mu       sync.Mutex // guards stopping against receive's sends and wg.Add
	stopping bool
}

// Serve subscribes orderer name's query service on conn (which must be the
// orderer's own identity: only it may subscribe to its subject) and
// answers from backend until Stop.
func Serve(conn *nats.Conn, name string, backend Backend, cfg ServerConfig) (*Server, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.MaxWaits <= 0 {
		cfg.MaxWaits = 4096
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{name: name, backend: backend, cfg: cfg, log: cfg.Logger.With("component", "query"),
		work: make(chan queued, cfg.Queue), waits: make(chan struct{}, cfg.MaxWaits)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		s.wg.Add(1)
		go s.worker()
	}
	sub, err := conn.Subscribe(bus.QuerySubject(name), s.receive)
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("query: subscribe %s: %w", bus.QuerySubject(name), err)
	}
	s.sub = sub
	// The server knows of the subscription once the flush returns: a
	// request sent after Serve returns finds a responder.
	if err := conn.FlushTimeout(10 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("query: subscribe %s: %w", bus.QuerySubject(name), err)
	}
	return s, nil
}

// Stop unsubscribes, ends the held waits and waits for every answer in
// progress.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.sub != nil {
			_ = s.sub.Unsubscribe()
		}
		s.mu.Lock()
		s.stopping = true
		s.cancel()
		close(s.work)
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// receive runs on the subscription's goroutine: it must not block.
func (s *Server) receive(m *nats.Msg) {
	if m.Reply == "" {
		return // not a request: nobody to answer
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		s.respond(m, errorReply(codeUnavailable, "the node is stopping"))
		return
	}
	if len(m.Data) >= 2 && m.Data[1] == opWait {
		select {
		case s.waits <- struct{}{}:
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { <-s.waits }()
				s.respond(m, s.answer(m.Data))
			}()
		default:
			s.respond(m, errorReply(codeUnavailable, fmt.Sprintf("%d commit waits held already", s.cfg.MaxWaits)))
		}
		return
	}
	select {
	case s.work <- queued{m: m, at: s.cfg.Now()}:
	default:
		s.respond(m, errorReply(codeUnavailable, fmt.Sprintf("query service busy: %d requests queued already", s.cfg.Queue)))
	}
}

// queued is a request waiting for a worker since at.
type queued struct {
	m  *nats.Msg
	at time.Time
}

func (s *Server) worker() {
	defer s.wg.Done()
	for q := range s.work {
		if waited := s.cfg.Now().Sub(q.at); waited > s.cfg.QueueWait {
			// Late: the client may have given up, and another orderer
			// may answer sooner. Saying so costs nothing.
			s.respond(q.m, errorReply(codeUnavailable, fmt.Sprintf("query service busy: waited %v for a worker", waited.Round(time.Millisecond))))
			continue
		}
		s.respond(q.m, s.answer(q.m.Data))
	}
}

func (s *Server) respond(m *nats.Msg, data []byte) {
	if err := m.Respond(data); err != nil && s.ctx.Err() == nil {
		s.log.Debug("query: reply", "err", err)
	}
}

// answer decodes a request and builds its reply; it never fails without a
// reply a client can read.
func (s *Server) answer(data []byte) (out []byte) {
	defer func() {
		if p := recover(); p != nil {
			// A broken invariant in a backend must not take the node
			// down with it, nor leave the client waiting.
			s.log.Error("query: answer panicked", "panic", p)
			out = errorReply(codeInternal, "the node failed answering")
		}
	}()
	q, err := decodeRequest(data)
	if err != nil {
		return errorReply(codeBadRequest, err.Error())
	}
	switch q.op {
	case opStatus:
		return s.status()
	case opLookup:
		return s.located(q.ids, nil)
	case opWait:
		return s.wait(q)
	case opProof:
		return s.proof(q.key)
	case opHeaders:
		return s.headers(q)
	case opBlock:
		return s.block(q)
	case opTx:
		return s.tx(q.ids[0])
	case opHistory:
		return s.history(q)
	case opLicenses:
		return s.licenses(q)
	case opConfig:
		return s.config(q.config)
	}
	return errorReply(codeBadRequest, fmt.Sprintf("unknown op %d", q.op))
}

// ConfigSubmitter is what a Backend implements to take configuration
// transactions (an orderer's node): SubmitConfig checks one under the
// configuration in force and hands it to consensus. A backend without it
// answers unavailable.
type ConfigSubmitter interface {
	SubmitConfig(ctx context.Context, tx *config.Tx) error
}

// configSubmitTimeout bounds handing a configuration to consensus.
const configSubmitTimeout = 10 * time.Second

// config submits a configuration transaction. Its signatures are its
// authority (config.Check), so who sends it matters only to the bus's
// permissions: members and orderers may ask the query service.
func (s *Server) config(raw []byte) []byte {
	sub, ok := s.backend.(ConfigSubmitter)
	if !ok {
		return errorReply(codeUnavailable, "this node takes no configuration transactions")
	}
	tx, err := config.DecodeCanonical(raw)
	if err != nil {
		return errorReply(codeBadRequest, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), configSubmitTimeout)
	defer cancel()
	if err := sub.SubmitConfig(ctx, tx); err != nil {
		if errors.Is(err, config.ErrInvalid) || errors.Is(err, ErrBadRequest) {
			return errorReply(codeBadRequest, err.Error())
		}
		return errorReply(codeUnavailable, err.Error())
	}
	s.log.Info("query: configuration transaction submitted", "base", fmt.Sprintf("%x", tx.Base[:8]))
	return reply()
}

// failure turns a backend error into a reply.
func failure(err error) []byte {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, proof.ErrNotFound), errors.Is(err, proof.ErrPosition):
		return errorReply(codeNotFound, err.Error())
	case errors.Is(err, ErrUnavailable):
		return errorReply(codeUnavailable, err.Error())
	case errors.Is(err, ErrBadRequest):
		return errorReply(codeBadRequest, err.Error())
	}
	return errorReply(codeInternal, err.Error())
}

func (s *Server) status() []byte {
	st := s.backend.Status()
	out := &status{name: s.name, height: st.Height, sealedSeq: st.SealedSeq, ready: st.Ready}
	if st.Height > 0 {
		h, qc, err := s.backend.Sealed(st.Height)
		if err != nil {
			return failure(err)
		}
		out.head = block.EncodeSealed(h, qc)
	}
	return encodeStatus(out)
}

// located answers where each id was sealed, with the evidence: each
// header with its certificate once, the path under TxRoot of an OK
// transaction, the block's results for any other.
func (s *Server) located(ids []schemas.TxID, locs []*Location) []byte {
	if locs == nil {
		locs = make([]*Location, len(ids))
		for i, id := range ids {
			if l, ok := s.backend.Lookup(id); ok {
				locs[i] = &l
			}
		}
	}
	out := &located{entries: make([]entry, len(ids))}
	index := map[uint64]int{} // height -> out.headers
	for i, l := range locs {
		if l == nil {
			continue
		}
		e := entry{found: true, height: l.Height, position: uint32(l.Position), leaf: int32(l.Leaf), result: l.Result}
		hi, ok := index[l.Height]
		if !ok {
			h, qc, err := s.backend.Sealed(l.Height)
			if err != nil {
				return failure(err)
			}
			hi = len(out.headers)
			index[l.Height] = hi
			out.headers = append(out.headers, sealed{raw: block.EncodeSealed(h, qc)})
		}
		if l.Result == block.OK {
			path, err := s.backend.LeafPath(l.Height, l.Leaf)
			if err != nil {
				return failure(err)
			}
			e.path = hashes(path)
		} else if out.headers[hi].results == nil {
			rs, err := s.backend.Results(l.Height)
			if err != nil {
				return failure(err)
			}
			out.headers[hi].results = resultBytes(rs)
		}
		out.entries[i] = e
	}
	return encodeLocated(out)
}

func resultBytes(rs []block.Result) []byte {
	out := make([]byte, len(rs))
	for i, r := range rs {
		out[i] = byte(r)
	}
	return out
}

// wait holds the request until at least one of its ids is sealed, or the
// wait ends, and answers as Lookup does.
func (s *Server) wait(q *request) []byte {
	ctx, cancel := context.WithTimeout(s.ctx, q.wait)
	defer cancel()
	for {
		h := s.backend.Status().Height
		locs := make([]*Location, len(q.ids))
		found := false
		for i, id := range q.ids {
			if l, ok := s.backend.Lookup(id); ok {
				locs[i], found = &l, true
			}
		}
		if found {
			return s.located(q.ids, locs)
		}
		if err := s.backend.WaitHeight(ctx, h+1); err != nil {
			if s.ctx.Err() != nil {
				return errorReply(codeUnavailable, "the node is stopping")
			}
			return s.located(q.ids, locs) // the wait ended: nothing sealed
		}
	}
}

func (s *Server) proof(key string) []byte {
	b, err := s.backend.LatestProof(key)
	if err != nil {
		return failure(err)
	}
	raw, err := b.MarshalBinary()
	if err != nil {
		return failure(err)
	}
	return encodeProof(raw)
}

func (s *Server) headers(q *request) []byte {
	top := s.backend.Status().Height
	if q.height == 0 || q.height > top {
		return errorReply(codeNotFound, fmt.Sprintf("no block %d (height %d)", q.height, top))
	}
	limit := uint64(min(max(q.limit, 1), MaxHeaders))
	var raws [][]byte
	size := 0
	for h := q.height; h <= top && uint64(len(raws)) < limit; h++ {
		hdr, qc, err := s.backend.Sealed(h)
		if err != nil {
			return failure(err)
		}
		raw := block.EncodeSealed(hdr, qc)
		if size += len(raw) + 8; size > maxReplyBytes {
			break
		}
		raws = append(raws, raw)
	}
	return encodeHeaders(raws)
}

func (s *Server) block(q *request) []byte {
	if q.height == 0 || q.height > s.backend.Status().Height {
		return errorReply(codeNotFound, fmt.Sprintf("no block %d", q.height))
	}
	blk, err := s.backend.Block(q.height)
	if err != nil {
		return failure(err)
	}
	hdr, qc, err := s.backend.Sealed(q.height)
	if err != nil {
		return failure(err)
	}
	total := len(blk.Results)
	pg := &page{header: sealed{raw: block.EncodeSealed(hdr, qc), results: resultBytes(blk.Results)}, total: uint32(total)}
	size := len(pg.header.raw) + len(pg.header.results)
	limit := int(min(max(q.limit, 1), MaxPageTxs))
	seen := map[int]bool{}
	for pos := int(q.from); pos < total && len(pg.txs) < limit; pos++ {
		tp, t, err := s.backend.TxAt(q.height, pos)
		if err != nil {
			return failure(err)
		}
		need := len(t.Bytes) + 32*len(tp.Path) + 32
		if !seen[t.Batch] {
			need += 200 + len(tp.Batch.Signature)
		}
		if size += need; size > maxReplyBytes && len(pg.txs) > 0 {
			break
		}
		if !seen[t.Batch] {
			seen[t.Batch] = true
			pg.batches = append(pg.batches, batchInfoOf(uint32(t.Batch), &tp.Batch))
		}
		pg.txs = append(pg.txs, pageTx{position: uint32(pos), batch: uint32(t.Batch), inBatch: uint32(t.InBatch), leaf: int32(t.Leaf),
			result: t.Result, bytes: t.Bytes, path: hashes(tp.Path)})
	}
	return encodePage(pg)
}

func batchInfoOf(index uint32, bp *proof.BatchProof) batchInfo {
	return batchInfo{index: index, city: bp.City, createdAt: bp.CreatedAt, seq: bp.Seq, count: bp.Count, root: bp.Root,
		keyID: bp.KeyID, signature: bp.Signature}
}

func (s *Server) tx(id schemas.TxID) []byte {
	l, ok := s.backend.Lookup(id)
	if !ok {
		return errorReply(codeNotFound, fmt.Sprintf("no transaction %s", schemas.FormatID(id)))
	}
	hdr, qc, err := s.backend.Sealed(l.Height)
	if err != nil {
		return failure(err)
	}
	tp, t, err := s.backend.TxAt(l.Height, l.Position)
	if err != nil {
		return failure(err)
	}
	if t.ID != id {
		return errorReply(codeInternal, fmt.Sprintf("the index places %s at %d/%d, which holds %s", schemas.FormatID(id), l.Height, l.Position, schemas.FormatID(t.ID)))
	}
	out := &txReply{entry: entry{found: true, height: l.Height, position: uint32(l.Position), leaf: int32(t.Leaf), result: t.Result, path: hashes(tp.Path)},
		header: sealed{raw: block.EncodeSealed(hdr, qc)}, bytes: t.Bytes, batch: batchInfoOf(uint32(t.Batch), &tp.Batch),
		inBatch: uint32(t.InBatch), batchPath: hashes(tp.Batch.Path)}
	if t.Result != block.OK {
		rs, err := s.backend.Results(l.Height)
		if err != nil {
			return failure(err)
		}
		out.header.results = resultBytes(rs)
	}
	return encodeTx(out)
}

func (s *Server) history(q *request) []byte {
	limit := int(min(max(q.limit, 1), MaxHistory))
	vs, err := s.backend.History(q.key, q.height, limit)
	if err != nil {
		return failure(err)
	}
	return encodeHistory(vs[:min(len(vs), limit)])
}

func (s *Server) licenses(q *request) []byte {
	f := q.filter
	f.Limit = int(q.limit)
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, MaxLicenses)
	ls, next, err := s.backend.Licenses(f)
	if err != nil {
		return failure(err)
	}
	// A page of long names is cut to fit a message; the cursor follows
	// the last entry sent.
	size := 0
	for i, l := range ls {
		if size += len(l.Key) + len(l.Name) + len(l.Holder) + 96; size > maxReplyBytes && i > 0 {
			ls, next = ls[:i], ls[i-1].Key
			break
		}
	}
	if len(ls) > f.Limit {
		ls = ls[:f.Limit]
	}
	return encodeLicenses(ls, next)
}

// hashes converts a proof's path to the wire's.
func hashes(p []proof.Hash) []schemas.TxID {
	out := make([]schemas.TxID, len(p))
	for i, h := range p {
		out[i] = schemas.TxID(h)
	}
	return out
}
