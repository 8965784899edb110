package api

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// Errors of the event reader. Check them with errors.Is.
var (
	// ErrMediaType: a content type that is neither JSON nor JSONL.
	ErrMediaType = errors.New("api: unsupported content type")
	// ErrSyntax: input that cannot be split into events (an array that is
	// not closed, data after a lone object, no events at all). It ends the
	// input: events read before it are not to be trusted as the whole.
	ErrSyntax = errors.New("api: malformed event input")
	// ErrTooManyEvents: more events than ReaderOptions.MaxEvents. It ends
	// the input.
	ErrTooManyEvents = errors.New("api: too many events")
	// ErrEventTooLarge: one event over ReaderOptions.MaxEventBytes. Only
	// that event is lost: the reader skipped it without holding it and goes
	// on with the next.
	ErrEventTooLarge = errors.New("api: event too large")
)

// EventError is a problem with one event (today only ErrEventTooLarge):
// the reader goes on with the next event.
type EventError struct {
	Index  int   // the event's index in the input, from 0
	Offset int64 // byte offset where it starts
	Size   int64 // its size in bytes
	Limit  int   // ReaderOptions.MaxEventBytes
	Err    error // ErrEventTooLarge
}

func (e *EventError) Error() string {
	return fmt.Sprintf("api: event %d (at byte %d) is %d bytes, limit %d", e.Index, e.Offset, e.Size, e.Limit)
}

// Unwrap returns the sentinel.
func (e *EventError) Unwrap() error { return e.Err }

// Layout is how events are laid out in the input.
type Layout int

// Layouts.
const (
	// Auto is a JSON array of events, or events one after another
	// separated by white space (JSONL, or pretty-printed objects), told by
	// the first byte that is not white space. For files and stdin.
	Auto Layout = iota
	// JSON is one event, or a JSON array of events (application/json).
	JSON
	// JSONL is one event per line, blank lines ignored (application/jsonl).
	JSONL
)

// LayoutOf returns the layout of a request's Content-Type:
// application/json (or any +json type) is JSON; application/jsonl,
// application/jsonlines, application/x-jsonlines and application/x-ndjson
// are JSONL. Anything else is an error wrapping ErrMediaType.
func LayoutOf(contentType string) (Layout, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, fmt.Errorf("%w %q: use %s (one event or an array) or %s", ErrMediaType, contentType, MediaJSON, MediaJSONL)
	}
	switch {
	case mt == MediaJSON || strings.HasSuffix(mt, "+json"):
		return JSON, nil
	case mt == MediaJSONL, mt == "application/jsonlines", mt == "application/x-jsonlines", mt == "application/x-ndjson":
		return JSONL, nil
	}
	return 0, fmt.Errorf("%w %q: use %s (one event or an array) or %s", ErrMediaType, mt, MediaJSON, MediaJSONL)
}

// DefaultMaxEventBytes is the default ReaderOptions.MaxEventBytes: 64 KiB,
// the largest canonical transaction the ledger takes.
const DefaultMaxEventBytes = 64 << 10

// ReaderOptions bound what an EventReader takes.
type ReaderOptions struct {
	// MaxEventBytes bounds one event; a longer one is skipped without being
	// held and reported as an *EventError. Default DefaultMaxEventBytes.
	MaxEventBytes int
	// MaxEvents bounds the events of the whole input; the next one is
	// ErrTooManyEvents. 0: no bound.
	MaxEvents int
}

// reader modes, fixed by the first event.
const (
	modeStart  = iota
	modeSingle // JSON: one value
	modeArray  // an array of values
	modeStream // Auto: values separated by white space
	modeLines  // JSONL
)

// EventReader splits event input into events as it reads, holding at most
// one event at a time. It does not check that an event is valid JSON (the
// schema validator that follows says where it is not); it only finds where
// each event starts and ends, by nesting and strings, so that a malformed
// event inside an array costs only that event when its brackets balance.
//
// An EventReader is not safe for concurrent use.
type EventReader struct {
	br     *bufio.Reader
	layout Layout
	opt    ReaderOptions

	mode  int
	off   int64 // bytes consumed
	n     int   // events returned, counting skipped ones
	comma bool  // array: an element was read, a ',' or ']' comes next
	err   error // final: returned by every later Next
}

// NewEventReader reads events laid out as layout from r.
func NewEventReader(r io.Reader, layout Layout, opt ReaderOptions) *EventReader {
	if opt.MaxEventBytes <= 0 {
		opt.MaxEventBytes = DefaultMaxEventBytes
	}
	return &EventReader{br: bufio.NewReaderSize(r, 64<<10), layout: layout, opt: opt}
}

// Single reports whether the input was one event that is not in an array
// (JSON layout only): its answer is a receipt rather than a list. It is
// known after the first Next.
func (r *EventReader) Single() bool { return r.mode == modeSingle }

// Bulk reports whether the input may hold several events (an array, JSONL
// or an Auto stream). It is known after the first Next.
func (r *EventReader) Bulk() bool { return r.mode != modeStart && r.mode != modeSingle }

// Count returns how many events Next has returned so far, counting those
// it reported as *EventError.
func (r *EventReader) Count() int { return r.n }

// Next returns the next event, with surrounding white space removed. At
// the end of the input it returns io.EOF. An *EventError (errors.Is
// ErrEventTooLarge) concerns one event only: call Next again for the rest.
// Any other error ends the input and is returned again by every later
// call: ErrSyntax, ErrTooManyEvents, or the underlying reader's error
// (wrapped).
func (r *EventReader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	ev, err := r.next()
	if err != nil {
		var ee *EventError
		if !errors.As(err, &ee) {
			r.err = err
		}
		return nil, err
	}
	return ev, nil
}

func (r *EventReader) next() ([]byte, error) {
	if r.mode == modeStart {
		if err := r.start(); err != nil {
			return nil, err
		}
	}
	switch r.mode {
	case modeLines:
		return r.line()
	case modeSingle:
		if r.n == 0 {
			return r.value()
		}
		return nil, r.end("after the event (send several events as an array or as JSONL)")
	case modeStream:
		if _, err := r.skipSpace(); err != nil {
			return nil, err // io.EOF at the end
		}
		return r.value()
	}
	// modeArray
	if r.comma {
		c, err := r.skipSpace()
		if err == io.EOF {
			return nil, r.syntax("the array is not closed")
		}
		if err != nil {
			return nil, err
		}
		r.readByte()
		switch c {
		case ']':
			return nil, r.end("after the array")
		case ',':
		default:
			return nil, r.syntax("want ',' or ']' after event %d, found %q", r.n-1, c)
		}
	}
	c, err := r.skipSpace()
	if err == io.EOF {
		return nil, r.syntax("the array is not closed")
	}
	if err != nil {
		return nil, err
	}
	if c == ']' {
		return nil, r.syntax("',' before ']'")
	}
	r.comma = true
	return r.value()
}

// start reads up to the first event and fixes the mode.
func (r *EventReader) start() error {
	if r.layout == JSONL {
		r.mode = modeLines
		return nil
	}
	// A UTF-8 byte order mark, as some editors write, is not an event.
	if b, err := r.br.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		r.br.Discard(3)
		r.off += 3
	}
	c, err := r.skipSpace()
	if err == io.EOF {
		return r.syntax("no events: the input is empty")
	}
	if err != nil {
		return err
	}
	switch {
	case c == '[':
		r.readByte()
		r.mode = modeArray
		c, err := r.skipSpace()
		if err == io.EOF {
			return r.syntax("the array is not closed")
		}
		if err != nil {
			return err
		}
		if c == ']' {
			return r.syntax("no events: the array is empty")
		}
	case r.layout == JSON:
		r.mode = modeSingle
	default:
		r.mode = modeStream
	}
	return nil
}

// end checks that only white space follows, then reports io.EOF.
func (r *EventReader) end(where string) error {
	c, err := r.skipSpace()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return err
	}
	return r.syntax("unexpected %q %s", c, where)
}

func (r *EventReader) syntax(format string, args ...any) error {
	return fmt.Errorf("%w: %s (at byte %d)", ErrSyntax, fmt.Sprintf(format, args...), r.off)
}

func (r *EventReader) readErr(err error) error {
	return fmt.Errorf("api: read events: %w", err)
}

// skipSpace skips JSON white space and returns the next byte unread.
func (r *EventReader) skipSpace() (byte, error) {
	for {
		c, err := r.br.ReadByte()
		if err == io.EOF {
			return 0, io.EOF
		}
		if err != nil {
			return 0, r.readErr(err)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			r.off++
			continue
		}
		r.br.UnreadByte()
		return c, nil
	}
}

func (r *EventReader) readByte() byte {
	c, _ := r.br.ReadByte()
	r.off++
	return c
}

// counted checks the bound on events before event r.n begins.
func (r *EventReader) counted() error {
	if r.opt.MaxEvents > 0 && r.n >= r.opt.MaxEvents {
		return fmt.Errorf("%w: more than %d events in one input", ErrTooManyEvents, r.opt.MaxEvents)
	}
	return nil
}

// value reads one JSON value, which starts at the next byte (not white
// space), by its nesting and strings.
func (r *EventReader) value() ([]byte, error) {
	if err := r.counted(); err != nil {
		return nil, err
	}
	v := valueBuf{limit: r.opt.MaxEventBytes, start: r.off}
	depth := 0
	inString, escaped := false, false
	first := true
	for {
		c, err := r.br.ReadByte()
		if err == io.EOF {
			if first || depth > 0 || inString {
				return nil, r.syntax("the input ends inside event %d", r.n)
			}
			break // a number or literal at the very end
		}
		if err != nil {
			return nil, r.readErr(err)
		}
		if !inString && depth == 0 && !first && isDelimiter(c) {
			// The end of a scalar (number or literal) at the top.
			r.br.UnreadByte()
			break
		}
		r.off++
		v.add(c)
		first = false
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
		if depth <= 0 && !inString && (c == '}' || c == ']' || c == '"') {
			break
		}
	}
	return r.emit(&v)
}

// isDelimiter reports whether c ends a number or literal.
func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ']', '}', '[', '{', '"':
		return true
	}
	return false
}

// line reads one non-blank JSONL line.
func (r *EventReader) line() ([]byte, error) {
	for {
		v := valueBuf{limit: r.opt.MaxEventBytes, start: r.off}
		sawAny := false
		for {
			chunk, err := r.br.ReadSlice('\n')
			if len(chunk) > 0 {
				sawAny = true
				r.off += int64(len(chunk))
				v.addLine(chunk)
			}
			if err == nil || err == io.EOF {
				if err == io.EOF && !sawAny {
					return nil, io.EOF
				}
				break
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			return nil, r.readErr(err)
		}
		if v.blank() {
			continue
		}
		if err := r.counted(); err != nil {
			return nil, err
		}
		return r.emit(&v)
	}
}

func (r *EventReader) emit(v *valueBuf) ([]byte, error) {
	i := r.n
	r.n++
	if v.over {
		return nil, &EventError{Index: i, Offset: v.start, Size: v.size, Limit: v.limit, Err: ErrEventTooLarge}
	}
	return bytes.Clone(bytes.Trim(v.buf, jsonSpace)), nil
}

// valueBuf collects one event up to a limit; beyond it, only counts.
type valueBuf struct {
	buf   []byte
	limit int
	size  int64
	start int64
	over  bool
	// trimmed: leading white space not counted (JSONL lines)
	lead bool
}

func (v *valueBuf) add(c byte) {
	v.size++
	if v.over {
		return
	}
	if len(v.buf) >= v.limit {
		v.over, v.buf = true, nil
		return
	}
	v.buf = append(v.buf, c)
}

// addLine adds a piece of a line. White space at either end of the line
// does not count towards the limit, so an event of exactly the limit with
// a CRLF ending still fits.
func (v *valueBuf) addLine(chunk []byte) {
	if !v.lead {
		chunk = bytes.TrimLeft(chunk, jsonSpace)
		if len(chunk) == 0 {
			return
		}
		v.lead = true
	}
	v.size += int64(len(chunk))
	if v.over {
		return
	}
	v.buf = append(v.buf, chunk...)
	if len(bytes.TrimRight(v.buf, jsonSpace)) > v.limit {
		v.over, v.buf = true, nil
	}
}

func (v *valueBuf) blank() bool { return !v.over && len(bytes.Trim(v.buf, jsonSpace)) == 0 }

// jsonSpace is JSON's white space.
const jsonSpace = " \t\r\n"
