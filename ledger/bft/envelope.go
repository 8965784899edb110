package bft

import (
	"github.com/baybus/baybus/ledger/bft/envelope"
	"github.com/baybus/baybus/schemas/keys"
)

// The signed envelope lives in ledger/bft/envelope, so that the block sync
// (ledger/blocksync) can use it without linking SmartBFT. These names keep
// the transport's, and its callers', as they were.

// Kind says what an envelope carries.
type Kind = envelope.Kind

// Envelope is envelope.Envelope.
type Envelope = envelope.Envelope

// Reassembler is envelope.Reassembler.
type Reassembler = envelope.Reassembler

// Envelope kinds.
const (
	KindConsensus = envelope.KindConsensus
	KindRequest   = envelope.KindRequest
	KindSyncReq   = envelope.KindSyncReq
	KindSyncResp  = envelope.KindSyncResp
)

// Envelope errors.
var (
	ErrMalformed    = envelope.ErrMalformed
	ErrUnknownPeer  = envelope.ErrUnknownPeer
	ErrForged       = envelope.ErrForged
	ErrBadSignature = envelope.ErrBadSignature
	ErrMisrouted    = envelope.ErrMisrouted
)

// IsEnvelope is envelope.HasMagic.
func IsEnvelope(frame []byte) bool { return envelope.HasMagic(frame) }

// DecodeEnvelope is envelope.Decode.
func DecodeEnvelope(frame []byte) (*Envelope, error) { return envelope.Decode(frame) }

// Seal is envelope.Seal.
func Seal(chain string, signer keys.Signer, kind Kind, from, to string, msgID uint64, payload []byte, chunk int) ([][]byte, error) {
	return envelope.Seal(chain, signer, kind, from, to, msgID, payload, chunk)
}
