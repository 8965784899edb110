package schemas

import (
	"fmt"
	"time"
)

// GBATime is the civil time of the three jurisdictions: China Standard
// Time, Hong Kong Time and Macao Standard Time are all UTC+8, with no
// daylight saving time. A date on a license is a day in this zone.
var GBATime = time.FixedZone("UTC+8", 8*60*60)

// DateLayout is the layout of the schemas' ISO 8601 dates (YYYY-MM-DD).
const DateLayout = "2006-01-02"

// ParseDate parses a YYYY-MM-DD date that exists in the calendar, as the
// start of that day in GBATime.
func ParseDate(s string) (time.Time, error) {
	t, err := time.ParseInLocation(DateLayout, s, GBATime)
	if err != nil {
		return time.Time{}, &FieldError{Rule: "date", Msg: fmt.Sprintf("%q is not a calendar date YYYY-MM-DD", s)}
	}
	return t, nil
}

// ValidityEnd returns the instant a validity period whose last day is to
// ends: midnight at the start of the next day, GBA time. A license valid to
// 2018-10-09 is valid through that whole day and expired from
// 2018-10-10T00:00:00+08:00 on.
func ValidityEnd(to string) (time.Time, error) {
	d, err := ParseDate(to)
	if err != nil {
		return time.Time{}, err
	}
	return d.AddDate(0, 0, 1), nil
}

// EffectiveStatus is the status a license with the status the ledger
// recorded has at time at, given the last day of its validity (to; empty
// for none): expired once at reaches ValidityEnd(to), unless it is revoked,
// which is final and says more. No event is needed for a license to expire.
//
// A to that is not a date (which the rules never record) leaves the status
// as recorded.
func EffectiveStatus(recorded Status, to string, at time.Time) Status {
	if to == "" || recorded == StatusRevoked || recorded == StatusExpired {
		return recorded
	}
	end, err := ValidityEnd(to)
	if err != nil || at.Before(end) {
		return recorded
	}
	return StatusExpired
}

// ValidTo returns the last day of a record's validity, "" if it has none.
func (r *Record) ValidTo() string {
	if r.Validity == nil {
		return ""
	}
	return r.Validity.To
}
