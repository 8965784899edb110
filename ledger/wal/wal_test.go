package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// rec is a deterministic payload of n bytes for record i.
func rec(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j)
	}
	return b
}

func open(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func appendT(t testing.TB, l *Log, data ...[]byte) uint64 {
	t.Helper()
	first, err := l.Append(data...)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// wantRecords checks that l holds exactly want, starting at index first.
func wantRecords(t testing.TB, l *Log, first uint64, want [][]byte) {
	t.Helper()
	if got, wantLast := l.LastIndex(), first+uint64(len(want))-1; l.FirstIndex() != first || got != wantLast {
		t.Fatalf("log holds %d..%d, want %d..%d", l.FirstIndex(), got, first, wantLast)
	}
	for i, w := range want {
		got, err := l.Read(first + uint64(i))
		if err != nil {
			t.Fatalf("read %d: %v", first+uint64(i), err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("record %d: got %x, want %x", first+uint64(i), got, w)
		}
	}
}

func TestAppendReadReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l := open(t, dir, Options{})
	if got, want := [2]uint64{l.FirstIndex(), l.LastIndex()}, [2]uint64{1, 0}; got != want {
		t.Fatalf("new log holds %v, want %v", got, want)
	}
	if first, err := l.Append(); err != nil || first != 1 {
		t.Fatalf("empty Append = %d, %v; want 1, nil", first, err)
	}
	var want [][]byte
	for i, n := range []int{1, 3, 1, 2} {
		batch := make([][]byte, n)
		for j := range batch {
			batch[j] = rec(len(want)+j, 10*i+j)
		}
		if got := appendT(t, l, batch...); got != uint64(len(want)+1) {
			t.Fatalf("Append returned first %d, want %d", got, len(want)+1)
		}
		want = append(want, batch...)
	}
	wantRecords(t, l, 1, want)
	if _, err := l.Read(0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read(0): %v, want ErrNotFound", err)
	}
	if _, err := l.Read(uint64(len(want) + 1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read past the end: %v, want ErrNotFound", err)
	}
	got, _ := l.Read(2)
	got[0] ^= 0xFF // the caller owns what Read returns
	wantRecords(t, l, 1, want)

	st := l.Stats()
	if st.Appends != 4 || st.Records != 7 || st.Syncs != 4 || st.TornTails != 0 || st.Bytes == 0 || st.StoredBytes != st.Bytes+7*(frameHeader+1) {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, Options{})
	wantRecords(t, l, 1, want)
}

func TestClosed(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	appendT(t, l, []byte("a"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Append":        func() error { _, err := l.Append([]byte("b")); return err }(),
		"Read":          func() error { _, err := l.Read(1); return err }(),
		"Sync":          l.Sync(),
		"TruncateFront": l.TruncateFront(1),
		"TruncateBack":  l.TruncateBack(0),
		"Close":         l.Close(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if l.FirstIndex() != 1 || l.LastIndex() != 1 {
		t.Errorf("indexes after Close %d..%d, want 1..1", l.FirstIndex(), l.LastIndex())
	}
}

func TestTruncate(t *testing.T) {
	const n = 30
	all := make([][]byte, n+1) // n in the log, one to append after

	for i := range all {
		all[i] = rec(i, 20+i)
	}
	for _, tc := range []struct {
		name        string
		op          func(*Log) error
		first, last uint64 // what remains
		err         error
	}{
		{"front to 1 (no-op)", func(l *Log) error { return l.TruncateFront(1) }, 1, n, nil},
		{"front to 2", func(l *Log) error { return l.TruncateFront(2) }, 2, n, nil},
		{"front into older segment", func(l *Log) error { return l.TruncateFront(7) }, 7, n, nil},
		{"front into tail segment", func(l *Log) error { return l.TruncateFront(n - 1) }, n - 1, n, nil},
		{"front to last", func(l *Log) error { return l.TruncateFront(n) }, n, n, nil},
		{"front empties", func(l *Log) error { return l.TruncateFront(n + 1) }, n + 1, n, nil},
		{"front past end", func(l *Log) error { return l.TruncateFront(n + 2) }, 1, n, ErrOutOfRange},
		{"front twice", func(l *Log) error {
			if err := l.TruncateFront(10); err != nil {
				return err
			}
			return l.TruncateFront(9)
		}, 10, n, ErrOutOfRange},
		{"back to last (no-op)", func(l *Log) error { return l.TruncateBack(n) }, 1, n, nil},
		{"back to n-1", func(l *Log) error { return l.TruncateBack(n - 1) }, 1, n - 1, nil},
		{"back into older segment", func(l *Log) error { return l.TruncateBack(5) }, 1, 5, nil},
		{"back to first", func(l *Log) error { return l.TruncateBack(1) }, 1, 1, nil},
		{"back empties", func(l *Log) error { return l.TruncateBack(0) }, 1, 0, nil},
		{"back past end", func(l *Log) error { return l.TruncateBack(n + 1) }, 1, n, ErrOutOfRange},
		{"back then front", func(l *Log) error {
			if err := l.TruncateBack(20); err != nil {
				return err
			}
			return l.TruncateFront(12)
		}, 12, 20, nil},
		{"front then back empties", func(l *Log) error {
			if err := l.TruncateFront(12); err != nil {
				return err
			}
			return l.TruncateBack(11)
		}, 12, 11, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 200} // about 4 records a segment
			l := open(t, dir, opts)
			appendT(t, l, all[:n/2]...)
			for _, r := range all[n/2 : n] {
				appendT(t, l, r)
			}
			if err := tc.op(l); !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			check := func(l *Log) {
				t.Helper()
				wantRecords(t, l, tc.first, all[tc.first-1:tc.last])
				if _, err := l.Read(tc.first - 1); tc.first > 1 && !errors.Is(err, ErrNotFound) {
					t.Fatalf("Read(%d) before the front: %v, want ErrNotFound", tc.first-1, err)
				}
				checkTail(t, l)
			}
			check(l)
			// The truncation survives a restart, and the log goes on from it.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = open(t, dir, opts)
			check(l)
			if got := appendT(t, l, all[tc.last]); got != tc.last+1 {
				t.Fatalf("next Append at %d, want %d", got, tc.last+1)
			}
			wantRecords(t, l, tc.first, all[tc.first-1:tc.last+1])
			checkTail(t, l)
		})
	}
}

// checkTail checks that the Log's idea of the tail segment, which it keeps by
// mirroring tidwall's rule, matches the directory.
func checkTail(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	first, size, err := lastSegment(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	if first != l.tailFirst || size != l.tailSize {
		t.Fatalf("tail tracked as %s (%d bytes), directory has %s (%d bytes)",
			segmentName(l.tailFirst), l.tailSize, segmentName(first), size)
	}
}

func TestSegmentRollover(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 300}
	l := open(t, dir, opts)
	var want [][]byte
	// Batch sizes and record sizes chosen to cross the segment size inside a
	// batch, exactly at its end, and with a tail already over the size (a
	// 400-byte record).
	for i, shape := range [][]int{{100}, {100, 100}, {79}, {1}, {400}, {10}, {50, 50, 50, 50, 50, 50, 50, 50}, {0}, {279}, {1, 1}} {
		batch := make([][]byte, len(shape))
		for j, n := range shape {
			batch[j] = rec(i+j, n)
		}
		appendT(t, l, batch...)
		want = append(want, batch...)
		checkTail(t, l)
	}
	wantRecords(t, l, 1, want)
	ents, _ := os.ReadDir(dir)
	if len(ents) < 5 {
		t.Fatalf("%d segment files, want at least 5", len(ents))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, opts)
	wantRecords(t, l, 1, want)
	checkTail(t, l)
}

// TestLogHoldsTwoSegments: a log keeps its last segment and one closed
// one in memory, not more (tidwall cached two closed segments, which with
// large records in the eight logs of a 4-orderer bench held ~130 MiB).
// Reading old records loads their segments back.
func TestLogHoldsTwoSegments(t *testing.T) {
	const (
		segment = 1 << 20
		record  = 256 << 10
		records = 48 // 12 segments
	)
	l := open(t, t.TempDir(), Options{SegmentSize: segment, NoSync: true})
	appendT(t, l, rec(0, record)) // the reused batch and frame buffers
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	check := func(what string) {
		t.Helper()
		// The base holds a record; a tail and a closed segment are at most
		// two segments and a record more, with an append's spare capacity.
		// A second closed segment would add about 1.25 MiB.
		if held, limit := heap()-base, int64(segment+2*record); held > limit {
			t.Fatalf("%s: the log holds %d KiB more than after its first record, want at most %d KiB", what, held>>10, limit>>10)
		}
	}
	for i := 1; i < records; i++ {
		appendT(t, l, rec(i, record))
	}
	check("after the appends")
	for i := range records {
		got, err := l.Read(uint64(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, rec(i, record)) {
			t.Fatalf("record %d read back wrong", i+1)
		}
	}
	check("after reading every record")
	runtime.KeepAlive(l)
}

// TestLargeAppendKeepsNoBuffers: the frame and batch buffers an Append
// reuses are not kept after a large record (a block of megabytes), which
// the log's segment already holds once.
func TestLargeAppendKeepsNoBuffers(t *testing.T) {
	const big = 4 << 20
	l := open(t, t.TempDir(), Options{SegmentSize: 1 << 20, NoSync: true})
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	appendT(t, l, rec(1, big))
	appendT(t, l, rec(2, 10)) // closes the big record's segment
	// The closed segment holds the record; the buffers would be two more.
	if held, limit := heap()-base, int64(big+big/2); held > limit {
		t.Fatalf("the log holds %d KiB after a %d KiB record, want at most %d KiB", held>>10, big>>10, limit>>10)
	}
	wantRecords(t, l, 1, [][]byte{rec(1, big), rec(2, 10)})
}

func TestNoSync(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{NoSync: true})
	appendT(t, l, []byte("a"), []byte("b"))
	appendT(t, l, []byte("c"))
	if got := l.Stats().Syncs; got != 0 {
		t.Fatalf("%d syncs with NoSync", got)
	}
	// Without Sync nothing is promised durable, so later frames carry the
	// watermark of Open.
	l.mu.Lock()
	durable := l.durable
	l.mu.Unlock()
	if durable != 0 {
		t.Fatalf("durable %d before Sync, want 0", durable)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	appendT(t, l, []byte("d"))
	if got := l.Stats().Syncs; got != 1 {
		t.Fatalf("%d syncs, want 1", got)
	}
	wantRecords(t, l, 1, [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")})
	frames := framesOf(t, dir)
	if got, want := frames[3].durable, uint64(3); got != want {
		t.Fatalf("record 4 carries durable %d, want %d", got, want)
	}
}

// framesOf decodes every frame in dir's segments, in order.
func framesOf(t testing.TB, dir string) []frame {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []frame
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for len(b) > 0 {
			data, n, ok := nextEntry(b)
			if !ok {
				t.Fatalf("%s: broken entry", e.Name())
			}
			f, _, err := decodeFrame(data)
			if err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
			out = append(out, f)
			b = b[n:]
		}
	}
	return out
}

func TestConcurrent(t *testing.T) {
	l := open(t, t.TempDir(), Options{SegmentSize: 4 << 10})
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := fmt.Appendf(nil, "writer %d record %d", w, i)
				first, err := l.Append(p)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := l.Read(first)
				if err != nil || !bytes.Equal(got, p) {
					t.Errorf("read back %d: %q, %v; want %q", first, got, err, p)
					return
				}
			}
		})
	}
	wg.Go(func() { // a reader of whatever is there
		for range 50 {
			if last := l.LastIndex(); last > 10 {
				if _, err := l.Read(last); err != nil {
					t.Error(err)
				}
			}
			_ = l.Stats()
		}
	})
	wg.Wait()
	if got := l.LastIndex(); got != writers*each {
		t.Fatalf("last index %d, want %d", got, writers*each)
	}
}

func TestOpenLogsRepair(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendT(t, l, []byte("kept"))
	appendT(t, l, []byte("torn"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, segmentName(1))
	fi, _ := os.Stat(seg)
	if err := os.Truncate(seg, fi.Size()-2); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l = open(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	wantRecords(t, l, 1, [][]byte{[]byte("kept")})
	if st := l.Stats(); st.TornTails != 1 || st.TornBytes != uint64(entrySize(frameHeader+4)-2) {
		t.Fatalf("stats %+v, want one torn tail of %d bytes", st, entrySize(frameHeader+4)-2)
	}
	for _, want := range []string{"level=WARN", `msg="wal: cut torn tail"`, "first_index_cut=2", "segment=00000000000000000001"} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("log %q lacks %q", buf.String(), want)
		}
	}
}

// twelveRecords writes a log of twelve 30-byte records in 150-byte
// segments: entries are 52 bytes, so segments hold 1..3, 4..6, 7..9,
// 10..12, and an empty 13.
func twelveRecords(t *testing.T) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentSize: 150})
	var all [][]byte
	for i := range 12 {
		all = append(all, rec(i, 30))
		appendT(t, l, all[i])
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, all
}

// TestInterruptedTruncation leaves the directory as a crash inside
// TruncateBack or TruncateFront would, and checks that Open finishes the job
// tidwall's way and still repairs the right tail.
func TestInterruptedTruncation(t *testing.T) {
	build := twelveRecords
	// Entries are 52 bytes, so segments hold 1..3, 4..6, 7..9, 10..12, and an
	// empty 13.
	seg4 := func(t *testing.T, dir string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, segmentName(4)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	entry := entrySize(frameHeader + 30)

	t.Run("back, END written", func(t *testing.T) {
		dir, all := build(t)
		// TruncateBack(5) wrote 4.END and crashed before removing anything.
		end := seg4(t, dir)[:2*entry]
		os.WriteFile(filepath.Join(dir, segmentName(4)+".END"), end, 0o640)
		os.WriteFile(filepath.Join(dir, segmentName(4)+".END.TEMP"), end[:7], 0o640)
		l := open(t, dir, Options{SegmentSize: 150})
		wantRecords(t, l, 1, all[:5])
		checkTail(t, l)
		ents, _ := os.ReadDir(dir)
		if len(ents) != 2 {
			t.Fatalf("%d files left, want 2", len(ents))
		}
	})
	t.Run("back, END written, torn append after it", func(t *testing.T) {
		dir, all := build(t)
		end := seg4(t, dir)[:2*entry]
		torn := append(bytes.Clone(end), seg4(t, dir)[2*entry:2*entry+9]...)
		os.WriteFile(filepath.Join(dir, segmentName(4)+".END"), torn, 0o640)
		l := open(t, dir, Options{SegmentSize: 150})
		wantRecords(t, l, 1, all[:5])
		if l.Stats().TornTails != 1 {
			t.Fatal("torn END segment not repaired")
		}
	})
	t.Run("front, START written", func(t *testing.T) {
		dir, all := build(t)
		// TruncateFront(5) wrote 5.START and crashed before removing anything.
		os.WriteFile(filepath.Join(dir, segmentName(5)+".START"), seg4(t, dir)[entry:], 0o640)
		os.WriteFile(filepath.Join(dir, segmentName(5)+".START.TEMP"), nil, 0o640)
		l := open(t, dir, Options{SegmentSize: 150})
		wantRecords(t, l, 5, all[4:])
		checkTail(t, l)
	})
}

// CreateAt makes an empty log that starts at the index given, and refuses
// a directory that holds one.
func TestCreateAt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	if err := CreateAt(dir, 42); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.FirstIndex() != 42 || l.LastIndex() != 41 {
		t.Fatalf("created at 42: holds %d..%d", l.FirstIndex(), l.LastIndex())
	}
	if idx, err := l.Append([]byte("x")); err != nil || idx != 42 {
		t.Fatalf("Append = %d, %v", idx, err)
	}
	l.Close()
	if err := CreateAt(dir, 7); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("CreateAt over a log: %v, want ErrNotEmpty", err)
	}
	r, err := OpenReader(dir)
	if err != nil || r.FirstIndex() != 42 || r.LastIndex() != 42 {
		t.Fatalf("OpenReader: %v, %d..%d", err, r.FirstIndex(), r.LastIndex())
	}
}
