package blocklog

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrViewMetadata is returned for a header's Consensus field that is not
// SmartBFT view metadata.
var ErrViewMetadata = errors.New("blocklog: malformed view metadata")

// ViewMetadata is SmartBFT's view metadata (smartbftprotos.ViewMetadata),
// which the orderers store as every header's Consensus field: the engine's
// view and decision sequence for the block. It is read and written here
// with protowire, as proto.Unmarshal and proto.Marshal would, so that
// offline readers of the block log do not link SmartBFT.
//
//	message ViewMetadata {
//	    uint64 view_id = 1;
//	    uint64 latest_sequence = 2;
//	    uint64 decisions_in_view = 3;
//	    repeated uint64 black_list = 4;
//	    bytes prev_commit_signature_digest = 5;
//	}
type ViewMetadata struct {
	ViewID                    uint64
	LatestSequence            uint64 // the block's height
	DecisionsInView           uint64
	BlackList                 []uint64
	PrevCommitSignatureDigest []byte
}

// The field numbers of smartbftprotos.ViewMetadata.
const (
	fieldViewID          protowire.Number = 1
	fieldLatestSequence  protowire.Number = 2
	fieldDecisionsInView protowire.Number = 3
	fieldBlackList       protowire.Number = 4
	fieldPrevDigest      protowire.Number = 5
)

// DecodeViewMetadata parses view metadata with proto3's rules, as
// proto.Unmarshal does: the last value of a scalar field wins, black_list
// may come packed or not, and unknown fields (or known fields with another
// wire type) are skipped. Errors wrap ErrViewMetadata.
func DecodeViewMetadata(b []byte) (*ViewMetadata, error) {
	var m ViewMetadata
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %w", ErrViewMetadata, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return nil, fmt.Errorf("%w: field number %d", ErrViewMetadata, num)
		}
		b = b[n:]
		var v uint64
		switch {
		case typ == protowire.VarintType && num >= fieldViewID && num <= fieldBlackList:
			v, n = protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: field %d: %w", ErrViewMetadata, num, protowire.ParseError(n))
			}
			switch num {
			case fieldViewID:
				m.ViewID = v
			case fieldLatestSequence:
				m.LatestSequence = v
			case fieldDecisionsInView:
				m.DecisionsInView = v
			case fieldBlackList:
				m.BlackList = append(m.BlackList, v)
			}
		case typ == protowire.BytesType && num == fieldBlackList:
			var packed []byte
			packed, n = protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: field %d: %w", ErrViewMetadata, num, protowire.ParseError(n))
			}
			for len(packed) > 0 {
				v, k := protowire.ConsumeVarint(packed)
				if k < 0 {
					return nil, fmt.Errorf("%w: black_list: %w", ErrViewMetadata, protowire.ParseError(k))
				}
				m.BlackList = append(m.BlackList, v)
				packed = packed[k:]
			}
		case typ == protowire.BytesType && num == fieldPrevDigest:
			var d []byte
			d, n = protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: field %d: %w", ErrViewMetadata, num, protowire.ParseError(n))
			}
			m.PrevCommitSignatureDigest = append([]byte{}, d...)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("%w: field %d: %w", ErrViewMetadata, num, protowire.ParseError(n))
			}
		}
		b = b[n:]
	}
	return &m, nil
}

// Encode returns the metadata as proto.Marshal writes it: fields in number
// order, zero values left out, black_list packed.
func (m *ViewMetadata) Encode() []byte {
	var b []byte
	for _, f := range []struct {
		num protowire.Number
		v   uint64
	}{{fieldViewID, m.ViewID}, {fieldLatestSequence, m.LatestSequence}, {fieldDecisionsInView, m.DecisionsInView}} {
		if f.v != 0 {
			b = protowire.AppendTag(b, f.num, protowire.VarintType)
			b = protowire.AppendVarint(b, f.v)
		}
	}
	if len(m.BlackList) > 0 {
		var packed []byte
		for _, v := range m.BlackList {
			packed = protowire.AppendVarint(packed, v)
		}
		b = protowire.AppendTag(b, fieldBlackList, protowire.BytesType)
		b = protowire.AppendBytes(b, packed)
	}
	if len(m.PrevCommitSignatureDigest) > 0 {
		b = protowire.AppendTag(b, fieldPrevDigest, protowire.BytesType)
		b = protowire.AppendBytes(b, m.PrevCommitSignatureDigest)
	}
	return b
}
