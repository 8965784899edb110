package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
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

// CanonicalizeJSON rewrites one JSON text in the canonical form described in
// README.md: the JSON Canonicalization Scheme (RFC 8785) restricted to
// integers in [-(2^53-1), 2^53-1]. Object keys are sorted by UTF-16 code
// units, there is no insignificant white space, strings are escaped minimally.
// Duplicate keys, fractions, exponents and invalid UTF-8 are errors, so two
// different byte strings never canonicalize to the same record by accident.
func CanonicalizeJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := canonValue(dec, &buf); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: trailing data after JSON value", ErrBadValue)
	}
	return buf.Bytes(), nil
}

// IsCanonical reports whether raw is exactly its own canonical form.
func IsCanonical(raw []byte) bool {
	c, err := CanonicalizeJSON(raw)
	return err == nil && bytes.Equal(c, raw)
}

const maxSafeInt = 1<<53 - 1

func canonValue(dec *json.Decoder, buf *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return canonObject(dec, buf)
		case '[':
			buf.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					buf.WriteByte(',')
				}
				if err := canonValue(dec, buf); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return fmt.Errorf("%w: %v", ErrBadValue, err)
			}
			buf.WriteByte(']')
			return nil
		}
		return fmt.Errorf("%w: unexpected %v", ErrBadValue, t)
	case string:
		return writeString(buf, t)
	case json.Number:
		n, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil || n > maxSafeInt || n < -maxSafeInt {
			return fmt.Errorf("%w: number %s is not an integer in ±(2^53-1); write amounts as decimal strings", ErrBadValue, t)
		}
		buf.WriteString(strconv.FormatInt(n, 10))
		return nil
	case bool:
		buf.WriteString(strconv.FormatBool(t))
		return nil
	case nil:
		buf.WriteString("null")
		return nil
	}
	return fmt.Errorf("%w: unexpected token %v", ErrBadValue, tok)
}

type member struct {
	key   string
	units []uint16
	value []byte
}

func canonObject(dec *json.Decoder, buf *bytes.Buffer) error {
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadValue, err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: object key %v", ErrBadValue, tok)
		}
		if !utf8.ValidString(key) {
			return fmt.Errorf("%w: key is not valid UTF-8", ErrBadValue)
		}
		var vb bytes.Buffer
		if err := canonValue(dec, &vb); err != nil {
			return err
		}
		members = append(members, member{key: key, units: utf16.Encode([]rune(key)), value: vb.Bytes()})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	slices.SortFunc(members, func(a, b member) int { return slices.Compare(a.units, b.units) })
	buf.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			if m.key == members[i-1].key {
				return fmt.Errorf("%w: duplicate key %q", ErrBadValue, m.key)
			}
			buf.WriteByte(',')
		}
		_ = writeString(buf, m.key)
		buf.WriteByte(':')
		buf.Write(m.value)
	}
	buf.WriteByte('}')
	return nil
}

const hexDigits = "0123456789abcdef"

// writeString writes s as an RFC 8785 string: only '"', '\\' and control
// characters are escaped; everything else is written as raw UTF-8.
func writeString(buf *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: string is not valid UTF-8", ErrBadValue)
	}
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			buf.WriteString(`\"`)
		case c == '\\':
			buf.WriteString(`\\`)
		case c == '\b':
			buf.WriteString(`\b`)
		case c == '\f':
			buf.WriteString(`\f`)
		case c == '\n':
			buf.WriteString(`\n`)
		case c == '\r':
			buf.WriteString(`\r`)
		case c == '\t':
			buf.WriteString(`\t`)
		case c < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hexDigits[c>>4])
			buf.WriteByte(hexDigits[c&0xf])
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
	return nil
}
