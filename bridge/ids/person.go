package ids

import (
	"strings"
	"time"
)

// ridWeights are 2^(17-i) mod 11 for positions 1-17 (ISO 7064 MOD 11-2).
var ridWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// provinces are the province-level parts (first two digits) of GB/T 2260
// division codes, including 71 (Taiwan), 81 (Hong Kong), 82 (Macao) and 83
// (Taiwan residents), which appear on residence permits.
const provinces = "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83"

// checkArea checks a resident number's area code: a real province-level part
// and, except on Hong Kong, Macao and Taiwan residence permits (810000,
// 820000, 830000), a county-level rest.
func checkArea(area string) error {
	prov := area[:2]
	known := false
	for _, p := range strings.Fields(provinces) {
		known = known || p == prov
	}
	if !known {
		return fail(CNRID, "rid-area", "area code %s does not start with a GB/T 2260 province code", area)
	}
	if area[2:] == "0000" && prov != "81" && prov != "82" && prov != "83" {
		return fail(CNRID, "rid-area", "area code %s names a province, not a county-level division", area)
	}
	return nil
}

// RIDCheckChar returns the ISO 7064 MOD 11-2 check character (0-9 or X) of a
// resident identity number's first 17 digits.
func RIDCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 || !allDigits(first17) {
		return 0, fail(CNRID, "rid-charset", "need 17 digits to compute a check character, got %q", first17)
	}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * ridWeights[i]
	}
	c := (12 - sum%11) % 11
	if c == 10 {
		return 'X', nil
	}
	return byte('0' + c), nil
}

// CheckCNRID checks a mainland resident identity card number (GB 11643-1999).
func CheckCNRID(v string) error {
	if len(v) != 18 {
		return fail(CNRID, "rid-length", "%q has %d characters, want 18 (15-digit first-generation numbers are not accepted)", v, len([]rune(v)))
	}
	if !allDigits(v[:17]) {
		return fail(CNRID, "rid-charset", "the first 17 characters of %q must be digits", v)
	}
	if c := v[17]; !(c >= '0' && c <= '9') && c != 'X' {
		hint := ""
		if c == 'x' {
			hint = " (write the check character X in upper case)"
		}
		return fail(CNRID, "rid-charset", "check character %q must be 0-9 or X%s", c, hint)
	}
	if err := checkArea(v[:6]); err != nil {
		return err
	}
	birth, err := time.Parse("20060102", v[6:14])
	if err != nil || birth.Year() < 1800 {
		return fail(CNRID, "rid-birthdate", "birth date %s is not a valid date YYYYMMDD from 1800 on", v[6:14])
	}
	want, _ := RIDCheckChar(v[:17])
	if v[17] != want {
		return fail(CNRID, "rid-check", "check character is %q, want %q (ISO 7064 MOD 11-2)", v[17], want)
	}
	return nil
}

// HKIDCheckChar returns the check character (0-9 or A) of a Hong Kong
// identity card number given its one or two letters and six digits.
func HKIDCheckChar(letters, digits string) (byte, error) {
	if len(letters) < 1 || len(letters) > 2 || len(digits) != 6 || !allDigits(digits) {
		return 0, fail(HKID, "hkid-format", "need 1-2 letters and 6 digits, got %q and %q", letters, digits)
	}
	if len(letters) == 1 {
		letters = " " + letters
	}
	sum := 0
	for i := 0; i < 2; i++ {
		c := letters[i]
		switch {
		case c == ' ':
			sum += 36 * (9 - i)
		case c >= 'A' && c <= 'Z':
			sum += (int(c-'A') + 10) * (9 - i)
		default:
			return 0, fail(HKID, "hkid-format", "%q is not an upper-case letter", c)
		}
	}
	for i := 0; i < 6; i++ {
		sum += int(digits[i]-'0') * (7 - i)
	}
	c := (11 - sum%11) % 11
	if c == 10 {
		return 'A', nil
	}
	return byte('0' + c), nil
}

// SplitHKID splits A123456(3) or A1234563 into letters, digits and check.
func SplitHKID(v string) (letters, digits string, check byte, ok bool) {
	s := v
	if strings.HasSuffix(s, ")") {
		if len(s) < 4 || s[len(s)-3] != '(' {
			return "", "", 0, false
		}
		s = s[:len(s)-3] + s[len(s)-2:len(s)-1]
	}
	if len(s) != 8 && len(s) != 9 {
		return "", "", 0, false
	}
	n := len(s) - 7
	letters, digits, check = s[:n], s[n:n+6], s[n+6]
	for i := 0; i < n; i++ {
		if letters[i] < 'A' || letters[i] > 'Z' {
			return "", "", 0, false
		}
	}
	if !allDigits(digits) || !(check >= '0' && check <= '9' || check == 'A') {
		return "", "", 0, false
	}
	return letters, digits, check, true
}

// CheckHKID checks a Hong Kong identity card number written A123456(3) or
// A1234563 (one or two letters).
func CheckHKID(v string) error {
	letters, digits, check, ok := SplitHKID(v)
	if !ok {
		return fail(HKID, "hkid-format", "%q is not 1-2 upper-case letters, 6 digits and a check character 0-9 or A, as A123456(3) or A1234563", v)
	}
	want, _ := HKIDCheckChar(letters, digits)
	if check != want {
		return fail(HKID, "hkid-check", "check character is %q, want %q (mod 11)", check, want)
	}
	return nil
}

// CheckMOBIR checks the format of a Macao resident identity card number:
// eight digits beginning with 1, 5 or 7, written 12345678 or 1234567(8).
// No check algorithm has been published, so only the format is checked.
func CheckMOBIR(v string) error {
	s := v
	if len(s) == 10 && s[7] == '(' && s[9] == ')' {
		s = s[:7] + s[8:9]
	}
	if len(s) != 8 || !allDigits(s) || (s[0] != '1' && s[0] != '5' && s[0] != '7') {
		return fail(MOBIR, "mo-bir-format", "%q is not 8 digits beginning with 1, 5 or 7 (format only: no check algorithm is published)", v)
	}
	return nil
}

// CheckPassport checks the format of a passport number: 5 to 20 upper-case
// letters and digits.
func CheckPassport(v string) error {
	ok := len(v) >= 5 && len(v) <= 20
	for i := 0; ok && i < len(v); i++ {
		c := v[i]
		ok = c >= '0' && c <= '9' || c >= 'A' && c <= 'Z'
	}
	if !ok {
		return fail(Passport, "passport-format", "%q is not 5-20 upper-case letters and digits (format only)", v)
	}
	return nil
}
