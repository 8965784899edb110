package ids

import (
	"fmt"
	"strconv"

	"github.com/baybus/baybus/schemas"
)

// MOIndividualForm is the Portuguese name of the Macao legal form of an
// individual with commercial activity, whose taxpayer number begins with 0.
const MOIndividualForm = "Empresário comercial, pessoa singular"

// CheckRecord checks the identifiers inside a canonical record of
// jurisdiction j: the business id (USCC in CN, BR number in HK, registration
// number in MO), the HK certificate number and the MO taxpayer number, every
// party's id by its IDKind, and the e-license identifier. Errors are
// *schemas.FieldError whose Field is the record path, e.g. "record.id" or
// "record.people.1.idNumber".
func CheckRecord(j schemas.Jurisdiction, kind schemas.Kind, r *schemas.Record) error {
	return DefaultUSCC().CheckRecord(j, kind, r)
}

// CheckRecord is CheckRecord with this checker's USCC allow-list.
func (c *USCCChecker) CheckRecord(j schemas.Jurisdiction, kind schemas.Kind, r *schemas.Record) error {
	if r == nil {
		return &schemas.FieldError{Field: "record", Rule: "required", Msg: "ids: no record"}
	}
	check := func(k Kind, v string) error {
		if k == USCC {
			return c.Check(v)
		}
		return Check(k, v)
	}
	if kind == schemas.KindBusiness {
		var k Kind
		switch j {
		case schemas.CN:
			k = USCC
		case schemas.HK:
			k = HKBRN
		case schemas.MO:
			k = MOReg
		default:
			return &schemas.FieldError{Field: "jurisdiction", Rule: "enum", Msg: fmt.Sprintf("ids: unknown jurisdiction %q", j)}
		}
		if err := check(k, r.ID); err != nil {
			return WithField(err, "record.id")
		}
	}
	if r.CertificateNo != "" {
		if err := CheckHKBRC(r.CertificateNo); err != nil {
			return WithField(err, "record.certificateNo")
		}
		if kind == schemas.KindBusiness && r.CertificateNo[:8] != r.ID {
			return &schemas.FieldError{Field: "record.certificateNo", Rule: "hk-brc-brn",
				Msg: fmt.Sprintf("certificate number %s does not begin with the BR number %s", r.CertificateNo, r.ID)}
		}
	}
	if r.TaxNumber != "" {
		if err := CheckMOTax(r.TaxNumber); err != nil {
			return WithField(err, "record.taxNumber")
		}
		if form := r.EntityType[schemas.LangPT]; form != "" {
			individual := form == MOIndividualForm
			if individual != (r.TaxNumber[0] == '0') {
				want := "8 (an entity)"
				if individual {
					want = "0 (an individual)"
				}
				return &schemas.FieldError{Field: "record.taxNumber", Rule: "mo-tax-holder",
					Msg: fmt.Sprintf("taxpayer number %s of a %q must begin with %s", r.TaxNumber, form, want)}
			}
		}
	}
	if r.Holder != nil {
		if err := c.checkParty(check, "record.holder", r.Holder); err != nil {
			return err
		}
	}
	for i := range r.People {
		if err := c.checkParty(check, "record.people."+strconv.Itoa(i), &r.People[i]); err != nil {
			return err
		}
	}
	if r.ELicenseID != "" {
		if err := c.CheckELicense(r.ELicenseID); err != nil {
			return WithField(err, "record.elicenseId")
		}
	}
	return nil
}

func (c *USCCChecker) checkParty(check func(Kind, string) error, path string, p *schemas.Party) error {
	if p.IDKind == "" && p.IDNumber == "" {
		return nil
	}
	if p.IDKind == "" || p.IDNumber == "" {
		return &schemas.FieldError{Field: path + ".idKind", Rule: "party-id-pair", Msg: "ids: idKind and idNumber go together"}
	}
	k, err := ParseKind(p.IDKind)
	if err != nil || k == HKBRC || k == ELicense {
		return &schemas.FieldError{Field: path + ".idKind", Rule: "enum", Msg: fmt.Sprintf("ids: %q does not identify a party", p.IDKind)}
	}
	if err := check(k, p.IDNumber); err != nil {
		return WithField(err, path+".idNumber")
	}
	return nil
}
