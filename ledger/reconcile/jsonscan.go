package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// errScan: the bytes are not one JSON object in canonical form.
var errScan = errors.New("reconcile: not a canonical JSON object")

// members calls fn with every top-level member of obj, a JSON object in the
// canonical form schemas.CanonicalizeJSON writes (no white space). key is
// the raw body of the member's name between its quotes (escaped as the
// canonical form escapes it, so a plain name is its own bytes), val the raw
// value. Both alias obj. It is the cheap read the fast paths need: it does
// not decode values, and it trusts the canonical form for everything but
// the structure it walks.
func members(obj []byte, fn func(key, val []byte) error) error {
	if len(obj) < 2 || obj[0] != '{' {
		return errScan
	}
	i := 1
	if obj[i] == '}' {
		if len(obj) != 2 {
			return errScan
		}
		return nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return errScan
		}
		kEnd, err := skipString(obj, i)
		if err != nil {
			return err
		}
		if kEnd >= len(obj) || obj[kEnd] != ':' {
			return errScan
		}
		vEnd, err := skipValue(obj, kEnd+1)
		if err != nil {
			return err
		}
		if err := fn(obj[i+1:kEnd-1], obj[kEnd+1:vEnd]); err != nil {
			return err
		}
		if vEnd >= len(obj) {
			return errScan
		}
		switch obj[vEnd] {
		case ',':
			i = vEnd + 1
		case '}':
			if vEnd != len(obj)-1 {
				return errScan
			}
			return nil
		default:
			return errScan
		}
	}
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, errScan
		}
		end := j + q
		// The quote is escaped if an odd number of backslashes precede it.
		n := 0
		for k := end - 1; k > i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return end + 1, nil
		}
		j = end + 1
	}
	return 0, errScan
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errScan
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errScan
	}
	// A number or a literal: up to the next delimiter.
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	if j == i {
		return 0, errScan
	}
	return j, nil
}

// jsonString decodes a raw JSON string value; ok is false for any other
// value.
func jsonString(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	plain := true
	for _, c := range body {
		if c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(body), true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// errFound stops members early.
var errFound = errors.New("found")

// member returns the raw value of the top-level member named key, or nil.
// It stops at the member.
func member(obj []byte, key string) ([]byte, error) {
	var out []byte
	err := members(obj, func(k, v []byte) error {
		if string(k) == key {
			out = v
			return errFound
		}
		return nil
	})
	if err == errFound {
		err = nil
	}
	return out, err
}

// stringMember returns the string value of the top-level member named key.
func stringMember(obj []byte, key string) (string, bool, error) {
	raw, err := member(obj, key)
	if err != nil || raw == nil {
		return "", false, err
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", false, fmt.Errorf("%w: member %q is not a string", errScan, key)
	}
	return s, true, nil
}
