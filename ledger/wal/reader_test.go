package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/baybus/baybus/ledger/wal/waltest"
)

func openReader(t testing.TB, dir string) *Reader {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// scanAll returns the indexes and payloads Scan hands fn.
func scanAll(r *Reader, from, to uint64, want func(uint64) bool) ([]uint64, [][]byte, error) {
	var idx []uint64
	var got [][]byte
	err := r.Scan(from, to, want, func(i uint64, p []byte) error {
		idx = append(idx, i)
		got = append(got, p)
		return nil
	})
	return idx, got, err
}

// copyDir copies the files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestReaderMatchesLog reads a clean log of many segments both ways.
func TestReaderMatchesLog(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 200}
	l := open(t, dir, opts)
	var all [][]byte
	for i, shape := range [][]int{{100}, {10, 20, 30}, {0}, {300}, {5}, {50, 50, 50, 50, 50}, {1}, {70, 7}, {120}} {
		batch := make([][]byte, len(shape))
		for j, n := range shape {
			batch[j] = rec(i*10+j, n)
		}
		appendT(t, l, batch...)
		all = append(all, batch...)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) < 5 {
		t.Fatalf("%d segments, want several", len(ents))
	}
	n := uint64(len(all))
	waltest.Unchanged(t, dir, func() {
		r := openReader(t, dir)
		if r.FirstIndex() != 1 || r.LastIndex() != n || r.Torn() != nil {
			t.Fatalf("reader holds %d..%d, torn %v; want 1..%d", r.FirstIndex(), r.LastIndex(), r.Torn(), n)
		}
		for _, span := range [][2]uint64{{1, n}, {0, 1 << 60}, {3, 9}, {n, n}, {n - 1, n + 5}, {5, 4}, {n + 1, n + 9}} {
			idx, got, err := scanAll(r, span[0], span[1], nil)
			if err != nil {
				t.Fatalf("%v: %v", span, err)
			}
			from, to := max(span[0], 1), min(span[1], n)
			var want []uint64
			for i := from; i <= to; i++ {
				want = append(want, i)
			}
			if !slices.Equal(idx, want) {
				t.Fatalf("%v: scanned %v, want %v", span, idx, want)
			}
			for k, i := range idx {
				if !bytes.Equal(got[k], all[i-1]) {
					t.Fatalf("%v: record %d is %x, want %x", span, i, got[k], all[i-1])
				}
			}
		}
		// want picks records; fn owns what it is handed.
		odd := func(i uint64) bool { return i%3 == 1 }
		idx, got, err := scanAll(r, 2, n-1, odd)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for i := uint64(2); i <= n-1; i++ {
			if odd(i) {
				want = append(want, i)
			}
		}
		if !slices.Equal(idx, want) {
			t.Fatalf("want: scanned %v, want %v", idx, want)
		}
		for k := range got {
			for j := range got[k] {
				got[k][j] ^= 0xFF
			}
		}
		_, again, _ := scanAll(r, 2, n-1, odd)
		for k, i := range idx {
			if !bytes.Equal(again[k], all[i-1]) {
				t.Fatalf("record %d changed after fn modified its copy", i)
			}
		}
		// An error from fn stops the scan and comes back as is.
		stop := errors.New("stop")
		calls := 0
		if err := r.Scan(1, n, nil, func(uint64, []byte) error { calls++; return stop }); err != stop || calls != 1 {
			t.Fatalf("Scan returned %v after %d calls, want fn's error after 1", err, calls)
		}
	})

	// After TruncateFront the log starts later; the reader agrees with Open.
	l = open(t, dir, opts)
	if err := l.TruncateFront(6); err != nil {
		t.Fatal(err)
	}
	l.Close()
	waltest.Unchanged(t, dir, func() {
		r := openReader(t, dir)
		if r.FirstIndex() != 6 || r.LastIndex() != n {
			t.Fatalf("after TruncateFront(6): reader holds %d..%d", r.FirstIndex(), r.LastIndex())
		}
		idx, got, err := scanAll(r, 1, n, nil)
		if err != nil || len(idx) != int(n-5) || idx[0] != 6 || !bytes.Equal(got[0], all[5]) {
			t.Fatalf("after TruncateFront(6): scanned %v, %v", idx, err)
		}
	})
}

func TestReaderEmpty(t *testing.T) {
	dir := t.TempDir()
	r := openReader(t, dir) // no segment at all
	if r.FirstIndex() != 1 || r.LastIndex() != 0 || r.Torn() != nil {
		t.Fatalf("empty directory: %d..%d", r.FirstIndex(), r.LastIndex())
	}
	l := open(t, dir, Options{})
	l.Close()
	r = openReader(t, dir) // one empty segment
	if r.FirstIndex() != 1 || r.LastIndex() != 0 || r.Torn() != nil {
		t.Fatalf("new log: %d..%d", r.FirstIndex(), r.LastIndex())
	}
	if err := r.Scan(0, 10, nil, func(uint64, []byte) error { t.Fatal("fn called"); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReader(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("OpenReader created the directory")
	}
}

// TestReaderTornTail crashes the last Append at every byte: the reader ends
// the log where Open would cut it, reports the torn tail, and cuts nothing.
func TestReaderTornTail(t *testing.T) {
	base := t.TempDir()
	opts := Options{SegmentSize: 200}
	l := open(t, base, opts)
	var all [][]byte
	for i := range 7 {
		all = append(all, rec(i, 30+i))
		appendT(t, l, all[i])
	}
	l.Close()
	before := snapshot(t, base)
	last := [][]byte{rec(100, 40), rec(101, 3), rec(102, 60)}
	l = open(t, base, opts)
	appendT(t, l, last...)
	l.Close()
	ws := writesBetween(t, before, snapshot(t, base))
	total, ends := 0, []int{}
	for _, r := range last {
		total += entrySize(frameHeader + len(r))
		ends = append(ends, total)
	}
	var names []string
	for n := 0; n <= total; n++ {
		names = append(names, fmt.Sprint(n))
	}
	runAll(t, names, func(t *testing.T, n int) {
		work := t.TempDir()
		torn(before, ws, n).restore(t, work)
		whole, kept := len(all), 0
		for _, e := range ends {
			if e <= n {
				whole, kept = whole+1, e
			}
		}
		var r *Reader
		waltest.Unchanged(t, work, func() {
			r = openReader(t, work)
			if _, _, err := scanAll(r, 1, 1<<60, nil); err != nil {
				t.Fatal(err)
			}
		})
		if r.LastIndex() != uint64(whole) {
			t.Fatalf("after %d bytes: last index %d, want %d", n, r.LastIndex(), whole)
		}
		tornBytes := n - kept
		if (r.Torn() != nil) != (tornBytes > 0) {
			t.Fatalf("after %d bytes: torn %v, want %d torn bytes", n, r.Torn(), tornBytes)
		}
		idx, got, err := scanAll(r, 1, 1<<60, nil)
		if err != nil || len(idx) != whole || !bytes.Equal(got[len(got)-1], append(slices.Clone(all), last...)[whole-1]) {
			t.Fatalf("after %d bytes: scanned %d records, %v", n, len(idx), err)
		}
		if tornBytes == 0 {
			return
		}
		tt := r.Torn()
		if tt.Index != uint64(whole+1) || !errors.Is(tt, ErrCorrupt) {
			t.Fatalf("after %d bytes: torn tail %v, want it at record %d", n, tt, whole+1)
		}
		// Open cuts exactly there.
		l, err := Open(work, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		st := l.Stats()
		fi, err := os.Stat(filepath.Join(work, tt.Segment))
		if err != nil {
			t.Fatal(err)
		}
		if st.TornTails != 1 || st.TornBytes != uint64(tornBytes) || l.LastIndex() != r.LastIndex() || fi.Size() != tt.Offset {
			t.Fatalf("after %d bytes: Open cut %d bytes to %d (%s is %d bytes); reader said %v",
				n, st.TornBytes, l.LastIndex(), tt.Segment, fi.Size(), tt)
		}
		if !strings.Contains(tt.Error(), fmt.Sprintf("(%d bytes from there on)", tornBytes)) {
			t.Fatalf("torn tail %q does not say how many bytes", tt)
		}
	})
}

// TestReaderCorruption flips every byte of chosen records, as TestCorruption
// does, and checks that the reader classifies each as Open (and Read) do,
// without changing the directory.
func TestReaderCorruption(t *testing.T) {
	clean, opts, all := corruptionLog(t)
	flipEach(t, clean, func(t *testing.T, tc corruptionCase, work, what string, first bool) {
		var (
			r       *Reader
			err     error
			scanErr error
		)
		waltest.Unchanged(t, work, func() {
			if r, err = OpenReader(work); err == nil {
				_, _, scanErr = scanAll(r, 1, 1<<60, nil)
			}
		})
		// What Open says of the same damage, on a copy.
		cp := copyDir(t, work)
		l, openErr := Open(cp, opts)
		if openErr == nil {
			defer l.Close()
		}
		var ce *CorruptError
		switch {
		case tc.atOpen:
			if !errors.As(err, &ce) || ce.Index != tc.index {
				t.Fatalf("%s: OpenReader returned %v, want ErrCorrupt at %d", what, err, tc.index)
			}
			if openErr == nil || openErr.Error() != err.Error() {
				t.Fatalf("%s: OpenReader returned %v, Open %v", what, err, openErr)
			}
		default:
			if err != nil || r.Torn() != nil || r.LastIndex() != uint64(len(all)) {
				t.Fatalf("%s: OpenReader: %v, torn %v", what, err, r.Torn())
			}
			if !errors.As(scanErr, &ce) || ce.Index != tc.index || !errors.Is(scanErr, ErrCorrupt) {
				t.Fatalf("%s: Scan returned %v, want ErrCorrupt at %d", what, scanErr, tc.index)
			}
			if openErr != nil {
				t.Fatalf("%s: Open: %v", what, openErr)
			}
			if _, err := l.Read(tc.index); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: Read returned %v, Scan %v", what, err, scanErr)
			}
			// The damaged record, not asked for, is skipped unread
			// (unless the damage is in its length, which Scan must
			// read to skip it).
			notIt := func(i uint64) bool { return i != tc.index }
			idx, _, err := scanAll(r, 1, 1<<60, notIt)
			if !first && (err != nil || len(idx) != len(all)-1) {
				t.Fatalf("%s: Scan without it: %d records, %v", what, len(idx), err)
			}
			if idx, _, err := scanAll(r, tc.index+1, 1<<60, nil); !first && (err != nil || len(idx) != len(all)-int(tc.index)) {
				t.Fatalf("%s: Scan from %d: %d records, %v", what, tc.index+1, len(idx), err)
			}
		}
	})
}

// TestReaderSegments checks what only the reader checks: segments must
// follow each other exactly.
func TestReaderSegments(t *testing.T) {
	build := twelveRecords
	entry := entrySize(frameHeader + 30)
	t.Run("segment missing", func(t *testing.T) {
		dir, _ := build(t)
		os.Remove(filepath.Join(dir, segmentName(4)))
		r := openReader(t, dir)
		_, _, err := scanAll(r, 1, 12, nil)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Index != 4 || ce.Segment != segmentName(1) {
			t.Fatalf("Scan over a missing segment: %v", err)
		}
		// Records after the gap are still there to read.
		if idx, _, err := scanAll(r, 7, 12, nil); err != nil || len(idx) != 6 {
			t.Fatalf("Scan after the gap: %v %v", idx, err)
		}
	})
	t.Run("segment short", func(t *testing.T) {
		dir, _ := build(t)
		os.Truncate(filepath.Join(dir, segmentName(4)), int64(2*entry))
		_, _, err := scanAll(openReader(t, dir), 1, 12, nil)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Index != 6 || ce.Offset != int64(2*entry) {
			t.Fatalf("Scan over a short segment: %v", err)
		}
	})
	t.Run("segment long", func(t *testing.T) {
		dir, _ := build(t)
		seg := filepath.Join(dir, segmentName(4))
		b, _ := os.ReadFile(seg)
		next, _ := os.ReadFile(filepath.Join(dir, segmentName(7)))
		os.WriteFile(seg, append(b, next[:entry]...), 0o640)
		r := openReader(t, dir)
		if _, _, err := scanAll(r, 4, 6, nil); err != nil {
			t.Fatalf("Scan inside the segment: %v", err)
		}
		_, _, err := scanAll(r, 1, 12, nil)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Index != 7 || ce.Segment != segmentName(4) {
			t.Fatalf("Scan over a segment that runs into the next: %v", err)
		}
	})
	t.Run("record in the wrong place", func(t *testing.T) {
		dir, _ := build(t)
		seg := filepath.Join(dir, segmentName(4))
		b, _ := os.ReadFile(seg)
		os.WriteFile(seg, slices.Concat(b[entry:2*entry], b[:entry], b[2*entry:]), 0o640)
		_, _, err := scanAll(openReader(t, dir), 1, 12, nil)
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errIndex) {
			t.Fatalf("Scan over swapped records: %v", err)
		}
	})
}

// TestReaderInterruptedTruncation: the files of an interrupted truncation
// are refused, not finished; those of one that crashed before its rename
// are ignored, as tidwall ignores them.
func TestReaderInterruptedTruncation(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentSize: 150})
	for i := range 8 {
		appendT(t, l, rec(i, 30))
	}
	l.Close()
	for _, suffix := range []string{".START.TEMP", ".END.TEMP"} {
		name := filepath.Join(dir, segmentName(4)+suffix)
		os.WriteFile(name, []byte("partial"), 0o640)
		waltest.Unchanged(t, dir, func() {
			if r := openReader(t, dir); r.LastIndex() != 8 {
				t.Fatalf("with %s: last index %d", suffix, r.LastIndex())
			}
		})
		os.Remove(name)
	}
	for _, suffix := range []string{".START", ".END"} {
		name := filepath.Join(dir, segmentName(4)+suffix)
		os.WriteFile(name, nil, 0o640)
		waltest.Unchanged(t, dir, func() {
			if _, err := OpenReader(dir); !errors.Is(err, ErrTruncating) || !strings.Contains(err.Error(), segmentName(4)+suffix) {
				t.Fatalf("with %s: %v, want ErrTruncating naming the file", suffix, err)
			}
		})
		os.Remove(name)
	}
}

// TestReaderSeesSnapshot: records appended after OpenReader are not seen.
func TestReaderSeesSnapshot(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendT(t, l, []byte("one"), []byte("two"))
	r := openReader(t, dir)
	appendT(t, l, []byte("three"))
	idx, got, err := scanAll(r, 1, 10, nil)
	if err != nil || !slices.Equal(idx, []uint64{1, 2}) || string(got[1]) != "two" {
		t.Fatalf("scanned %v %q %v", idx, got, err)
	}
}

// FuzzReaderTail checks that OpenReader, which streams the last segment,
// judges any segment exactly as scanTail (Open's rule) does.
func FuzzReaderTail(f *testing.F) {
	s := newSeg(3).batch("a").batch("bb", "ccc")
	three := newSeg(1).batch("a").batch("bb").batch("ccc")
	f.Add(s.buf, uint64(3))
	f.Add(s.buf[:len(s.buf)-2], uint64(3))
	f.Add(s.flip(0, 4), uint64(3))
	f.Add(s.flip(1, 0), uint64(3))
	f.Add(three.flip(1, 0), uint64(1))
	f.Add(three.flip(1, 1+frameHeader), uint64(1))
	f.Add(three.buf, uint64(2))
	f.Add(append(bytes.Clone(s.buf), make([]byte, 40)...), uint64(3))
	f.Add(append(bytes.Clone(three.buf), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02), uint64(1))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, uint64(1))
	f.Fuzz(func(t *testing.T, seg []byte, first uint64) {
		first = first%1_000_000 + 1
		dir := t.TempDir()
		name := segmentName(first)
		if err := os.WriteFile(filepath.Join(dir, name), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		want := scanTail(seg, 0, first)
		r, err := OpenReader(dir)
		if want.corrupt {
			if wantErr := want.corruption(name, int64(want.good)); err == nil || err.Error() != wantErr.Error() {
				t.Fatalf("OpenReader returned %v, want %v", err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.FirstIndex() != first || r.LastIndex() != want.next-1 {
			t.Fatalf("reader holds %d..%d, want %d..%d", r.FirstIndex(), r.LastIndex(), first, want.next-1)
		}
		if tt := r.Torn(); (tt != nil) != (want.bad != nil) || tt != nil && (tt.Index != want.next || tt.Offset != int64(want.good) || !errors.Is(tt, want.bad)) {
			t.Fatalf("torn %v, want %+v", tt, want)
		}
		idx, _, err := scanAll(r, 0, 1<<62, nil)
		if err != nil || len(idx) != int(want.next-first) {
			t.Fatalf("scanned %d records, %v; want %d", len(idx), err, want.next-first)
		}
	})
}
