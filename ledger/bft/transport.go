package bft

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/api"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/bft/envelope"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// Comm is SmartBFT's communication interface, which Transport implements and
// test doubles decorate.
type Comm = api.Comm

// Handler receives authenticated messages; *consensus.Consensus is one.
type Handler interface {
	HandleMessage(sender uint64, m *protos.Message)
	HandleRequest(sender uint64, req []byte)
}

// envelopeSlack is what a chunk leaves of a NATS message for the envelope's
// own fields and signature (an ML-DSA-65 signature is 3,309 bytes).
const envelopeSlack = envelope.MaxOverhead

// TransportConfig configures a Transport.
type TransportConfig struct {
	Conn  *nats.Conn   // supplied by the caller; not closed by the transport
	Trust *keys.Bundle // the orderer set and their keys
	// TrustNow, if set, returns the configuration in force at the next
	// height, which replaces Trust once the orderers change (issue 17
	// §2): who is a peer, by which id, and with which keys. Nil means
	// Trust always.
	TrustNow func() *keys.Bundle
	Self     string      // this orderer's name, one of the orderers in force
	Key      keys.Signer // this orderer's key
	// Height returns the height at which keys must be valid: the next block's.
	// Nil means height 0.
	Height func() uint64
	// MaxChunk bounds one envelope's payload. Zero means the server's
	// max_payload minus 8 KiB.
	MaxChunk int
	Logger   *slog.Logger
}

// Stats counts what a Transport sent and received. Dropped envelopes are
// counted by reason; a drop never reaches the engine.
type Stats struct {
	Sent, SendErrors uint64
	Received         uint64 // whole messages handed to the engine
	Malformed        uint64 // undecodable frames and payloads
	Misrouted        uint64 // addressed to another orderer
	UnknownSender    uint64 // a sender not in the trust bundle, or ourselves
	ForgedSender     uint64 // signed with a key that is not the claimed sender's
	BadSignature     uint64 // signature does not verify
	Incomplete       uint64 // chunked messages abandoned half-way
}

// Transport carries SmartBFT's messages between orderers over core NATS:
// each orderer subscribes to gba.bft.<self>; every message is sent in signed
// envelopes (see Envelope) to gba.bft.<target>. It implements api.Comm.
//
// Concurrency: Send* may be called from any goroutine; a per-target mutex
// keeps one message's chunks contiguous. Received envelopes are handled on
// the subscription's goroutine, which owns the Reassembler.
type Transport struct {
	cfg   TransportConfig
	chain string
	self  uint64
	chunk int
	log   *slog.Logger

	msgID   atomic.Uint64
	muMu    sync.Mutex
	sendMu  map[uint64]*sync.Mutex // by consensus id; muMu guards the map
	sub     *nats.Subscription
	reasm   Reassembler
	handler Handler

	sent, sendErrors, received, malformed, misrouted, unknown, forged, badSig, incomplete atomic.Uint64
}

var _ Comm = (*Transport)(nil)

// NewTransport checks the configuration and returns a stopped transport.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.Conn == nil || (cfg.Trust == nil && cfg.TrustNow == nil) || cfg.Key == nil {
		return nil, errors.New("bft: transport needs a NATS connection, a trust bundle and a key")
	}
	if cfg.TrustNow == nil {
		trust := cfg.Trust
		cfg.TrustNow = func() *keys.Bundle { return trust }
	}
	self := cfg.TrustNow().ConsensusID(cfg.Self)
	if self == 0 {
		return nil, fmt.Errorf("bft: %q is not an orderer of chain %s", cfg.Self, cfg.TrustNow().Chain)
	}
	chunk := cfg.MaxChunk
	if chunk <= 0 {
		chunk = int(cfg.Conn.MaxPayload()) - envelopeSlack
	}
	if chunk < 1024 {
		return nil, fmt.Errorf("bft: chunk size %d too small (server max_payload %d)", chunk, cfg.Conn.MaxPayload())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	t := &Transport{
		cfg: cfg, chain: cfg.TrustNow().Chain, self: self, chunk: chunk,
		log:    log.With("component", "bft-transport"),
		sendMu: map[uint64]*sync.Mutex{},
	}
	return t, nil
}

// SelfID returns this orderer's consensus id (keys.Bundle.ConsensusID).
func (t *Transport) SelfID() uint64 { return t.self }

// Chunk returns the largest payload one envelope carries.
func (t *Transport) Chunk() int { return t.chunk }

// Start subscribes to this orderer's consensus subject and hands every
// authenticated message to h.
func (t *Transport) Start(h Handler) error {
	t.handler = h
	sub, err := t.cfg.Conn.Subscribe(bus.BFTSubject(t.cfg.Self), t.receive)
	if err != nil {
		return fmt.Errorf("bft: subscribe: %w", err)
	}
	// Consensus traffic is bursty; let the client buffer rather than drop.
	_ = sub.SetPendingLimits(1<<16, 512<<20)
	t.sub = sub
	return t.cfg.Conn.Flush()
}

// Stop unsubscribes; messages already received may still be delivered.
func (t *Transport) Stop() {
	if t.sub != nil {
		_ = t.sub.Unsubscribe()
	}
}

// Nodes returns the consensus ids of the orderers in force: the engine
// reads them as it starts; a reconfiguration hands it the new set.
func (t *Transport) Nodes() []uint64 { return t.cfg.TrustNow().ConsensusIDs() }

// sendLock is the mutex that keeps one message's chunks to target
// contiguous.
func (t *Transport) sendLock(target uint64) *sync.Mutex {
	t.muMu.Lock()
	defer t.muMu.Unlock()
	mu, ok := t.sendMu[target]
	if !ok {
		mu = &sync.Mutex{}
		t.sendMu[target] = mu
	}
	return mu
}

// SendConsensus sends a consensus message to one orderer.
func (t *Transport) SendConsensus(target uint64, m *protos.Message) {
	b, err := proto.Marshal(m)
	if err != nil {
		t.sendErrors.Add(1)
		t.log.Error("marshal consensus message", "err", err)
		return
	}
	t.send(target, KindConsensus, b)
}

// SendTransaction forwards a request to one orderer (normally the leader).
func (t *Transport) SendTransaction(target uint64, request []byte) {
	t.send(target, KindRequest, request)
}

// SendRaw sends an already encoded payload of the given kind; test doubles
// use it to send what an honest node would not.
func (t *Transport) SendRaw(target uint64, kind Kind, payload []byte) { t.send(target, kind, payload) }

func (t *Transport) name(id uint64) (string, bool) {
	return t.cfg.TrustNow().OrdererByID(id)
}

func (t *Transport) send(target uint64, kind Kind, payload []byte) {
	to, ok := t.name(target)
	if !ok || target == t.self {
		t.sendErrors.Add(1)
		return
	}
	frames, err := Seal(t.chain, t.cfg.Key, kind, t.cfg.Self, to, t.msgID.Add(1), payload, t.chunk)
	if err != nil {
		t.sendErrors.Add(1)
		t.log.Error("seal", "err", err, "to", to)
		return
	}
	start := time.Now()
	mu := t.sendLock(target)
	mu.Lock()
	defer mu.Unlock()
	defer func() {
		if d := time.Since(start); d > 20*time.Millisecond {
			t.log.Debug("slow send", "to", to, "kind", kind, "bytes", len(payload), "took", d)
		}
	}()
	subj := bus.BFTSubject(to)
	for _, f := range frames {
		if err := t.cfg.Conn.Publish(subj, f); err != nil {
			t.sendErrors.Add(1)
			t.log.Debug("publish", "err", err, "to", to)
			return
		}
	}
	t.sent.Add(1)
}

func (t *Transport) height() uint64 {
	if t.cfg.Height == nil {
		return 0
	}
	return t.cfg.Height()
}

// receive runs on the subscription goroutine.
func (t *Transport) receive(msg *nats.Msg) {
	e, err := DecodeEnvelope(msg.Data)
	if err != nil {
		t.malformed.Add(1)
		return
	}
	if e.To != t.cfg.Self {
		t.misrouted.Add(1)
		return
	}
	if e.Kind != KindConsensus && e.Kind != KindRequest {
		t.malformed.Add(1)
		return
	}
	trust := t.cfg.TrustNow()
	sender := trust.ConsensusID(e.From)
	if sender == 0 || sender == t.self {
		t.unknown.Add(1)
		return
	}
	if err := e.Verify(trust, t.height()); err != nil {
		switch {
		case errors.Is(err, ErrForged):
			t.forged.Add(1)
		case errors.Is(err, ErrUnknownPeer):
			t.unknown.Add(1)
		default:
			t.badSig.Add(1)
		}
		t.log.Debug("dropped envelope", "from", e.From, "err", err)
		return
	}
	payload, complete, dropped := t.reasm.Add(e)
	if dropped {
		t.incomplete.Add(1)
	}
	if !complete {
		return
	}
	switch e.Kind {
	case KindConsensus:
		m := &protos.Message{}
		if err := proto.Unmarshal(payload, m); err != nil {
			t.malformed.Add(1)
			return
		}
		t.received.Add(1)
		t.handler.HandleMessage(sender, m)
	case KindRequest:
		t.received.Add(1)
		t.handler.HandleRequest(sender, payload)
	}
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	return Stats{
		Sent: t.sent.Load(), SendErrors: t.sendErrors.Load(), Received: t.received.Load(),
		Malformed: t.malformed.Load(), Misrouted: t.misrouted.Load(), UnknownSender: t.unknown.Load(),
		ForgedSender: t.forged.Load(), BadSignature: t.badSig.Load(), Incomplete: t.incomplete.Load(),
	}
}
