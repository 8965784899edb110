package ids

import (
	"errors"
	"strings"
	"testing"

	"github.com/baybus/baybus/schemas"
)

type idCase struct {
	name  string
	kind  Kind
	value string
	rule  string // "" means valid
}

// Valid values below are either the standards' own examples (GB 11643-1999:
// 11010519491231002X, 440524188001010014; the Hong Kong government's
// A123456(3)) or synthetic values built with this package's check functions.
var idCases = []idCase{
	// USCC, GB 32100-2015.
	{"uscc valid enterprise", USCC, "91440300MA5F0000X1", ""},
	{"uscc valid individual business", USCC, "92440300123456788J", ""},
	{"uscc valid institution", USCC, "12440300MB2C55479Q", ""},
	{"uscc valid with letter org code", USCC, "914403000000000A2Y", ""},
	{"uscc too short", USCC, "91440300MA5F0000X", "uscc-length"},
	{"uscc too long", USCC, "91440300MA5F0000X1Y", "uscc-length"},
	{"uscc empty", USCC, "", "uscc-length"},
	{"uscc letter I", USCC, "91440300MA5I0000X1", "uscc-charset"},
	{"uscc letter O", USCC, "91440300MA5O0000X1", "uscc-charset"},
	{"uscc letter Z", USCC, "91440300MA5Z0000X1", "uscc-charset"},
	{"uscc letter S", USCC, "91440300MA5S0000X1", "uscc-charset"},
	{"uscc letter V", USCC, "91440300MA5V0000X1", "uscc-charset"},
	{"uscc lower case", USCC, "91440300ma5f0000x1", "uscc-charset"},
	{"uscc non-ASCII", USCC, "９1440300MA5F0000X", "uscc-length"},
	{"uscc letter in division", USCC, "9144A300MA5F0000X1", "uscc-region"},
	{"uscc wrong check char", USCC, "91440300MA5F0000X2", "uscc-check"},
	{"uscc transposed", USCC, "91443000MA5F0000X1", "uscc-check"},
	{"uscc wrong org code check", USCC, orgBroken(), "org-code-check"},

	// Mainland resident identity number, GB 11643-1999.
	{"rid standard example X", CNRID, "11010519491231002X", ""},
	{"rid standard example 1880", CNRID, "440524188001010014", ""},
	{"rid synthetic", CNRID, "440300199001011238", ""},
	{"rid leap day", CNRID, "440305200002290010", ""},
	{"rid hk residence permit", CNRID, "810000198506150020", ""},
	{"rid 15 digits", CNRID, "440300900101123", "rid-length"},
	{"rid letter", CNRID, "4403001990010A1238", "rid-charset"},
	{"rid lower-case x", CNRID, "11010519491231002x", "rid-charset"},
	{"rid bad check char", CNRID, "44030019900101123Y", "rid-charset"},
	{"rid unknown province", CNRID, "990300199001011238", "rid-area"},
	{"rid province only", CNRID, "440000199001011238", "rid-area"},
	{"rid month 13", CNRID, "440300199013011238", "rid-birthdate"},
	{"rid 30 February", CNRID, "440300199002301238", "rid-birthdate"},
	{"rid 29 February non-leap", CNRID, "440300190002291238", "rid-birthdate"},
	{"rid before 1800", CNRID, "440300179901011238", "rid-birthdate"},
	{"rid wrong check", CNRID, "440300199001011239", "rid-check"},

	// HKID.
	{"hkid one letter", HKID, "A123456(3)", ""},
	{"hkid one letter no brackets", HKID, "A1234563", ""},
	{"hkid two letters", HKID, "AB987654(3)", ""},
	{"hkid check A", HKID, "Z683365(A)", ""},
	{"hkid check 0", HKID, "K000000(0)", ""},
	{"hkid wrong check", HKID, "A123456(4)", "hkid-check"},
	{"hkid wrong check A", HKID, "C668668(A)", "hkid-check"},
	{"hkid lower case", HKID, "a123456(3)", "hkid-format"},
	{"hkid three letters", HKID, "ABC123456(3)", "hkid-format"},
	{"hkid five digits", HKID, "A12345(3)", "hkid-format"},
	{"hkid check B", HKID, "A123456(B)", "hkid-format"},
	{"hkid broken bracket", HKID, "A123456(3", "hkid-format"},
	{"hkid empty", HKID, "", "hkid-format"},

	// HK BR number and certificate number (format only).
	{"brn valid", HKBRN, "12345678", ""},
	{"brn seven digits", HKBRN, "1234567", "hk-brn-format"},
	{"brn letter", HKBRN, "1234567A", "hk-brn-format"},
	{"brc valid", HKBRC, "12345678-000-03-25-A", ""},
	{"brc branch", HKBRC, "12345678-001-12-26-7", ""},
	{"brc month 13", HKBRC, "12345678-000-13-25-A", "hk-brc-format"},
	{"brc month 00", HKBRC, "12345678-000-00-25-A", "hk-brc-format"},
	{"brc no dashes", HKBRC, "12345678000032 5A", "hk-brc-format"},
	{"brc lower-case check", HKBRC, "12345678-000-03-25-a", "hk-brc-format"},

	// Macao (format only).
	{"bir 1", MOBIR, "12345678", ""},
	{"bir 5", MOBIR, "51234567", ""},
	{"bir 7 bracketed", MOBIR, "7123456(7)", ""},
	{"bir leading 3", MOBIR, "31234567", "mo-bir-format"},
	{"bir seven digits", MOBIR, "1234567", "mo-bir-format"},
	{"bir letter", MOBIR, "1234567A", "mo-bir-format"},
	{"tax entity", MOTax, "80012345", ""},
	{"tax individual", MOTax, "00012345", ""},
	{"tax leading 1", MOTax, "10012345", "mo-tax-format"},
	{"tax nine digits", MOTax, "800123456", "mo-tax-format"},
	{"reg valid", MOReg, "12345", ""},
	{"reg leading zero", MOReg, "012345", "mo-reg-format"},
	{"reg nine digits", MOReg, "123456789", "mo-reg-format"},
	{"reg letters", MOReg, "12345SO", "mo-reg-format"},

	{"passport valid", Passport, "E12345678", ""},
	{"passport short", Passport, "E123", "passport-format"},
	{"passport lower case", Passport, "e12345678", "passport-format"},

	// 电子证照标识.
	{"elicense synthetic", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.001.W", ""},
	{"elicense published format example", ELicense, "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U", ""},
	{"elicense wrong root", ELicense, "1.2.156.3005.1.11100000000013338W050.11440300MB2C55479U.2024000123.001.W", "elicense-root"},
	{"elicense missing part", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.W", "elicense-format"},
	{"elicense two check chars", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.001.WW", "elicense-format"},
	{"elicense short type", ELicense, "1.2.156.3005.2.11100000000013338W.11440300MB2C55479U.2024000123.001.W", "elicense-type"},
	{"elicense bad type uscc", ELicense, "1.2.156.3005.2.11100000000013338X050.11440300MB2C55479U.2024000123.001.W", "elicense-type"},
	{"elicense bad issuer", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479V.2024000123.001.W", "elicense-issuer"},
	{"elicense lower-case serial", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024abc.001.W", "elicense-serial"},
	{"elicense empty serial", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U..001.W", "elicense-serial"},
	{"elicense version", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.01.W", "elicense-version"},
	{"elicense wrong check", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000123.001.X", "elicense-check"},
	{"elicense changed serial", ELicense, "1.2.156.3005.2.11100000000013338W050.11440300MB2C55479U.2024000124.001.W", "elicense-check"},
}

// orgBroken is a code whose own check character is right but whose embedded
// organisation code's check character is not.
func orgBroken() string {
	first17 := "91440300MA5F00001"
	c, _ := USCCCheckChar(first17)
	return first17 + string(c)
}

func TestCheck(t *testing.T) {
	for _, tc := range idCases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.kind, tc.value)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("Check(%s, %q) = %v, want valid", tc.kind, tc.value, err)
				}
				return
			}
			fe, ok := schemas.AsFieldError(err)
			if !ok {
				t.Fatalf("Check(%s, %q) = %v, want a FieldError with rule %s", tc.kind, tc.value, err, tc.rule)
			}
			if got, want := fe.Rule, tc.rule; got != want {
				t.Errorf("Check(%s, %q) rule = %s (%s), want %s", tc.kind, tc.value, got, fe.Msg, want)
			}
			if fe.Field != string(tc.kind) {
				t.Errorf("Field = %q, want %q", fe.Field, tc.kind)
			}
			if !errors.Is(err, schemas.ErrInvalid) {
				t.Errorf("errors.Is(err, schemas.ErrInvalid) = false")
			}
		})
	}
}

func TestEveryKindHasCases(t *testing.T) {
	seen := map[Kind][2]int{}
	for _, tc := range idCases {
		n := seen[tc.kind]
		if tc.rule == "" {
			n[0]++
		} else {
			n[1]++
		}
		seen[tc.kind] = n
	}
	for _, k := range Kinds() {
		if n := seen[k]; n[0] == 0 || n[1] == 0 {
			t.Errorf("kind %s has %d valid and %d invalid cases; want both", k, n[0], n[1])
		}
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds() {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := ParseKind("ssn"); err == nil {
		t.Error("ParseKind(ssn) succeeded")
	}
	if err := Check("ssn", "1"); err == nil {
		t.Error("Check of unknown kind succeeded")
	}
}

func TestWithField(t *testing.T) {
	err := WithField(Check(HKID, "A123456(4)"), "record.holder.idNumber")
	fe, ok := schemas.AsFieldError(err)
	if !ok || fe.Field != "record.holder.idNumber" || fe.Rule != "hkid-check" {
		t.Fatalf("WithField = %#v", err)
	}
	if WithField(nil, "x") != nil {
		t.Error("WithField(nil) != nil")
	}
}

func TestAllowList(t *testing.T) {
	bad := "91440300MA5F0000X2" // fails uscc-check
	c, err := NewUSCCChecker([]byte("# test list\n\n" + bad + "  issued 2015 before GB 32100 took effect; verified in a test\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(bad); err != nil {
		t.Errorf("listed code refused: %v", err)
	}
	if reason, ok := c.Allowed(bad); !ok || !strings.Contains(reason, "GB 32100") {
		t.Errorf("Allowed = %q, %v", reason, ok)
	}
	// The list excuses check characters only, and only for listed codes.
	if err := c.Check("91440300MA5F0000X3"); err == nil {
		t.Error("unlisted failing code accepted")
	}
	if err := DefaultUSCC().Check(bad); err == nil {
		t.Error("default checker accepted a code only the test list names")
	}
	for name, list := range map[string]string{
		"no reason":   bad + "\n",
		"valid code":  "91440300MA5F0000X1 listed although valid\n",
		"bad charset": "91440300MA5F0000I2 bad\n",
		"duplicate":   bad + " a\n" + bad + " b\n",
	} {
		if _, err := NewUSCCChecker([]byte(list)); err == nil {
			t.Errorf("allow-list with %s accepted", name)
		}
	}
	// The embedded list must load; DefaultUSCC panics if it does not.
	t.Logf("embedded allow-list has %d codes", DefaultUSCC().Len())
}

func TestCheckCharRoundTrip(t *testing.T) {
	for _, body := range []string{"MA5F0000", "12345678", "00000000", "WXY12345"} {
		org, err := OrgCodeCheckChar(body)
		if err != nil {
			t.Fatal(err)
		}
		first17 := "91440300" + body + string(org)
		c, err := USCCCheckChar(first17)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(USCC, first17+string(c)); err != nil {
			t.Errorf("built code %s%c refused: %v", first17, c, err)
		}
	}
	if _, err := USCCCheckChar("short"); err == nil {
		t.Error("USCCCheckChar(short) succeeded")
	}
	if _, err := MOD3736CheckChar("abc"); err == nil {
		t.Error("MOD3736CheckChar(lower case) succeeded")
	}
	if _, err := RIDCheckChar("4403001990010112X"); err == nil {
		t.Error("RIDCheckChar with a letter succeeded")
	}
	if _, err := HKIDCheckChar("a", "123456"); err == nil {
		t.Error("HKIDCheckChar with a lower-case letter succeeded")
	}
}

// FuzzCheck feeds arbitrary strings to every check: the answer is nil or a
// FieldError, never a panic.
func FuzzCheck(f *testing.F) {
	for _, tc := range idCases {
		f.Add(string(tc.kind), tc.value)
	}
	f.Fuzz(func(t *testing.T, kind, value string) {
		k := Kind(kind)
		if _, err := ParseKind(kind); err != nil {
			k = Kinds()[len(kind)%len(Kinds())]
		}
		err := Check(k, value)
		if err != nil {
			if _, ok := schemas.AsFieldError(err); !ok {
				t.Fatalf("Check(%s, %q) = %v, not a FieldError", k, value, err)
			}
		}
	})
}

func TestMakeUSCC(t *testing.T) {
	id, err := MakeUSCC("440304", "MAWTK570")
	if err != nil || id != "91440304MAWTK5709N" {
		t.Fatalf("MakeUSCC = %q %v, want 91440304MAWTK5709N", id, err)
	}
	if err := DefaultUSCC().Check(id); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{{"44030", "MAWTK570"}, {"4403A4", "MAWTK570"}, {"440304", "MAWTK57"}, {"440304", "MAWTKI70"}} {
		if _, err := MakeUSCC(bad[0], bad[1]); err == nil {
			t.Errorf("MakeUSCC(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
