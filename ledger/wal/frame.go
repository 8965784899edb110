package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The frame is what this package stores inside each tidwall/wal entry:
//
//	offset  size  field
//	0       1     magic 0xB1 (format version 1)
//	1       8     index, big-endian: the record's position in the log
//	9       8     durable, big-endian: the highest index known to be on disk
//	              (fsynced) when this record was written; always < index
//	17      4     CRC-32C (Castagnoli), big-endian, of bytes 0..16 followed
//	              by the payload
//	21      n     payload
//
// The index binds a record to its position, so a record that tidwall/wal
// returns for the wrong index is caught. The durable watermark is what lets
// Open tell a torn tail from corruption (see scanTail).
const (
	frameMagic  = 0xB1
	frameHeader = 21
)

// castagnoli is the CRC-32C table. It is written once at init and only read.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Reasons a frame is refused; they end up in CorruptError.Err.
var (
	errShort    = errors.New("frame shorter than its header")
	errMagic    = errors.New("bad magic byte")
	errHeader   = errors.New("impossible header (index 0 or durable >= index)")
	errChecksum = errors.New("CRC-32C mismatch")
	errIndex    = errors.New("record carries another index")
	errTorn     = errors.New("entry runs past the end of the segment")
	errSegment  = errors.New("segment framing broken")
)

// frame is a decoded frame header.
type frame struct {
	index   uint64
	durable uint64
}

// appendFrame appends the frame of one record to dst and returns it.
func appendFrame(dst []byte, index, durable uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, frameMagic)
	dst = binary.BigEndian.AppendUint64(dst, index)
	dst = binary.BigEndian.AppendUint64(dst, durable)
	sum := crc32.Update(0, castagnoli, dst[start:])
	sum = crc32.Update(sum, castagnoli, payload)
	dst = binary.BigEndian.AppendUint32(dst, sum)
	return append(dst, payload...)
}

// decodeFrame checks one frame and returns its header and payload. The
// payload aliases b.
func decodeFrame(b []byte) (frame, []byte, error) {
	if len(b) < frameHeader {
		return frame{}, nil, errShort
	}
	if b[0] != frameMagic {
		return frame{}, nil, errMagic
	}
	f := frame{
		index:   binary.BigEndian.Uint64(b[1:9]),
		durable: binary.BigEndian.Uint64(b[9:17]),
	}
	if f.index == 0 || f.durable >= f.index {
		return frame{}, nil, errHeader
	}
	payload := b[frameHeader:]
	sum := crc32.Update(0, castagnoli, b[:17])
	sum = crc32.Update(sum, castagnoli, payload)
	if sum != binary.BigEndian.Uint32(b[17:21]) {
		return frame{}, nil, errChecksum
	}
	return f, payload, nil
}
