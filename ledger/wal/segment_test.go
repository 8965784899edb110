package wal

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
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
	// Records that cross sector boundaries: 700 and 1,300 bytes, in
	// entries at 23..746 and 746..2069.
	big := newSeg(1).batch("a").batch(strings.Repeat("x", 700)).batch(strings.Repeat("y", 1300))
	lastSector := func(s *segBuilder, from int) []byte {
		b := bytes.Clone(s.buf)
		clear(b[from:])
		return b
	}
	for _, tc := range []struct {
		name    string
		seg     []byte
		base    int64
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
		{name: "last cut by 7 bytes", seg: big.buf[:len(big.buf)-7], first: 1, good: big.starts[2], next: 3, bad: errTorn},
		{name: "last is length byte only", seg: three.buf[:three.starts[2]+1], first: 10, good: three.starts[2], next: 12, bad: errTorn},
		{name: "zeros after", seg: append(bytes.Clone(three.buf), make([]byte, 300)...), first: 10, good: len(three.buf), next: 13, bad: errShort},
		{name: "last sector of last record unwritten", seg: lastSector(big, 1536), first: 1, good: big.starts[2], next: 3, bad: errChecksum},
		{name: "last two sectors of last record unwritten", seg: lastSector(big, 1024), first: 1, good: big.starts[2], next: 3, bad: errChecksum},
		{name: "middle sector of last record unwritten", seg: func() []byte { b := bytes.Clone(big.buf); clear(b[1024:1536]); return b }(), first: 1, good: big.starts[2], next: 3, bad: errChecksum},
		{name: "last record's sector unwritten, at an offset", seg: lastSector(big, 1536-100), base: 100, first: 1, good: big.starts[2], next: 3, bad: errChecksum},
		// A whole record that fails its checks was written and then
		// damaged: corruption, wherever it is.
		{name: "corrupt last payload", seg: three.flip(2, 1+frameHeader), first: 10, good: three.starts[2], next: 12, bad: errChecksum, corrupt: true},
		{name: "corrupt last magic", seg: three.flip(2, 1), first: 10, good: three.starts[2], next: 12, bad: errMagic, corrupt: true},
		{name: "corrupt last of big records", seg: big.flip(2, 900), first: 1, good: big.starts[2], next: 3, bad: errChecksum, corrupt: true},
		{name: "zeros not on a sector boundary", seg: func() []byte { b := bytes.Clone(big.buf); clear(b[1537:2048]); return b }(), first: 1, good: big.starts[2], next: 3, bad: errChecksum, corrupt: true},
		{name: "garbage after", seg: append(bytes.Clone(three.buf), "\x05garbage"...), first: 10, good: len(three.buf), next: 13, bad: errShort, corrupt: true},
		{name: "segment named after the wrong index", seg: three.buf, first: 11, good: 0, next: 11, bad: errIndex, corrupt: true},
		{name: "corrupt middle payload", seg: three.flip(1, 1+frameHeader), first: 10, good: three.starts[1], next: 11, bad: errChecksum, corrupt: true},
		{name: "corrupt first", seg: three.flip(0, 3), first: 10, good: 0, next: 10, bad: errChecksum, corrupt: true},
		{name: "corrupt inside last batch", seg: batched.flip(1, 1+frameHeader), first: 10, good: batched.starts[1], next: 11, bad: errChecksum, corrupt: true},
		{name: "corrupt first of last batch", seg: batched.flip(1, 5), first: 10, good: batched.starts[1], next: 11, bad: errChecksum, corrupt: true},
		// Torn-looking damage before a record that shows it had been
		// fsynced is corruption too.
		{name: "corrupt middle length", seg: three.flip(1, 0), first: 10, good: three.starts[1], next: 11, bad: errTorn, corrupt: true, witness: 12},
		{name: "unwritten sector before a later Append", seg: func() []byte { b := bytes.Clone(big.buf); clear(b[512:big.starts[2]]); return b }(), first: 1, good: big.starts[1], next: 2, bad: errChecksum, corrupt: true, witness: 3},
		// Inside the last Append nothing was acknowledged: a sector the disk
		// wrote out of order leaves the ones before it unwritten.
		{name: "unwritten sector inside last batch", seg: func() []byte {
			s := newSeg(1).batch("a").batch(strings.Repeat("x", 700), "z")
			b := bytes.Clone(s.buf)
			clear(b[512:s.starts[2]])
			return b
		}(), first: 1, good: 23, next: 2, bad: errChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := scanTail(tc.seg, tc.base, tc.first)
			if s.good != tc.good || s.next != tc.next {
				t.Errorf("good %d next %d, want %d %d", s.good, s.next, tc.good, tc.next)
			}
			if !errors.Is(s.bad, tc.bad) || (s.bad == nil) != (tc.bad == nil) {
				t.Errorf("bad %v, want %v", s.bad, tc.bad)
			}
			if s.corrupt != tc.corrupt || s.witness != tc.witness {
				t.Errorf("corrupt %v witness %d, want %v %d", s.corrupt, s.witness, tc.corrupt, tc.witness)
			}
		})
	}
}

// TestScanTailEveryFlip flips every byte of every record of a segment: a
// flipped byte leaves a whole record that fails its checks, which is always
// corruption. Only a flip that lengthens the last Append's entry past the
// end of the segment looks torn and is cut; the same before a later Append
// is corruption. Nothing before the damage is ever lost.
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
				got := scanTail(s.flip(r, at), 0, 1)
				if got.good != s.starts[r] || got.next != uint64(r+1) || got.bad == nil {
					t.Fatalf("good %d next %d bad %v, want %d %d and a reason", got.good, got.next, got.bad, s.starts[r], r+1)
				}
				// Each entry's length is under 64: the flip adds 64 to it,
				// past the end of the segment from the last Append on.
				if want := r < lastBatch || at != 0; got.corrupt != want {
					t.Fatalf("corrupt %v, want %v", got.corrupt, want)
				}
			})
		}
	}
}

// FuzzScanTail checks that scanTail never panics, keeps only what rescans
// whole, cuts nothing from a whole segment, and calls corrupt only a whole
// entry or damage followed by a witness.
func FuzzScanTail(f *testing.F) {
	s := newSeg(3).batch("a").batch("bb", "ccc")
	f.Add(s.buf, uint64(3), uint16(0))
	f.Add(s.buf[:len(s.buf)-2], uint64(3), uint16(0))
	f.Add(s.flip(0, 4), uint64(3), uint16(0))
	f.Add(s.flip(1, 0), uint64(3), uint16(500))
	f.Add(append(bytes.Clone(s.buf), make([]byte, 40)...), uint64(3), uint16(0))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, uint64(1), uint16(0))
	f.Fuzz(func(t *testing.T, seg []byte, first uint64, base uint16) {
		got := scanTail(seg, int64(base), first)
		if got.good < 0 || got.good > len(seg) {
			t.Fatalf("good %d outside 0..%d", got.good, len(seg))
		}
		if (got.bad == nil) != (got.good == len(seg)) {
			t.Fatalf("bad %v with good %d of %d", got.bad, got.good, len(seg))
		}
		if got.corrupt && got.bad == nil {
			t.Fatal("corruption reported in a whole segment")
		}
		if got.corrupt && got.witness == 0 {
			if _, _, ok := nextEntry(seg[got.good:]); !ok {
				t.Fatal("a short entry reported as corruption without a witness")
			}
		}
		again := scanTail(seg[:got.good], int64(base), first)
		if again.bad != nil || again.next != got.next {
			t.Fatalf("kept prefix rescans as bad %v next %d, want whole with next %d", again.bad, again.next, got.next)
		}
	})
}

func TestUnwrittenSector(t *testing.T) {
	data := bytes.Repeat([]byte{1}, 1200)
	for _, tc := range []struct {
		name  string
		at    int64
		zero  [2]int // bytes of data set to zero
		wantT bool
	}{
		{"none", 0, [2]int{}, false},
		{"whole middle sector", 0, [2]int{512, 1024}, true},
		{"tail from a boundary", 0, [2]int{1024, 1200}, true},
		{"tail from past a boundary", 0, [2]int{1025, 1200}, false},
		{"head up to a boundary", 312, [2]int{0, 200}, true},
		{"head short of a boundary", 312, [2]int{0, 199}, false},
		{"almost a sector", 0, [2]int{513, 1024}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := bytes.Clone(data)
			clear(d[tc.zero[0]:tc.zero[1]])
			if got := unwrittenSector(d, tc.at); got != tc.wantT {
				t.Fatalf("unwrittenSector = %v, want %v", got, tc.wantT)
			}
		})
	}
	if !unwrittenSector(nil, 7) {
		t.Fatal("an empty entry is not torn")
	}
}
