package reconcile

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// csvRow is what readCSV emitted for one row, for comparisons.
type csvRow struct {
	line  uint64
	cells []string
	rule  string // the error's rule, if the row is invalid
}

func (r csvRow) String() string {
	if r.rule != "" {
		return fmt.Sprintf("%d: invalid (%s)", r.line, r.rule)
	}
	return fmt.Sprintf("%d: %q", r.line, r.cells)
}

// readAllCSV runs readCSVMax over data.
func readAllCSV(data []byte, maxRow int) (header []string, rows []csvRow, err error) {
	err = readCSVMax(context.Background(), bytes.NewReader(data), maxRow, func(h []string) error {
		header = h
		return nil
	}, func(r rawRow) error {
		row := csvRow{line: r.line, cells: r.cells}
		if r.err != nil {
			row.rule = r.err.Rule
		}
		rows = append(rows, row)
		return nil
	})
	return header, rows, err
}

// referenceCSV reads data with one encoding/csv Reader over the whole
// input, as readCSV did before it bounded rows (without its FieldPos panic).
func referenceCSV(data []byte) (header []string, rows []csvRow, err error) {
	cr := csv.NewReader(bytes.NewReader(data))
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return header, rows, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if first {
				return nil, nil, ErrRegister
			}
			rows = append(rows, csvRow{line: uint64(pe.StartLine), rule: "csv"})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			header = rec
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		rows = append(rows, csvRow{line: uint64(line), cells: rec})
	}
}

func sameRows(a, b []csvRow) bool {
	return slices.EqualFunc(a, b, func(x, y csvRow) bool {
		return x.line == y.line && x.rule == y.rule && slices.Equal(x.cells, y.cells)
	})
}

// TestReadCSVMalformed: malformed CSV makes invalid rows, never a panic.
// An unterminated quote used to panic in csv.Reader.FieldPos (issue 13).
func TestReadCSVMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []csvRow
	}{
		{"unterminated quote at the end", "format,id\ncn/x@1,A1\ncn/x@1,\"unterminated", []csvRow{
			{line: 2, cells: []string{"cn/x@1", "A1"}}, {line: 3, rule: "csv"}}},
		{"unterminated quote swallows the rest", "format,id\ncn/x@1,\"open\nB,2\nC,3\n", []csvRow{{line: 2, rule: "csv"}}},
		{"bare quote", "format,id\ncn/x@1,A\"1\ncn/x@1,\"A2\"\n", []csvRow{
			{line: 2, rule: "csv"}, {line: 3, cells: []string{"cn/x@1", "A2"}}}},
		{"text after a closing quote", "format,id\ncn/x@1,\"A\"1,\"x\ny\"\ncn/x@1,A3\n", []csvRow{
			{line: 2, rule: "csv"}, {line: 3, rule: "csv"}, {line: 4, cells: []string{"cn/x@1", "A3"}}}},
		{"wrong number of cells", "format,id\ncn/x@1\ncn/x@1,A2,extra\ncn/x@1,A3\n", []csvRow{
			{line: 2, rule: "csv"}, {line: 3, rule: "csv"}, {line: 4, cells: []string{"cn/x@1", "A3"}}}},
		{"quoted newlines and CRLF", "format,id\r\n\r\ncn/x@1,\"A\r\n1\"\r\n\ncn/x@1,\"A\"\"2\"\r\n", []csvRow{
			{line: 3, cells: []string{"cn/x@1", "A\n1"}}, {line: 6, cells: []string{"cn/x@1", "A\"2"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rows, err := readAllCSV([]byte(tc.in), maxLine)
			if err != nil || !sameRows(rows, tc.want) {
				t.Fatalf("rows %v, %v; want %v", rows, err, tc.want)
			}
		})
	}
	if _, _, err := readAllCSV([]byte("format,\"id\n"), maxLine); !errors.Is(err, ErrRegister) {
		t.Fatalf("a broken header: %v", err)
	}
}

// newHugeCell streams a CSV register whose second row has one cell of n
// bytes, without holding it.
func newHugeCell(n int64) io.Reader {
	return io.MultiReader(
		strings.NewReader("format,id,scope\ncn/x@1,A1,small\ncn/x@1,A2,"),
		io.LimitReader(repeatByte('x'), n),
		strings.NewReader("\ncn/x@1,A3,small\n"),
	)
}

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	if len(p) > 0 {
		p[0] = byte(b)
		for n := 1; n < len(p); n *= 2 {
			copy(p[n:], p[:n])
		}
	}
	return len(p), nil
}

// hugeCellBytes is the cell TestReadCSVBoundsMemory streams: issue 13's
// 512 MiB, or less under the race detector (race_test.go), which makes
// streaming it twenty times slower.
var hugeCellBytes int64 = 512 << 20

// TestReadCSVBoundsMemory: a 512 MiB cell (issue 13: it cost 2.15 GB) is an
// invalid row, read through without being held, and the row after it is
// read as usual. What the read allocates stays far below the cell's size.
func TestReadCSVBoundsMemory(t *testing.T) {
	cell := hugeCellBytes
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var rows []csvRow
	err := readCSV(context.Background(), newHugeCell(cell), func([]string) error { return nil }, func(r rawRow) error {
		row := csvRow{line: r.line, cells: r.cells}
		if r.err != nil {
			row.rule = r.err.Rule
		}
		rows = append(rows, row)
		return nil
	})
	runtime.ReadMemStats(&after)
	want := []csvRow{{line: 2, cells: []string{"cn/x@1", "A1", "small"}}, {line: 3, rule: "max-bytes"}, {line: 4, cells: []string{"cn/x@1", "A3", "small"}}}
	if err != nil || !sameRows(rows, want) {
		t.Fatalf("rows %v, %v; want %v", rows, err, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("reading a %d MiB cell allocated %d MiB", cell>>20, alloc>>20)
	}
}

// FuzzReadCSV checks the bounded reader against encoding/csv reading the
// whole input: the same header, the same rows with the same cells and
// lines, the same invalid rows. With a small bound, the rows fall at the
// same lines, and a row is held only if it fits.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"format,id\ncn/x@1,A1\n",
		"format,id\ncn/x@1,\"unterminated",
		"format,id\r\ncn/x@1,\"A\r\n1\"\r\n\r\n",
		"format,id\ncn/x@1,A\"1\n\"b\",c\n",
		"format,id\ncn/x@1,\"A\"1,\"x\ny\"\n",
		"a,b\n\"x\"\"y\",z\n\"q\"\r\"\n",
		"a\n\n \n\"\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		header, rows, err := readAllCSV(data, 1<<20)
		wantHeader, wantRows, wantErr := referenceCSV(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("err %v, encoding/csv %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if !slices.Equal(header, wantHeader) || !sameRows(rows, wantRows) {
			t.Fatalf("header %q rows %v;\nencoding/csv: header %q rows %v", header, rows, wantHeader, wantRows)
		}
		const small = 16
		_, bounded, err := readAllCSV(data, small)
		if err != nil {
			return // the header itself is longer than the bound
		}
		if len(bounded) != len(rows) {
			t.Fatalf("bounded: %v, unbounded %v", bounded, rows)
		}
		for i, r := range bounded {
			if r.line != rows[i].line || r.rule != "max-bytes" && !sameRows([]csvRow{r}, []csvRow{rows[i]}) {
				t.Fatalf("bounded row %v, unbounded %v", r, rows[i])
			}
		}
	})
}

// FuzzReadJSONL: the JSONL reader never panics, numbers rows by line, and
// never holds a line longer than the bound.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n {\"b\":2}\r\n"))
	f.Add([]byte(strings.Repeat("x", 300) + "\n{}\n"))
	f.Add([]byte("no newline at the end"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var last uint64
		var end int64
		err := readJSONL(context.Background(), bytes.NewReader(data), func(r rawRow) error {
			if r.line <= last || r.start < end || r.end <= r.start || r.end > int64(len(data)) {
				t.Fatalf("row at line %d, bytes %d..%d after line %d ending at %d", r.line, r.start, r.end, last, end)
			}
			if r.err == nil && (len(r.data) == 0 || len(r.data) > maxLine) {
				t.Fatalf("row at line %d holds %d bytes", r.line, len(r.data))
			}
			last, end = r.line, r.end
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
