// Package wire holds the binary framing every baybus encoding shares:
// length-prefixed fields (uvarint length, then the bytes) and big-endian
// integers. The reader accepts only minimal uvarints, so a structure has
// exactly one encoding: a decoded frame re-encodes to the same bytes.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// AppendBytes appends uvarint(len(p)) || p.
func AppendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendString appends uvarint(len(s)) || s.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Reader consumes a frame. The first error sticks: later reads return zero
// values, and Err reports it.
type Reader struct {
	buf []byte
	err error
}

// NewReader reads p.
func NewReader(p []byte) *Reader { return &Reader{buf: p} }

// Err is the first error met.
func (r *Reader) Err() error { return r.err }

// Len is the number of bytes not yet read.
func (r *Reader) Len() int { return len(r.buf) }

// Rest returns the bytes not yet read and consumes them.
func (r *Reader) Rest() []byte {
	if r.err != nil {
		return nil
	}
	p := r.buf
	r.buf = nil
	return p
}

// Fail records an error unless one is recorded already.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Take returns the next n bytes (sharing the frame's memory, capacity capped).
func (r *Reader) Take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf) {
		r.err = fmt.Errorf("truncated: want %d bytes, have %d", n, len(r.buf))
		return nil
	}
	p := r.buf[:n:n]
	r.buf = r.buf[n:]
	return p
}

// Uvarint reads a minimal uvarint no larger than limit.
func (r *Reader) Uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	switch {
	case n <= 0:
		r.err = errors.New("bad uvarint")
		return 0
	case n != uvarintLen(v):
		r.err = errors.New("uvarint not minimal")
		return 0
	case v > limit:
		r.err = fmt.Errorf("value %d over limit %d", v, limit)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// Count reads a uvarint used as a count or length, no larger than limit.
func (r *Reader) Count(limit uint64) int { return int(r.Uvarint(limit)) }

// Bytes reads a length-prefixed field of at most limit bytes.
func (r *Reader) Bytes(limit uint64) []byte { return r.Take(r.Count(limit)) }

// String reads a length-prefixed string of at most limit bytes.
func (r *Reader) String(limit uint64) string { return string(r.Bytes(limit)) }

// U8 reads one byte.
func (r *Reader) U8() byte {
	if p := r.Take(1); p != nil {
		return p[0]
	}
	return 0
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 {
	if p := r.Take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 {
	if p := r.Take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}
