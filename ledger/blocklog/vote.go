package blocklog

import (
	"errors"

	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/wire"
)

// tagAux starts the message a vote's auxiliary signature covers, so it can
// never be taken for another kind of consensus signature.
const tagAux = "GBX1"

// ErrVoteFormat is returned for a consenter signature that does not parse.
var ErrVoteFormat = errors.New("blocklog: malformed vote message")

// VoteMsg is the Msg of a SmartBFT consenter signature on a block. The
// signature's Value is the orderer's block vote (the domain-separated header
// hash signature that goes into the block's quorum certificate); VoteMsg
// carries what the QC does not: the key id, and SmartBFT's auxiliary input
// (which prepares the voter saw, used for leader blacklisting) with its own
// signature, so a leader cannot alter another orderer's acknowledgements.
type VoteMsg struct {
	HeaderHash [32]byte
	KeyID      string
	Aux        []byte
	AuxSig     []byte
}

// Encode returns the binary form.
func (v *VoteMsg) Encode() []byte {
	b := make([]byte, 0, 48+len(v.KeyID)+len(v.Aux)+len(v.AuxSig))
	b = append(b, v.HeaderHash[:]...)
	b = wire.AppendString(b, v.KeyID)
	b = wire.AppendBytes(b, v.Aux)
	return wire.AppendBytes(b, v.AuxSig)
}

// DecodeVoteMsg parses VoteMsg.Encode's output.
func DecodeVoteMsg(raw []byte) (*VoteMsg, error) {
	r := wire.NewReader(raw)
	var v VoteMsg
	copy(v.HeaderHash[:], r.Take(32))
	v.KeyID = string(r.Bytes(256))
	v.Aux = r.Bytes(1 << 20)
	v.AuxSig = r.Bytes(1 << 16)
	if r.Err() != nil || r.Len() != 0 {
		return nil, ErrVoteFormat
	}
	return &v, nil
}

func auxMessage(headerHash [32]byte, aux []byte) []byte {
	b := make([]byte, 0, len(tagAux)+32+len(aux))
	b = append(b, tagAux...)
	b = append(b, headerHash[:]...)
	return append(b, aux...)
}

// SignAux signs a vote's auxiliary input.
func SignAux(chain string, k keys.Signer, headerHash [32]byte, aux []byte) []byte {
	return k.Sign(keys.Domain{Chain: chain, Purpose: keys.PurposeConsensus}, auxMessage(headerHash, aux))
}

// VerifyAux checks a vote's auxiliary signature with the voter's key.
func VerifyAux(chain string, pk *keys.PublicKey, v *VoteMsg) error {
	return pk.Verify(keys.Domain{Chain: chain, Purpose: keys.PurposeConsensus}, auxMessage(v.HeaderHash, v.Aux), v.AuxSig)
}
