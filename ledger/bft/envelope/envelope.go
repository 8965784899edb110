// Package envelope is the authenticated frame every orderer-to-orderer
// message travels in on NATS: consensus messages (ledger/bft's transport)
// and block-sync requests and replies (ledger/blocksync). Each frame is
// signed by the sending orderer; a message larger than a NATS message is
// cut into chunks that are signed one by one, so a receiver buffers only
// authenticated bytes.
//
// It is its own package so that the block sync, which offline tools such as
// reconcile use, does not link SmartBFT through ledger/bft.
package envelope

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/wire"
)

// Kind says what an envelope carries.
type Kind uint8

// Envelope kinds.
const (
	KindConsensus Kind = 1 // a marshalled smartbftprotos.Message
	KindRequest   Kind = 2 // a forwarded request (a batch frame)
	KindSyncReq   Kind = 3 // a block-sync request
	KindSyncResp  Kind = 4 // one part of a block-sync reply
)

func (k Kind) purpose() keys.Purpose {
	if k == KindSyncReq || k == KindSyncResp {
		return keys.PurposeSync
	}
	return keys.PurposeConsensus
}

// MaxOverhead is what to leave of a NATS message for an envelope's own
// fields and signature when choosing a chunk size (an ML-DSA-65 signature
// is 3,309 bytes).
const MaxOverhead = 8 << 10

const (
	envelopeMagic = "GBE1"
	// maxParts bounds how many chunks one message may be cut into; with
	// chunks of about 1 MiB this bounds a message to 64 MiB.
	maxParts = 64
)

// Envelope errors. A received envelope that fails is dropped and counted
// (see Stats); these sentinels say why.
var (
	ErrMalformed    = errors.New("envelope: malformed envelope")
	ErrUnknownPeer  = errors.New("envelope: from an unknown orderer")
	ErrForged       = errors.New("envelope: signed by another member than its sender")
	ErrBadSignature = errors.New("envelope: signature does not verify")
	ErrMisrouted    = errors.New("envelope: addressed to another orderer")
)

// Envelope is the authenticated frame every orderer-to-orderer message
// travels in. A message larger than one NATS message is cut into Parts
// chunks that share MsgID; each chunk is signed on its own, so a receiver
// buffers only authenticated bytes.
//
// The signature covers, under keys.Domain{chain, purpose of Kind}:
//
//	"GBE1" || kind || from || to || msgID || part || parts || keyID || SHA-256(payload)
//
// so the payload is hashed once however many targets a message goes to.
type Envelope struct {
	Kind    Kind
	From    string // sending orderer's name
	To      string // receiving orderer's name ("" for a sync reply, which goes to an inbox)
	MsgID   uint64 // sender's message counter
	Part    uint32 // 0-based chunk index
	Parts   uint32 // number of chunks, at least 1
	Payload []byte
	KeyID   string
	Sig     []byte
}

// appendHeader appends the fields both the signed bytes and the frame
// begin with: magic, kind, sender, recipient, message id, part, parts and
// key id.
func (e *Envelope) appendHeader(b []byte) []byte {
	b = append(b, envelopeMagic...)
	b = append(b, byte(e.Kind))
	b = wire.AppendString(b, e.From)
	b = wire.AppendString(b, e.To)
	b = binary.BigEndian.AppendUint64(b, e.MsgID)
	b = binary.BigEndian.AppendUint32(b, e.Part)
	b = binary.BigEndian.AppendUint32(b, e.Parts)
	return wire.AppendString(b, e.KeyID)
}

// signedBytes is the header followed by the payload's hash.
func (e *Envelope) signedBytes(payloadHash [32]byte) []byte {
	b := e.appendHeader(make([]byte, 0, 64+len(e.From)+len(e.To)+len(e.KeyID)))
	return append(b, payloadHash[:]...)
}

// Sign sets KeyID and Sig. payloadHash must be SHA-256(e.Payload); it is a
// parameter so that a broadcast hashes the payload once.
func (e *Envelope) Sign(chain string, signer keys.Signer, payloadHash [32]byte) {
	e.KeyID = signer.KeyID()
	e.Sig = signer.Sign(keys.Domain{Chain: chain, Purpose: e.Kind.purpose()}, e.signedBytes(payloadHash))
}

// Verify checks that the envelope is signed by a key of the orderer it
// names as sender, valid at height. Errors wrap ErrUnknownPeer, ErrForged or
// ErrBadSignature.
func (e *Envelope) Verify(trust *keys.Bundle, height uint64) error {
	if trust.OrdererIndex(e.From) < 0 {
		return fmt.Errorf("%w: %q", ErrUnknownPeer, e.From)
	}
	pk, err := trust.KeyAt(e.KeyID, keys.RoleOrderer, e.From, height)
	if err != nil {
		if errors.Is(err, keys.ErrKeyNotValid) {
			return fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		return fmt.Errorf("%w: %w", ErrForged, err)
	}
	if err := pk.Verify(keys.Domain{Chain: trust.Chain, Purpose: e.Kind.purpose()}, e.signedBytes(sha256.Sum256(e.Payload)), e.Sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// Encode returns the envelope's binary frame.
func (e *Envelope) Encode() []byte {
	b := e.appendHeader(make([]byte, 0, 48+len(e.From)+len(e.To)+len(e.KeyID)+len(e.Sig)+len(e.Payload)))
	b = wire.AppendBytes(b, e.Sig)
	return wire.AppendBytes(b, e.Payload)
}

// HasMagic reports whether frame starts like an envelope (its magic), to
// tell one from other frames on a shared subject; Decode still checks
// everything.
func HasMagic(frame []byte) bool {
	return len(frame) >= len(envelopeMagic) && string(frame[:len(envelopeMagic)]) == envelopeMagic
}

// Decode parses a frame. It does not verify the signature. The payload
// aliases frame.
func Decode(frame []byte) (*Envelope, error) {
	r := wire.NewReader(frame)
	if string(r.Take(len(envelopeMagic))) != envelopeMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrMalformed)
	}
	var e Envelope
	if k := r.Take(1); k != nil {
		e.Kind = Kind(k[0])
	}
	e.From = string(r.Bytes(64))
	e.To = string(r.Bytes(64))
	e.MsgID = r.U64()
	e.Part = r.U32()
	e.Parts = r.U32()
	e.KeyID = string(r.Bytes(256))
	e.Sig = r.Bytes(1 << 16)
	e.Payload = r.Bytes(1 << 30)
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, r.Len())
	}
	if e.Kind < KindConsensus || e.Kind > KindSyncResp {
		return nil, fmt.Errorf("%w: kind %d", ErrMalformed, e.Kind)
	}
	if e.Parts == 0 || e.Parts > maxParts || e.Part >= e.Parts {
		return nil, fmt.Errorf("%w: part %d of %d", ErrMalformed, e.Part, e.Parts)
	}
	return &e, nil
}

// Seal cuts payload into chunks of at most chunk bytes and returns the
// signed, encoded envelopes, in order.
func Seal(chain string, signer keys.Signer, kind Kind, from, to string, msgID uint64, payload []byte, chunk int) ([][]byte, error) {
	if chunk <= 0 {
		return nil, fmt.Errorf("envelope: chunk size %d", chunk)
	}
	parts := max(1, (len(payload)+chunk-1)/chunk)
	if parts > maxParts {
		return nil, fmt.Errorf("envelope: message of %d bytes needs %d chunks, limit %d", len(payload), parts, maxParts)
	}
	out := make([][]byte, 0, parts)
	for i := range parts {
		p := payload[i*chunk : min(len(payload), (i+1)*chunk)]
		e := Envelope{Kind: kind, From: from, To: to, MsgID: msgID, Part: uint32(i), Parts: uint32(parts), Payload: p}
		e.Sign(chain, signer, sha256.Sum256(p))
		out = append(out, e.Encode())
	}
	return out, nil
}

// Reassembler joins the chunks of verified envelopes into messages, one
// message in progress per sender and kind. Chunks of one message must arrive
// in order, as NATS delivers one connection's messages on one subject; a
// chunk out of place drops the message in progress. A Reassembler is not
// safe for concurrent use: one subscription goroutine owns it.
type Reassembler struct {
	pending map[string]*partial
}

type partial struct {
	msgID uint64
	next  uint32
	parts uint32
	buf   []byte
}

// Add adds a verified envelope and returns the whole payload when e is the
// last chunk of its message. dropped reports a message in progress that e
// displaced.
func (r *Reassembler) Add(e *Envelope) (msg []byte, complete, dropped bool) {
	if e.Parts == 1 {
		return e.Payload, true, false
	}
	if r.pending == nil {
		r.pending = map[string]*partial{}
	}
	key := string(rune(e.Kind)) + e.From
	p := r.pending[key]
	if p != nil && (p.msgID != e.MsgID || p.next != e.Part || p.parts != e.Parts) {
		delete(r.pending, key)
		dropped = true
		p = nil
	}
	if p == nil {
		if e.Part != 0 {
			return nil, false, true
		}
		p = &partial{msgID: e.MsgID, parts: e.Parts, buf: make([]byte, 0, 2*len(e.Payload))}
		r.pending[key] = p
	}
	p.buf = append(p.buf, e.Payload...)
	p.next++
	if p.next < p.parts {
		return nil, false, dropped
	}
	delete(r.pending, key)
	return p.buf, true, dropped
}
