package schemas

import (
	"slices"
	"strconv"
	"strings"
)

// Field classes (issue 15 §1). Every field of a record is public register
// data, which travels in plaintext, or personal data, which under rules
// version 3 travels only as a salted digest (Record.SD, Party.SD; package
// schemas/disclose) and is disclosed field by field under a grant.
//
// The classes are a function of the kind and of what the record says of
// its parties, so a verifier with the record alone (its digests in place
// of personal values) knows which fields must be hidden:
//
//   - a party (record.holder, record.people.<i>) is a natural person
//     unless its idKind names an organisation's identifier (uscc, hk-brn,
//     mo-reg, mo-tax); a natural person's name and idNumber are personal;
//     its idKind and role are public;
//   - a certificate's or an approval's record.name names its holder: it is
//     personal unless the holder is an organisation. A business
//     registration's name is the business's: public;
//   - every other field (ids, company names, entity types, capital, dates,
//     registered business addresses, scope, authorities, titles,
//     decisions, validity) is public register data. The canonical records
//     have no personal address: record.address is a business's registered
//     address.
//
// Grants and requests name personal fields without an index (FieldNames:
// "people.name" covers every person of a record); a disclosure names the
// place of one value (its path: "record.people.1.name").

// Class is a field's data class.
type Class int

// The classes.
const (
	Public Class = iota
	Personal
)

// FieldNames lists the personal fields a grant or a request may name, in a
// fixed order.
var FieldNames = []string{"name", "holder.name", "holder.idNumber", "people.name", "people.idNumber"}

// IsFieldName reports whether s is one of FieldNames.
func IsFieldName(s string) bool { return slices.Contains(FieldNames, s) }

// organisationIDs are the party id kinds that identify an organisation, not
// a natural person.
var organisationIDs = []string{"uscc", "hk-brn", "mo-reg", "mo-tax"}

// NaturalPerson reports whether a party is a natural person: unless its
// idKind names an organisation's identifier. A party with no idKind (a
// mainland legal representative is named without one) is a person.
func NaturalPerson(p *Party) bool { return !slices.Contains(organisationIDs, p.IDKind) }

// FieldPath is a personal field's place in a record.
type FieldPath struct {
	Path  string // "record.people.1.name": where the value (or its digest) sits
	Field string // "people.name": the field name grants and requests use
	Name  string // "name": the member's name in its object
}

// PersonalPaths returns the places of the personal fields of a record of
// kind k, present in plaintext or as digests, in a fixed order: the
// record's name, the holder's name and idNumber, each person's name and
// idNumber.
func PersonalPaths(k Kind, r *Record) []FieldPath {
	var out []FieldPath
	has := func(sd Digests, member string, present bool) bool {
		_, hidden := sd[member]
		return present || hidden
	}
	if (k == KindCertificate || k == KindApproval) && (r.Holder == nil || NaturalPerson(r.Holder)) && has(r.SD, "name", len(r.Name) > 0) {
		out = append(out, FieldPath{Path: "record.name", Field: "name", Name: "name"})
	}
	party := func(base, field string, p *Party) {
		if !NaturalPerson(p) {
			return
		}
		if has(p.SD, "name", len(p.Name) > 0) {
			out = append(out, FieldPath{Path: base + ".name", Field: field + ".name", Name: "name"})
		}
		if has(p.SD, "idNumber", p.IDNumber != "") {
			out = append(out, FieldPath{Path: base + ".idNumber", Field: field + ".idNumber", Name: "idNumber"})
		}
	}
	if r.Holder != nil {
		party("record.holder", "holder", r.Holder)
	}
	for i := range r.People {
		party("record.people."+strconv.Itoa(i), "people", &r.People[i])
	}
	return out
}

// FieldOfPath returns the field name of a path ("record.people.1.name" →
// "people.name"), or "" if the path names no personal field's place.
func FieldOfPath(path string) string {
	rest, ok := strings.CutPrefix(path, "record.")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, ".")
	switch {
	case len(parts) == 1 && parts[0] == "name":
		return "name"
	case len(parts) == 2 && parts[0] == "holder" && (parts[1] == "name" || parts[1] == "idNumber"):
		return rest
	case len(parts) == 3 && parts[0] == "people" && (parts[2] == "name" || parts[2] == "idNumber"):
		if i, err := strconv.Atoi(parts[1]); err != nil || i < 0 || i >= maxPeople || strconv.Itoa(i) != parts[1] {
			return ""
		}
		return "people." + parts[2]
	}
	return ""
}

// HasDigests reports whether the record or any of its parties holds a
// digest (Record.SD, Party.SD).
func (r *Record) HasDigests() bool {
	if len(r.SD) > 0 || r.Holder != nil && len(r.Holder.SD) > 0 {
		return true
	}
	for i := range r.People {
		if len(r.People[i].SD) > 0 {
			return true
		}
	}
	return false
}
