// Package native is the machinery the jurisdiction bridges share to read and
// write their native event formats. A jurisdiction describes each format as
// an ordered list of fields (native key, canonical place, value codec) and
// gets both directions from the one description, so a format cannot read a
// field it does not write back.
//
// Decoding is strict: the input must be one JSON object that canonicalizes
// (no duplicate keys, valid UTF-8, integers only), with no keys the format
// does not name. Every error is a *schemas.FieldError naming the native key
// path (e.g. "administradores.0.numeroDocumento") and the rule broken.
package native

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/bridge/script"
	"github.com/baybus/baybus/schemas"
)

// MaxBytes bounds one native event.
const MaxBytes = schemas.MaxTxBytes

// FormatKey is the one key every native format shares: the format's name,
// so that an input names its own format and version.
const FormatKey = "format"

var formatName = regexp.MustCompile(`^(cn|hk|mo)/[a-z_]+@[0-9]+$`)

// Style is how a jurisdiction writes text, dates and money.
type Style struct {
	Jurisdiction schemas.Jurisdiction
	Text         TextStyle
	Date         DateStyle
	Money        MoneyStyle
}

// TextStyle is how a jurisdiction writes a text field: a plain string in
// Simplified Chinese (CN), or an object with one key per language (HK, MO).
type TextStyle struct {
	Plain bool       // a string written in Simplified Chinese
	Langs []TextLang // the object's keys, in output order
}

// TextLang maps a key of a native text object to a language tag.
type TextLang struct{ Key, Lang string }

// ActionWord is a jurisdiction's word for an action.
type ActionWord struct {
	Action schemas.Action
	Word   string
}

// Envelope names the native keys of the event envelope.
type Envelope struct {
	EventID, Action, OccurredAt, Reason string
	Actions                             []ActionWord
}

// Format is one native format: its name ("cn/business_registration@1"),
// the record kind it carries and its fields in output order.
type Format struct {
	Name   string
	Kind   schemas.Kind
	Fields []Field
}

// Codec reads and writes one jurisdiction's native formats. It is immutable
// and safe for concurrent use.
type Codec struct {
	Style    Style
	Envelope Envelope
	Formats  []Format
}

// Decoded is a decoded native event.
type Decoded struct {
	Event     *schemas.Event
	Format    string // the native format's name
	Canonical []byte // the native input in canonical JSON form (what NativeHash hashes)
}

// Decode parses one native event into a canonical event that satisfies
// event.schema.json and checks the identifiers it carries.
func (c *Codec) Decode(raw []byte) (*Decoded, error) {
	if len(raw) > MaxBytes {
		return nil, &schemas.FieldError{Rule: "max-bytes", Msg: fmt.Sprintf("native event is %d bytes, limit %d", len(raw), MaxBytes)}
	}
	canon, err := schemas.CanonicalizeJSON(raw)
	if err != nil {
		return nil, &schemas.FieldError{Rule: "json", Msg: "native event is not valid JSON for baybus: " + err.Error()}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(canon, &obj); err != nil || obj == nil {
		return nil, &schemas.FieldError{Rule: "json", Msg: "native event must be a JSON object"}
	}
	conv, err := script.Default()
	if err != nil {
		return nil, err
	}
	d := &decoder{style: &c.Style, conv: conv, obj: obj, used: map[string]bool{}}
	name, _, err := d.str(FormatKey, true)
	if err != nil {
		return nil, err
	}
	f, err := c.format(name)
	if err != nil {
		return nil, d.errAt(FormatKey, err)
	}
	ev := &schemas.Event{Kind: f.Kind}
	if err := c.decodeEnvelope(d, ev); err != nil {
		return nil, err
	}
	if err := d.unknown(f); err != nil {
		return nil, err
	}
	d.full = ev.Action.FullRecord()
	for _, fl := range f.Fields {
		if err := fl.decode(d, &ev.Record); err != nil {
			return nil, err
		}
	}
	if err := ids.CheckRecord(c.Style.Jurisdiction, f.Kind, &ev.Record); err != nil {
		return nil, f.nativeErr(err)
	}
	// The fields enforce every rule of event.schema.json themselves (the
	// tests check each result against the schema), so the schema is not run
	// again here: the gateway validates the transaction anyway, and a
	// second schema pass would double the cost of a native event.
	return &Decoded{Event: ev, Format: f.Name, Canonical: canon}, nil
}

func (c *Codec) format(name string) (*Format, error) {
	if !formatName.MatchString(name) {
		return nil, ruleErr("format-name", "%q is not a native format name like cn/business_registration@1", name)
	}
	if want := strings.ToLower(string(c.Style.Jurisdiction)) + "/"; !strings.HasPrefix(name, want) {
		return nil, ruleErr("format-jurisdiction", "format %s is not one of jurisdiction %s's formats (%s...)", name, c.Style.Jurisdiction, want)
	}
	var names []string
	for i := range c.Formats {
		if c.Formats[i].Name == name {
			return &c.Formats[i], nil
		}
		names = append(names, c.Formats[i].Name)
	}
	return nil, ruleErr("format-unknown", "unknown format %s (valid: %s)", name, strings.Join(names, ", "))
}

// FormatFor returns the format that carries kind.
func (c *Codec) FormatFor(kind schemas.Kind) (*Format, bool) {
	for i := range c.Formats {
		if c.Formats[i].Kind == kind {
			return &c.Formats[i], true
		}
	}
	return nil, false
}

func (c *Codec) decodeEnvelope(d *decoder, ev *schemas.Event) error {
	env := &c.Envelope
	id, _, err := d.str(env.EventID, true)
	if err != nil {
		return err
	}
	if n := len([]rune(id)); n == 0 || n > 128 {
		return d.errAt(env.EventID, ruleErr("event-id", "event id must have 1-128 characters, has %d", n))
	}
	ev.EventID = id
	word, _, err := d.str(env.Action, true)
	if err != nil {
		return err
	}
	var words []string
	for _, a := range env.Actions {
		if a.Word == word {
			ev.Action = a.Action
		}
		words = append(words, a.Word)
	}
	if ev.Action == "" {
		return d.errAt(env.Action, ruleErr("enum", "unknown action %q (valid: %s)", word, strings.Join(words, ", ")))
	}
	at, _, err := d.str(env.OccurredAt, true)
	if err != nil {
		return err
	}
	if err := checkTimestamp(at); err != nil {
		return d.errAt(env.OccurredAt, err)
	}
	ev.OccurredAt = at
	needReason := ev.Action == schemas.ActionSuspend || ev.Action == schemas.ActionRevoke
	reason, ok, err := d.str(env.Reason, needReason)
	if err != nil {
		return err
	}
	if ok {
		if err := checkText(reason); err != nil {
			return d.errAt(env.Reason, err)
		}
		ev.Reason = reason
	}
	return nil
}

// Encode writes a canonical event in this jurisdiction's native format for
// its kind. For an event of another jurisdiction the result is a view in
// native shape: it has the native keys, but its identifiers are the other
// jurisdiction's and Decode may refuse it.
func (c *Codec) Encode(ev *schemas.Event) ([]byte, error) {
	if ev == nil {
		return nil, &schemas.FieldError{Rule: "required", Msg: "no event"}
	}
	f, ok := c.FormatFor(ev.Kind)
	if !ok {
		return nil, &schemas.FieldError{Field: "kind", Rule: "enum", Msg: fmt.Sprintf("jurisdiction %s has no native format for kind %q", c.Style.Jurisdiction, ev.Kind)}
	}
	conv, err := script.Default()
	if err != nil {
		return nil, err
	}
	e := &encoder{style: &c.Style, conv: conv}
	e.put(FormatKey, f.Name)
	env := &c.Envelope
	e.put(env.EventID, ev.EventID)
	word := ""
	for _, a := range env.Actions {
		if a.Action == ev.Action {
			word = a.Word
		}
	}
	if word == "" {
		return nil, &schemas.FieldError{Field: "action", Rule: "enum", Msg: fmt.Sprintf("unknown action %q", ev.Action)}
	}
	e.put(env.Action, word)
	e.put(env.OccurredAt, ev.OccurredAt)
	if ev.Reason != "" {
		e.put(env.Reason, ev.Reason)
	}
	for _, fl := range f.Fields {
		fl.encode(e, &ev.Record)
	}
	return e.out.marshal()
}

// nativeErr renames a FieldError's canonical path ("record.holder.idNumber")
// to the native key path that fills it.
func (f *Format) nativeErr(err error) error {
	fe, ok := schemas.AsFieldError(err)
	if !ok {
		return err
	}
	for _, fl := range f.Fields {
		if p, ok := fl.native(fe.Field); ok {
			return &schemas.FieldError{Field: p, Rule: fe.Rule, Msg: fe.Msg}
		}
	}
	return err
}

type decoder struct {
	style  *Style
	conv   *script.Converter
	full   bool   // the action carries a full record: required fields apply
	prefix string // native path of this object, "" or "holder."
	obj    map[string]json.RawMessage
	used   map[string]bool
}

func (d *decoder) errAt(key string, err error) error {
	if fe, ok := err.(*schemas.FieldError); ok && fe.Field == "" {
		return &schemas.FieldError{Field: d.prefix + key, Rule: fe.Rule, Msg: fe.Msg}
	}
	return err
}

// str reads a string-valued key. A missing key is an error only if required.
func (d *decoder) str(key string, required bool) (string, bool, error) {
	raw, ok := d.obj[key]
	if !ok {
		if required {
			return "", false, d.errAt(key, ruleErr("required", "missing"))
		}
		return "", false, nil
	}
	d.used[key] = true
	if len(raw) < 2 || raw[0] != '"' {
		return "", false, d.errAt(key, ruleErr("type", "must be a string, got %s", kindOf(raw)))
	}
	// The input is canonical JSON: a string without a backslash is its
	// bytes between the quotes.
	if body := raw[1 : len(raw)-1]; bytes.IndexByte(body, '\\') < 0 {
		return string(body), true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, d.errAt(key, ruleErr("type", "must be a string, got %s", kindOf(raw)))
	}
	return s, true, nil
}

// object reads an object-valued key as a nested decoder.
func (d *decoder) object(key string, required bool) (*decoder, bool, error) {
	raw, ok := d.obj[key]
	if !ok {
		if required {
			return nil, false, d.errAt(key, ruleErr("required", "missing"))
		}
		return nil, false, nil
	}
	d.used[key] = true
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, false, d.errAt(key, ruleErr("type", "must be an object, got %s", kindOf(raw)))
	}
	return d.nested(d.prefix+key+".", m), true, nil
}

func (d *decoder) nested(prefix string, m map[string]json.RawMessage) *decoder {
	return &decoder{style: d.style, conv: d.conv, full: d.full, prefix: prefix, obj: m, used: map[string]bool{}}
}

// array reads an array of objects.
func (d *decoder) array(key string, max int) ([]*decoder, bool, error) {
	raw, ok := d.obj[key]
	if !ok {
		return nil, false, nil
	}
	d.used[key] = true
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, false, d.errAt(key, ruleErr("type", "must be an array, got %s", kindOf(raw)))
	}
	if len(items) == 0 || len(items) > max {
		return nil, false, d.errAt(key, ruleErr("array-length", "must have 1-%d items, has %d", max, len(items)))
	}
	out := make([]*decoder, len(items))
	for i, it := range items {
		var m map[string]json.RawMessage
		if len(it) == 0 || it[0] != '{' || json.Unmarshal(it, &m) != nil {
			return nil, false, d.errAt(fmt.Sprintf("%s.%d", key, i), ruleErr("type", "must be an object, got %s", kindOf(it)))
		}
		out[i] = d.nested(fmt.Sprintf("%s%s.%d.", d.prefix, key, i), m)
	}
	return out, true, nil
}

// finish reports the first key (in sorted order) that nothing read.
func (d *decoder) finish() error {
	var extra []string
	for k := range d.obj {
		if !d.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return d.errAt(extra[0], ruleErr("unknown-field", "not a field of this format"))
}

// unknown reports top-level keys the format does not name, before any field
// is read, so that a misspelt key is reported as such rather than as its
// correct spelling missing.
func (d *decoder) unknown(f *Format) error {
	known := map[string]bool{FormatKey: true}
	for k := range d.used {
		known[k] = true
	}
	for _, fl := range f.Fields {
		for _, k := range fl.keys() {
			known[k] = true
		}
	}
	var extra []string
	for k := range d.obj {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return d.errAt(extra[0], ruleErr("unknown-field", "not a field of format %s", f.Name))
}

func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

type encoder struct {
	style *Style
	conv  *script.Converter
	out   object
}

func (e *encoder) put(key string, v any) { e.out = append(e.out, member{key, v}) }
