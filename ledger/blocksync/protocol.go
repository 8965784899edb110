package blocksync

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/baybus/baybus/schemas/wire"
)

// The wire format on gba.sync.<orderer> (doc.go describes the exchanges).
const (
	reqMagic    = "GSQ1"
	statusMagic = "GSS1"

	opStatus  = 1
	opBlocks  = 2
	opBatches = 3

	// plainReqLen is the length of a status or blocks request.
	plainReqLen = len(reqMagic) + 1 + 8 + 4

	// MaxReplyBytes bounds the records of one blocks reply, and the batches
	// of one batches reply.
	MaxReplyBytes = 64 << 20
	// MaxBatchIDs bounds the ids of one batches request (a block's batches
	// fit).
	MaxBatchIDs = 1024
	// maxBatchID bounds one batch id in a request.
	maxBatchID = 128
)

// Errors.
var (
	// ErrRequest: a request that does not parse.
	ErrRequest = errors.New("blocksync: malformed request")
	// ErrReply: a reply that is not what was asked (another sender or kind,
	// a record of another height, a batch not asked for, more than asked).
	ErrReply = errors.New("blocksync: bad reply")
	// ErrClosed: a request on a closed Client, or one in progress when it
	// closed.
	ErrClosed = errors.New("blocksync: client closed")
)

// request is a parsed request.
type request struct {
	op    byte
	from  uint64   // blocks
	count uint32   // blocks
	ids   []string // batches
}

// encodePlain returns a status or blocks request:
//
//	"GSQ1" | op | from uint64 | count uint32
func encodePlain(op byte, from uint64, count uint32) []byte {
	b := append([]byte(reqMagic), op)
	b = binary.BigEndian.AppendUint64(b, from)
	return binary.BigEndian.AppendUint32(b, count)
}

// encodeBatches returns the payload of a signed batches request:
//
//	"GSQ1" | 3 | uvarint n | n x bytes(batch id)
func encodeBatches(ids []string) []byte {
	b := append([]byte(reqMagic), opBatches)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = wire.AppendString(b, id)
	}
	return b
}

// parsePlain parses a status or blocks request (an unsigned message).
func parsePlain(d []byte) (request, error) {
	if len(d) != plainReqLen || string(d[:len(reqMagic)]) != reqMagic {
		return request{}, fmt.Errorf("%w: %d bytes", ErrRequest, len(d))
	}
	r := request{op: d[len(reqMagic)], from: binary.BigEndian.Uint64(d[5:13]), count: binary.BigEndian.Uint32(d[13:])}
	if r.op != opStatus && r.op != opBlocks {
		return request{}, fmt.Errorf("%w: op %d unsigned", ErrRequest, r.op)
	}
	return r, nil
}

// parseBatches parses the payload of a signed batches request.
func parseBatches(d []byte) (request, error) {
	if len(d) < len(reqMagic)+1 || string(d[:len(reqMagic)]) != reqMagic || d[len(reqMagic)] != opBatches {
		return request{}, fmt.Errorf("%w: not a batches request", ErrRequest)
	}
	r := wire.NewReader(d[len(reqMagic)+1:])
	n := r.Count(MaxBatchIDs)
	if r.Err() != nil || n == 0 {
		return request{}, fmt.Errorf("%w: batch count", ErrRequest)
	}
	req := request{op: opBatches, ids: make([]string, 0, n)}
	for range n {
		req.ids = append(req.ids, r.String(maxBatchID))
	}
	if r.Err() != nil || r.Len() != 0 {
		return request{}, fmt.Errorf("%w: batch ids", ErrRequest)
	}
	return req, nil
}

// encodeStatus is a status reply: "GSS1" | height uint64.
func encodeStatus(height uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(statusMagic), height)
}

// parseStatus reads a status reply.
func parseStatus(msg []byte) (uint64, error) {
	if len(msg) != len(statusMagic)+8 || string(msg[:len(statusMagic)]) != statusMagic {
		return 0, fmt.Errorf("%w: status of %d bytes", ErrReply, len(msg))
	}
	return binary.BigEndian.Uint64(msg[len(statusMagic):]), nil
}
