package schemas

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"
)

// ErrNotCanonical is returned when bytes that must already be canonical are not.
var ErrNotCanonical = errors.New("schemas: not canonical")

// ErrBadValue is returned for a value the canonical encoding cannot carry
// (a fractional or out-of-range number, invalid UTF-8, a duplicate key).
var ErrBadValue = errors.New("schemas: value not encodable")

// Canonical returns the canonical bytes of v: v is marshalled with
// encoding/json and the result is rewritten by CanonicalizeJSON.
func Canonical(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("schemas: marshal: %w", err)
	}
	return CanonicalizeJSON(raw)
}

const (
	// maxSafeInt is the largest integer magnitude the canonical form carries:
	// 2^53-1, the largest integer every IEEE 754 double reader gets exactly.
	maxSafeInt = 1<<53 - 1
	// maxSafeIntText is maxSafeInt in decimal; its 16 digits are the most a
	// canonical number can have.
	maxSafeIntText = "9007199254740991"
	// maxDepth bounds the nesting of arrays and objects, so that hostile
	// input cannot drive the recursive scanners deep into the stack.
	maxDepth = 64
)

// CanonicalizeJSON rewrites one JSON text in the canonical form: the JSON
// Canonicalization Scheme (RFC 8785) restricted to integers in
// [-(2^53-1), 2^53-1].
//
//   - There is no insignificant white space.
//   - Object keys are sorted by the UTF-16 code units of their characters, so
//     a character outside the Basic Multilingual Plane (a surrogate pair) sorts
//     before U+E000..U+FFFF.
//   - Strings escape only '"', '\\' and the control characters below U+0020,
//     as \b \f \n \r \t or else \u00xx in lower-case hex; every other character
//     is written as raw UTF-8, so the input's other escapes (\/, \u00e9,
//     \ud83d\ude00, ...) are decoded.
//   - Numbers are integers written in the shortest form; -0 becomes 0.
//
// Fractions, exponents, integers beyond ±(2^53-1), duplicate keys (compared
// after decoding escapes), invalid UTF-8, lone surrogate escapes, nesting
// deeper than 64 levels and anything after the value but white space are
// refused with ErrBadValue, so two different records never canonicalize to the
// same bytes by accident.
//
// It is a single-pass scanner: the output is built as the input is read, and
// only an object whose keys arrive out of order is rearranged when it closes.
func CanonicalizeJSON(raw []byte) ([]byte, error) {
	s := scratchPool.Get().(*sortScratch)
	c := canonicalizer{in: raw, out: make([]byte, len(raw)), ms: s.ms, scratch: s}
	i, err := c.value(skipSpace(raw, 0), 0)
	if err == nil {
		if i = skipSpace(raw, i); i != len(raw) {
			err = c.errorf(i, "trailing data after the JSON value")
		}
	}
	s.ms = c.ms
	s.release()
	if err != nil {
		return nil, err
	}
	return c.out[:c.n], nil
}

// IsCanonical reports whether raw is exactly its own canonical form, that is
// whether CanonicalizeJSON(raw) would succeed and return raw unchanged. It
// validates without building any output and does not allocate.
func IsCanonical(raw []byte) bool {
	i, ok := checkValue(raw, 0, 0)
	return ok && i == len(raw)
}

// HasEmptyValue reports whether canonical JSON holds a null, an empty
// string, an empty object or an empty array anywhere (it may answer
// anything for bytes that are not canonical). A transaction never needs
// one, and each decodes to the same Go value as the member's absence, so
// DecodeTx would give the same Tx for bytes with and without it: the
// orderers refuse such bytes (rules version 2), so that a transaction's
// fields say everything its bytes do. It is the cheap form of checking
// that EncodeTx of the decoded transaction gives the bytes back.
func HasEmptyValue(canonical []byte) bool {
	in := false
	for i := 0; i < len(canonical); i++ {
		b := canonical[i]
		if in {
			switch b {
			case '\\':
				i++ // the escaped byte; canonical escapes are \" \\ \b \f \n \r \t \u00xx
			case '"':
				in = false
			}
			continue
		}
		switch b {
		case '"':
			if i+1 < len(canonical) && canonical[i+1] == '"' {
				return true
			}
			in = true
		case 'n': // outside strings only the literal null starts with n
			return true
		case '{', '[':
			if i+1 < len(canonical) && (canonical[i+1] == '}' || canonical[i+1] == ']') {
				return true
			}
		}
	}
	return false
}

// plain marks the bytes a string may hold as they are, in the input and in the
// canonical form alike: printable ASCII but '"' and '\\'.
var plain = func() (t [256]bool) {
	for b := 0x20; b < 0x80; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(in []byte, i int) int {
	for i < len(in) && (in[i] == ' ' || in[i] == '\n' || in[i] == '\r' || in[i] == '\t') {
		i++
	}
	return i
}

// utf8Len returns the length of the well-formed UTF-8 sequence of two to four
// bytes at in[i], or 0 if there is none there: no overlong forms, no
// surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
func utf8Len(in []byte, i int) int {
	b := in[i]
	switch {
	case b < 0xC2:
		return 0
	case b < 0xE0:
		if i+1 < len(in) && in[i+1]&0xC0 == 0x80 {
			return 2
		}
	case b < 0xF0:
		if i+2 < len(in) {
			lo, hi := byte(0x80), byte(0xBF)
			switch b {
			case 0xE0:
				lo = 0xA0
			case 0xED:
				hi = 0x9F
			}
			if b1 := in[i+1]; b1 >= lo && b1 <= hi && in[i+2]&0xC0 == 0x80 {
				return 3
			}
		}
	case b < 0xF5:
		if i+3 < len(in) {
			lo, hi := byte(0x80), byte(0xBF)
			switch b {
			case 0xF0:
				lo = 0x90
			case 0xF4:
				hi = 0x8F
			}
			if b1 := in[i+1]; b1 >= lo && b1 <= hi && in[i+2]&0xC0 == 0x80 && in[i+3]&0xC0 == 0x80 {
				return 4
			}
		}
	}
	return 0
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// scanRaw returns the index of the first byte at or after i that a string
// cannot hold as it is: '"', '\\', a control character, the start of invalid
// UTF-8, or len(in). Runs of ASCII are checked eight bytes at a time.
func scanRaw(in []byte, i int) int {
	for i < len(in) {
		b := in[i]
		if b < 0x80 {
			if !plain[b] {
				return i
			}
			// A word without a byte >= 0x80 and without a byte < 0x20,
			// '"' or '\\' (the usual zero-byte test on x, x^'"', x^'\\').
			for ; len(in)-i >= 8; i += 8 {
				x := binary.LittleEndian.Uint64(in[i:])
				if (x|(x-lsb*0x20)|((x^lsb*'"')-lsb)|((x^lsb*'\\')-lsb))&msb != 0 {
					break
				}
			}
			for i < len(in) && plain[in[i]] {
				i++
			}
			continue
		}
		// Three-byte sequences with any continuation bytes: U+1000..U+CFFF
		// and U+E000..U+FFFF, which hold the CJK characters.
		if b >= 0xE1 && b != 0xED && i+2 < len(in) && in[i+1]&0xC0 == 0x80 && in[i+2]&0xC0 == 0x80 && b <= 0xEF {
			i += 3
			continue
		}
		n := utf8Len(in, i)
		if n == 0 {
			return i
		}
		i += n
	}
	return i
}

// isLiteral reports whether in[i:] starts with lit.
func isLiteral(in []byte, i int, lit string) bool {
	return len(in)-i >= len(lit) && string(in[i:i+len(lit)]) == lit
}

const hexDigits = "0123456789abcdef"

// unhex returns the value of a hex digit, or -1.
func unhex(b byte) rune {
	switch {
	case b >= '0' && b <= '9':
		return rune(b - '0')
	case b >= 'a' && b <= 'f':
		return rune(b - 'a' + 10)
	case b >= 'A' && b <= 'F':
		return rune(b - 'A' + 10)
	}
	return -1
}

// hex4 decodes the four hex digits at in[i:], or returns -1.
func hex4(in []byte, i int) rune {
	if len(in)-i < 4 {
		return -1
	}
	a, b, c, d := unhex(in[i]), unhex(in[i+1]), unhex(in[i+2]), unhex(in[i+3])
	if a < 0 || b < 0 || c < 0 || d < 0 {
		return -1
	}
	return a<<12 | b<<8 | c<<4 | d
}

// ---------------------------------------------------------------------------
// CanonicalizeJSON
// ---------------------------------------------------------------------------

// canonicalizer writes the canonical form of in to out[:n]. out has the
// length of in, which the canonical form never exceeds at any point (white
// space is dropped, an escape never grows, -0 shrinks), so it is written by
// index and never reallocated: the hot paths store no pointers and so pay
// no GC write barriers.
type canonicalizer struct {
	in, out []byte
	n       int
	// ms[:nm] is a stack of the members of the objects being read, the
	// innermost object's on top. scratch is the pooled memory behind it.
	ms      []member
	nm      int
	scratch *sortScratch
}

// member locates one object member in the output: the key with its quotes
// is out[key:colon], the member ends at out[end].
type member struct{ key, colon, end int }

// sortScratch is the working memory of CanonicalizeJSON: the member stack
// and the buffer sortObject rearranges members through. It is pooled so that
// canonicalizing the output of encoding/json (struct fields in declaration
// order, so most objects need sorting) allocates nothing but the result.
type sortScratch struct {
	ms  []member
	tmp []byte
}

var scratchPool = sync.Pool{New: func() any { return &sortScratch{ms: make([]member, 64)} }}

func (s *sortScratch) release() {
	if cap(s.tmp) > 4*MaxTxBytes || len(s.ms) > 1<<14 {
		return // do not pin the memory of an outsized input
	}
	scratchPool.Put(s)
}

func (c *canonicalizer) errorf(i int, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrBadValue, fmt.Sprintf(format, args...), i)
}

// unexpected reports the byte at in[i], or the end of the input.
func (c *canonicalizer) unexpected(i int, what string) error {
	if i >= len(c.in) {
		return c.errorf(i, "unexpected end of input, %s", what)
	}
	return c.errorf(i, "unexpected %q, %s", c.in[i], what)
}

func (c *canonicalizer) put(b byte) {
	c.out[c.n] = b
	c.n++
}

// value canonicalizes the value at in[i] (white space already skipped) and
// returns the index after it. depth counts the enclosing arrays and objects.
func (c *canonicalizer) value(i, depth int) (int, error) {
	if i >= len(c.in) {
		return i, c.unexpected(i, "expected a value")
	}
	switch b := c.in[i]; b {
	case '"':
		return c.string(i)
	case '{':
		return c.object(i, depth+1)
	case '[':
		return c.array(i, depth+1)
	case 't':
		return c.literal(i, "true")
	case 'f':
		return c.literal(i, "false")
	case 'n':
		return c.literal(i, "null")
	default:
		if b == '-' || b >= '0' && b <= '9' {
			return c.number(i)
		}
	}
	return i, c.unexpected(i, "expected a value")
}

func (c *canonicalizer) literal(i int, lit string) (int, error) {
	if !isLiteral(c.in, i, lit) {
		return i, c.errorf(i, "invalid literal, expected %s", lit)
	}
	c.n += copy(c.out[c.n:], lit)
	return i + len(lit), nil
}

func (c *canonicalizer) number(i int) (int, error) {
	in := c.in
	start := i
	if in[i] == '-' {
		i++
	}
	digits := i
	switch {
	case i >= len(in) || in[i] < '0' || in[i] > '9':
		return i, c.errorf(start, "invalid number")
	case in[i] == '0':
		i++
		if i < len(in) && in[i] >= '0' && in[i] <= '9' {
			return i, c.errorf(start, "number with a leading zero")
		}
		c.put('0') // 0 and -0
	default:
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if n := i - digits; n > len(maxSafeIntText) || n == len(maxSafeIntText) && string(in[digits:i]) > maxSafeIntText {
			return i, c.errorf(start, "number %s is not an integer in ±(2^53-1); write amounts as decimal strings", in[start:i])
		}
		c.n += copy(c.out[c.n:], in[start:i])
	}
	if i < len(in) && (in[i] == '.' || in[i] == 'e' || in[i] == 'E') {
		return i, c.errorf(start, "number is not an integer; write amounts as decimal strings")
	}
	return i, nil
}

// string canonicalizes the string at in[i] == '"'.
func (c *canonicalizer) string(i int) (int, error) {
	in := c.in
	start := i // in[start:i] is still to be copied, the opening quote first
	i++
	for {
		if i = scanRaw(in, i); i >= len(in) {
			return i, c.errorf(i, "unterminated string")
		}
		switch b := in[i]; {
		case b == '"':
			c.n += copy(c.out[c.n:], in[start:i+1])
			return i + 1, nil
		case b == '\\':
			c.n += copy(c.out[c.n:], in[start:i])
			var err error
			if i, err = c.escape(i); err != nil {
				return i, err
			}
			start = i
		case b >= 0x80:
			return i, c.errorf(i, "string is not valid UTF-8")
		default:
			return i, c.errorf(i, "control character %#02x in string", b)
		}
	}
}

// escape decodes the escape sequence at in[i] == '\\', writes the
// character's canonical form and returns the index after the sequence.
func (c *canonicalizer) escape(i int) (int, error) {
	in := c.in
	if i+1 >= len(in) {
		return i, c.errorf(i, "unterminated string")
	}
	switch e := in[i+1]; e {
	case '"', '\\', 'b', 'f', 'n', 'r', 't':
		c.out[c.n], c.out[c.n+1] = '\\', e
		c.n += 2
		return i + 2, nil
	case '/':
		c.put('/')
		return i + 2, nil
	case 'u':
		r := hex4(in, i+2)
		switch {
		case r < 0:
			return i, c.errorf(i, `invalid \u escape`)
		case r >= 0xD800 && r < 0xDC00:
			lo := rune(-1)
			if len(in)-i >= 12 && in[i+6] == '\\' && in[i+7] == 'u' {
				lo = hex4(in, i+8)
			}
			if lo < 0xDC00 || lo >= 0xE000 {
				return i, c.errorf(i, "lone surrogate %s in string", in[i:i+6])
			}
			r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
			i += 6
		case r >= 0xDC00 && r < 0xE000:
			return i, c.errorf(i, "lone surrogate %s in string", in[i:i+6])
		}
		c.n += copy(c.out[c.n:], appendRune(make([]byte, 0, 6), r))
		return i + 6, nil
	}
	return i, c.errorf(i, "invalid escape \\%c", in[i+1])
}

// appendRune appends r as it is written inside a canonical string.
func appendRune(out []byte, r rune) []byte {
	switch r {
	case '"', '\\':
		return append(out, '\\', byte(r))
	case '\b':
		return append(out, '\\', 'b')
	case '\f':
		return append(out, '\\', 'f')
	case '\n':
		return append(out, '\\', 'n')
	case '\r':
		return append(out, '\\', 'r')
	case '\t':
		return append(out, '\\', 't')
	}
	if r < 0x20 {
		return append(out, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
	}
	return utf8.AppendRune(out, r)
}

func (c *canonicalizer) array(i, depth int) (int, error) {
	if depth > maxDepth {
		return i, c.errorf(i, "nesting deeper than %d levels", maxDepth)
	}
	in := c.in
	c.put('[')
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == ']' {
		c.put(']')
		return i + 1, nil
	}
	for {
		var err error
		if i < len(in) && in[i] == '"' {
			i, err = c.string(i)
		} else {
			i, err = c.value(i, depth)
		}
		if err != nil {
			return i, err
		}
		if i = skipSpace(in, i); i >= len(in) {
			return i, c.unexpected(i, "expected ',' or ']'")
		}
		switch in[i] {
		case ',':
			c.put(',')
			i = skipSpace(in, i+1)
		case ']':
			c.put(']')
			return i + 1, nil
		default:
			return i, c.unexpected(i, "expected ',' or ']'")
		}
	}
}

func (c *canonicalizer) object(i, depth int) (int, error) {
	if depth > maxDepth {
		return i, c.errorf(i, "nesting deeper than %d levels", maxDepth)
	}
	in := c.in
	open := c.n
	c.put('{')
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == '}' {
		c.put('}')
		return i + 1, nil
	}
	base := c.nm // this object's members are ms[base:nm]
	sorted := true
	for {
		if i >= len(in) || in[i] != '"' {
			return i, c.unexpected(i, "expected an object key")
		}
		key := c.n
		var err error
		if i, err = c.string(i); err != nil {
			return i, err
		}
		colon := c.n
		if sorted && c.nm > base {
			prev := c.ms[c.nm-1]
			switch compareKeys(c.out[prev.key+1:prev.colon-1], c.out[key+1:colon-1]) {
			case 0:
				return i, c.errorf(i, "duplicate key %s", c.out[key:colon])
			case 1:
				sorted = false // sortObject finds any duplicate
			}
		}
		if i = skipSpace(in, i); i >= len(in) || in[i] != ':' {
			return i, c.unexpected(i, "expected ':'")
		}
		c.put(':')
		if i = skipSpace(in, i+1); i < len(in) && in[i] == '"' {
			i, err = c.string(i)
		} else {
			i, err = c.value(i, depth)
		}
		if err != nil {
			return i, err
		}
		if c.nm == len(c.ms) {
			c.ms = append(c.ms, make([]member, len(c.ms)+16)...)
		}
		c.ms[c.nm] = member{key, colon, c.n}
		c.nm++
		if i = skipSpace(in, i); i >= len(in) {
			return i, c.unexpected(i, "expected ',' or '}'")
		}
		switch in[i] {
		case ',':
			c.put(',')
			i = skipSpace(in, i+1)
		case '}':
			if !sorted {
				if err := c.sortObject(open, c.ms[base:c.nm]); err != nil {
					return i, err
				}
			}
			c.nm = base
			c.put('}')
			return i + 1, nil
		default:
			return i, c.unexpected(i, "expected ',' or '}'")
		}
	}
}

// sortObject puts the members ms of the object that starts at out[open],
// each already canonical and together filling out[open+1:n], into key order.
// It fails on a duplicate key.
func (c *canonicalizer) sortObject(open int, ms []member) error {
	out := c.out
	keyOf := func(m member) []byte { return out[m.key+1 : m.colon-1] }
	slices.SortFunc(ms, func(a, b member) int { return compareKeys(keyOf(a), keyOf(b)) })
	for k := 1; k < len(ms); k++ {
		if compareKeys(keyOf(ms[k-1]), keyOf(ms[k])) == 0 {
			return c.errorf(open, "duplicate key %s in the object", out[ms[k].key:ms[k].colon])
		}
	}
	tmp := append(c.scratch.tmp[:0], out[open+1:c.n]...)
	c.scratch.tmp = tmp
	n := open + 1
	for k, m := range ms {
		if k > 0 {
			out[n] = ','
			n++
		}
		n += copy(out[n:], tmp[m.key-open-1:m.end-open-1])
	}
	return nil
}

// compareKeys compares two object keys, each given in canonical form without
// its quotes, by the UTF-16 code units of their decoded characters.
//
// Byte order of UTF-8 is code point order, which is UTF-16 order but for one
// case: a character above U+FFFF (lead byte F0..F4) is a surrogate pair
// (0xD800..0xDFFF) in UTF-16 and sorts before U+E000..U+FFFF (lead byte EE
// or EF). So the keys are compared bytewise, with that case and escapes
// looked at where the keys first differ.
func compareKeys(a, b []byte) int {
	n := min(len(a), len(b))
	esc := false
	p := 0
	for p < n && a[p] == b[p] {
		esc = esc || a[p] == '\\'
		p++
	}
	if p == n {
		return cmp.Compare(len(a), len(b))
	}
	x, y := a[p], b[p]
	switch {
	case esc || x == '\\' || y == '\\':
		return compareEscapedKeys(a, b)
	case x >= 0xEE && y >= 0xEE && (x >= 0xF0) != (y >= 0xF0):
		if x >= 0xF0 {
			return -1
		}
		return 1
	case x < y:
		return -1
	}
	return 1
}

// compareEscapedKeys is compareKeys for keys with escapes: it walks both
// keys a character or escape at a time and decodes the first two that differ.
func compareEscapedKeys(a, b []byte) int {
	n := min(len(a), len(b))
	start := 0 // the start of the character or escape holding a[i]
	i := 0
	for i < n {
		x := a[i]
		if x != b[i] {
			if x < 0x80 || x >= 0xC0 { // not a continuation byte
				start = i
			}
			return cmp.Compare(keyRank(a, start), keyRank(b, start))
		}
		if x == '\\' {
			l := 2
			if a[i+1] == 'u' {
				l = 6
			}
			if i+l > len(b) || string(a[i:i+l]) != string(b[i:i+l]) {
				return cmp.Compare(keyRank(a, i), keyRank(b, i))
			}
			i += l
			start = i
			continue
		}
		if x < 0x80 || x >= 0xC0 {
			start = i
		}
		i++
	}
	return cmp.Compare(len(a), len(b))
}

// keyRank decodes the character at s[i] of a canonical string and ranks it in
// UTF-16 code unit order: code points below U+D800 rank as themselves, those
// above U+FFFF (surrogate pairs) next, U+E000..U+FFFF last.
func keyRank(s []byte, i int) rune {
	var r rune
	if s[i] == '\\' {
		switch e := s[i+1]; e {
		case 'u': // \u00xx
			r = unhex(s[i+4])<<4 | unhex(s[i+5])
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		default: // '"' or '\\'
			r = rune(e)
		}
	} else if r = rune(s[i]); r >= 0x80 {
		r, _ = utf8.DecodeRune(s[i:])
	}
	switch {
	case r > 0xFFFF:
		return r - 0x10000 + 0xD800
	case r >= 0xE000:
		return r + 0x100000
	}
	return r
}

// ---------------------------------------------------------------------------
// IsCanonical
// ---------------------------------------------------------------------------

// checkValue checks that a canonical value starts at in[i] and returns the
// index after it. depth counts the enclosing arrays and objects.
func checkValue(in []byte, i, depth int) (int, bool) {
	if i >= len(in) {
		return i, false
	}
	switch b := in[i]; b {
	case '"':
		return checkString(in, i)
	case '{':
		return checkObject(in, i, depth+1)
	case '[':
		return checkArray(in, i, depth+1)
	case 't':
		return i + 4, isLiteral(in, i, "true")
	case 'f':
		return i + 5, isLiteral(in, i, "false")
	case 'n':
		return i + 4, isLiteral(in, i, "null")
	case '0':
		return i + 1, true // what follows must be a delimiter, so 00 fails there
	case '-':
		i++
		if i >= len(in) || in[i] < '1' || in[i] > '9' { // -0 is not canonical
			return i, false
		}
	default:
		if b < '1' || b > '9' {
			return i, false
		}
	}
	digits := i
	for i < len(in) && in[i] >= '0' && in[i] <= '9' {
		i++
	}
	n := i - digits
	return i, n < len(maxSafeIntText) || n == len(maxSafeIntText) && string(in[digits:i]) <= maxSafeIntText
}

// checkString checks the canonical string at in[i] == '"'.
func checkString(in []byte, i int) (int, bool) {
	i++
	for {
		if i = scanRaw(in, i); i >= len(in) {
			return i, false
		}
		switch in[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(in) {
				return i, false
			}
			switch in[i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				// Only control characters without a short form: \u00xx, xx
				// in lower-case hex below 0x20 and none of 08 09 0a 0c 0d.
				if len(in)-i < 6 || in[i+2] != '0' || in[i+3] != '0' {
					return i, false
				}
				hi, lo := in[i+4], in[i+5]
				switch {
				case hi == '0' && (lo >= '0' && lo <= '7' || lo == 'b' || lo == 'e' || lo == 'f'):
				case hi == '1' && (lo >= '0' && lo <= '9' || lo >= 'a' && lo <= 'f'):
				default:
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default: // control character or invalid UTF-8
			return i, false
		}
	}
}

func checkArray(in []byte, i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	i++
	if i < len(in) && in[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i < len(in) && in[i] == '"' {
			i, ok = checkString(in, i)
		} else {
			i, ok = checkValue(in, i, depth)
		}
		if !ok || i >= len(in) {
			return i, false
		}
		switch in[i] {
		case ',':
			i++
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func checkObject(in []byte, i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	i++
	if i < len(in) && in[i] == '}' {
		return i + 1, true
	}
	prevKey, prevEnd := -1, -1
	for {
		if i >= len(in) || in[i] != '"' {
			return i, false
		}
		key := i
		var ok bool
		if i, ok = checkString(in, i); !ok {
			return i, false
		}
		if prevKey >= 0 && compareKeys(in[prevKey+1:prevEnd-1], in[key+1:i-1]) >= 0 {
			return i, false // out of order or duplicate
		}
		prevKey, prevEnd = key, i
		if i >= len(in) || in[i] != ':' {
			return i, false
		}
		if i++; i < len(in) && in[i] == '"' {
			i, ok = checkString(in, i)
		} else {
			i, ok = checkValue(in, i, depth)
		}
		if !ok || i >= len(in) {
			return i, false
		}
		switch in[i] {
		case ',':
			i++
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}
