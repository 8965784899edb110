package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// csvSplitter cuts a CSV stream into records exactly where encoding/csv,
// with the settings readCSV uses (comma, no comments, strict quotes), ends
// them, without holding more than max bytes of one. encoding/csv reads a
// whole record into memory whatever its size (a 512 MiB cell cost 2.15 GB);
// here a longer record is read through to its end, kept no further than
// max bytes, and handed on as too long. Each record that fits is then
// parsed by its own csv.Reader (readCSV), so the fields are encoding/csv's.
//
// Where a record ends follows encoding/csv's parser:
//
//   - A newline ends the record, except inside a quoted field (a field that
//     starts with a quote, up to the quote that closes it; "" inside it is
//     a quote).
//   - After a field's closing quote comes a comma, the end of the line
//     ("\n" or "\r\n") or the end of the input; anything else is encoding/
//     csv's ErrQuote, after which it drops the rest of the line, so the
//     record ends at the next newline whatever the quotes say. A quote
//     inside an unquoted field (ErrBareQuote) likewise ends the record at
//     the end of its line.
//   - The end of the input ends a record, even inside quotes.
//   - Empty lines ("\n", "\r\n", and a lone "\r" at the end of the input)
//     are not records.
type csvSplitter struct {
	br   *bufio.Reader
	max  int
	off  int64  // bytes read
	line uint64 // newlines read
	buf  []byte // the record being read, reused
}

// csvRecord is a record as the splitter found it.
type csvRecord struct {
	raw        []byte // the record's bytes, line ending included; nil if tooLong (valid until the next call)
	line       uint64 // the line it starts on, from 1
	start, end int64  // its bytes in the input
	tooLong    bool   // longer than max: read through, not kept
}

// The splitter's states: where in a record the last byte left it.
type csvState uint8

const (
	csvFieldStart csvState = iota // at the start of a field
	csvUnquoted                   // in a field that does not start with a quote
	csvQuoted                     // in a quoted field
	csvQuote                      // just after a quote in a quoted field (closing it, or the first of "")
	csvQuoteCR                    // a closing quote, then "\r": a "\n" next ends the line
	csvBroken                     // a parse error: the record ends with the line
	csvEnd                        // the record ended with a newline
)

func newCSVSplitter(r io.Reader, maxRecord int) *csvSplitter {
	return &csvSplitter{br: bufio.NewReaderSize(r, 256<<10), max: maxRecord}
}

// next returns the next record that is not an empty line, or io.EOF.
// Other errors wrap ErrRegister.
func (s *csvSplitter) next() (csvRecord, error) {
	for {
		rec, err := s.scan()
		if err != nil {
			return rec, err
		}
		if rec.tooLong || !emptyLine(rec.raw) {
			return rec, nil
		}
	}
}

// emptyLine reports whether raw is a line encoding/csv skips.
func emptyLine(raw []byte) bool {
	switch string(raw) {
	case "", "\n", "\r\n", "\r":
		return true
	}
	return false
}

// scan reads one record.
func (s *csvSplitter) scan() (csvRecord, error) {
	rec := csvRecord{line: s.line + 1, start: s.off}
	s.buf = s.buf[:0]
	st := csvFieldStart
	for st != csvEnd {
		chunk, err := s.br.ReadSlice('\n') // stops after the first newline
		if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
			return rec, fmt.Errorf("%w: %w", ErrRegister, err)
		}
		if len(chunk) == 0 && err == io.EOF {
			if s.off == rec.start {
				return rec, io.EOF
			}
			break
		}
		s.off += int64(len(chunk))
		if !rec.tooLong {
			if len(s.buf)+len(chunk) > s.max {
				rec.tooLong, s.buf = true, s.buf[:0]
			} else {
				s.buf = append(s.buf, chunk...)
			}
		}
		st = csvStep(st, chunk)
		if chunk[len(chunk)-1] == '\n' {
			s.line++
		}
		if err == io.EOF {
			break
		}
	}
	rec.end = s.off
	if !rec.tooLong {
		rec.raw = s.buf
	}
	return rec, nil
}

// csvStep runs the state machine over chunk, which holds at most one
// newline, as its last byte. Inside a field it skips to the next byte that
// can change the state, so a long cell costs a memchr, not a loop.
func csvStep(st csvState, chunk []byte) csvState {
	for i := 0; i < len(chunk); i++ {
		var skip int
		switch st {
		case csvUnquoted:
			skip = bytes.IndexAny(chunk[i:], "\",\n")
		case csvQuoted:
			skip = bytes.IndexByte(chunk[i:], '"')
		case csvBroken:
			skip = bytes.IndexByte(chunk[i:], '\n')
		}
		if skip < 0 {
			return st
		}
		i += skip
		c := chunk[i]
		switch st {
		case csvFieldStart, csvUnquoted:
			switch c {
			case '"':
				if st == csvFieldStart {
					st = csvQuoted
				} else {
					st = csvBroken // a bare quote
				}
			case ',':
				st = csvFieldStart
			case '\n':
				st = csvEnd
			default:
				st = csvUnquoted
			}
		case csvQuoted:
			if c == '"' {
				st = csvQuote
			}
		case csvQuote:
			switch c {
			case '"':
				st = csvQuoted
			case ',':
				st = csvFieldStart
			case '\n':
				st = csvEnd
			case '\r':
				st = csvQuoteCR
			default:
				st = csvBroken
			}
		case csvQuoteCR:
			if c == '\n' {
				st = csvEnd
			} else {
				st = csvBroken
			}
		case csvBroken:
			if c == '\n' {
				st = csvEnd
			}
		}
	}
	return st
}
