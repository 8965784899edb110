// Package script converts Chinese text between Simplified characters and
// Traditional characters as used in Hong Kong (and Macao), with the OpenCC
// dictionaries and conversion chains of github.com/liuzl/gocc ("s2hk" and
// "hk2s"; not Taiwan's variants).
//
// gocc's own Convert allocates a map for every character it looks up, which
// costs about 1 µs a character; a gateway converts every text field of every
// event. Converter therefore walks gocc's double-array tries itself, with the
// same matching rule as gocc (for each dictionary group in the chain, at each
// position, the first dictionary of the group that has a match supplies its
// longest match; otherwise the character is copied), and skips runs of
// characters below U+2E80, which no dictionary key starts with. The tests
// check the result against gocc's Convert.
//
// A Converter is immutable once built and safe for concurrent use. Building
// one parses the dictionaries (about 100 ms), so Default builds it once.
package script

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/baybus/baybus/schemas"
	"github.com/liuzl/da"
	"github.com/liuzl/gocc"
)

// Version names the conversion rules: the OpenCC port, its version and the
// two chains used. Renderings that contain converted text carry it through
// their own version strings.
const Version = "gocc@v0.0.0-20231231122217-0372e1059ca5:s2hk,hk2s"

// firstKeyRune is the smallest first character of any key in the s2hk and
// hk2s dictionaries (checked by the tests).
const firstKeyRune = 0x2E80

// Converter converts between Simplified and Hong Kong Traditional Chinese.
type Converter struct {
	s2hk, hk2s chain
}

type chain [][]*da.Dict // groups of dictionaries, applied in order

var defaultConverter = sync.OnceValues(func() (*Converter, error) { return New() })

// Default returns the shared converter, building it on first use.
func Default() (*Converter, error) { return defaultConverter() }

// New builds a converter. Most callers want Default.
func New() (*Converter, error) {
	var c Converter
	for _, x := range []struct {
		name string
		dst  *chain
	}{{"s2hk", &c.s2hk}, {"hk2s", &c.hk2s}} {
		cc, err := gocc.New(x.name)
		if err != nil {
			return nil, fmt.Errorf("script: load %s: %w", x.name, err)
		}
		for _, g := range cc.DictChains {
			*x.dst = append(*x.dst, g.Dicts)
		}
	}
	return &c, nil
}

// ToHant converts Simplified Chinese to Traditional Chinese (Hong Kong usage).
func (c *Converter) ToHant(s string) string { return c.s2hk.convert(s) }

// ToHans converts Traditional Chinese (Hong Kong usage) to Simplified Chinese.
func (c *Converter) ToHans(s string) string { return c.hk2s.convert(s) }

// HasHan reports whether s has a character that conversion could change.
func HasHan(s string) bool {
	for _, r := range s {
		if r >= firstKeyRune {
			return true
		}
	}
	return false
}

func (ch chain) convert(s string) string {
	if !HasHan(s) {
		return s
	}
	for _, group := range ch {
		s = convertGroup(group, s)
	}
	return s
}

func convertGroup(group []*da.Dict, s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < firstKeyRune {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		matched := false
		for _, d := range group {
			if n, v := longestPrefix(d, s[i:]); n > 0 {
				b.WriteString(v)
				i += n
				matched = true
				break
			}
		}
		if !matched {
			b.WriteString(s[i : i+size])
			i += size
		}
	}
	return b.String()
}

// longestPrefix returns the length of the longest key of d that prefixes s
// and that key's first value.
func longestPrefix(d *da.Dict, s string) (int, string) {
	var buf [1]byte
	best, bestVal := 0, -1
	for from, i := 0, 0; i < len(s); i++ {
		buf[0] = s[i]
		to, err := d.Trie.Jump(buf[:], from)
		if err != nil {
			break
		}
		if v, err := d.Trie.Value(to); err == nil {
			best, bestVal = i+1, v
		}
		from = to
	}
	if best == 0 || bestVal < 0 || bestVal >= len(d.Values) || len(d.Values[bestVal]) == 0 {
		return 0, ""
	}
	return best, d.Values[bestVal][0]
}

// Complete returns a copy of t with the missing Chinese script added: a text
// with only zh-Hans gains zh-Hant (s2hk) and one with only zh-Hant gains
// zh-Hans (hk2s). What was written is never changed, and completing a
// completed text changes nothing.
func (c *Converter) Complete(t schemas.Text) schemas.Text {
	if t == nil {
		return nil
	}
	out := make(schemas.Text, len(t)+1)
	for k, v := range t {
		out[k] = v
	}
	hans, hant := t[schemas.LangHans], t[schemas.LangHant]
	switch {
	case hans != "" && hant == "":
		out[schemas.LangHant] = c.ToHant(hans)
	case hant != "" && hans == "":
		out[schemas.LangHans] = c.ToHans(hant)
	}
	return out
}
