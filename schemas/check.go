package schemas

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// CheckTx checks a decoded transaction by every rule of tx.schema.json and
// event.schema.json (the kind-specific requirements included), and by the
// rules a schema cannot say:
//
//   - dates exist in the calendar (2026-02-30 is refused, rule "date") and
//     occurredAt parses as RFC 3339 (rule "rfc3339");
//   - the city is in the registry and in the transaction's jurisdiction
//     (rule "city-jurisdiction"); a handover names another city of the same
//     jurisdiction (rule "handover-to");
//   - text is clean (CheckText): no control characters (tab and newline
//     only in reason, address, scope and decision: rule "text-control"),
//     no bidirectional embedding, override or isolate characters (rule
//     "text-bidi"), every string in Unicode NFC (rule "nfc").
//
// It is at least as strict as the JSON Schemas for any transaction whose
// canonical bytes are EncodeTx of itself (a test holds it to that), and it
// costs a few microseconds, against about a hundred for the JSON Schema
// validator: it is what the orderers run on every transaction (rules
// version 2 of ledger/block), and the gateways run it after the schemas.
// Errors are *FieldError.
//
// What CheckTx accepts is part of the ledger's rules: a change that refuses
// or admits a transaction it did not before needs a new rules version.
func CheckTx(tx *Tx) error {
	c := checker{}
	c.envelope(tx)
	if tx.Grant != nil || tx.Access != nil {
		c.fail("grant", "additionalProperties", "grants and access records are transactions of rules version 3 (CheckTx3)")
	}
	c.event(tx.Event())
	c.handoverTo(tx)
	return c.result()
}

// handoverTo checks, if nothing failed before, that a handover names
// another city of the transaction's jurisdiction.
func (c *checker) handoverTo(tx *Tx) {
	if c.err != nil || tx.To == "" {
		return
	}
	to, err := LookupCity(tx.To)
	switch {
	case err != nil:
		c.fail("to", "enum", "%q is not a city", tx.To)
	case to.Jurisdiction != tx.Jurisdiction:
		c.fail("to", "handover-to", "a license of %s cannot pass to %s, a city of %s", tx.Jurisdiction, to.Token, to.Jurisdiction)
	case to.Token == tx.City:
		c.fail("to", "handover-to", "%s already holds the license", tx.City)
	}
}

// CheckEvent checks an event by the rules of CheckTx that do not need the
// city it is posted to. ValidateEventJSON runs it after the schema.
func CheckEvent(ev *Event) error {
	c := checker{}
	c.event(ev)
	return c.result()
}

// CheckText checks one string of a record: valid UTF-8, in Unicode NFC,
// free of control characters (but tab and newline when multiLine) and of
// the bidirectional embedding, override and isolate characters (U+202A to
// U+202E, U+2066 to U+2069) that make text read differently from what it
// holds. field names it in the error.
func CheckText(field, s string, multiLine bool) error {
	c := checker{}
	c.text(field, s, multiLine)
	return c.result()
}

var (
	chainRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	timestampRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$`)
	idRe        = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z()./_-]*$`)
	amountRe    = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})(\.[0-9]{1,4})?$`)
	certNoRe    = regexp.MustCompile(`^[0-9]{8}-[0-9A-Z]{3}-(0[1-9]|1[0-2])-[0-9]{2}-[0-9A-Z]$`)
	taxNoRe     = regexp.MustCompile(`^[08][0-9]{7}$`)
	nativeFmtRe = regexp.MustCompile(`^(cn|hk|mo)/[a-z_]+@[0-9]+$`)
	nativeHash  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// The enumerations of common.schema.json.
var (
	langTags   = []string{LangHans, LangHant, LangEN, LangPT}
	currencies = []string{"CNY", "HKD", "MOP", "USD", "EUR"}
	partyIDs   = []string{"uscc", "cn-rid", "hkid", "hk-brn", "mo-bir", "mo-reg", "mo-tax", "passport"}
)

const (
	maxText     = 2000 // code points in a text value or reason (common.schema.json)
	maxEventID  = 128
	maxIDNumber = 64
	maxRecordID = 64
	maxPeople   = 50
)

// checker keeps the first rule broken.
type checker struct{ err *FieldError }

func (c *checker) fail(field, rule, format string, args ...any) {
	if c.err == nil {
		c.err = &FieldError{Field: field, Rule: rule, Msg: fmt.Sprintf(format, args...)}
	}
}

func (c *checker) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

func (c *checker) envelope(tx *Tx) {
	if tx.V != TxVersion {
		c.fail("v", "const", "transaction version %d, want %d", tx.V, TxVersion)
	}
	c.match("chain", tx.Chain, chainRe)
	city, err := LookupCity(tx.City)
	switch {
	case err != nil:
		c.fail("city", "enum", "%q is not a city", tx.City)
	case !slices.Contains(Jurisdictions, tx.Jurisdiction):
		c.fail("jurisdiction", "enum", "%q is not a jurisdiction", tx.Jurisdiction)
	case city.Jurisdiction != tx.Jurisdiction:
		c.fail("jurisdiction", "city-jurisdiction", "city %s is in %s, not %s", tx.City, city.Jurisdiction, tx.Jurisdiction)
	}
	switch {
	case tx.NativeFormat == "" && tx.NativeHash == "":
	case tx.NativeFormat == "":
		c.fail("nativeFormat", "dependentRequired", "nativeHash without nativeFormat")
	case tx.NativeHash == "":
		c.fail("nativeHash", "dependentRequired", "nativeFormat without nativeHash")
	default:
		c.match("nativeFormat", tx.NativeFormat, nativeFmtRe)
		c.match("nativeHash", tx.NativeHash, nativeHash)
	}
}

func (c *checker) event(ev *Event) {
	switch {
	case ev.EventID == "":
		c.fail("eventId", "required", "no event id")
	case len(ev.EventID) > maxEventID && utf8.RuneCountInString(ev.EventID) > maxEventID:
		c.fail("eventId", "maxLength", "event id of %d characters, limit %d", utf8.RuneCountInString(ev.EventID), maxEventID)
	default:
		c.text("eventId", ev.EventID, false)
	}
	if !slices.Contains(Kinds, ev.Kind) {
		c.fail("kind", "enum", "unknown kind %q", ev.Kind)
	}
	if !slices.Contains(LedgerActions, ev.Action) {
		c.fail("action", "enum", "unknown action %q", ev.Action)
	}
	switch {
	case ev.OccurredAt == "":
		c.fail("occurredAt", "required", "no occurredAt")
	case !timestampRe.MatchString(ev.OccurredAt):
		c.fail("occurredAt", "pattern", "%q is not an RFC 3339 date-time", ev.OccurredAt)
	default:
		if _, err := ParseTime(ev.OccurredAt); err != nil {
			c.fail("occurredAt", "rfc3339", "%q is not a valid RFC 3339 date-time", ev.OccurredAt)
		}
	}
	if len(ev.Reason) > maxText && utf8.RuneCountInString(ev.Reason) > maxText {
		c.fail("reason", "maxLength", "reason of %d characters, limit %d", utf8.RuneCountInString(ev.Reason), maxText)
	}
	c.text("reason", ev.Reason, true)
	if (ev.Action == ActionSuspend || ev.Action == ActionRevoke) && ev.Reason == "" {
		c.fail("reason", "required", "a %s needs a reason", ev.Action)
	}
	switch {
	case ev.Action == ActionHandover && ev.To == "":
		c.fail("to", "required", "a handover names the city that holds the license next")
	case ev.Action != ActionHandover && ev.To != "":
		c.fail("to", "handover-to", "only a handover names a city to pass the license to")
	case ev.To != "":
		if _, err := LookupCity(ev.To); err != nil {
			c.fail("to", "enum", "%q is not a city", ev.To)
		}
	}
	c.record(&ev.Record)
	if ev.Action.FullRecord() {
		c.requirements(ev.Kind, &ev.Record)
	}
}

// record applies record.schema.json.
func (c *checker) record(r *Record) {
	switch {
	case r.ID == "":
		c.fail("record.id", "required", "no record id")
	case len(r.ID) > maxRecordID:
		c.fail("record.id", "maxLength", "record id of %d characters, limit %d", len(r.ID), maxRecordID)
	default:
		c.match("record.id", r.ID, idRe)
	}
	c.textMap("record.name", r.Name, false)
	c.noDigests("record", r.SD)
	if r.Holder != nil {
		c.party("record.holder", r.Holder)
	}
	if len(r.People) > maxPeople {
		c.fail("record.people", "maxItems", "%d people, limit %d", len(r.People), maxPeople)
	}
	for i := range r.People {
		c.party("record.people."+strconv.Itoa(i), &r.People[i])
	}
	c.textMap("record.entityType", r.EntityType, false)
	c.money("record.capital", r.Capital)
	c.date("record.establishedOn", r.EstablishedOn)
	c.textMap("record.address", r.Address, true)
	c.textMap("record.scope", r.Scope, true)
	if r.CertificateNo != "" {
		c.match("record.certificateNo", r.CertificateNo, certNoRe)
	}
	if r.TaxNumber != "" {
		c.match("record.taxNumber", r.TaxNumber, taxNoRe)
	}
	c.money("record.fee", r.Fee)
	c.money("record.levy", r.Levy)
	c.textMap("record.title", r.Title, false)
	c.textMap("record.level", r.Level, false)
	c.textMap("record.decision", r.Decision, true)
	if r.ELicenseID != "" {
		if len(r.ELicenseID) < len("1.2.156.3005.2.") || r.ELicenseID[:len("1.2.156.3005.2.")] != "1.2.156.3005.2." {
			c.fail("record.elicenseId", "pattern", "%q does not start with 1.2.156.3005.2.", r.ELicenseID)
		}
		c.text("record.elicenseId", r.ELicenseID, false)
	}
	c.textMap("record.authority", r.Authority, false)
	c.date("record.issuedOn", r.IssuedOn)
	if v := r.Validity; v != nil {
		if v.From == "" {
			c.fail("record.validity.from", "required", "a validity period needs its first day")
		}
		c.date("record.validity.from", v.From)
		c.date("record.validity.to", v.To)
	}
}

// requirements applies the kind schema of an issue or amend.
func (c *checker) requirements(k Kind, r *Record) {
	need := func(field string, present bool) {
		if !present {
			c.fail("record."+field, "required", "a %s of a %s needs record.%s", "full record", k.Short(), field)
		}
	}
	holder := func() {
		need("holder", r.Holder != nil)
		if r.Holder != nil {
			need("holder.name", len(r.Holder.Name) > 0)
			need("holder.idKind", r.Holder.IDKind != "")
			need("holder.idNumber", r.Holder.IDNumber != "")
		}
	}
	switch k {
	case KindBusiness:
		need("name", len(r.Name) > 0)
		need("authority", len(r.Authority) > 0)
		need("issuedOn", r.IssuedOn != "")
		need("establishedOn", r.EstablishedOn != "")
		need("address", len(r.Address) > 0)
		need("scope", len(r.Scope) > 0)
	case KindCertificate:
		holder()
		need("title", len(r.Title) > 0)
		need("authority", len(r.Authority) > 0)
		need("issuedOn", r.IssuedOn != "")
	case KindApproval:
		holder()
		need("title", len(r.Title) > 0)
		need("decision", len(r.Decision) > 0)
		need("authority", len(r.Authority) > 0)
		need("issuedOn", r.IssuedOn != "")
	}
}

func (c *checker) party(field string, p *Party) {
	c.noDigests(field, p.SD)
	if p.Name == nil {
		c.fail(field+".name", "required", "a party needs a name")
	}
	c.textMap(field+".name", p.Name, false)
	if p.IDKind != "" && !slices.Contains(partyIDs, p.IDKind) {
		c.fail(field+".idKind", "enum", "unknown id kind %q", p.IDKind)
	}
	if n := utf8.RuneCountInString(p.IDNumber); n > maxIDNumber {
		c.fail(field+".idNumber", "maxLength", "id number of %d characters, limit %d", n, maxIDNumber)
	}
	c.text(field+".idNumber", p.IDNumber, false)
	c.textMap(field+".role", p.Role, false)
}

// noDigests refuses digests in place of values (the "_sd" member): the
// JSON Schemas do not know it, and only rules version 3 (CheckRedacted)
// admits it.
func (c *checker) noDigests(field string, sd Digests) {
	if sd != nil {
		c.fail(field+"._sd", "additionalProperties", "digests in place of values (\"_sd\") are a record of rules version 3")
	}
}

// textMap applies common.schema.json's text: at least one language, known
// tags, values of 1 to 2000 characters, each clean (CheckText).
func (c *checker) textMap(field string, t Text, multiLine bool) {
	if t == nil {
		return
	}
	if len(t) == 0 {
		c.fail(field, "minProperties", "text in no language")
		return
	}
	// Map order is random: check the tags in their fixed order so the
	// first error reported is always the same.
	found := 0
	for _, tag := range langTags {
		v, ok := t[tag]
		if !ok {
			continue
		}
		found++
		switch {
		case v == "":
			c.fail(field+"."+tag, "minLength", "empty text")
		case len(v) > maxText: // bytes >= runes: count only a long one
			if n := utf8.RuneCountInString(v); n > maxText {
				c.fail(field+"."+tag, "maxLength", "text of %d characters, limit %d", n, maxText)
			}
		}
		c.textIn(field, tag, v, multiLine)
	}
	if c.err == nil && found != len(t) {
		for tag := range t {
			if !slices.Contains(langTags, tag) {
				c.fail(field, "enum", "unknown language tag %q (valid: zh-Hans, zh-Hant, en, pt)", tag)
			}
		}
	}
}

func (c *checker) money(field string, m *Money) {
	if m == nil {
		return
	}
	c.match(field+".amount", m.Amount, amountRe)
	if !slices.Contains(currencies, m.Currency) {
		c.fail(field+".currency", "enum", "unknown currency %q", m.Currency)
	}
}

// date checks an optional date: the schema's pattern, then the calendar.
func (c *checker) date(field, s string) {
	if s == "" || c.err != nil {
		return
	}
	if !isDate(s) {
		c.fail(field, "pattern", "%q is not a date YYYY-MM-DD", s)
		return
	}
	if _, err := ParseDate(s); err != nil {
		c.fail(field, "date", "%q is not a day of the calendar", s)
	}
}

// isDate is common.schema.json's date pattern,
// ^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$, without a regexp
// (three of them a record).
func isDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	month, day := s[5:7], s[8:10]
	return month >= "01" && month <= "12" && day >= "01" && day <= "31"
}

func (c *checker) match(field, s string, re *regexp.Regexp) {
	if c.err == nil && !re.MatchString(s) {
		c.fail(field, "pattern", "%q does not match %s", s, re)
	}
}

// text is CheckText. The field's name is field, or field.sub if sub is
// not empty (joined only for an error).
func (c *checker) text(field, s string, multiLine bool) { c.textIn(field, "", s, multiLine) }

func (c *checker) textIn(field, sub, s string, multiLine bool) {
	if c.err != nil {
		return
	}
	name := func() string {
		if sub == "" {
			return field
		}
		return field + "." + sub
	}
	nfc := true // every rune so far is one that leaves NFC to itself
	for i, r := range s {
		nfc = nfc && nfcStarter(r)
		switch {
		case r < 0x20 && !(multiLine && (r == '\t' || r == '\n')) || r >= 0x7f && r <= 0x9f:
			c.fail(name(), "text-control", "control character U+%04X at byte %d", r, i)
			return
		case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			c.fail(name(), "text-bidi", "bidirectional formatting character U+%04X at byte %d", r, i)
			return
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				c.fail(name(), "utf8", "invalid UTF-8 at byte %d", i)
				return
			}
		}
	}
	if !nfc && !norm.NFC.IsNormalString(s) {
		c.fail(name(), "nfc", "text is not in Unicode normalization form C (NFC)")
	}
}

// nfcStarter reports whether r is in a range whose every character is in
// NFC, of canonical combining class 0 and combines with nothing before it
// (TestNFCStarters checks each against the normalization tables): a
// string of such characters is in NFC, with no need to ask the tables. It
// covers ASCII and Latin-1 to Latin Extended-B, CJK punctuation, the CJK
// unified ideographs and the full-width forms, so Chinese and European
// text take the fast path.
func nfcStarter(r rune) bool {
	return r < 0x300 || r >= 0x3000 && r < 0x302a || r >= 0x3400 && r < 0x4dc0 || r >= 0x4e00 && r < 0xa000 || r >= 0xff01 && r < 0xff5f
}
