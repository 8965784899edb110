package ids

import (
	"strings"

	"github.com/baybus/baybus/schemas"
)

// ELicenseRoot is the object identifier under which every 电子证照标识 lives.
const ELicenseRoot = "1.2.156.3005.2"

// MOD3736CheckChar returns the ISO/IEC 7064 MOD 37,36 check character
// (0-9, A-Z) of a string of digits and upper-case letters.
func MOD3736CheckChar(s string) (byte, error) {
	const m = 36
	p := m
	for i := 0; i < len(s); i++ {
		v, ok := alnumValue(s[i])
		if !ok {
			return 0, fail(ELicense, "elicense-charset", "character %q is not 0-9 or A-Z", s[i])
		}
		sum := (p + v) % m
		if sum == 0 {
			sum = m
		}
		p = (sum * 2) % (m + 1)
	}
	c := (m + 1 - p) % m
	if c < 10 {
		return byte('0' + c), nil
	}
	return byte('A' + c - 10), nil
}

// ELicenseParts are the parts of an e-license identifier after its root.
type ELicenseParts struct {
	Type    string // defining department's USCC + 3-digit type number
	Issuer  string // issuing authority's USCC
	Serial  string // 1-32 upper-case letters or digits
	Version string // 3 digits
	Check   byte
}

// MakeELicense assembles an identifier and computes its check character.
func MakeELicense(typ, issuer, serial, version string) (string, error) {
	c, err := MOD3736CheckChar(typ + issuer + serial + version)
	if err != nil {
		return "", err
	}
	return ELicenseRoot + "." + typ + "." + issuer + "." + serial + "." + version + "." + string(c), nil
}

// CheckELicense checks an e-license identifier: the root, the type code
// (a valid USCC and three digits), the issuer (a valid USCC), the serial,
// the version and the MOD 37,36 check character.
func (c *USCCChecker) CheckELicense(v string) error {
	rest, ok := strings.CutPrefix(v, ELicenseRoot+".")
	if !ok {
		return fail(ELicense, "elicense-root", "%q does not start with the root %s.", v, ELicenseRoot)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 5 || len(parts[4]) != 1 {
		return fail(ELicense, "elicense-format", "%q is not %s.<type>.<issuer>.<serial>.<version>.<check>", v, ELicenseRoot)
	}
	p := ELicenseParts{Type: parts[0], Issuer: parts[1], Serial: parts[2], Version: parts[3], Check: parts[4][0]}
	if len(p.Type) != 21 || !allDigits(p.Type[18:]) {
		return fail(ELicense, "elicense-type", "type code %q is not a department's USCC followed by 3 digits", p.Type)
	}
	if err := c.Check(p.Type[:18]); err != nil {
		return fail(ELicense, "elicense-type", "type code %q does not start with a valid USCC: %s", p.Type, describe(err))
	}
	if err := c.Check(p.Issuer); err != nil {
		return fail(ELicense, "elicense-issuer", "issuer %q is not a valid USCC: %s", p.Issuer, describe(err))
	}
	if len(p.Serial) < 1 || len(p.Serial) > 32 || !upperAlnum(p.Serial) {
		return fail(ELicense, "elicense-serial", "serial %q is not 1-32 upper-case letters or digits", p.Serial)
	}
	if len(p.Version) != 3 || !allDigits(p.Version) {
		return fail(ELicense, "elicense-version", "version %q is not 3 digits", p.Version)
	}
	want, _ := MOD3736CheckChar(p.Type + p.Issuer + p.Serial + p.Version)
	if p.Check != want {
		return fail(ELicense, "elicense-check", "check character is %q, want %q (ISO/IEC 7064 MOD 37,36)", p.Check, want)
	}
	return nil
}

// describe is a nested error's message and rule without its prefix.
func describe(err error) string {
	if fe, ok := schemas.AsFieldError(err); ok {
		return fe.Msg + " (rule " + fe.Rule + ")"
	}
	return err.Error()
}
