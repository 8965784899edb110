package schemas

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// Sharing (issue 15): the transactions of rules version 3 that let an owner
// city grant a named reader access to some personal fields of its records,
// and that record every read, answered or refused. See README.md,
// "Sharing under the owner's control".

// The share kinds. They are not license kinds: they are not in Kinds, the
// bridges do not know them, and the ledger keeps them under keys of their
// own (Tx.LicenseKey).
const (
	// KindShareGrant: a grant (action issue) or its revocation (revoke).
	KindShareGrant Kind = "share_grant"
	// KindShareAccess: an access record (action record): one read asked
	// by a reader, answered or refused by the owner.
	KindShareAccess Kind = "share_access"
)

// ShareKinds lists the share kinds.
var ShareKinds = []Kind{KindShareGrant, KindShareAccess}

// IsLicense reports whether k is a license kind (one of Kinds).
func (k Kind) IsLicense() bool { return slices.Contains(Kinds, k) }

// ActionRecord is the action of an access record.
const ActionRecord Action = "record"

// Grant is what an owner city grants a reader (a share_grant issue): which
// kinds of its licenses, which personal fields, for what purpose, and how
// many requests; the validity window is the transaction's
// record.validity (both days, GBA time, inclusive).
type Grant struct {
	// Reader names the grantee, a reader of the trust bundle.
	Reader string `json:"reader"`
	// Kinds are the license kinds it covers: sorted, at least one.
	Kinds []Kind `json:"kinds"`
	// Fields are the personal fields it may read (FieldNames), sorted;
	// empty for a grant that only matches.
	Fields []string `json:"fields,omitempty"`
	// Match allows questions "does the holder with this identity number
	// hold a valid license of this kind here?", answered yes or no.
	Match bool `json:"match,omitempty"`
	// Purpose is the purpose code a request must give ("kyc",
	// "approval.2026-17"): lower-case letters, digits, '.', '_', '-'.
	Purpose string `json:"purpose"`
	// Limit is the most requests answered under the grant; 0 for no limit.
	Limit int64 `json:"limit,omitempty"`
}

// GrantTerms are what the ledger keeps of a grant in its state leaf, and
// checks each access record against: the grant with the first day of its
// window (the last is the leaf's validity end).
type GrantTerms struct {
	Grant
	From string `json:"from"`
}

// TermsOf returns the canonical bytes of a grant transaction's terms.
func TermsOf(tx *Tx) ([]byte, error) {
	if tx.Grant == nil || tx.Record.Validity == nil {
		return nil, fmt.Errorf("schemas: %s %s carries no grant", tx.Kind, tx.Action)
	}
	return Canonical(GrantTerms{Grant: *tx.Grant, From: tx.Record.Validity.From})
}

// Covers reports why the grant does not cover a request of the reader's
// (NoRefusal if it does), leaving time, revocation and the limit aside.
func (g *GrantTerms) Covers(r *ShareRequest) Refusal {
	switch {
	case g.Reader != r.Reader:
		return RefuseNoGrant
	case g.Purpose != r.Purpose:
		return RefusePurpose
	case !slices.Contains(g.Kinds, r.Kind):
		return RefuseKind
	case r.Op == OpMatch && !g.Match:
		return RefuseMatch
	}
	for _, f := range r.Fields {
		if !slices.Contains(g.Fields, f) {
			return RefuseField
		}
	}
	return NoRefusal
}

// The operations a reader asks for.
const (
	// OpDisclose asks for personal fields of one license.
	OpDisclose = "disclose"
	// OpMatch asks whether the holder of an identity number holds a valid
	// license of a kind of the owner city.
	OpMatch = "match"
)

// ShareRequest is what a reader signs (with its reader key, domain purpose
// keys.PurposeShareRequest) and sends the owner's gateway. The access
// record carries it whole, with the signature, so anyone with the trust
// bundle can check who asked for what.
type ShareRequest struct {
	Chain  string `json:"chain"`
	Reader string `json:"reader"`
	// City is the owner city asked: the one that holds the license, or
	// whose licenses a match is about.
	City string `json:"city"`
	Op   string `json:"op"`
	// License is the license asked for (OpDisclose): JUR/ID.
	License string `json:"license,omitempty"`
	// Kind is the license's kind as the reader expects it (OpDisclose), or
	// the kind asked about (OpMatch).
	Kind Kind `json:"kind"`
	// Fields are the personal fields asked for (OpDisclose), sorted.
	Fields []string `json:"fields,omitempty"`
	// Subject is, for OpMatch, the digest (schemas/disclose) of the
	// disclosure [salt, "idNumber", number] the reader made: the number
	// is given to the owner's gateway beside the request, never signed
	// into what goes on the ledger.
	Subject string `json:"subject,omitempty"`
	Purpose string `json:"purpose"`
	// At is when the reader asked (RFC 3339, its clock); the gateway
	// refuses a request far from its own time.
	At string `json:"at"`
	// Nonce is 16 random bytes, base64url: two requests alike are two
	// reads.
	Nonce string `json:"nonce"`
}

// Bytes returns the request's canonical bytes: what the reader signs.
func (r *ShareRequest) Bytes() ([]byte, error) { return Canonical(r) }

// AccessID returns the id of the access record of a request: 32 hex
// digits of SHA-256 over a domain and the request's canonical bytes. The
// ledger checks it, so a request replayed is the same access record, and
// refused as one that exists.
func AccessID(chain string, request []byte) string {
	h := sha256.New()
	h.Write([]byte("baybus/v1 access\x00" + chain + "\x00"))
	h.Write(request)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// The outcomes of an access record.
const (
	OutcomeGranted = "granted"
	OutcomeRefused = "refused"
)

// Refusal says why a request was refused. The names are the ledger's
// reasons (ledger/block) where it checks the same thing.
type Refusal string

// The refusals.
const (
	NoRefusal         Refusal = ""
	RefuseNoGrant     Refusal = "no_grant"            // no grant of the owner to this reader
	RefuseRevoked     Refusal = "grant_revoked"       // the grant was revoked
	RefuseExpired     Refusal = "grant_expired"       // its window ended
	RefuseNotYet      Refusal = "grant_not_yet_valid" // its window has not begun
	RefuseKind        Refusal = "kind_not_granted"    // the license's kind is not among the grant's
	RefuseField       Refusal = "field_not_granted"   // a field asked for is not among the grant's
	RefusePurpose     Refusal = "purpose_not_granted" // another purpose
	RefuseMatch       Refusal = "match_not_granted"   // a match under a grant that does not allow it
	RefuseOverLimit   Refusal = "over_limit"          // the grant's request limit is reached
	RefuseNotFound    Refusal = "not_found"           // the ledger holds no such license
	RefuseNotIssuer   Refusal = "not_issuer"          // another city holds the license
	RefuseWrongKind   Refusal = "wrong_kind"          // the license is not of the kind the request says
	RefuseOwnerChoice Refusal = "owner_refused"       // the owner declined (its own policy)
)

// Refusals lists every refusal.
var Refusals = []Refusal{RefuseNoGrant, RefuseRevoked, RefuseExpired, RefuseNotYet, RefuseKind, RefuseField,
	RefusePurpose, RefuseMatch, RefuseOverLimit, RefuseNotFound, RefuseNotIssuer, RefuseWrongKind, RefuseOwnerChoice}

// Access is what an access record carries: the reader's signed request,
// and what the owner did with it.
type Access struct {
	Request ShareRequest `json:"request"`
	// KeyID names the reader's signing key; Signature (base64) is its
	// signature over Request.Bytes.
	KeyID     string `json:"keyId"`
	Signature string `json:"signature"`
	Outcome   string `json:"outcome"`
	// Reason says why a request was refused (OutcomeRefused only).
	Reason Refusal `json:"reason,omitempty"`
	// Grant is the id of the grant a request was answered under
	// (OutcomeGranted), or the one considered when refused, if any.
	Grant string `json:"grant,omitempty"`
	// Result is a match's answer (OpMatch, OutcomeGranted only): whether
	// the holder holds a valid license of the kind here. Nothing else of
	// the license is recorded or answered.
	Result *bool `json:"result,omitempty"`
}

// ShareKey is the ledger key of a grant or an access record of a city:
// "grant/<city>/<id>", "access/<city>/<id>".
func ShareKey(k Kind, city, id string) string {
	if k == KindShareGrant {
		return "grant/" + city + "/" + id
	}
	return "access/" + city + "/" + id
}

// StateKeys returns every key of the ledger's state the transaction
// changes when it takes effect: LicenseKey, and for an access record
// answered under a grant the grant's (whose count of requests it raises).
func (t *Tx) StateKeys() []string {
	keys := []string{t.LicenseKey()}
	if a := t.Access; t.Kind == KindShareAccess && a != nil && a.Outcome == OutcomeGranted && a.Grant != "" {
		keys = append(keys, ShareKey(KindShareGrant, t.City, a.Grant))
	}
	return keys
}

var (
	readerRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	purposeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	b64url    = base64.RawURLEncoding.Strict()
)

// digestLen is the length of a disclosure digest (schemas/disclose).
const digestLen = 43

func validDigest(s string) bool {
	if len(s) != digestLen {
		return false
	}
	b, err := b64url.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// MaxLimit bounds a grant's request limit (a JSON integer).
const MaxLimit = 1<<53 - 1

// CheckTx3 checks a transaction by the record rules of rules version 3 of
// ledger/block: a license transaction as CheckRedacted does, a grant or an
// access record as CheckShare does. It needs no trust bundle; the ledger
// adds what does (the reader's signature, that the reader exists).
func CheckTx3(tx *Tx) error {
	if tx.Kind == KindShareGrant || tx.Kind == KindShareAccess {
		return CheckShare(tx)
	}
	return CheckRedacted(tx)
}

// CheckRedacted checks a license transaction whose record may hold digests
// in place of personal fields: every personal field (classes.go) is a
// digest and never plaintext; every digest sits at a personal field's
// place and has a digest's form; and the transaction, each hidden field
// counted as present, passes CheckTx. What it cannot check (a hidden
// identity number's check character) the issuing gateway checked before it
// committed to the value.
func CheckRedacted(tx *Tx) error {
	if tx.Grant != nil || tx.Access != nil {
		return &FieldError{Field: "grant", Rule: "additionalProperties", Msg: fmt.Sprintf("a %s carries no grant or access", tx.Kind)}
	}
	filled, err := RedactedShape(tx)
	if err != nil {
		return err
	}
	return CheckTx(filled)
}

// RedactedShape returns a copy of a license transaction with a placeholder
// in the place of each hidden field and no digests: what CheckTx judges
// (the placeholders pass its rules; the identifiers beside them are
// dropped by IdentifierShape). It refuses a personal field in plaintext
// (rule "personal"), a digest at a place that is not a personal field's
// (rule "digest-place"), and a digest of the wrong form (rule "digest").
func RedactedShape(tx *Tx) (*Tx, error) {
	r := &tx.Record
	hidden := map[string]bool{}
	check := func(base string, sd Digests, allowed func(member string) bool) error {
		for _, m := range sortedKeys(sd) {
			switch {
			case !allowed(m):
				return &FieldError{Field: base + "._sd." + m, Rule: "digest-place", Msg: fmt.Sprintf("%s.%s is not a personal field of a %s", base, m, tx.Kind.Short())}
			case !validDigest(sd[m]):
				return &FieldError{Field: base + "._sd." + m, Rule: "digest", Msg: "not a digest (43 characters of base64url)"}
			}
			hidden[base+"."+m] = true
		}
		return nil
	}
	personal := map[string]bool{}
	for _, fp := range PersonalPaths(tx.Kind, r) {
		personal[fp.Path] = true
	}
	allow := func(base string) func(string) bool {
		return func(m string) bool { return personal[base+"."+m] }
	}
	if err := check("record", r.SD, allow("record")); err != nil {
		return nil, err
	}
	if r.Holder != nil {
		if err := check("record.holder", r.Holder.SD, allow("record.holder")); err != nil {
			return nil, err
		}
	}
	for i := range r.People {
		base := "record.people." + strconv.Itoa(i)
		if err := check(base, r.People[i].SD, allow(base)); err != nil {
			return nil, err
		}
	}
	out := *tx
	out.Record = *r
	out.Record.SD = nil
	for _, fp := range PersonalPaths(tx.Kind, r) {
		if !hidden[fp.Path] {
			return nil, &FieldError{Field: fp.Path, Rule: "personal", Msg: "personal data in plaintext: under rules version 3 it travels only as a salted digest"}
		}
	}
	placeholder := Text{LangEN: "-"}
	if hidden["record.name"] {
		if r.Name != nil {
			return nil, &FieldError{Field: "record.name", Rule: "personal", Msg: "both a value and its digest"}
		}
		out.Record.Name = placeholder
	}
	fill := func(base string, p *Party) (*Party, error) {
		q := *p
		q.SD = nil
		if hidden[base+".name"] {
			if p.Name != nil {
				return nil, &FieldError{Field: base + ".name", Rule: "personal", Msg: "both a value and its digest"}
			}
			q.Name = placeholder
		}
		if hidden[base+".idNumber"] {
			if p.IDNumber != "" {
				return nil, &FieldError{Field: base + ".idNumber", Rule: "personal", Msg: "both a value and its digest"}
			}
			q.IDNumber = "-"
		}
		return &q, nil
	}
	if r.Holder != nil {
		h, err := fill("record.holder", r.Holder)
		if err != nil {
			return nil, err
		}
		out.Record.Holder = h
	}
	if len(r.People) > 0 {
		out.Record.People = make([]Party, len(r.People))
		for i := range r.People {
			p, err := fill("record.people."+strconv.Itoa(i), &r.People[i])
			if err != nil {
				return nil, err
			}
			out.Record.People[i] = *p
		}
	}
	return &out, nil
}

// IdentifierShape returns the record of a shape RedactedShape made, with
// the identity of each party whose number is hidden dropped: the record the
// ledger checks identifiers in (bridge/ids), since a hidden number's check
// character is the issuing gateway's to check.
func IdentifierShape(shape *Tx, redacted *Record) *Record {
	out := shape.Record
	drop := func(p *Party, orig *Party) {
		if _, hidden := orig.SD["idNumber"]; hidden {
			p.IDKind, p.IDNumber = "", ""
		}
	}
	if out.Holder != nil {
		h := *out.Holder
		drop(&h, redacted.Holder)
		out.Holder = &h
	}
	if len(out.People) > 0 {
		out.People = slices.Clone(out.People)
		for i := range out.People {
			drop(&out.People[i], &redacted.People[i])
		}
	}
	return &out
}

func sortedKeys(m Digests) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CheckShare checks a grant, a revocation or an access record: the
// envelope and event rules of CheckTx, a record that holds only what the
// kind allows, and the grant's or the access record's fields.
func CheckShare(tx *Tx) error {
	c := checker{}
	c.envelope(tx)
	if tx.NativeFormat != "" || tx.NativeHash != "" {
		c.fail("nativeFormat", "share", "a %s has no native form", tx.Kind)
	}
	if tx.To != "" {
		c.fail("to", "share", "a %s names no city to pass to", tx.Kind)
	}
	ev := tx.Event()
	switch {
	case ev.EventID == "":
		c.fail("eventId", "required", "no event id")
	case len(ev.EventID) > maxEventID:
		c.fail("eventId", "maxLength", "event id of %d bytes, limit %d", len(ev.EventID), maxEventID)
	default:
		c.text("eventId", ev.EventID, false)
	}
	switch {
	case !timestampRe.MatchString(ev.OccurredAt):
		c.fail("occurredAt", "pattern", "%q is not an RFC 3339 date-time", ev.OccurredAt)
	default:
		if _, err := ParseTime(ev.OccurredAt); err != nil {
			c.fail("occurredAt", "rfc3339", "%q is not a valid RFC 3339 date-time", ev.OccurredAt)
		}
	}
	if len(ev.Reason) > maxText {
		c.fail("reason", "maxLength", "reason of %d bytes, limit %d", len(ev.Reason), maxText)
	}
	c.text("reason", ev.Reason, true)
	r := &tx.Record
	switch {
	case r.ID == "":
		c.fail("record.id", "required", "no record id")
	case len(r.ID) > maxRecordID:
		c.fail("record.id", "maxLength", "record id of %d characters, limit %d", len(r.ID), maxRecordID)
	default:
		c.match("record.id", r.ID, idRe)
	}
	rest := *r
	rest.ID, rest.Validity = "", nil
	if c.err == nil && !isZeroRecord(&rest) {
		c.fail("record", "share", "the record of a %s holds only its id (and a grant's validity)", tx.Kind)
	}
	if c.err != nil {
		return c.result()
	}
	switch tx.Kind {
	case KindShareGrant:
		c.grantTx(tx)
	case KindShareAccess:
		c.accessTx(tx)
	default:
		c.fail("kind", "enum", "%q is not a share kind", tx.Kind)
	}
	return c.result()
}

func isZeroRecord(r *Record) bool {
	return r.ID == "" && r.Name == nil && r.Holder == nil && r.People == nil && r.EntityType == nil && r.Capital == nil &&
		r.EstablishedOn == "" && r.Address == nil && r.Scope == nil && r.CertificateNo == "" && r.TaxNumber == "" &&
		r.Fee == nil && r.Levy == nil && r.Title == nil && r.Level == nil && r.Decision == nil && r.ELicenseID == "" &&
		r.Authority == nil && r.IssuedOn == "" && r.Validity == nil && r.SD == nil
}

func (c *checker) grantTx(tx *Tx) {
	switch tx.Action {
	case ActionIssue:
		g := tx.Grant
		if g == nil {
			c.fail("grant", "required", "a grant carries its terms")
			return
		}
		if tx.Access != nil {
			c.fail("access", "share", "a grant carries no access record")
		}
		v := tx.Record.Validity
		switch {
		case v == nil || v.From == "" || v.To == "":
			c.fail("record.validity", "required", "a grant has a window: record.validity with from and to")
			return
		case v.To < v.From:
			c.fail("record.validity.to", "window", "the window ends (%s) before it begins (%s)", v.To, v.From)
		}
		c.date("record.validity.from", v.From)
		c.date("record.validity.to", v.To)
		c.match("grant.reader", g.Reader, readerRe)
		c.match("grant.purpose", g.Purpose, purposeRe)
		c.sortedSet("grant.kinds", kindStrings(g.Kinds), func(s string) bool { return Kind(s).IsLicense() })
		c.sortedSet("grant.fields", g.Fields, IsFieldName)
		if len(g.Kinds) == 0 {
			c.fail("grant.kinds", "required", "a grant covers at least one kind")
		}
		if len(g.Fields) == 0 && !g.Match {
			c.fail("grant.fields", "required", "a grant allows some fields, or matching, or both")
		}
		if g.Limit < 0 || g.Limit > MaxLimit {
			c.fail("grant.limit", "range", "limit %d: 0 (none) to %d", g.Limit, int64(MaxLimit))
		}
	case ActionRevoke:
		if tx.Grant != nil || tx.Access != nil || tx.Record.Validity != nil {
			c.fail("grant", "share", "a revocation names only the grant's id")
		}
		if tx.Reason == "" {
			c.fail("reason", "required", "a revocation needs a reason")
		}
	default:
		c.fail("action", "enum", "a grant is issued or revoked, not %q", tx.Action)
	}
}

func kindStrings(ks []Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// sortedSet checks a list is sorted, without repeats, of allowed values.
func (c *checker) sortedSet(field string, xs []string, ok func(string) bool) {
	for i, x := range xs {
		switch {
		case !ok(x):
			c.fail(field+"."+strconv.Itoa(i), "enum", "%q is not allowed here", x)
		case i > 0 && x <= xs[i-1]:
			c.fail(field, "sorted", "values sorted and each once")
		}
	}
}

func (c *checker) accessTx(tx *Tx) {
	a := tx.Access
	switch {
	case tx.Action != ActionRecord:
		c.fail("action", "enum", "an access record's action is %q, not %q", ActionRecord, tx.Action)
		return
	case a == nil:
		c.fail("access", "required", "an access record carries the request and its outcome")
		return
	case tx.Grant != nil || tx.Record.Validity != nil:
		c.fail("grant", "share", "an access record carries no grant")
		return
	}
	rq := &a.Request
	switch {
	case rq.Chain != tx.Chain:
		c.fail("access.request.chain", "envelope", "request of chain %q on chain %q", rq.Chain, tx.Chain)
	case rq.City != tx.City:
		c.fail("access.request.city", "envelope", "a request to %s recorded by %s: only the city asked records it", rq.City, tx.City)
	}
	c.match("access.request.reader", rq.Reader, readerRe)
	c.match("access.request.purpose", rq.Purpose, purposeRe)
	if !rq.Kind.IsLicense() {
		c.fail("access.request.kind", "enum", "%q is not a license kind", rq.Kind)
	}
	if !timestampRe.MatchString(rq.At) {
		c.fail("access.request.at", "pattern", "%q is not an RFC 3339 date-time", rq.At)
	} else if _, err := ParseTime(rq.At); err != nil {
		c.fail("access.request.at", "rfc3339", "%q is not a valid RFC 3339 date-time", rq.At)
	}
	if n, err := b64url.DecodeString(rq.Nonce); err != nil || len(n) != 16 {
		c.fail("access.request.nonce", "pattern", "a nonce is 16 bytes of base64url")
	}
	switch rq.Op {
	case OpDisclose:
		jur, id, err := SplitLicenseKey(rq.License)
		switch {
		case err != nil:
			c.fail("access.request.license", "pattern", "%q is not JUR/ID", rq.License)
		case jur != tx.Jurisdiction:
			c.fail("access.request.license", "envelope", "a license of %s asked of %s, a city of %s", jur, tx.City, tx.Jurisdiction)
		case len(id) > maxRecordID || !idRe.MatchString(id):
			c.fail("access.request.license", "pattern", "license id %q", id)
		}
		if len(rq.Fields) == 0 {
			c.fail("access.request.fields", "required", "a disclosure asks for at least one field")
		}
		c.sortedSet("access.request.fields", rq.Fields, IsFieldName)
		if rq.Subject != "" {
			c.fail("access.request.subject", "share", "only a match has a subject")
		}
	case OpMatch:
		if !validDigest(rq.Subject) {
			c.fail("access.request.subject", "digest", "a match's subject is a digest (43 characters of base64url)")
		}
		if rq.License != "" || rq.Fields != nil {
			c.fail("access.request.license", "share", "a match names no license and no field")
		}
	default:
		c.fail("access.request.op", "enum", "op %q: %s or %s", rq.Op, OpDisclose, OpMatch)
	}
	if c.err != nil {
		return
	}
	if a.KeyID == "" || len(a.KeyID) > 256 {
		c.fail("access.keyId", "required", "the reader's key id")
	}
	if sig, err := base64.StdEncoding.DecodeString(a.Signature); err != nil || len(sig) == 0 || len(sig) > 16<<10 {
		c.fail("access.signature", "pattern", "the reader's signature, base64")
	}
	switch a.Outcome {
	case OutcomeGranted:
		if a.Reason != "" {
			c.fail("access.reason", "share", "a granted request has no refusal")
		}
		if a.Grant == "" {
			c.fail("access.grant", "required", "a granted request names its grant")
		}
		if (rq.Op == OpMatch) != (a.Result != nil) {
			c.fail("access.result", "share", "a match answered has a result, nothing else does")
		}
	case OutcomeRefused:
		if !slices.Contains(Refusals, a.Reason) {
			c.fail("access.reason", "enum", "refusal %q", a.Reason)
		}
		if a.Result != nil {
			c.fail("access.result", "share", "a refusal has no result")
		}
	default:
		c.fail("access.outcome", "enum", "outcome %q: %s or %s", a.Outcome, OutcomeGranted, OutcomeRefused)
	}
	if a.Grant != "" && (len(a.Grant) > maxRecordID || !idRe.MatchString(a.Grant)) {
		c.fail("access.grant", "pattern", "grant id %q", a.Grant)
	}
	if c.err != nil {
		return
	}
	raw, err := rq.Bytes()
	if err != nil {
		c.fail("access.request", "canonical", "%v", err)
		return
	}
	if want := AccessID(tx.Chain, raw); tx.Record.ID != want {
		c.fail("record.id", "access-id", "an access record's id is %s, from its request", want)
	}
}

// GrantWindow reports whether the grant's window holds at time at (GBA
// days, inclusive): NoRefusal, RefuseNotYet or RefuseExpired.
func (g *GrantTerms) GrantWindow(validTo string, at time.Time) Refusal {
	day := at.In(GBATime).Format(DateLayout)
	switch {
	case day < g.From:
		return RefuseNotYet
	case validTo != "" && day > validTo:
		return RefuseExpired
	}
	return NoRefusal
}

// ParseTerms decodes a grant leaf's terms.
func ParseTerms(raw []byte) (*GrantTerms, error) {
	var g GrantTerms
	if err := jsonv2.Unmarshal(raw, &g, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("schemas: grant terms: %w", err)
	}
	return &g, nil
}

// shareKeyPrefixes are the first segments of the share keys.
var shareKeyPrefixes = []string{"grant/", "access/"}

// IsShareKey reports whether a ledger key is a grant's or an access
// record's.
func IsShareKey(key string) bool {
	return slices.ContainsFunc(shareKeyPrefixes, func(p string) bool { return strings.HasPrefix(key, p) })
}

// NewGrantTx returns the transaction of a grant city issues: id names it
// among the city's grants; from and to are the first and last days of its
// window.
func NewGrantTx(chain string, city City, id string, g Grant, from, to, occurredAt string) *Tx {
	gc := g
	gc.Kinds, gc.Fields = slices.Clone(g.Kinds), slices.Clone(g.Fields)
	slices.Sort(gc.Kinds)
	slices.Sort(gc.Fields)
	return &Tx{V: TxVersion, Chain: chain, City: city.Token, Jurisdiction: city.Jurisdiction, EventID: "grant-" + id,
		Kind: KindShareGrant, Action: ActionIssue, OccurredAt: occurredAt, Grant: &gc,
		Record: Record{ID: id, Validity: &Period{From: from, To: to}}}
}

// NewRevokeTx returns the transaction revoking city's grant id.
func NewRevokeTx(chain string, city City, id, reason, occurredAt string) *Tx {
	return &Tx{V: TxVersion, Chain: chain, City: city.Token, Jurisdiction: city.Jurisdiction, EventID: "revoke-" + id,
		Kind: KindShareGrant, Action: ActionRevoke, OccurredAt: occurredAt, Reason: reason, Record: Record{ID: id}}
}

// NewAccessTx returns the access record city makes of a: its id is the
// request's (AccessID).
func NewAccessTx(chain string, city City, a Access, occurredAt string) (*Tx, error) {
	raw, err := a.Request.Bytes()
	if err != nil {
		return nil, err
	}
	id := AccessID(chain, raw)
	return &Tx{V: TxVersion, Chain: chain, City: city.Token, Jurisdiction: city.Jurisdiction, EventID: "access-" + id,
		Kind: KindShareAccess, Action: ActionRecord, OccurredAt: occurredAt, Access: &a, Record: Record{ID: id}}, nil
}
