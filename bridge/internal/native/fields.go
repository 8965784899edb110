package native

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/baybus/baybus/schemas"
)

// Field maps native keys to one part of a canonical record, both ways.
type Field interface {
	decode(d *decoder, r *schemas.Record) error
	encode(e *encoder, r *schemas.Record)
	// native maps a canonical path ("record.holder.idNumber") that this
	// field fills to the native key path that holds it.
	native(canonical string) (string, bool)
	keys() []string
}

// Need says when a field must be present.
type Need int

// The needs.
const (
	Optional Need = iota // never required
	Full                 // required when the action carries a full record (issue, amend)
	Always               // required for every action (the record's id)
)

func (n Need) required(d *decoder) bool { return n == Always || n == Full && d.full }

// under reports whether canonical is path or lies below it, and the rest.
func under(canonical, path string) (rest string, ok bool) {
	if canonical == path {
		return "", true
	}
	if strings.HasPrefix(canonical, path+".") {
		return canonical[len(path)+1:], true
	}
	return "", false
}

// Code is an identifier-like string: 1-64 characters without spaces. Its
// rules beyond that (check characters) are applied to the whole record by
// ids.CheckRecord.
func Code(key, path string, need Need, acc func(*schemas.Record) *string) Field {
	return codeField{key, path, need, 64, acc}
}

// ID is the record's id (always required), which must also match the
// schema's id pattern: a letter or digit, then letters, digits and ()./_-.
func ID(key string) Field {
	return codeField{key, "record.id", Always, 64, func(r *schemas.Record) *string { return &r.ID }}
}

// LongCode is Code for identifiers of up to max characters (e-license
// identifiers are longer than 64).
func LongCode(key, path string, need Need, max int, acc func(*schemas.Record) *string) Field {
	return codeField{key, path, need, max, acc}
}

type codeField struct {
	key, path string
	need      Need
	max       int
	acc       func(*schemas.Record) *string
}

func (f codeField) decode(d *decoder, r *schemas.Record) error {
	v, ok, err := d.str(f.key, f.need.required(d))
	if err != nil || !ok {
		return err
	}
	if err := checkCode(v, f.max); err != nil {
		return d.errAt(f.key, err)
	}
	if f.path == "record.id" && !recordID.MatchString(v) {
		return d.errAt(f.key, ruleErr("id-pattern", "%q must start with a letter or digit and hold only letters, digits and ()./_-", v))
	}
	*f.acc(r) = v
	return nil
}

func (f codeField) encode(e *encoder, r *schemas.Record) {
	if v := *f.acc(r); v != "" {
		e.put(f.key, v)
	}
}

func (f codeField) native(c string) (string, bool) {
	if _, ok := under(c, f.path); ok {
		return f.key, true
	}
	return "", false
}

func (f codeField) keys() []string { return []string{f.key} }

// Text is a text in the jurisdiction's text style. The text as written goes
// under its language tag and the other Chinese script is added beside it.
func Text(key, path string, need Need, acc func(*schemas.Record) *schemas.Text) Field {
	return textField{key, path, need, acc}
}

type textField struct {
	key, path string
	need      Need
	acc       func(*schemas.Record) *schemas.Text
}

func (f textField) decode(d *decoder, r *schemas.Record) error {
	t, err := decodeText(d, f.key, f.need.required(d))
	if err != nil || t == nil {
		return err
	}
	*f.acc(r) = t
	return nil
}

func (f textField) encode(e *encoder, r *schemas.Record) { encodeText(e, f.key, *f.acc(r)) }

func (f textField) native(c string) (string, bool) {
	if _, ok := under(c, f.path); ok {
		return f.key, true
	}
	return "", false
}

func (f textField) keys() []string { return []string{f.key} }

func decodeText(d *decoder, key string, required bool) (schemas.Text, error) {
	st := &d.style.Text
	if st.Plain {
		v, ok, err := d.str(key, required)
		if err != nil || !ok {
			return nil, err
		}
		if err := checkText(v); err != nil {
			return nil, d.errAt(key, err)
		}
		return completeText(d, key, schemas.Text{schemas.LangHans: v})
	}
	sub, ok, err := d.object(key, required)
	if err != nil || !ok {
		return nil, err
	}
	t := schemas.Text{}
	var names []string
	for _, l := range st.Langs {
		names = append(names, l.Key)
		v, ok, err := sub.str(l.Key, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if err := checkText(v); err != nil {
			return nil, sub.errAt(l.Key, err)
		}
		t[l.Lang] = v
	}
	if err := sub.finish(); err != nil {
		return nil, err
	}
	if len(t) == 0 {
		return nil, d.errAt(key, ruleErr("text-empty", "needs at least one of %s", strings.Join(names, ", ")))
	}
	return completeText(d, key, t)
}

// completeText adds the other Chinese script and checks that the converted
// form, too, fits the schema's length limit.
func completeText(d *decoder, key string, t schemas.Text) (schemas.Text, error) {
	t = d.conv.Complete(t)
	for _, v := range t {
		if n := utf8.RuneCountInString(v); n > MaxText {
			return nil, d.errAt(key, ruleErr("text-length", "text converted to the other script has %d characters, limit %d", n, MaxText))
		}
	}
	return t, nil
}

var recordID = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z()./_-]*$`)

func encodeText(e *encoder, key string, t schemas.Text) {
	if len(t) == 0 {
		return
	}
	st := &e.style.Text
	if st.Plain {
		if v := e.pick(t); v != "" {
			e.put(key, v)
		}
		return
	}
	var o object
	for _, l := range st.Langs {
		if v := e.lang(t, l.Lang); v != "" {
			o = append(o, member{l.Key, v})
		}
	}
	if len(o) > 0 {
		e.put(key, o)
	}
}

// lang returns t in one language, converting the other Chinese script if
// only that one is present.
func (e *encoder) lang(t schemas.Text, lang string) string {
	if v := t[lang]; v != "" {
		return v
	}
	switch lang {
	case schemas.LangHans:
		if v := t[schemas.LangHant]; v != "" {
			return e.conv.ToHans(v)
		}
	case schemas.LangHant:
		if v := t[schemas.LangHans]; v != "" {
			return e.conv.ToHant(v)
		}
	}
	return ""
}

// pick chooses the one string a plain-text style writes for a text: its
// Chinese in the style's script, else English, else Portuguese.
func (e *encoder) pick(t schemas.Text) string {
	for _, l := range []string{schemas.LangHans, schemas.LangEN, schemas.LangPT} {
		if v := e.lang(t, l); v != "" {
			return v
		}
	}
	return ""
}

// pickFor is pick in the order of an object style's languages.
func (e *encoder) pickFor(t schemas.Text) string {
	if e.style.Text.Plain {
		return e.pick(t)
	}
	for _, l := range e.style.Text.Langs {
		if v := e.lang(t, l.Lang); v != "" {
			return v
		}
	}
	return ""
}

// Date is an ISO date written in the jurisdiction's date style.
func Date(key, path string, need Need, acc func(*schemas.Record) *string) Field {
	return dateField{key, path, need, acc}
}

type dateField struct {
	key, path string
	need      Need
	acc       func(*schemas.Record) *string
}

func (f dateField) decode(d *decoder, r *schemas.Record) error {
	v, ok, err := d.str(f.key, f.need.required(d))
	if err != nil || !ok {
		return err
	}
	iso, err := d.style.Date.ParseDate(v)
	if err != nil {
		return d.errAt(f.key, err)
	}
	*f.acc(r) = iso
	return nil
}

func (f dateField) encode(e *encoder, r *schemas.Record) {
	if v := *f.acc(r); v != "" {
		e.put(f.key, e.style.Date.FormatDate(v))
	}
}

func (f dateField) native(c string) (string, bool) {
	if _, ok := under(c, f.path); ok {
		return f.key, true
	}
	return "", false
}

func (f dateField) keys() []string { return []string{f.key} }

// Money is an amount written in the jurisdiction's money style.
func Money(key, path string, need Need, acc func(*schemas.Record) **schemas.Money) Field {
	return moneyField{key, path, need, acc}
}

type moneyField struct {
	key, path string
	need      Need
	acc       func(*schemas.Record) **schemas.Money
}

func (f moneyField) decode(d *decoder, r *schemas.Record) error {
	v, ok, err := d.str(f.key, f.need.required(d))
	if err != nil || !ok {
		return err
	}
	m, err := d.style.Money.ParseMoney(v)
	if err != nil {
		return d.errAt(f.key, err)
	}
	*f.acc(r) = m
	return nil
}

func (f moneyField) encode(e *encoder, r *schemas.Record) {
	if m := *f.acc(r); m != nil {
		e.put(f.key, e.style.Money.FormatMoney(m))
	}
}

func (f moneyField) native(c string) (string, bool) {
	if _, ok := under(c, f.path); ok {
		return f.key, true
	}
	return "", false
}

func (f moneyField) keys() []string { return []string{f.key} }

// Validity is the record's validity period in two native keys. If open is
// not empty, the period's end must be given and open is the word for "no
// end" (CN 长期); otherwise a missing end means no end.
func Validity(fromKey, toKey, open string, need Need) Field {
	return periodField{fromKey, toKey, open, need}
}

type periodField struct {
	fromKey, toKey, open string
	need                 Need
}

func (f periodField) decode(d *decoder, r *schemas.Record) error {
	from, hasFrom, err := d.str(f.fromKey, f.need.required(d))
	if err != nil {
		return err
	}
	to, hasTo, err := d.str(f.toKey, f.open != "" && hasFrom)
	if err != nil {
		return err
	}
	if !hasFrom {
		if hasTo {
			return d.errAt(f.fromKey, ruleErr("required", "missing although %s is given", f.toKey))
		}
		return nil
	}
	p := &schemas.Period{}
	if p.From, err = d.style.Date.ParseDate(from); err != nil {
		return d.errAt(f.fromKey, err)
	}
	if hasTo && !(f.open != "" && to == f.open) {
		if p.To, err = d.style.Date.ParseDate(to); err != nil {
			if f.open != "" {
				err.(*schemas.FieldError).Msg += " or " + f.open
			}
			return d.errAt(f.toKey, err)
		}
		if p.To < p.From {
			return d.errAt(f.toKey, ruleErr("period-order", "%s ends before it starts (%s)", to, from))
		}
	}
	r.Validity = p
	return nil
}

func (f periodField) encode(e *encoder, r *schemas.Record) {
	p := r.Validity
	if p == nil {
		return
	}
	e.put(f.fromKey, e.style.Date.FormatDate(p.From))
	switch {
	case p.To != "":
		e.put(f.toKey, e.style.Date.FormatDate(p.To))
	case f.open != "":
		e.put(f.toKey, f.open)
	}
}

func (f periodField) native(c string) (string, bool) {
	rest, ok := under(c, "record.validity")
	if !ok {
		return "", false
	}
	if rest == "to" {
		return f.toKey, true
	}
	return f.fromKey, true
}

func (f periodField) keys() []string { return []string{f.fromKey, f.toKey} }

// EnumEntry is one value of an enumerated text: the native code and the
// canonical text it stands for (Chinese in one script; the other is added).
type EnumEntry struct {
	Code string
	Text schemas.Text
}

// Enum is a text chosen from a fixed list by a native code (HK's CORP,
// SOLE, PART). A text not in the list is written in the jurisdiction's first
// language, as a view.
func Enum(key, path string, need Need, acc func(*schemas.Record) *schemas.Text, entries []EnumEntry) Field {
	return enumField{key, path, need, acc, entries}
}

type enumField struct {
	key, path string
	need      Need
	acc       func(*schemas.Record) *schemas.Text
	entries   []EnumEntry
}

func (f enumField) decode(d *decoder, r *schemas.Record) error {
	v, ok, err := d.str(f.key, f.need.required(d))
	if err != nil || !ok {
		return err
	}
	var codes []string
	for _, en := range f.entries {
		if en.Code == v {
			*f.acc(r) = d.conv.Complete(en.Text)
			return nil
		}
		codes = append(codes, en.Code)
	}
	return d.errAt(f.key, ruleErr("enum", "%q is not one of %s", v, strings.Join(codes, ", ")))
}

func (f enumField) encode(e *encoder, r *schemas.Record) {
	t := *f.acc(r)
	if len(t) == 0 {
		return
	}
	for _, en := range f.entries {
		if sameText(en.Text, t) {
			e.put(f.key, en.Code)
			return
		}
	}
	if v := e.pickFor(t); v != "" {
		e.put(f.key, v)
	}
}

// sameText reports whether every language of want is in got, unchanged.
func sameText(want, got schemas.Text) bool {
	for l, v := range want {
		if got[l] != v {
			return false
		}
	}
	return true
}

func (f enumField) native(c string) (string, bool) {
	if _, ok := under(c, f.path); ok {
		return f.key, true
	}
	return "", false
}

func (f enumField) keys() []string { return []string{f.key} }

// IDType maps a native word for an identity document to an IDKind.
type IDType struct{ Word, Kind string }

// Party describes how a jurisdiction writes a person or organisation: in a
// nested object under Object, or (Object == "") as keys of the record.
type Party struct {
	Object, Name, IDType, IDNumber, Role string // native keys; Role may be ""
	IDTypes                              []IDType
	IDRequired                           bool // the id type and number are required
}

func (p *Party) keys() []string {
	if p.Object != "" {
		return []string{p.Object}
	}
	ks := []string{p.Name, p.IDType, p.IDNumber}
	if p.Role != "" {
		ks = append(ks, p.Role)
	}
	return ks
}

func (p *Party) decode(d *decoder) (*schemas.Party, error) {
	name, err := decodeText(d, p.Name, true)
	if err != nil {
		return nil, err
	}
	out := &schemas.Party{Name: name}
	word, hasType, err := d.str(p.IDType, p.IDRequired)
	if err != nil {
		return nil, err
	}
	num, hasNum, err := d.str(p.IDNumber, p.IDRequired || hasType)
	if err != nil {
		return nil, err
	}
	if hasNum && !hasType {
		return nil, d.errAt(p.IDType, ruleErr("required", "missing although %s is given", p.IDNumber))
	}
	if hasType {
		var words []string
		for _, t := range p.IDTypes {
			if t.Word == word {
				out.IDKind = t.Kind
			}
			words = append(words, t.Word)
		}
		if out.IDKind == "" {
			return nil, d.errAt(p.IDType, ruleErr("enum", "%q is not one of %s", word, strings.Join(words, ", ")))
		}
		if err := checkCode(num, 64); err != nil {
			return nil, d.errAt(p.IDNumber, err)
		}
		out.IDNumber = num
	}
	if p.Role != "" {
		role, err := decodeText(d, p.Role, false)
		if err != nil {
			return nil, err
		}
		out.Role = role
	}
	return out, nil
}

func (p *Party) encode(e *encoder, x *schemas.Party) {
	encodeText(e, p.Name, x.Name)
	if x.IDKind != "" {
		word := x.IDKind
		for _, t := range p.IDTypes {
			if t.Kind == x.IDKind {
				word = t.Word
			}
		}
		e.put(p.IDType, word)
	}
	if x.IDNumber != "" {
		e.put(p.IDNumber, x.IDNumber)
	}
	if p.Role != "" {
		encodeText(e, p.Role, x.Role)
	}
}

// native maps a path below a party ("name", "idNumber") to the party's key.
func (p *Party) native(rest string) string {
	field, _, _ := strings.Cut(rest, ".")
	switch field {
	case "idKind":
		return p.IDType
	case "idNumber":
		return p.IDNumber
	case "role":
		if p.Role != "" {
			return p.Role
		}
	}
	return p.Name
}

// Holder is the record's holder (certificate holder, approval applicant).
func Holder(p Party, need Need) Field { return holderField{p, need} }

type holderField struct {
	p    Party
	need Need
}

func (f holderField) decode(d *decoder, r *schemas.Record) error {
	dd := d
	if f.p.Object != "" {
		sub, ok, err := d.object(f.p.Object, f.need.required(d))
		if err != nil || !ok {
			return err
		}
		dd = sub
	} else if _, ok := d.obj[f.p.Name]; !ok && !f.need.required(d) {
		for _, k := range f.p.keys()[1:] {
			if _, ok := d.obj[k]; ok {
				return d.errAt(f.p.Name, ruleErr("required", "missing although %s is given", k))
			}
		}
		return nil
	}
	h, err := f.p.decode(dd)
	if err != nil {
		return err
	}
	if dd != d {
		if err := dd.finish(); err != nil {
			return err
		}
	}
	r.Holder = h
	return nil
}

func (f holderField) encode(e *encoder, r *schemas.Record) {
	if r.Holder == nil {
		return
	}
	if f.p.Object == "" {
		f.p.encode(e, r.Holder)
		return
	}
	sub := &encoder{style: e.style, conv: e.conv}
	f.p.encode(sub, r.Holder)
	e.put(f.p.Object, sub.out)
}

func (f holderField) native(c string) (string, bool) {
	rest, ok := under(c, "record.holder")
	if !ok {
		return "", false
	}
	k := f.p.native(rest)
	if f.p.Object != "" {
		if rest == "" {
			return f.p.Object, true
		}
		return f.p.Object + "." + k, true
	}
	return k, true
}

func (f holderField) keys() []string { return f.p.keys() }

// People is the record's people (MO administrators) as an array of objects.
func People(key string, p Party) Field { return peopleField{key, p} }

// MaxPeople is the schema's limit on a record's people.
const MaxPeople = 50

type peopleField struct {
	key string
	p   Party
}

func (f peopleField) decode(d *decoder, r *schemas.Record) error {
	items, ok, err := d.array(f.key, MaxPeople)
	if err != nil || !ok {
		return err
	}
	for _, it := range items {
		x, err := f.p.decode(it)
		if err != nil {
			return err
		}
		if err := it.finish(); err != nil {
			return err
		}
		r.People = append(r.People, *x)
	}
	return nil
}

func (f peopleField) encode(e *encoder, r *schemas.Record) {
	if len(r.People) == 0 {
		return
	}
	var items []object
	for i := range r.People {
		sub := &encoder{style: e.style, conv: e.conv}
		f.p.encode(sub, &r.People[i])
		items = append(items, sub.out)
	}
	e.put(f.key, items)
}

func (f peopleField) native(c string) (string, bool) {
	rest, ok := under(c, "record.people")
	if !ok {
		return "", false
	}
	idx, rest, _ := strings.Cut(rest, ".")
	if _, err := strconv.Atoi(idx); err != nil {
		return f.key, true
	}
	return fmt.Sprintf("%s.%s.%s", f.key, idx, f.p.native(rest)), true
}

func (f peopleField) keys() []string { return []string{f.key} }

// Representative is one person named by a text under key, with a fixed role
// (CN 法定代表人). Writing takes the first of the record's people.
func Representative(key string, need Need, role schemas.Text) Field {
	return repField{key, need, role}
}

type repField struct {
	key  string
	need Need
	role schemas.Text
}

func (f repField) decode(d *decoder, r *schemas.Record) error {
	t, err := decodeText(d, f.key, f.need.required(d))
	if err != nil || t == nil {
		return err
	}
	r.People = []schemas.Party{{Name: t, Role: d.conv.Complete(f.role)}}
	return nil
}

func (f repField) encode(e *encoder, r *schemas.Record) {
	if len(r.People) > 0 {
		encodeText(e, f.key, r.People[0].Name)
	}
}

func (f repField) native(c string) (string, bool) {
	if _, ok := under(c, "record.people"); ok {
		return f.key, true
	}
	return "", false
}

func (f repField) keys() []string { return []string{f.key} }
