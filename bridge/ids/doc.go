// Package ids checks the identifiers that appear on Greater Bay Area licenses
// and certificates, exactly as their standards define them, and computes their
// check characters so that generators can make valid ones.
//
// Every check is a pure function of its input. A failed check returns a
// *schemas.FieldError whose Rule names the broken rule (for example
// "uscc-charset", "uscc-check", "org-code-check", "hkid-check"), so a caller
// can report which rule an identifier broke; errors.Is(err, schemas.ErrInvalid)
// holds for all of them.
//
// The kinds and their rules:
//
//   - uscc: 统一社会信用代码, GB 32100-2015. 18 characters from
//     0-9A-HJ-NP-RTUWXY (no I, O, Z, S, V); positions 3-8 are an
//     administrative division code (digits); positions 9-17 are an
//     organisation code whose 9th character is its own GB 11714-1997 check;
//     the 18th character is the check over the first 17 with weights 3^i mod 31.
//     Codes issued before the standard that fail a check digit are accepted
//     only when listed, with a reason, in uscc_allowlist.txt (see USCCChecker).
//   - cn-rid: 居民身份证号码, GB 11643-1999. 18 characters: a 6-digit area
//     code whose province part is a real province-level code, a valid birth
//     date YYYYMMDD from 1800 on, a 3-digit sequence and an ISO 7064 MOD 11-2
//     check (0-9 or X). The check does not read a clock, so a birth date in
//     the future is not detected here.
//   - hkid: Hong Kong identity card number. One or two letters, six digits and
//     a check character (0-9 or A), written either A123456(3) or A1234563;
//     mod 11 with weights 9..2, letters A=10..Z=35 and a lone letter padded by
//     a leading space worth 36.
//   - hk-brn: Hong Kong business registration number. Eight digits. Format
//     only: no check algorithm has been published.
//   - hk-brc: Hong Kong business registration certificate number
//     99999999-XXX-MM-YY-C (BR number, branch, month, year, check character).
//     Format only: the check character's algorithm is not public.
//   - mo-bir: Macao resident identity card (BIR) number. Eight digits
//     beginning with 1, 5 or 7, written 12345678 or 1234567(8). Format only:
//     no check algorithm has been published.
//   - mo-tax: Macao taxpayer number. Eight digits beginning with 8 (entities)
//     or 0 (individuals with commercial activity). Format only.
//   - mo-reg: Macao commercial registration number. baybus's convention for
//     the number printed by the Commercial and Movable Property Registry:
//     one to eight digits without leading zeros. Format only.
//   - passport: a passport number as printed: 5 to 20 upper-case letters and
//     digits. Format only; issuing states differ.
//   - elicense: 电子证照标识 (GB/T 36904 family):
//     1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>, where type is
//     the defining department's USCC followed by a 3-digit type number,
//     issuer is the issuing authority's USCC, serial is 1-32 upper-case
//     letters or digits, version is 3 digits and check is the ISO/IEC 7064
//     MOD 37,36 check character over type+issuer+serial+version.
package ids
