package blocksync

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/ledger/bft/envelope"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// Store is what the server reads blocks from: a *blocklog.Store.
type Store interface {
	// Height is the last block's height.
	Height() uint64
	// Raw returns the encoded record of block h (blocklog.Record.Encode).
	Raw(h uint64) ([]byte, error)
}

// Batches is where the server finds the unsealed batches other orderers
// ask for (the batches an orderer ingested or fetched and has not sealed).
type Batches interface {
	// Batch returns the batch with id, or nil if this orderer does not
	// hold it.
	Batch(id string) *schemas.Batch
}

// ServerConfig configures a Server.
type ServerConfig struct {
	Conn  *nats.Conn   // supplied and closed by the caller
	Trust *keys.Bundle // orderers and their keys
	// TrustNow, if set, is the configuration in force now (an orderer's
	// replica.Trust): whose signed requests are an orderer's, as orderers
	// join and leave (issue 17 §2). With it Name need not be an orderer of
	// Trust (an orderer added since the genesis serves what it has synced
	// while it joins; its replies count once a peer's configuration lists
	// it). Nil: Trust.
	TrustNow func() *keys.Bundle
	Name     string      // this orderer, one of the orderers in force
	Key      keys.Signer // this orderer's key: every reply is signed with it
	Store    Store       // required
	// Batches answers other orderers' batches requests; nil answers each
	// with no batch.
	Batches Batches
	// Chunk is the largest payload of one reply envelope. Default the
	// connection's maximum payload less envelope.MaxOverhead.
	Chunk int
	// Logger receives refused requests. Default slog.Default().
	Logger *slog.Logger
}

// ServerStats are a server's counters.
type ServerStats struct {
	Status, Blocks, Batches uint64 // requests answered, by kind
	Refused                 uint64 // requests that did not parse or verify
	RecordsSent             uint64 // block records sent
	BatchesSent             uint64 // batches sent
}

// Server answers gba.sync.<Name>. It reads the store and the batches on
// the subscription's goroutine, one request at a time (NATS delivers a
// subscription's messages in order, on one goroutine, which owns the
// message counter), and Stop waits for the request in progress, so the
// store may be closed once Stop returns.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
	sub *nats.Subscription

	msgID uint64 // owned by the subscription goroutine

	mu      sync.Mutex // guards stopped and wg.Add
	stopped bool
	wg      sync.WaitGroup

	status, blocks, batches, refused, records, batchesSent atomic.Uint64
}

// Serve checks the configuration and subscribes to gba.sync.<Name>.
func Serve(cfg ServerConfig) (*Server, error) {
	if cfg.Conn == nil || cfg.Trust == nil || cfg.Key == nil || cfg.Store == nil {
		return nil, errors.New("blocksync: a server needs a connection, a trust bundle, a key and a store")
	}
	if cfg.TrustNow == nil {
		if cfg.Trust.OrdererIndex(cfg.Name) < 0 {
			return nil, fmt.Errorf("blocksync: %q is not an orderer of chain %s", cfg.Name, cfg.Trust.Chain)
		}
		trust := cfg.Trust
		cfg.TrustNow = func() *keys.Bundle { return trust }
	}
	var err error
	if cfg.Chunk, err = chunkSize(cfg.Conn, cfg.Chunk); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "blocksync")}
	if s.sub, err = cfg.Conn.Subscribe(bus.SyncSubject(cfg.Name), s.handle); err != nil {
		return nil, fmt.Errorf("blocksync: subscribe: %w", err)
	}
	// Let the subscription reach the server before peers are told to ask:
	// a request sent before it is refused with "no responders".
	if err := cfg.Conn.Flush(); err != nil {
		s.log.Warn("blocksync: the subscription may not have reached the server yet", "err", err)
	}
	return s, nil
}

// chunkSize is the payload of one envelope: asked, or what the server
// lets a message carry less the envelope's own bytes.
func chunkSize(nc *nats.Conn, asked int) (int, error) {
	chunk := asked
	if chunk <= 0 {
		chunk = int(nc.MaxPayload()) - envelope.MaxOverhead
	}
	if chunk < 1024 {
		return 0, fmt.Errorf("blocksync: chunk size %d too small (server max_payload %d)", chunk, nc.MaxPayload())
	}
	return chunk, nil
}

// Stop unsubscribes and waits for the request in progress. It is safe to
// call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	_ = s.sub.Unsubscribe()
	s.wg.Wait()
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{Status: s.status.Load(), Blocks: s.blocks.Load(), Batches: s.batches.Load(), Refused: s.refused.Load(),
		RecordsSent: s.records.Load(), BatchesSent: s.batchesSent.Load()}
}

func (s *Server) handle(m *nats.Msg) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	if m.Reply == "" {
		s.refused.Add(1)
		return
	}
	if envelope.HasMagic(m.Data) {
		s.handleSigned(m)
		return
	}
	req, err := parsePlain(m.Data)
	if err != nil {
		s.refused.Add(1)
		return
	}
	switch req.op {
	case opStatus:
		s.status.Add(1)
		_ = s.reply(m.Reply, encodeStatus(s.cfg.Store.Height()))
	case opBlocks:
		s.blocks.Add(1)
		s.serveBlocks(m.Reply, req.from, req.count)
	}
}

// serveBlocks sends the records of blocks from..from+count-1 that the
// store holds, at most MaxReplyBytes of them, then the empty message that
// ends the reply.
func (s *Server) serveBlocks(to string, from uint64, count uint32) {
	height := s.cfg.Store.Height()
	size := 0
	for h := max(from, 1); h-from < uint64(count) && h <= height && size < MaxReplyBytes; h++ {
		raw, err := s.cfg.Store.Raw(h)
		if err != nil {
			s.log.Warn("blocksync: cannot read a block asked for", "block", h, "err", err)
			break
		}
		if err := s.reply(to, raw); err != nil {
			return
		}
		s.records.Add(1)
		size += len(raw)
	}
	_ = s.reply(to, nil)
}

// handleSigned answers a signed request: a batches request from another
// orderer (unsealed batches are for the orderers only, so the request must
// be signed by one, and addressed to this one).
func (s *Server) handleSigned(m *nats.Msg) {
	e, err := envelope.Decode(m.Data)
	if err != nil || e.Kind != envelope.KindSyncReq || e.To != s.cfg.Name || e.Parts != 1 || e.From == s.cfg.Name {
		s.refused.Add(1)
		return
	}
	if err := e.Verify(s.cfg.TrustNow(), s.cfg.Store.Height()+1); err != nil {
		s.refused.Add(1)
		s.log.Warn("blocksync: refused a batches request", "from", e.From, "err", err)
		return
	}
	req, err := parseBatches(e.Payload)
	if err != nil {
		s.refused.Add(1)
		return
	}
	s.batches.Add(1)
	size := 0
	for _, id := range req.ids {
		if s.cfg.Batches == nil {
			break
		}
		bt := s.cfg.Batches.Batch(id)
		if bt == nil {
			continue
		}
		frame := bt.Encode()
		if size += len(frame); size > MaxReplyBytes || s.reply(m.Reply, frame) != nil {
			break
		}
		s.batchesSent.Add(1)
	}
	_ = s.reply(m.Reply, nil)
}

// reply sends one message to an inbox, in signed envelopes.
func (s *Server) reply(to string, payload []byte) error {
	s.msgID++
	frames, err := envelope.Seal(s.cfg.Trust.Chain, s.cfg.Key, envelope.KindSyncResp, s.cfg.Name, "", s.msgID, payload, s.cfg.Chunk)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := s.cfg.Conn.Publish(to, f); err != nil {
			return err
		}
	}
	return nil
}
