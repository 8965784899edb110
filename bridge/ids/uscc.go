package ids

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// usccAlphabet is GB 32100-2015's character set in value order: the digits and
// the upper-case letters without I, O, Z, S and V.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are 3^i mod 31 for positions 1-17.
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// orgCodeWeights are GB 11714-1997's weights for the 8 body characters.
var orgCodeWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

func usccValue(c byte) int { return strings.IndexByte(usccAlphabet, c) }

// USCCCheckChar returns the 18th character of a USCC whose first 17
// characters are given.
func USCCCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fail(USCC, "uscc-length", "need 17 characters to compute a check character, got %d", len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := usccValue(first17[i])
		if v < 0 {
			return 0, fail(USCC, "uscc-charset", "character %d %q is not in 0-9A-HJ-NP-RTUWXY (I, O, Z, S, V are never used)", i+1, first17[i])
		}
		sum += v * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31], nil
}

// MakeUSCC assembles a USCC of an enterprise (registration authority 9,
// entity type 1) registered in division (six digits), whose organisation
// code body is body8 (eight characters of the USCC alphabet), and computes
// both check characters.
func MakeUSCC(division, body8 string) (string, error) {
	if len(division) != 6 || strings.Trim(division, "0123456789") != "" {
		return "", fail(USCC, "uscc-division", "division %q is not six digits", division)
	}
	for i := 0; i < len(body8); i++ {
		if usccValue(body8[i]) < 0 {
			return "", fail(USCC, "uscc-charset", "organisation code character %q is not in 0-9A-HJ-NP-RTUWXY", body8[i])
		}
	}
	oc, err := OrgCodeCheckChar(body8)
	if err != nil {
		return "", err
	}
	first := "91" + division + body8 + string(oc)
	cc, err := USCCCheckChar(first)
	if err != nil {
		return "", err
	}
	return first + string(cc), nil
}

// OrgCodeCheckChar returns the GB 11714-1997 check character (0-9 or X) of
// an organisation code's 8 body characters.
func OrgCodeCheckChar(body8 string) (byte, error) {
	if len(body8) != 8 {
		return 0, fail(USCC, "org-code-length", "need 8 characters to compute an organisation code check, got %d", len(body8))
	}
	sum := 0
	for i := 0; i < 8; i++ {
		v, ok := alnumValue(body8[i])
		if !ok {
			return 0, fail(USCC, "org-code-charset", "organisation code character %d %q is not 0-9 or A-Z", i+1, body8[i])
		}
		sum += v * orgCodeWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X', nil
	case 11:
		return '0', nil
	default:
		return byte('0' + c), nil
	}
}

// USCCChecker checks unified social credit codes against GB 32100-2015,
// accepting codes that fail a check character only if its allow-list names
// them. It is immutable and safe for concurrent use.
type USCCChecker struct {
	allow map[string]string // code -> documented reason
}

//go:embed uscc_allowlist.txt
var defaultAllowList []byte

var defaultUSCC = sync.OnceValue(func() *USCCChecker {
	c, err := NewUSCCChecker(defaultAllowList)
	if err != nil {
		// The embedded list is checked by the package's tests; a broken one
		// is a build defect, not an input error.
		panic(err)
	}
	return c
})

// DefaultUSCC returns the checker with the allow-list embedded from
// uscc_allowlist.txt.
func DefaultUSCC() *USCCChecker { return defaultUSCC() }

// NewUSCCChecker returns a checker with an allow-list in the format of
// uscc_allowlist.txt: one code per line followed by white space and the
// reason it is accepted (who issued it, where it was seen); blank lines and
// lines starting with # are ignored. Each listed code must have the right
// length, character set and division digits and must actually fail a check
// character: the list excuses check characters, nothing else.
func NewUSCCChecker(allowList []byte) (*USCCChecker, error) {
	c := &USCCChecker{allow: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(allowList))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code, reason, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(code, '\t'); i >= 0 {
			code, reason = code[:i], code[i+1:]+" "+reason
		}
		reason = strings.TrimSpace(reason)
		if reason == "" {
			return nil, fmt.Errorf("ids: USCC allow-list line %d: %s has no reason", n, code)
		}
		if err := checkUSCCShape(code); err != nil {
			return nil, fmt.Errorf("ids: USCC allow-list line %d: %w", n, err)
		}
		if checkUSCCDigits(code) == nil {
			return nil, fmt.Errorf("ids: USCC allow-list line %d: %s passes its checks and does not belong on the list", n, code)
		}
		if _, dup := c.allow[code]; dup {
			return nil, fmt.Errorf("ids: USCC allow-list line %d: %s listed twice", n, code)
		}
		c.allow[code] = reason
	}
	return c, sc.Err()
}

// Allowed returns the documented reason for accepting a listed code.
func (c *USCCChecker) Allowed(code string) (reason string, ok bool) {
	reason, ok = c.allow[code]
	return reason, ok
}

// Len returns the number of codes on the allow-list.
func (c *USCCChecker) Len() int { return len(c.allow) }

// Check checks a unified social credit code: length, character set, division
// digits, then (unless the code is on the allow-list) the organisation code's
// check and the code's own check character.
func (c *USCCChecker) Check(code string) error {
	if err := checkUSCCShape(code); err != nil {
		return err
	}
	if _, ok := c.allow[code]; ok {
		return nil
	}
	return checkUSCCDigits(code)
}

func checkUSCCShape(code string) error {
	if n := utf8.RuneCountInString(code); n != 18 || len(code) != 18 {
		return fail(USCC, "uscc-length", "%q has %d characters, want 18", code, n)
	}
	for i := 0; i < 18; i++ {
		if usccValue(code[i]) < 0 {
			return fail(USCC, "uscc-charset", "character %d %q is not in 0-9A-HJ-NP-RTUWXY (I, O, Z, S, V are never used)", i+1, code[i])
		}
	}
	if !allDigits(code[2:8]) {
		return fail(USCC, "uscc-region", "characters 3-8 %q must be an administrative division code (6 digits)", code[2:8])
	}
	return nil
}

func checkUSCCDigits(code string) error {
	want, _ := USCCCheckChar(code[:17])
	if code[17] != want {
		return fail(USCC, "uscc-check", "check character is %q, want %q (GB 32100-2015, weights 3^i mod 31)", code[17], want)
	}
	org, err := OrgCodeCheckChar(code[8:16])
	if err != nil {
		return err
	}
	if code[16] != org {
		return fail(USCC, "org-code-check", "organisation code %s has check character %q, want %q (GB 11714-1997)", code[8:17], code[16], org)
	}
	return nil
}
