package native

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/baybus/baybus/schemas"
)

// DateStyle is how a jurisdiction writes a calendar date.
type DateStyle int

// The date styles.
const (
	DateCN  DateStyle = iota // 2019年3月1日 (leading zeros accepted on input)
	DateDMY                  // 01/03/2019
)

var (
	cnDate  = regexp.MustCompile(`^([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日$`)
	dmyDate = regexp.MustCompile(`^([0-9]{2})/([0-9]{2})/([0-9]{4})$`)
	isoDate = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})-([0-9]{2})$`)
)

// ParseDate turns a native date into ISO 8601 (YYYY-MM-DD).
func (s DateStyle) ParseDate(v string) (string, error) {
	var y, m, d string
	switch s {
	case DateCN:
		p := cnDate.FindStringSubmatch(v)
		if p == nil {
			return "", ruleErr("date-format", "%q is not a date written 2019年3月1日", v)
		}
		y, m, d = p[1], p[2], p[3]
	case DateDMY:
		p := dmyDate.FindStringSubmatch(v)
		if p == nil {
			return "", ruleErr("date-format", "%q is not a date written DD/MM/YYYY", v)
		}
		d, m, y = p[1], p[2], p[3]
	}
	yi, _ := strconv.Atoi(y)
	mi, _ := strconv.Atoi(m)
	di, _ := strconv.Atoi(d)
	if !validDate(yi, mi, di) {
		return "", ruleErr("date-invalid", "%q is not a calendar date", v)
	}
	return fmt.Sprintf("%04d-%02d-%02d", yi, mi, di), nil
}

// FormatDate writes an ISO 8601 date in the style. A value that is not an
// ISO date is returned unchanged, so a view never hides what a record says.
func (s DateStyle) FormatDate(iso string) string {
	p := isoDate.FindStringSubmatch(iso)
	if p == nil {
		return iso
	}
	switch s {
	case DateCN:
		m, _ := strconv.Atoi(p[2])
		d, _ := strconv.Atoi(p[3])
		return fmt.Sprintf("%s年%d月%d日", p[1], m, d)
	default:
		return p[3] + "/" + p[2] + "/" + p[1]
	}
}

func validDate(y, m, d int) bool {
	if y < 1800 || m < 1 || m > 12 || d < 1 {
		return false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t.Day() == d && int(t.Month()) == m
}

// MoneyStyle is how a jurisdiction writes an amount of money.
type MoneyStyle int

// The money styles.
const (
	MoneyCN MoneyStyle = iota // 100万元人民币, 50万美元; 500000元人民币 accepted on input
	MoneyHK                   // HK$2,250.00 for HKD, CNY 1,000,000 for other currencies
	MoneyMO                   // MOP 25,000.00, CNY 1,000,000
)

// cnCurrencies are the currency words of MoneyCN, in the form written after
// 万 (ten thousand). The first word of each currency is the one written.
var cnCurrencies = []struct{ word, code string }{
	{"元人民币", "CNY"}, {"人民币", "CNY"},
	{"港元", "HKD"}, {"澳门元", "MOP"}, {"美元", "USD"}, {"欧元", "EUR"},
}

var (
	cnMoney = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(万?)(\p{Han}+)$`)
	codeAmt = regexp.MustCompile(`^(HK\$|[A-Z]{3} )([0-9]{1,3}(?:,[0-9]{3})*(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?)$`)
	amount  = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})(\.[0-9]{1,4})?$`)
)

var currencies = map[string]bool{"CNY": true, "HKD": true, "MOP": true, "USD": true, "EUR": true}

// ParseMoney turns a native amount into canonical money.
func (s MoneyStyle) ParseMoney(v string) (*schemas.Money, error) {
	var amt, code string
	switch s {
	case MoneyCN:
		p := cnMoney.FindStringSubmatch(v)
		if p == nil {
			return nil, ruleErr("money-format", "%q is not an amount written like 100万元人民币", v)
		}
		for _, c := range cnCurrencies {
			if p[3] == c.word {
				code = c.code
				break
			}
		}
		if code == "" {
			return nil, ruleErr("money-currency", "%q: unknown currency %q (valid: 元人民币, 港元, 澳门元, 美元, 欧元)", v, p[3])
		}
		amt = p[1]
		if p[2] == "万" {
			amt = shiftDecimal(amt, 4)
		}
	default:
		p := codeAmt.FindStringSubmatch(v)
		if p == nil {
			return nil, ruleErr("money-format", "%q is not an amount written like %s", v, s.example())
		}
		code = strings.TrimSpace(p[1])
		if code == "HK$" {
			code = "HKD"
		}
		amt = strings.ReplaceAll(p[2], ",", "")
	}
	if !currencies[code] {
		return nil, ruleErr("money-currency", "%q: currency %s is not one of CNY, HKD, MOP, USD, EUR", v, code)
	}
	amt = trimIntZeros(amt)
	if !amount.MatchString(amt) {
		return nil, ruleErr("money-amount", "%q: amount %s has more than 18 integer digits or 4 decimals", v, amt)
	}
	return &schemas.Money{Amount: amt, Currency: code}, nil
}

func (s MoneyStyle) example() string {
	if s == MoneyHK {
		return "HK$2,250.00 or CNY 1,000,000"
	}
	return "MOP 25,000.00"
}

// FormatMoney writes canonical money in the style.
func (s MoneyStyle) FormatMoney(m *schemas.Money) string {
	switch s {
	case MoneyCN:
		word := m.Currency
		for _, c := range cnCurrencies {
			if c.code == m.Currency {
				word = c.word
				break
			}
		}
		// Written in 万 (ten thousand) when that loses nothing: 1000000
		// is 100万; 1000000.00 keeps its decimals as 1000000.00元人民币.
		if wan := shiftDecimal(m.Amount, -4); shiftDecimal(wan, 4) == m.Amount {
			return wan + "万" + word
		}
		return m.Amount + word
	case MoneyHK:
		if m.Currency == "HKD" {
			return "HK$" + Group(m.Amount)
		}
	}
	return m.Currency + " " + Group(m.Amount)
}

// Group puts thousands separators into a decimal string: 1234567.5 becomes
// 1,234,567.5. Anything else is returned unchanged.
func Group(amt string) string {
	intPart, frac, hasFrac := strings.Cut(amt, ".")
	if intPart == "" || !digits(intPart) {
		return amt
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// shiftDecimal moves the decimal point of a non-negative decimal string by
// places (positive: multiply by 10^places), then drops leading zeros of the
// integer part and trailing zeros of the fraction. It never rounds.
func shiftDecimal(v string, places int) string {
	intPart, frac, _ := strings.Cut(v, ".")
	ds := intPart + frac
	point := len(intPart) + places
	for point < 0 {
		ds = "0" + ds
		point++
	}
	for point > len(ds) {
		ds += "0"
	}
	out := trimIntZeros(ds[:point])
	if out == "" {
		out = "0"
	}
	if f := strings.TrimRight(ds[point:], "0"); f != "" {
		out += "." + f
	}
	return out
}

func trimIntZeros(v string) string {
	intPart, frac, hasFrac := strings.Cut(v, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if hasFrac {
		return intPart + "." + frac
	}
	return intPart
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MaxText is the longest text a canonical Text value may hold, in characters.
const MaxText = 2000

// checkText enforces the rules every native text obeys: not blank, at most
// MaxText characters, no control characters (line breaks included: a
// license's fields are single lines).
func checkText(v string) error {
	if strings.TrimSpace(v) == "" {
		return ruleErr("text-empty", "text is empty")
	}
	if n := utf8.RuneCountInString(v); n > MaxText {
		return ruleErr("text-length", "text has %d characters, limit %d", n, MaxText)
	}
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		return ruleErr("text-control", "text has a control character at byte %d", i)
	}
	return nil
}

// checkCode enforces the rules of a native identifier value: 1 to max
// printable characters without spaces.
func checkCode(v string, max int) error {
	if v == "" {
		return ruleErr("id-empty", "identifier is empty")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return ruleErr("id-length", "identifier has %d characters, limit %d", n, max)
	}
	if i := strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return ruleErr("id-space", "identifier %q has a space or control character", v)
	}
	return nil
}

var timestamp = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$`)

func checkTimestamp(v string) error {
	if !timestamp.MatchString(v) {
		return ruleErr("timestamp", "%q is not an RFC 3339 time like 2024-03-01T10:00:00+08:00", v)
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
		return ruleErr("timestamp", "%q is not a valid time: %v", v, err)
	}
	return nil
}

// ruleErr is a FieldError whose Field the decoder fills in.
func ruleErr(rule, format string, args ...any) *schemas.FieldError {
	return &schemas.FieldError{Rule: rule, Msg: fmt.Sprintf(format, args...)}
}
