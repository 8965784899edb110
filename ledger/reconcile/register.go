package reconcile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

// Format is a register's file format.
type Format string

// The register formats (README.md documents both).
const (
	// FormatJSONL: one native event (JSON object) per line, as `baybus
	// sample` prints them.
	FormatJSONL Format = "jsonl"
	// FormatCSV: a header naming native key paths, one row per line.
	FormatCSV Format = "csv"
)

// ParseFormat accepts "jsonl" and "csv".
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatJSONL, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("reconcile: register format %q (valid: jsonl, csv)", s)
}

// StatusKey is the register's own key (JSONL) or column (CSV) for a
// license's status: valid, suspended, revoked or expired. It is not a
// native key; it is removed before a row is normalised.
const StatusKey = "registerStatus"

// ErrRegister: the register cannot be read at all (a broken CSV header, an
// I/O error), as opposed to single invalid rows.
var ErrRegister = errors.New("reconcile: register unreadable")

// rawRow is one row as read, before normalisation.
type rawRow struct {
	line       uint64
	data       []byte   // JSONL: the line
	cells      []string // CSV: the cells
	err        *schemas.FieldError
	start, end int64 // the row's bytes in the register
}

// maxLine bounds a JSONL line: longer ones are invalid rows (a native event
// is at most bridge.MaxNativeBytes).
const maxLine = bridge.MaxNativeBytes + 4096

// readJSONL streams a JSONL register: every line that is not blank is a
// row, numbered by its line in the file (from 1).
func readJSONL(ctx context.Context, r io.Reader, emit func(rawRow) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var line uint64
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line++
		start := off
		raw, err := br.ReadSlice('\n')
		off += int64(len(raw))
		if errors.Is(err, bufio.ErrBufferFull) || len(raw) > maxLine {
			// Too long to be a native event: skip the rest of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				var more []byte
				more, err = br.ReadSlice('\n')
				off += int64(len(more))
			}
			if err != nil && err != io.EOF {
				return fmt.Errorf("%w: %w", ErrRegister, err)
			}
			if e := emit(rawRow{line: line, start: start, end: off, err: &schemas.FieldError{Rule: "max-bytes", Msg: fmt.Sprintf("line is longer than %d bytes", maxLine)}}); e != nil {
				return e
			}
			if err == io.EOF {
				return nil
			}
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%w: %w", ErrRegister, err)
		}
		if t := bytes.TrimSpace(raw); len(t) > 0 {
			if e := emit(rawRow{line: line, data: bytes.Clone(t), start: start, end: off}); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// csvLayout is a CSV register's header: which native key path each column
// fills.
type csvLayout struct {
	cols   [][]string // path segments per column; nil for the status column
	status int        // index of the registerStatus column, -1 if none
}

// parseCSVHeader checks a header: unique, non-empty key paths, a "format"
// column, no path that is a prefix of another.
func parseCSVHeader(header []string) (*csvLayout, error) {
	l := &csvLayout{status: -1}
	seen := map[string]bool{}
	hasFormat := false
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == "" {
			return nil, fmt.Errorf("%w: CSV column %d has no name", ErrRegister, i+1)
		}
		if seen[h] {
			return nil, fmt.Errorf("%w: CSV column %q appears twice", ErrRegister, h)
		}
		seen[h] = true
		switch h {
		case StatusKey:
			l.status = i
			l.cols = append(l.cols, nil)
			continue
		case "format":
			hasFormat = true
		}
		segs := strings.Split(h, ".")
		if slices.Contains(segs, "") {
			return nil, fmt.Errorf("%w: CSV column %q is not a key path like holder.name.en", ErrRegister, h)
		}
		l.cols = append(l.cols, segs)
	}
	if !hasFormat {
		return nil, fmt.Errorf("%w: the CSV header has no \"format\" column (e.g. cn/business_registration@1)", ErrRegister)
	}
	for a := range seen {
		for b := range seen {
			if a != b && strings.HasPrefix(b, a+".") {
				return nil, fmt.Errorf("%w: CSV columns %q and %q overlap", ErrRegister, a, b)
			}
		}
	}
	return l, nil
}

// readCSV streams a CSV register. The first record is the header; each
// later record is a row numbered by the line it starts on. A record longer
// than maxLine bytes (a native event is at most bridge.MaxNativeBytes) is
// an invalid row, read through without being held: memory stays bounded
// per row whatever the input, and malformed input (a quote never closed, a
// bare quote, a wrong number of cells) makes invalid rows, never a panic.
func readCSV(ctx context.Context, r io.Reader, header func([]string) error, emit func(rawRow) error) error {
	return readCSVMax(ctx, r, maxLine, header, emit)
}

// readCSVMax is readCSV with the longest record kept as a parameter.
func readCSVMax(ctx context.Context, r io.Reader, maxRow int, header func([]string) error, emit func(rawRow) error) error {
	sp := newCSVSplitter(r, maxRow)
	// Each record is parsed by a csv.Reader of its own over its bytes
	// (csvSplitter found where encoding/csv would end it), through one
	// reused bufio.Reader, which csv.NewReader takes as it is.
	var rr bytes.Reader
	br := bufio.NewReaderSize(&rr, 4096)
	fields := -1 // the header's, once read
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := sp.next()
		if err == io.EOF {
			return nil // an empty register has no header and no rows
		}
		if err != nil {
			return err
		}
		if rec.tooLong {
			if fields < 0 {
				return fmt.Errorf("%w: the CSV header is longer than %d bytes", ErrRegister, maxRow)
			}
			if e := emit(rawRow{line: rec.line, start: rec.start, end: rec.end, err: &schemas.FieldError{Rule: "max-bytes", Msg: fmt.Sprintf("row is longer than %d bytes", maxRow)}}); e != nil {
				return e
			}
			continue
		}
		rr.Reset(rec.raw)
		br.Reset(&rr)
		cr := csv.NewReader(br)
		cr.FieldsPerRecord = max(fields, 0) // 0: the header sets nothing
		cells, err := cr.Read()
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && fields < 0:
			return fmt.Errorf("%w: CSV header (line %d): %w", ErrRegister, rec.line, pe.Err)
		case errors.As(err, &pe):
			if e := emit(rawRow{line: rec.line, start: rec.start, end: rec.end, err: &schemas.FieldError{Rule: "csv", Msg: pe.Err.Error()}}); e != nil {
				return e
			}
			continue
		case err != nil:
			// csvSplitter found a record that encoding/csv does not: a
			// disagreement the fuzz test is there to rule out.
			return fmt.Errorf("%w: CSV record at line %d: %w", ErrRegister, rec.line, err)
		}
		if fields < 0 {
			fields = len(cells)
			if err := header(cells); err != nil {
				return err
			}
			continue
		}
		if len(cells) == 1 && strings.TrimSpace(cells[0]) == "" {
			continue // a blank line
		}
		if e := emit(rawRow{line: rec.line, cells: cells, start: rec.start, end: rec.end}); e != nil {
			return e
		}
	}
}

// object builds a CSV row's native JSON object (empty cells are left out)
// and returns its registerStatus cell.
func (l *csvLayout) object(cells []string) ([]byte, string, *schemas.FieldError) {
	root := map[string]any{}
	status := ""
	for i, c := range cells {
		if c == "" {
			continue
		}
		if i == l.status {
			status = c
			continue
		}
		node := root
		path := l.cols[i]
		for _, seg := range path[:len(path)-1] {
			next, ok := node[seg].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[seg] = next
			}
			node = next
		}
		node[path[len(path)-1]] = c
	}
	v, err := arrays(root, "")
	if err != nil {
		return nil, "", err
	}
	b, jerr := json.Marshal(v)
	if jerr != nil {
		return nil, "", &schemas.FieldError{Rule: "csv", Msg: jerr.Error()}
	}
	return b, status, nil
}

// arrays turns the objects whose keys are 0..n-1 into arrays.
func arrays(v any, path string) (any, *schemas.FieldError) {
	m, ok := v.(map[string]any)
	if !ok {
		return v, nil
	}
	numeric := len(m) > 0
	for k, e := range m {
		sub := k
		if path != "" {
			sub = path + "." + k
		}
		c, err := arrays(e, sub)
		if err != nil {
			return nil, err
		}
		m[k] = c
		if n, err := strconv.Atoi(k); err != nil || n < 0 || strconv.Itoa(n) != k {
			numeric = false
		}
	}
	if !numeric {
		return m, nil
	}
	out := make([]any, len(m))
	for k, e := range m {
		n, _ := strconv.Atoi(k)
		if n >= len(out) {
			return nil, &schemas.FieldError{Field: path, Rule: "csv-array", Msg: fmt.Sprintf("array items must be numbered from 0 without gaps; item %d of %d", n, len(m))}
		}
		out[n] = e
	}
	return out, nil
}

// WriteCSV writes native events (JSON objects of one jurisdiction) as a
// CSV register: a header of every key path that occurs, sorted ("format"
// first), and one row per event. Nested objects and arrays become dotted
// paths (holder.name.en, administradores.0.nome.zh). It holds every event in
// memory: it is for tests, samples and small exports.
func WriteCSV(w io.Writer, events [][]byte) error {
	rows := make([]map[string]string, len(events))
	cols := map[string]bool{}
	for i, ev := range events {
		dec := json.NewDecoder(bytes.NewReader(ev))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("reconcile: event %d: %w", i+1, err)
		}
		rows[i] = map[string]string{}
		var walk func(p string, v any) error
		walk = func(p string, v any) error {
			switch x := v.(type) {
			case map[string]any:
				for k, e := range x {
					if err := walk(joinPath(p, k), e); err != nil {
						return err
					}
				}
			case []any:
				for j, e := range x {
					if err := walk(joinPath(p, strconv.Itoa(j)), e); err != nil {
						return err
					}
				}
			case string:
				rows[i][p] = x
				cols[p] = true
			default:
				return fmt.Errorf("reconcile: event %d: %s holds a %T: CSV cells are strings", i+1, p, v)
			}
			return nil
		}
		if err := walk("", v); err != nil {
			return err
		}
	}
	header := make([]string, 0, len(cols))
	for c := range cols {
		if c != "format" {
			header = append(header, c)
		}
	}
	slices.Sort(header)
	header = append([]string{"format"}, header...)
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	rec := make([]string, len(header))
	for _, r := range rows {
		for j, c := range header {
			rec[j] = r[c]
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func joinPath(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}
