// Package view renders a canonical transaction as one jurisdiction's
// human-readable view: labels in that jurisdiction's languages, names in its
// script, dates in its style, money with its currency code. A rendering is a
// pure function of the transaction and the view's version, so a verifier can
// re-derive it from the signed record.
package view

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/baybus/baybus/bridge/internal/native"
	"github.com/baybus/baybus/bridge/script"
	"github.com/baybus/baybus/schemas"
)

// Rendering is one jurisdiction's view of a canonical record: ordered
// label/value pairs.
type Rendering struct {
	Version      string               `json:"version"`
	Jurisdiction schemas.Jurisdiction `json:"jurisdiction"`
	Kind         schemas.Kind         `json:"kind"`
	Fields       []Field              `json:"fields"`
}

// Field is one line of a rendering. Key is the canonical field it shows
// ("record.name", "record.people.0"); Label and Value are for people.
type Field struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Value string `json:"value"`
}

// View is a jurisdiction's rendering rules. Changing what a view prints
// means a new Version.
type View struct {
	Version      string
	Jurisdiction schemas.Jurisdiction
	LabelLangs   []string // languages of labels and fixed words, joined by " / "
	ValueLangs   []string // languages of a record's texts, in order
	Date         native.DateStyle
}

// views are the three jurisdictions' views. They are never modified.
var views = [...]View{
	{Version: "cn-render@1", Jurisdiction: schemas.CN,
		LabelLangs: []string{schemas.LangHans},
		ValueLangs: []string{schemas.LangHans, schemas.LangEN, schemas.LangPT},
		Date:       native.DateCN},
	{Version: "hk-render@1", Jurisdiction: schemas.HK,
		LabelLangs: []string{schemas.LangHant, schemas.LangEN},
		ValueLangs: []string{schemas.LangHant, schemas.LangEN, schemas.LangPT},
		Date:       native.DateDMY},
	{Version: "mo-render@1", Jurisdiction: schemas.MO,
		LabelLangs: []string{schemas.LangHant, schemas.LangPT},
		ValueLangs: []string{schemas.LangHant, schemas.LangPT, schemas.LangEN},
		Date:       native.DateDMY},
}

// Of returns the view of jurisdiction j.
func Of(j schemas.Jurisdiction) (View, bool) {
	for _, v := range views {
		if v.Jurisdiction == j {
			return v, true
		}
	}
	return View{}, false
}

// ErrNoTx is returned when there is nothing to render.
var ErrNoTx = errors.New("view: no transaction")

// Render renders tx in the view.
func (v View) Render(tx *schemas.Tx) (Rendering, error) {
	if tx == nil {
		return Rendering{}, ErrNoTx
	}
	conv, err := script.Default()
	if err != nil {
		return Rendering{}, err
	}
	r := renderer{v: v, conv: conv, j: tx.Jurisdiction, kind: tx.Kind}
	r.envelope(tx)
	r.record(&tx.Record)
	return Rendering{Version: v.Version, Jurisdiction: v.Jurisdiction, Kind: tx.Kind, Fields: r.out}, nil
}

type renderer struct {
	v    View
	conv *script.Converter
	j    schemas.Jurisdiction
	kind schemas.Kind
	out  []Field
}

func (r *renderer) add(key string, l label, value string) { r.addLabel(key, r.words(l), value) }

func (r *renderer) addLabel(key, label, value string) {
	if value != "" {
		r.out = append(r.out, Field{Key: key, Label: label, Value: value})
	}
}

// words writes a fixed phrase in the view's label languages.
func (r *renderer) words(l label) string { return r.join(l.text(), r.v.LabelLangs) }

// text writes a record's text in the view's value languages.
func (r *renderer) text(t schemas.Text) string { return r.join(t, r.v.ValueLangs) }

// join writes the languages of t that langs name, in order, without
// repeating a value, converting Chinese to the wanted script if only the
// other is present.
func (r *renderer) join(t schemas.Text, langs []string) string {
	var parts []string
	for _, l := range langs {
		v := t[l]
		if v == "" {
			switch l {
			case schemas.LangHans:
				if h := t[schemas.LangHant]; h != "" {
					v = r.conv.ToHans(h)
				}
			case schemas.LangHant:
				if h := t[schemas.LangHans]; h != "" {
					v = r.conv.ToHant(h)
				}
			}
		}
		if v != "" && !contains(parts, v) {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " / ")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (r *renderer) envelope(tx *schemas.Tx) {
	city := tx.City
	if c, err := schemas.LookupCity(tx.City); err == nil {
		pt := c.NameEN
		if p, ok := cityPT[c.Token]; ok {
			pt = p
		}
		city = r.words(label{r.conv.ToHans(c.NameZH), r.conv.ToHant(c.NameZH), c.NameEN, pt})
	}
	r.add("city", labels["city"], city)
	jn := string(tx.Jurisdiction)
	if l, ok := jurisdictionNames[tx.Jurisdiction]; ok {
		jn = r.words(l)
	}
	r.add("jurisdiction", labels["jurisdiction"], jn)
	kn := string(tx.Kind)
	if l, ok := kindNames[string(tx.Jurisdiction)+"."+string(tx.Kind)]; ok {
		kn = r.words(l)
	}
	r.add("kind", labels["kind"], kn)
	an := string(tx.Action)
	if l, ok := actionNames[tx.Action]; ok {
		an = r.words(l)
	}
	r.add("action", labels["action"], an)
	r.add("occurredAt", labels["occurredAt"], r.time(tx.OccurredAt))
	r.add("reason", labels["reason"], tx.Reason)
}

func (r *renderer) time(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return r.v.Date.FormatDate(t.Format("2006-01-02")) + " " + t.Format("15:04:05 -07:00")
}

func (r *renderer) date(iso string) string {
	if iso == "" {
		return ""
	}
	return r.v.Date.FormatDate(iso)
}

func (r *renderer) money(m *schemas.Money) string {
	if m == nil {
		return ""
	}
	s := m.Currency + " " + native.Group(m.Amount)
	if l, ok := currencyNames[m.Currency]; ok {
		s += " (" + r.words(l) + ")"
	}
	return s
}

func (r *renderer) party(p *schemas.Party) string {
	number := p.IDNumber
	if _, hidden := p.SD["idNumber"]; hidden {
		number = r.words(withheld)
	}
	if p.IDKind == "" && number == "" {
		return ""
	}
	kind := p.IDKind
	if l, ok := idKindNames[p.IDKind]; ok {
		kind = r.words(l)
	}
	return kind + ": " + number
}

// name renders a name, or says it is withheld when the record holds only
// its digest (sd: the object's digests).
func (r *renderer) name(t schemas.Text, sd schemas.Digests) string {
	if _, hidden := sd["name"]; hidden && t == nil {
		return r.words(withheld)
	}
	return r.text(t)
}

func (r *renderer) record(rec *schemas.Record) {
	lf := func(key string) label { return labelFor(key, r.j, r.kind) }
	r.add("record.id", lf("id"), rec.ID)
	r.add("record.certificateNo", lf("certificateNo"), rec.CertificateNo)
	r.add("record.taxNumber", lf("taxNumber"), rec.TaxNumber)
	r.add("record.name", lf("name"), r.name(rec.Name, rec.SD))
	r.add("record.entityType", lf("entityType"), r.text(rec.EntityType))
	if h := rec.Holder; h != nil {
		r.add("record.holder.name", lf("holder"), r.name(h.Name, h.SD))
		r.add("record.holder.id", lf("holder.id"), r.party(h))
	}
	for i := range rec.People {
		p := &rec.People[i]
		key := "record.people." + strconv.Itoa(i)
		l := r.words(lf("person"))
		if role := r.join(p.Role, r.v.LabelLangs); role != "" {
			l = role
		}
		r.addLabel(key, l, r.name(p.Name, p.SD))
		r.add(key+".id", lf("person.id"), r.party(p))
	}
	r.add("record.capital", lf("capital"), r.money(rec.Capital))
	r.add("record.establishedOn", lf("establishedOn"), r.date(rec.EstablishedOn))
	r.add("record.address", lf("address"), r.text(rec.Address))
	r.add("record.scope", lf("scope"), r.text(rec.Scope))
	r.add("record.fee", lf("fee"), r.money(rec.Fee))
	r.add("record.levy", lf("levy"), r.money(rec.Levy))
	r.add("record.title", lf("title"), r.text(rec.Title))
	r.add("record.level", lf("level"), r.text(rec.Level))
	r.add("record.decision", lf("decision"), r.text(rec.Decision))
	if p := rec.Validity; p != nil {
		to := r.date(p.To)
		if to == "" {
			to = r.words(openEnd)
		}
		r.add("record.validity", lf("validity"), r.date(p.From)+" – "+to)
	}
	r.add("record.authority", lf("authority"), r.text(rec.Authority))
	r.add("record.issuedOn", lf("issuedOn"), r.date(rec.IssuedOn))
	r.add("record.elicenseId", lf("elicenseId"), rec.ELicenseID)
}
