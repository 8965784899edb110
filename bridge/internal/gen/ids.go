package gen

import (
	"fmt"
	"time"

	"github.com/baybus/baybus/bridge/ids"
)

const usccBodyChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// USCC makes a valid unified social credit code: registration authority
// (e.g. '9' for market regulation), category (e.g. '1' for an enterprise),
// the 6-digit division and a random organisation code.
func (r *Rand) USCC(authority, category byte, division string) string {
	body := "MA" + r.Chars(usccBodyChars, 6)
	if r.Chance(30) {
		body = r.Digits(8)
	}
	return MakeUSCC(string([]byte{authority, category})+division, body)
}

// MakeUSCC builds a USCC from its 8-character prefix (authority, category,
// division) and its 8-character organisation code body, adding both check
// characters.
func MakeUSCC(prefix8, body8 string) string {
	org, err := ids.OrgCodeCheckChar(body8)
	if err != nil {
		panic(fmt.Sprintf("gen: organisation code body %q: %v", body8, err)) // generator bug
	}
	first17 := prefix8 + body8 + string(org)
	c, err := ids.USCCCheckChar(first17)
	if err != nil {
		panic(fmt.Sprintf("gen: USCC %q: %v", first17, err)) // generator bug
	}
	return first17 + string(c)
}

// CNRID makes a valid mainland resident id for a person born between 1960
// and 2002 in the county-level division area (6 digits).
func (r *Rand) CNRID(area string) string {
	birth := r.Day(time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2002, 12, 31, 0, 0, 0, 0, time.UTC))
	first17 := area + birth.Format("20060102") + r.Digits(3)
	c, err := ids.RIDCheckChar(first17)
	if err != nil {
		panic(fmt.Sprintf("gen: resident id %q: %v", first17, err)) // generator bug
	}
	return first17 + string(c)
}

// HKID makes a valid Hong Kong identity card number written A123456(3).
func (r *Rand) HKID() string {
	letters := r.Chars("ABCDEGHKMPRVYZ", 1)
	if r.Chance(10) {
		letters = "X" + r.Chars("ABCDEG", 1)
	}
	digits := r.Digits(6)
	c, err := ids.HKIDCheckChar(letters, digits)
	if err != nil {
		panic(fmt.Sprintf("gen: HKID %q: %v", letters+digits, err)) // generator bug
	}
	return letters + digits + "(" + string(c) + ")"
}

// MOBIR makes a Macao resident id number: 8 digits beginning with 1, 5 or 7.
func (r *Rand) MOBIR() string { return Pick(r, []string{"1", "5", "7"}) + r.Digits(7) }

// ELicense makes a valid e-license identifier for a type code (department
// USCC + 3 digits) and an issuer USCC.
func (r *Rand) ELicense(typ, issuer string, year int) string {
	id, err := ids.MakeELicense(typ, issuer, fmt.Sprintf("%d%s", year, r.Digits(8)), "001")
	if err != nil {
		panic(fmt.Sprintf("gen: e-license: %v", err)) // generator bug
	}
	return id
}
