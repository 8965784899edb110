package block

import (
	"encoding/binary"
	"fmt"

	"github.com/baybus/baybus/schemas/wire"
)

// Sealed headers go to JetStream stream GBA_BLOCKS, subject gba.blocks,
// after they are fsynced. Every orderer publishes every header; the message
// id is chain/height/hash, so the stream stores each once.
//
// Message body: "GBL1" | bytes(header) | bytes(qc), where bytes(x) is
// uvarint len(x) || x. Headers Baybus-Height and Baybus-Hash repeat the
// height and the hex header hash for consumers that filter.

const sealedMagic = "GBL1"

// EncodeSealed returns a gba.blocks message body.
func EncodeSealed(h *Header, qc *QC) []byte {
	hb, _ := h.MarshalBinary()
	qb, _ := qc.MarshalBinary()
	b := append([]byte(sealedMagic), binary.AppendUvarint(nil, uint64(len(hb)))...)
	b = append(b, hb...)
	b = binary.AppendUvarint(b, uint64(len(qb)))
	return append(b, qb...)
}

// DecodeSealed parses a gba.blocks message body. It does not verify the
// certificate (VerifyQC does).
func DecodeSealed(p []byte) (*Header, *QC, error) {
	r := wire.NewReader(p)
	if string(r.Take(len(sealedMagic))) != sealedMagic {
		return nil, nil, fmt.Errorf("%w: sealed header magic", ErrFormat)
	}
	hb := r.Bytes(1 << 20)
	qb := r.Bytes(1 << 20)
	if r.Err() != nil || r.Len() != 0 {
		return nil, nil, fmt.Errorf("%w: sealed header", ErrFormat)
	}
	var h Header
	if err := h.UnmarshalBinary(hb); err != nil {
		return nil, nil, err
	}
	var qc QC
	if err := qc.UnmarshalBinary(qb); err != nil {
		return nil, nil, err
	}
	return &h, &qc, nil
}
