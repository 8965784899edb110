package wal

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// segBuilder writes a segment the way Append does: each record's frame
// carries the durable watermark of its batch.
type segBuilder struct {
	buf     []byte
	next    uint64
	durable uint64
	starts  []int // byte offset of each record
}

func newSeg(first uint64) *segBuilder {
	return &segBuilder{next: first, durable: first - 1}
}

// batch appends one fsynced Append of the given payloads.
func (s *segBuilder) batch(payloads ...string) *segBuilder {
	for _, p := range payloads {
		s.starts = append(s.starts, len(s.buf))
		s.buf = appendEntry(s.buf, appendFrame(nil, s.next, s.durable, []byte(p)))
		s.next++
	}
	s.durable = s.next - 1
	return s
}

func (s *segBuilder) flip(record, at int) []byte {
	b := bytes.Clone(s.buf)
	b[s.starts[record]+at] ^= 0x40
	return b
}

func TestScanTail(t *testing.T) {
	three := newSeg(10).batch("a").batch("bb").batch("ccc")
	batched := newSeg(10).batch("a").batch("bb", "ccc", "dddd")
	for _, tc := range []struct {
		name    string
		seg     []byte
		first   uint64
		good    int
		next    uint64
		bad     error
		corrupt bool
		witness uint64
	}{
		{name: "empty", seg: nil, first: 1, good: 0, next: 1},
		{name: "whole", seg: three.buf, first: 10, good: len(three.buf), next: 13},
		{name: "torn last", seg: three.buf[:len(three.buf)-1], first: 10, good: three.starts[2], next: 12, bad: errTorn},
		{name: "last is length byte only", seg: three.buf[:three.starts[2]+1], first: 10, good: three.starts[2], next: 12, bad: errTorn},
		{name: "corrupt last payload", seg: three.flip(2, 1+frameHeader), first: 10, good: three.starts[2], next: 12, bad: errChecksum},
		{name: "corrupt last magic", seg: three.flip(2, 1), first: 10, good: three.starts[2], next: 12, bad: errMagic},
		{name: "zeros after", seg: append(bytes.Clone(three.buf), make([]byte, 300)...), first: 10, good: len(three.buf), next: 13, bad: errShort},
		{name: "garbage after", seg: append(bytes.Clone(three.buf), "\x05garbage"...), first: 10, good: len(three.buf), next: 13, bad: errShort},
		{name: "segment named after the wrong index", seg: three.buf, first: 11, good: 0, next: 11, bad: errIndex, corrupt: true, witness: 12},
		{name: "corrupt middle payload", seg: three.flip(1, 1+frameHeader), first: 10, good: three.starts[1], next: 11, bad: errChecksum, corrupt: true, witness: 12},
		{name: "corrupt middle length", seg: three.flip(1, 0), first: 10, good: three.starts[1], next: 11, bad: errTorn, corrupt: true, witness: 12},
		{name: "corrupt first", seg: three.flip(0, 3), first: 10, good: 0, next: 10, bad: errChecksum, corrupt: true, witness: 11},
		// Inside the last Append nothing was acknowledged that the disk might
		// not have written out of order: cut.
		{name: "corrupt inside last batch", seg: batched.flip(1, 1+frameHeader), first: 10, good: batched.starts[1], next: 11, bad: errChecksum},
		{name: "corrupt first of last batch", seg: batched.flip(1, 5), first: 10, good: batched.starts[1], next: 11, bad: errChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := scanTail(tc.seg, tc.first)
			if s.good != tc.good || s.next != tc.next {
				t.Errorf("good %d next %d, want %d %d", s.good, s.next, tc.good, tc.next)
			}
			if !errors.Is(s.bad, tc.bad) || (s.bad == nil) != (tc.bad == nil) {
				t.Errorf("bad %v, want %v", s.bad, tc.bad)
			}
			if s.durable != tc.corrupt || s.witness != tc.witness {
				t.Errorf("durable %v witness %d, want %v %d", s.durable, s.witness, tc.corrupt, tc.witness)
			}
		})
	}
}

// TestScanTailEveryFlip flips every byte of every record of a segment: damage
// followed by a later Append is always corruption, damage in the last Append
// always a torn tail, and nothing before the damage is ever lost.
func TestScanTailEveryFlip(t *testing.T) {
	s := newSeg(1).batch("first").batch("", "x").batch("licence 440300").batch("a", "bb", "ccc")
	lastBatch := 4 // records 4..6 (0-based) form the last Append
	for r := range s.starts {
		end := len(s.buf)
		if r+1 < len(s.starts) {
			end = s.starts[r+1]
		}
		for at := 0; at < end-s.starts[r]; at++ {
			t.Run(fmt.Sprintf("record%d/byte%d", r, at), func(t *testing.T) {
				got := scanTail(s.flip(r, at), 1)
				if got.good != s.starts[r] || got.next != uint64(r+1) || got.bad == nil {
					t.Fatalf("good %d next %d bad %v, want %d %d and a reason", got.good, got.next, got.bad, s.starts[r], r+1)
				}
				if want := r < lastBatch; got.durable != want {
					t.Fatalf("durable %v, want %v", got.durable, want)
				}
			})
		}
	}
}

// FuzzScanTail checks that scanTail never panics, keeps only what rescans
// whole, and cuts nothing from a whole segment.
func FuzzScanTail(f *testing.F) {
	s := newSeg(3).batch("a").batch("bb", "ccc")
	f.Add(s.buf, uint64(3))
	f.Add(s.buf[:len(s.buf)-2], uint64(3))
	f.Add(s.flip(0, 4), uint64(3))
	f.Add(s.flip(1, 0), uint64(3))
	f.Add(append(bytes.Clone(s.buf), make([]byte, 40)...), uint64(3))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, uint64(1))
	f.Fuzz(func(t *testing.T, seg []byte, first uint64) {
		got := scanTail(seg, first)
		if got.good < 0 || got.good > len(seg) {
			t.Fatalf("good %d outside 0..%d", got.good, len(seg))
		}
		if (got.bad == nil) != (got.good == len(seg)) {
			t.Fatalf("bad %v with good %d of %d", got.bad, got.good, len(seg))
		}
		if got.durable && got.bad == nil {
			t.Fatal("corruption reported in a whole segment")
		}
		again := scanTail(seg[:got.good], first)
		if again.bad != nil || again.next != got.next {
			t.Fatalf("kept prefix rescans as bad %v next %d, want whole with next %d", again.bad, again.next, got.next)
		}
	})
}
