package native

import (
	"testing"

	"github.com/baybus/baybus/schemas"
)

func TestDates(t *testing.T) {
	for _, tc := range []struct {
		style     DateStyle
		in, iso   string
		rule, out string // out: how the ISO date is written back ("" = same as in)
	}{
		{DateCN, "2019年3月1日", "2019-03-01", "", ""},
		{DateCN, "2019年03月01日", "2019-03-01", "", "2019年3月1日"},
		{DateCN, "2020年2月29日", "2020-02-29", "", ""},
		{DateCN, "2019年2月29日", "", "date-invalid", ""},
		{DateCN, "2019年13月1日", "", "date-invalid", ""},
		{DateCN, "2019-03-01", "", "date-format", ""},
		{DateCN, "１９年3月1日", "", "date-format", ""},
		{DateCN, "1799年1月1日", "", "date-invalid", ""},
		{DateDMY, "01/03/2019", "2019-03-01", "", ""},
		{DateDMY, "31/12/2024", "2024-12-31", "", ""},
		{DateDMY, "1/3/2019", "", "date-format", ""},
		{DateDMY, "03/31/2019", "", "date-invalid", ""},
		{DateDMY, "31/04/2019", "", "date-invalid", ""},
	} {
		got, err := tc.style.ParseDate(tc.in)
		if tc.rule != "" {
			if fe, ok := schemas.AsFieldError(err); !ok || fe.Rule != tc.rule {
				t.Errorf("ParseDate(%q) = %q, %v; want rule %s", tc.in, got, err, tc.rule)
			}
			continue
		}
		if err != nil || got != tc.iso {
			t.Errorf("ParseDate(%q) = %q, %v; want %s", tc.in, got, err, tc.iso)
			continue
		}
		want := tc.out
		if want == "" {
			want = tc.in
		}
		if back := tc.style.FormatDate(got); back != want {
			t.Errorf("FormatDate(%q) = %q, want %q", got, back, want)
		}
	}
	if got := DateDMY.FormatDate("not a date"); got != "not a date" {
		t.Errorf("FormatDate of a non-date = %q", got)
	}
}

func TestMoney(t *testing.T) {
	for _, tc := range []struct {
		style        MoneyStyle
		in           string
		amount, code string
		rule         string
		out          string // "" = same as in
	}{
		{MoneyCN, "100万元人民币", "1000000", "CNY", "", ""},
		{MoneyCN, "0.5万元人民币", "5000", "CNY", "", ""},
		{MoneyCN, "123.456789万元人民币", "1234567.89", "CNY", "", ""},
		{MoneyCN, "100.50万元人民币", "1005000", "CNY", "", "100.5万元人民币"},
		{MoneyCN, "50万美元", "500000", "USD", "", ""},
		{MoneyCN, "30万港元", "300000", "HKD", "", ""},
		{MoneyCN, "500000.50元人民币", "500000.50", "CNY", "", ""},
		{MoneyCN, "500000元人民币", "500000", "CNY", "", "50万元人民币"},
		{MoneyCN, "100万人民币", "1000000", "CNY", "", "100万元人民币"},
		{MoneyCN, "0万元人民币", "0", "CNY", "", ""},
		{MoneyCN, "100万日元", "", "", "money-currency", ""},
		{MoneyCN, "一百万元人民币", "", "", "money-format", ""},
		{MoneyCN, "1.000000001万元人民币", "", "", "money-amount", ""},
		{MoneyCN, "1000000000000000000万元人民币", "", "", "money-amount", ""},
		{MoneyHK, "HK$2,250.00", "2250.00", "HKD", "", ""},
		{MoneyHK, "HK$2250", "2250", "HKD", "", "HK$2,250"},
		{MoneyHK, "CNY 1,000,000", "1000000", "CNY", "", ""},
		{MoneyHK, "HK$0.50", "0.50", "HKD", "", ""},
		{MoneyHK, "HK$22,50", "", "", "money-format", ""},
		{MoneyHK, "2,250.00", "", "", "money-format", ""},
		{MoneyHK, "GBP 10", "", "", "money-currency", ""},
		{MoneyMO, "MOP 25,000.00", "25000.00", "MOP", "", ""},
		{MoneyMO, "HKD 1,000", "1000", "HKD", "", ""},
		{MoneyMO, "MOP 25.000,00", "", "", "money-format", ""},
	} {
		m, err := tc.style.ParseMoney(tc.in)
		if tc.rule != "" {
			if fe, ok := schemas.AsFieldError(err); !ok || fe.Rule != tc.rule {
				t.Errorf("ParseMoney(%q) = %v, %v; want rule %s", tc.in, m, err, tc.rule)
			}
			continue
		}
		if err != nil || m.Amount != tc.amount || m.Currency != tc.code {
			t.Errorf("ParseMoney(%q) = %v, %v; want %s %s", tc.in, m, err, tc.amount, tc.code)
			continue
		}
		want := tc.out
		if want == "" {
			want = tc.in
		}
		if got := tc.style.FormatMoney(m); got != want {
			t.Errorf("FormatMoney(%v) = %q, want %q", m, got, want)
		}
		// Whatever was written, writing the canonical amount and reading it
		// back gives the same canonical amount.
		again, err := tc.style.ParseMoney(tc.style.FormatMoney(m))
		if err != nil || *again != *m {
			t.Errorf("ParseMoney(FormatMoney(%v)) = %v, %v", m, again, err)
		}
	}
}

func TestCanonicalAmountsSurviveCN(t *testing.T) {
	// Amounts from other sources (a canonical-form event) keep their exact
	// string through the CN money style.
	for _, a := range []string{"0", "1", "1000000", "1000000.00", "1234567.8915", "0.0001", "999999999999999999"} {
		m := &schemas.Money{Amount: a, Currency: "CNY"}
		got, err := MoneyCN.ParseMoney(MoneyCN.FormatMoney(m))
		if err != nil || got.Amount != a {
			t.Errorf("%s -> %q -> %v, %v", a, MoneyCN.FormatMoney(m), got, err)
		}
	}
}

func TestGroup(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "100": "100", "1000": "1,000", "1234567.891": "1,234,567.891", "x": "x", "": ""} {
		if got := Group(in); got != want {
			t.Errorf("Group(%q) = %q, want %q", in, got, want)
		}
	}
}
