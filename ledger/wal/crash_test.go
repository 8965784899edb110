package wal

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/baybus/baybus/ledger/wal/waltest"
)

// dirState is the content of a log directory: file name to bytes.
type dirState map[string][]byte

func snapshot(t testing.TB, dir string) dirState {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := dirState{}
	for _, e := range ents {
		if s[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s dirState) restore(t testing.TB, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	for name, b := range s {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// write is what one Append added to one segment file.
type write struct {
	name string
	at   int // offset in the file
	b    []byte
}

// writesBetween returns, in the order tidwall makes them, the writes that
// turned before into after: the old tail grows, then new segments follow.
func writesBetween(t testing.TB, before, after dirState) []write {
	t.Helper()
	var ws []write
	for _, name := range slices.Sorted(maps.Keys(after)) {
		old, b := before[name], after[name]
		if !bytes.HasPrefix(b, old) {
			t.Fatalf("%s was rewritten, not appended to", name)
		}
		if len(b) > len(old) || old == nil {
			ws = append(ws, write{name, len(old), b[len(old):]})
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			t.Fatalf("%s disappeared", name)
		}
	}
	return ws
}

// torn is the directory after a crash that let only the first n bytes of ws
// reach the disk. A new file exists once the writes before it are complete.
func torn(before dirState, ws []write, n int) dirState {
	s := maps.Clone(before)
	for _, w := range ws {
		if n < 0 {
			break
		}
		k := min(n, len(w.b))
		s[w.name] = append(bytes.Clone(s[w.name]), w.b[:k]...)
		n -= len(w.b)
		if k < len(w.b) {
			break
		}
	}
	return s
}

// TestCrashAtEveryByte simulates a crash at every byte of every Append of a
// log that crosses segment boundaries, inside and between batches. After each
// crash the log must open, hold every record of the Appends that returned and
// a prefix of the interrupted one's records (whole ones only), count what it
// cut, accept the next Append, and reopen clean.
func TestCrashAtEveryByte(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	opts := Options{SegmentSize: 160}
	l := open(t, dir, opts)
	states := []dirState{snapshot(t, dir)}
	counts := []int{0} // records in the log after each Append
	var all [][]byte
	for _, shape := range [][]int{{5}, {0, 17}, {40}, {3, 3, 3}, {90}, {1}, {60, 2, 30}, {200}, {7}} {
		batch := make([][]byte, len(shape))
		for j, n := range shape {
			batch[j] = rec(len(all)+j, n)
		}
		appendT(t, l, batch...)
		all = append(all, batch...)
		counts = append(counts, len(all))
		states = append(states, snapshot(t, dir))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(states[len(states)-1]) < 4 {
		t.Fatalf("only %d segments: the test wants rollovers", len(states[len(states)-1]))
	}

	type job struct{ k, from, to int } // crash inside Append k after from..to-1 bytes
	var (
		jobs  []job
		names []string
		ws    = make([][]write, len(states))
		ends  = make([][]int, len(states)) // where each record of Append k ends in its bytes
	)
	for k := 1; k < len(states); k++ {
		ws[k] = writesBetween(t, states[k-1], states[k])
		total := 0
		for _, r := range all[counts[k-1]:counts[k]] {
			total += entrySize(frameHeader + len(r))
			ends[k] = append(ends[k], total)
		}
		written := 0
		for _, w := range ws[k] {
			written += len(w.b)
		}
		if written != total {
			t.Fatalf("append %d wrote %d bytes, want %d", k, written, total)
		}
		for from := 0; from <= total; from += 40 {
			jobs = append(jobs, job{k, from, min(from+40, total+1)})
			names = append(names, fmt.Sprintf("append%d/bytes%d-%d", k, from, min(from+40, total+1)-1))
		}
	}
	extra := []byte("after the crash")
	runAll(t, names, func(t *testing.T, i int) {
		k, work := jobs[i].k, t.TempDir()
		for n := jobs[i].from; n < jobs[i].to; n++ {
			whole, kept := counts[k-1], 0 // records and bytes of Append k that made it whole
			for _, e := range ends[k] {
				if e <= n {
					whole, kept = whole+1, e
				}
			}
			tornBytes := n - kept
			torn(states[k-1], ws[k], n).restore(t, work)

			l, err := Open(work, opts)
			if err != nil {
				t.Fatalf("crash after %d bytes: %v", n, err)
			}
			st := l.Stats()
			if want := uint64(tornBytes); st.TornBytes != want || (st.TornTails == 1) != (want > 0) {
				t.Fatalf("crash after %d bytes: stats %+v, want %d torn bytes", n, st, want)
			}
			wantRecords(t, l, 1, all[:whole])
			// Going on after the crash costs four fsyncs: check it at every
			// record boundary, one byte into a record and a sample between.
			if tornBytes > 1 && n%8 != 0 {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			appendT(t, l, extra)
			checkTail(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = Open(work, opts)
			if err != nil {
				t.Fatal(err)
			}
			if st := l.Stats(); st.TornTails != 0 {
				t.Fatalf("second open after crash cut again: %+v", st)
			}
			wantRecords(t, l, 1, append(slices.Clone(all[:whole]), extra))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// runAll runs fn(t, i) as subtests named names[i], all at once. The work
// waits on fsync rather than the CPU, so running more at a time than
// t.Parallel would (GOMAXPROCS) pays: the file system commits concurrent
// fsyncs together.
func runAll(t *testing.T, names []string, fn func(t *testing.T, i int)) {
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { t.Run(name, func(t *testing.T) { fn(t, i) }) })
	}
	wg.Wait()
}

// recordAt returns the segment file holding record index and the byte range
// of its entry.
func recordAt(t testing.TB, dir string, index uint64) (path string, start, end int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(b); {
			data, n, ok := nextEntry(b[off:])
			if !ok {
				t.Fatalf("%s: broken entry at %d", path, off)
			}
			if f, _, err := decodeFrame(data); err == nil && f.index == index {
				return path, off, off + n
			}
			off += n
		}
	}
	t.Fatalf("record %d not found in %s", index, dir)
	return "", 0, 0
}

func flipByte(t testing.TB, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x10
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// corruptionCase is a record whose every byte TestCorruption and
// TestReaderCorruption flip, and where the damage must be found. A flipped
// byte leaves a whole record that fails its checks: corruption even in the
// last record (the flip of 0x10 shortens each record's length, so the entry
// stays whole).
type corruptionCase struct {
	name   string
	index  uint64
	atOpen bool // corruption found when the log is opened (true) or read (false)
}

var corruptionCases = []corruptionCase{
	{name: "last record", index: 11, atOpen: true},
	{name: "middle of last Append", index: 10, atOpen: true},
	{name: "first of last Append", index: 9, atOpen: true},
	{name: "last segment, before the last Append", index: 8, atOpen: true},
	{name: "last segment, first record", index: 6, atOpen: true},
	{name: "older segment, last record", index: 5},
	{name: "older segment, first record", index: 1},
}

// flipEach runs check once for every byte of each case's record, flipped
// in a fresh copy (work) of the clean log, one subtest per case; first says
// the byte is the record's first (its length).
func flipEach(t *testing.T, clean dirState, check func(t *testing.T, tc corruptionCase, work, what string, first bool)) {
	var names []string
	for _, tc := range corruptionCases {
		names = append(names, tc.name)
	}
	runAll(t, names, func(t *testing.T, i int) {
		tc, work := corruptionCases[i], t.TempDir()
		clean.restore(t, work)
		path, start, end := recordAt(t, work, tc.index)
		for at := start; at < end; at++ {
			clean.restore(t, work)
			flipByte(t, path, at)
			check(t, tc, work, fmt.Sprintf("record %d byte %d", tc.index, at-start), at == start)
		}
	})
}

// corruptionLog writes the log the corruption tests damage and returns it
// as a snapshot, with its options and records: 8 Appends of one 40-byte
// record (62-byte entries) fill segment 1 with 1..5 and start segment 6
// with 6, 7, 8; the last Append adds 9..11.
func corruptionLog(t *testing.T) (dirState, Options, [][]byte) {
	t.Helper()
	opts := Options{SegmentSize: 300}
	base := filepath.Join(t.TempDir(), "base")
	l := open(t, base, opts)
	var all [][]byte
	for i := range 8 {
		all = append(all, rec(i, 40))
		appendT(t, l, all[i])
	}
	all = append(all, rec(8, 5), rec(9, 6), rec(10, 7))
	appendT(t, l, all[8:]...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clean := snapshot(t, base)
	if _, ok := clean[segmentName(6)]; !ok || len(clean) != 2 {
		t.Fatalf("segments %v, want 1 and 6", slices.Sorted(maps.Keys(clean)))
	}
	return clean, opts, all
}

// TestCorruption flips every byte of chosen records, the last one included:
// the damage is ErrCorrupt naming the record, at Open (last segment, which
// Open then leaves as it found it) or at Read (older segments), and never
// silently dropped or cut.
func TestCorruption(t *testing.T) {
	clean, opts, all := corruptionLog(t)
	flipEach(t, clean, func(t *testing.T, tc corruptionCase, work, what string, _ bool) {
		var l *Log
		var err error
		if tc.atOpen {
			waltest.Unchanged(t, work, func() { l, err = Open(work, opts) })
		} else {
			l, err = Open(work, opts)
		}
		switch {
		case tc.atOpen:
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Index != tc.index {
				t.Fatalf("%s: Open returned %v, want ErrCorrupt at %d", what, err, tc.index)
			}
		default:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			_, err := l.Read(tc.index)
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Index != tc.index {
				t.Fatalf("%s: Read returned %v, want ErrCorrupt at %d", what, err, tc.index)
			}
			if l.Stats().Corrupt != 1 {
				t.Fatalf("%s: corrupt read not counted", what)
			}
			// The records of the last segment are untouched.
			for j := uint64(6); j <= uint64(len(all)); j++ {
				if got, err := l.Read(j); err != nil || !bytes.Equal(got, all[j-1]) {
					t.Fatalf("%s: Read(%d) = %x, %v", what, j, got, err)
				}
			}
			l.Close()
		}
	})
}

// TestReadChecksIndex swaps two records of an older segment: each is intact,
// but in the wrong place.
func TestReadChecksIndex(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 200}
	l := open(t, dir, opts)
	for i := range 8 {
		appendT(t, l, rec(i, 40))
	}
	l.Close()
	path, s1, e1 := recordAt(t, dir, 1)
	_, s2, e2 := recordAt(t, dir, 2)
	b, _ := os.ReadFile(path)
	swapped := slices.Concat(b[s2:e2], b[s1:e1], b[e2:])
	os.WriteFile(path, swapped, 0o640)
	l = open(t, dir, opts)
	_, err := l.Read(1)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errIndex) {
		t.Fatalf("Read(1) = %v, want ErrCorrupt for the wrong index", err)
	}
}

// TestCrashAfter drives the decorator through its three kinds of crash.
func TestCrashAfter(t *testing.T) {
	recs := [][]byte{[]byte("block 1"), []byte("block 2"), []byte("block 3")}
	crashing := [][]byte{[]byte("block 4"), []byte("block 5")}
	size := 2 * entrySize(frameHeader+7)
	for _, tc := range []struct {
		name string
		keep int
		want int // records of the crashing Append found after reopening
		torn bool
	}{
		{"before write", 0, 0, false},
		{"torn first record", 5, 0, true},
		{"torn second record", size/2 + 3, 1, true},
		{"all written", KeepAll, 2, false},
		{"exactly all", size, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := CrashAfter(open(t, dir, Options{}), len(recs), tc.keep)
			var w Appender = c
			for i, r := range recs {
				if first, err := w.Append(r); err != nil || first != uint64(i+1) {
					t.Fatalf("Append %d = %d, %v", i, first, err)
				}
			}
			if _, err := w.Append(crashing...); !errors.Is(err, ErrInjected) {
				t.Fatalf("crashing Append: %v, want ErrInjected", err)
			}
			if _, err := w.Append(crashing...); !errors.Is(err, ErrClosed) {
				t.Fatalf("Append after the crash: %v, want ErrClosed", err)
			}
			if _, err := c.Read(1); !errors.Is(err, ErrClosed) {
				t.Fatalf("Read after the crash: %v, want ErrClosed", err)
			}
			l := open(t, dir, Options{})
			wantRecords(t, l, 1, append(slices.Clone(recs), crashing[:tc.want]...))
			if got := l.Stats().TornTails == 1; got != tc.torn {
				t.Fatalf("torn tail cut: %v, want %v", got, tc.torn)
			}
		})
	}
}

// TestTornOrCorruptLastRecord damages the last record of a log the ways
// issue 13 lists: a tail cut short or left zero-filled by a crash is torn
// (Open cuts it, OpenReader reports it), while a flipped byte in the whole
// last record is corruption that Open refuses without cutting anything.
func TestTornOrCorruptLastRecord(t *testing.T) {
	base := filepath.Join(t.TempDir(), "base")
	l := open(t, base, Options{})
	var all [][]byte
	for i := range 4 {
		all = append(all, rec(i, 300+400*i)) // the last one crosses sectors
		appendT(t, l, all[i])
	}
	l.Close()
	clean := snapshot(t, base)
	seg := segmentName(1)
	size := len(clean[seg])
	last := entrySize(frameHeader + len(all[3]))
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		at      uint64 // the record torn or corrupt
		corrupt bool
	}{
		{"cut 7 bytes", func(b []byte) []byte { return b[:len(b)-7] }, 4, false},
		{"last sector unwritten", func(b []byte) []byte { clear(b[len(b)/sectorSize*sectorSize:]); return b }, 4, false},
		{"last record zero-filled", func(b []byte) []byte { clear(b[len(b)-last:]); return b }, 4, false},
		{"cut and zero-filled", func(b []byte) []byte {
			b = b[:len(b)-7]
			clear(b[len(b)/sectorSize*sectorSize:])
			return append(b, 0, 0, 0)
		}, 4, false},
		{"zeros after the last record", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, 5, false},
		{"flipped byte", func(b []byte) []byte { b[len(b)-10] ^= 0x01; return b }, 4, true},
		{"flipped byte in the frame header", func(b []byte) []byte { _, s, _ := recordAtBytes(t, b, 4); b[s+5] ^= 0x80; return b }, 4, true},
		{"garbage after the last record", func(b []byte) []byte { return append(b, "\x04oops"...) }, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := filepath.Join(t.TempDir(), "log")
			damaged := maps.Clone(clean)
			damaged[seg] = tc.damage(bytes.Clone(clean[seg]))
			damaged.restore(t, work)

			var r *Reader
			var rerr error
			waltest.Unchanged(t, work, func() { r, rerr = OpenReader(work) })
			var l *Log
			var err error
			if tc.corrupt {
				waltest.Unchanged(t, work, func() { l, err = Open(work, Options{}) })
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.Index != tc.at || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open returned %v, want ErrCorrupt at record %d", err, tc.at)
				}
				if rerr == nil || rerr.Error() != err.Error() {
					t.Fatalf("OpenReader returned %v, Open %v", rerr, err)
				}
				return
			}
			if rerr != nil || r.LastIndex() != tc.at-1 || r.Torn() == nil || r.Torn().Index != tc.at {
				t.Fatalf("OpenReader: %v, last %d, torn %v; want a torn tail at %d", rerr, r.LastIndex(), r.Torn(), tc.at)
			}
			if l, err = Open(work, Options{}); err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			kept := size
			if tc.at == 4 {
				kept -= last
			}
			if st := l.Stats(); st.TornTails != 1 || int(st.TornBytes) != len(damaged[seg])-kept {
				t.Fatalf("stats %+v, want %d bytes cut", st, len(damaged[seg])-kept)
			}
			wantRecords(t, l, 1, all[:tc.at-1])
		})
	}
}

// recordAtBytes is recordAt over a segment's bytes.
func recordAtBytes(t testing.TB, b []byte, index uint64) (data []byte, start, end int) {
	t.Helper()
	for off := 0; off < len(b); {
		d, n, ok := nextEntry(b[off:])
		if !ok {
			t.Fatalf("broken entry at %d", off)
		}
		if f, _, err := decodeFrame(d); err == nil && f.index == index {
			return d, off, off + n
		}
		off += n
	}
	t.Fatalf("record %d not found", index)
	return nil, 0, 0
}
