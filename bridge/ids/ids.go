package ids

import (
	"fmt"
	"strings"

	"github.com/baybus/baybus/schemas"
)

// Kind names an identifier kind. The names match schemas.Party.IDKind where
// the kind can identify a party.
type Kind string

// The identifier kinds.
const (
	USCC     Kind = "uscc"     // 统一社会信用代码
	CNRID    Kind = "cn-rid"   // mainland resident identity card number
	HKID     Kind = "hkid"     // Hong Kong identity card number
	HKBRN    Kind = "hk-brn"   // Hong Kong business registration number
	HKBRC    Kind = "hk-brc"   // Hong Kong business registration certificate number
	MOBIR    Kind = "mo-bir"   // Macao resident identity card number
	MOTax    Kind = "mo-tax"   // Macao taxpayer number
	MOReg    Kind = "mo-reg"   // Macao commercial registration number
	Passport Kind = "passport" // passport number
	ELicense Kind = "elicense" // 电子证照标识
)

// Kinds returns every identifier kind in a fixed order.
func Kinds() []Kind {
	return []Kind{USCC, CNRID, HKID, HKBRN, HKBRC, MOBIR, MOTax, MOReg, Passport, ELicense}
}

// ParseKind returns the kind with the given name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, 0, 10)
	for _, k := range Kinds() {
		names = append(names, string(k))
	}
	return "", &schemas.FieldError{Field: "kind", Rule: "enum",
		Msg: fmt.Sprintf("ids: unknown identifier kind %q (valid: %s)", s, strings.Join(names, ", "))}
}

// FormatOnly reports whether a kind can only be checked for its format
// because no check algorithm has been published for it.
func (k Kind) FormatOnly() bool {
	switch k {
	case HKBRN, HKBRC, MOBIR, MOTax, MOReg, Passport:
		return true
	}
	return false
}

// Check checks value as an identifier of the given kind, with the default
// USCC allow-list. The error's Field is the kind's name; use WithField to
// name the field it came from.
func Check(kind Kind, value string) error {
	switch kind {
	case USCC:
		return DefaultUSCC().Check(value)
	case CNRID:
		return CheckCNRID(value)
	case HKID:
		return CheckHKID(value)
	case HKBRN:
		return CheckHKBRN(value)
	case HKBRC:
		return CheckHKBRC(value)
	case MOBIR:
		return CheckMOBIR(value)
	case MOTax:
		return CheckMOTax(value)
	case MOReg:
		return CheckMOReg(value)
	case Passport:
		return CheckPassport(value)
	case ELicense:
		return DefaultUSCC().CheckELicense(value)
	}
	_, err := ParseKind(string(kind))
	return err
}

// WithField returns err with its FieldError's Field replaced by field. Other
// errors are returned unchanged.
func WithField(err error, field string) error {
	fe, ok := schemas.AsFieldError(err)
	if !ok {
		return err
	}
	return &schemas.FieldError{Field: field, Rule: fe.Rule, Msg: fe.Msg}
}

func fail(kind Kind, rule, format string, args ...any) error {
	return &schemas.FieldError{Field: string(kind), Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// alnumValue is the value of 0-9 and A-Z in GB 11714 and ISO/IEC 7064: 0-35.
func alnumValue(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10, true
	}
	return 0, false
}
