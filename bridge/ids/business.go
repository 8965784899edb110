package ids

// CheckHKBRN checks the format of a Hong Kong business registration number:
// eight digits. No check algorithm has been published.
func CheckHKBRN(v string) error {
	if len(v) != 8 || !allDigits(v) {
		return fail(HKBRN, "hk-brn-format", "%q is not 8 digits (format only: no check algorithm is published)", v)
	}
	return nil
}

// CheckHKBRC checks the format of a Hong Kong business registration
// certificate number 99999999-XXX-MM-YY-C: the BR number, a 3-character
// branch number (000 for the main business), the month and two-digit year,
// and a check character whose algorithm is not public.
func CheckHKBRC(v string) error {
	ok := len(v) == 20 && v[8] == '-' && v[12] == '-' && v[15] == '-' && v[18] == '-' &&
		allDigits(v[:8]) && upperAlnum(v[9:12]) && allDigits(v[13:15]) && allDigits(v[16:18]) && upperAlnum(v[19:])
	if ok {
		mm := int(v[13]-'0')*10 + int(v[14]-'0')
		ok = mm >= 1 && mm <= 12
	}
	if !ok {
		return fail(HKBRC, "hk-brc-format", "%q is not 99999999-XXX-MM-YY-C (BR number, branch, month 01-12, year, check character; format only)", v)
	}
	return nil
}

// CheckMOTax checks the format of a Macao taxpayer number: eight digits
// beginning with 8 (entities) or 0 (individuals with commercial activity).
func CheckMOTax(v string) error {
	if len(v) != 8 || !allDigits(v) || (v[0] != '8' && v[0] != '0') {
		return fail(MOTax, "mo-tax-format", "%q is not 8 digits beginning with 8 (entities) or 0 (individuals) (format only)", v)
	}
	return nil
}

// CheckMOReg checks the format of a Macao commercial registration number:
// one to eight digits without leading zeros (baybus's convention; format only).
func CheckMOReg(v string) error {
	if len(v) < 1 || len(v) > 8 || !allDigits(v) || v[0] == '0' {
		return fail(MOReg, "mo-reg-format", "%q is not 1-8 digits without leading zeros (format only)", v)
	}
	return nil
}

func upperAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := alnumValue(s[i]); !ok {
			return false
		}
	}
	return s != ""
}
