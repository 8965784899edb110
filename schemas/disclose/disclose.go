package disclose

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/baybus/baybus/schemas"
)

// Sizes.
const (
	// SaltBytes is the length of a salt before encoding: 128 bits.
	SaltBytes = 16
	// DigestLen is the length of an encoded digest: base64url of 32 bytes.
	DigestLen = 43
	// MaxDisclosureBytes bounds an encoded disclosure (a transaction is at
	// most schemas.MaxTxBytes).
	MaxDisclosureBytes = 4 * schemas.MaxTxBytes / 3
)

// Errors. Every one matches ErrInvalid.
var (
	ErrInvalid = errors.New("disclose: invalid disclosure")
	// ErrDecode: not an encoded disclosure [salt, name, value].
	ErrDecode = fmt.Errorf("%w: malformed", ErrInvalid)
	// ErrDigest: the disclosure does not hash to the digest at its place
	// (a changed value or name, another salt).
	ErrDigest = fmt.Errorf("%w: does not match the record's digest", ErrInvalid)
	// ErrPlace: the place names no personal field of the record, or one
	// whose digest is not there (already plaintext, or absent), or the
	// disclosure's name is not the place's.
	ErrPlace = fmt.Errorf("%w: no digest at that place", ErrInvalid)
	// ErrDuplicate: one place disclosed twice.
	ErrDuplicate = fmt.Errorf("%w: place disclosed twice", ErrInvalid)
	// ErrRedacted: Redact of a record that already holds digests.
	ErrRedacted = errors.New("disclose: record already holds digests")
)

var b64 = base64.RawURLEncoding.Strict()

// Disclosure is one field's value with its salt: the SD-JWT disclosure
// [salt, name, value].
type Disclosure struct {
	Salt  string          // base64url, no padding, of SaltBytes bytes
	Name  string          // the member's name in its object: "name" or "idNumber"
	Value json.RawMessage // the value, canonical JSON
}

// New makes the disclosure of value (any JSON value) under name.
func New(salt []byte, name string, value any) (Disclosure, error) {
	if len(salt) != SaltBytes {
		return Disclosure{}, fmt.Errorf("disclose: salt of %d bytes, want %d", len(salt), SaltBytes)
	}
	v, err := schemas.Canonical(value)
	if err != nil {
		return Disclosure{}, err
	}
	return Disclosure{Salt: b64.EncodeToString(salt), Name: name, Value: v}, nil
}

// Encode returns base64url (no padding) of the canonical JSON array
// [salt, name, value]: the string a holder keeps and hands over.
func (d Disclosure) Encode() string {
	b := make([]byte, 0, len(d.Salt)+len(d.Name)+len(d.Value)+8)
	b = append(b, '[', '"')
	b = append(b, d.Salt...) // base64url: nothing to escape
	b = append(b, '"', ',')
	b = appendString(b, d.Name)
	b = append(b, ',')
	b = append(b, d.Value...)
	b = append(b, ']')
	return b64.EncodeToString(b)
}

// appendString writes a member name as canonical JSON; names are the
// schemas' ASCII member names.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	c, err := schemas.CanonicalizeJSON(q)
	if err != nil {
		return append(b, q...)
	}
	return append(b, c...)
}

// Digest returns the digest of the disclosure.
func (d Disclosure) Digest() string { return Digest(d.Encode()) }

// Digest returns the digest of an encoded disclosure: base64url (no
// padding) of SHA-256 over its ASCII.
func Digest(encoded string) string {
	sum := sha256.Sum256([]byte(encoded))
	return b64.EncodeToString(sum[:])
}

// ValidDigest reports whether s has the form of a digest.
func ValidDigest(s string) bool {
	if len(s) != DigestLen {
		return false
	}
	raw, err := b64.DecodeString(s)
	return err == nil && len(raw) == sha256.Size
}

// Decode parses an encoded disclosure. It refuses anything but base64url
// without padding of a canonical JSON array of a salt of SaltBytes bytes,
// a member name and one value, so a disclosure has exactly one encoding.
func Decode(s string) (Disclosure, error) {
	if len(s) > MaxDisclosureBytes {
		return Disclosure{}, fmt.Errorf("%w: %d bytes, limit %d", ErrDecode, len(s), MaxDisclosureBytes)
	}
	raw, err := b64.DecodeString(s)
	if err != nil {
		return Disclosure{}, fmt.Errorf("%w: base64url: %w", ErrDecode, err)
	}
	if !schemas.IsCanonical(raw) {
		return Disclosure{}, fmt.Errorf("%w: not canonical JSON", ErrDecode)
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) != 3 {
		return Disclosure{}, fmt.Errorf("%w: not an array [salt, name, value]", ErrDecode)
	}
	var salt, name string
	if json.Unmarshal(parts[0], &salt) != nil || json.Unmarshal(parts[1], &name) != nil {
		return Disclosure{}, fmt.Errorf("%w: salt and name must be strings", ErrDecode)
	}
	if sb, err := b64.DecodeString(salt); err != nil || len(sb) != SaltBytes {
		return Disclosure{}, fmt.Errorf("%w: salt is not %d bytes of base64url", ErrDecode, SaltBytes)
	}
	if name == "" || len(name) > 64 {
		return Disclosure{}, fmt.Errorf("%w: member name of %d bytes", ErrDecode, len(name))
	}
	return Disclosure{Salt: salt, Name: name, Value: bytes.Clone(parts[2])}, nil
}

// Item is a disclosure at its place in a record: what the issuer keeps
// for each personal field, and what it hands a reader.
type Item struct {
	Path       string `json:"path"`       // "record.people.1.name"
	Disclosure string `json:"disclosure"` // Disclosure.Encode
}

// Field is the field name of the item's place ("people.name"), "" if the
// place names no personal field.
func (it Item) Field() string { return schemas.FieldOfPath(it.Path) }

// Salter gives the salt of one field.
type Salter interface {
	// Salt returns SaltBytes bytes for the field at path, whose value is
	// value (canonical JSON).
	Salt(path string, value []byte) ([]byte, error)
}

// RandomSalter draws salts from R (crypto/rand in production; a seeded
// stream in golden tests).
type RandomSalter struct{ R io.Reader }

// Salt implements Salter.
func (s RandomSalter) Salt(string, []byte) ([]byte, error) {
	b := make([]byte, SaltBytes)
	if _, err := io.ReadFull(s.R, b); err != nil {
		return nil, fmt.Errorf("disclose: read randomness: %w", err)
	}
	return b, nil
}

// KeyedSalter derives salts with HMAC-SHA256 under a city's salt key, over
// the chain, the city, the event id, the field's path and its value (see
// the package documentation).
type KeyedSalter struct {
	key                []byte
	chain, city, event string
}

// NewKeyedSalter returns the salter of one event. key must be at least 32
// bytes.
func NewKeyedSalter(key []byte, chain, city, eventID string) (*KeyedSalter, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("disclose: salt key of %d bytes, want at least 32", len(key))
	}
	return &KeyedSalter{key: key, chain: chain, city: city, event: eventID}, nil
}

// Salt implements Salter.
func (s *KeyedSalter) Salt(path string, value []byte) ([]byte, error) {
	m := hmac.New(sha256.New, s.key)
	for _, part := range []string{"baybus/v1 salt", s.chain, s.city, s.event, path} {
		m.Write([]byte(strconv.Itoa(len(part))))
		m.Write([]byte{':'})
		m.Write([]byte(part))
	}
	m.Write(value)
	return m.Sum(nil)[:SaltBytes], nil
}

// Redact returns a copy of tx whose record holds, for each personal field
// (schemas.PersonalPaths), the digest of its disclosure in place of its
// value, and the disclosures, in the order of PersonalPaths. tx is not
// changed. A record that already holds digests is refused (ErrRedacted).
func Redact(tx *schemas.Tx, s Salter) (*schemas.Tx, []Item, error) {
	rec, items, err := RedactRecord(tx.Kind, &tx.Record, s)
	if err != nil {
		return nil, nil, err
	}
	out := *tx
	out.Record = *rec
	return &out, items, nil
}

// RedactRecord is Redact for a record of kind k.
func RedactRecord(k schemas.Kind, r *schemas.Record, s Salter) (*schemas.Record, []Item, error) {
	if r.HasDigests() {
		return nil, nil, ErrRedacted
	}
	out := copyRecord(r)
	var items []Item
	for _, fp := range schemas.PersonalPaths(k, r) {
		obj := place(out, fp.Path)
		val, err := schemas.Canonical(obj.value(fp.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("disclose: %s: %w", fp.Path, err)
		}
		salt, err := s.Salt(fp.Path, val)
		if err != nil {
			return nil, nil, err
		}
		if len(salt) != SaltBytes {
			return nil, nil, fmt.Errorf("disclose: salter gave %d bytes, want %d", len(salt), SaltBytes)
		}
		d := Disclosure{Salt: b64.EncodeToString(salt), Name: fp.Name, Value: val}
		enc := d.Encode()
		obj.hide(fp.Name, Digest(enc))
		items = append(items, Item{Path: fp.Path, Disclosure: enc})
	}
	return out, items, nil
}

// Open returns a copy of the redacted record r (of kind k) with the fields
// of items restored, and the places disclosed, in the order of items. Each
// item must sit at a personal field's place (schemas.PersonalPaths) whose
// digest r holds, and hash to it. Fields not disclosed keep their digests.
func Open(k schemas.Kind, r *schemas.Record, items []Item) (*schemas.Record, []schemas.FieldPath, error) {
	out := copyRecord(r)
	places := map[string]schemas.FieldPath{}
	for _, fp := range schemas.PersonalPaths(k, r) {
		places[fp.Path] = fp
	}
	seen := map[string]bool{}
	var opened []schemas.FieldPath
	for i, it := range items {
		fp, ok := places[it.Path]
		if !ok {
			return nil, nil, fmt.Errorf("%w: item %d: %q is not a personal field of this %s", ErrPlace, i, it.Path, k.Short())
		}
		if seen[it.Path] {
			return nil, nil, fmt.Errorf("%w: %s", ErrDuplicate, it.Path)
		}
		seen[it.Path] = true
		d, err := Decode(it.Disclosure)
		if err != nil {
			return nil, nil, fmt.Errorf("item %d (%s): %w", i, it.Path, err)
		}
		if d.Name != fp.Name {
			return nil, nil, fmt.Errorf("%w: %s holds %q, the disclosure is of %q", ErrPlace, it.Path, fp.Name, d.Name)
		}
		obj := place(out, it.Path)
		want, hidden := obj.digests()[fp.Name]
		if !hidden {
			return nil, nil, fmt.Errorf("%w: %s is not hidden in this record", ErrPlace, it.Path)
		}
		if Digest(it.Disclosure) != want {
			return nil, nil, fmt.Errorf("%w: %s", ErrDigest, it.Path)
		}
		if err := obj.reveal(fp.Name, d.Value); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrDecode, it.Path, err)
		}
		opened = append(opened, fp)
	}
	return out, opened, nil
}

// copyRecord copies what Redact and Open change: the record's digests and
// name, the holder and the people.
func copyRecord(r *schemas.Record) *schemas.Record {
	out := *r
	out.SD = maps.Clone(r.SD)
	if r.Holder != nil {
		h := *r.Holder
		h.SD = maps.Clone(h.SD)
		out.Holder = &h
	}
	out.People = slices.Clone(r.People)
	for i := range out.People {
		out.People[i].SD = maps.Clone(out.People[i].SD)
	}
	return &out
}

// object is the record or party a personal field sits in.
type object struct {
	rec   *schemas.Record
	party *schemas.Party
}

// place returns the object of a personal field's path (one that
// schemas.PersonalPaths gave for rec).
func place(rec *schemas.Record, path string) object {
	rest := strings.TrimPrefix(path, "record.")
	switch {
	case !strings.Contains(rest, "."):
		return object{rec: rec}
	case strings.HasPrefix(rest, "holder."):
		return object{party: rec.Holder}
	}
	parts := strings.Split(rest, ".")
	i, _ := strconv.Atoi(parts[1])
	return object{party: &rec.People[i]}
}

func (o object) digests() schemas.Digests {
	if o.rec != nil {
		return o.rec.SD
	}
	return o.party.SD
}

func (o object) sd() *schemas.Digests {
	if o.rec != nil {
		return &o.rec.SD
	}
	return &o.party.SD
}

func (o object) value(name string) any {
	switch {
	case o.rec != nil:
		return o.rec.Name
	case name == "name":
		return o.party.Name
	}
	return o.party.IDNumber
}

func (o object) hide(name, digest string) {
	sd := o.sd()
	switch {
	case o.rec != nil:
		o.rec.Name = nil
	case name == "name":
		o.party.Name = nil
	default:
		o.party.IDNumber = ""
	}
	if *sd == nil {
		*sd = schemas.Digests{}
	}
	(*sd)[name] = digest
}

// reveal puts a disclosed value back, and drops its digest.
func (o object) reveal(name string, value json.RawMessage) error {
	sd := o.sd()
	switch {
	case name == "idNumber":
		var s string
		if err := json.Unmarshal(value, &s); err != nil || s == "" {
			return errors.New("an idNumber is a non-empty string")
		}
		o.party.IDNumber = s
	default:
		var t schemas.Text
		dec := json.NewDecoder(bytes.NewReader(value))
		if err := dec.Decode(&t); err != nil || len(t) == 0 {
			return errors.New("a name is a text in at least one language")
		}
		if o.rec != nil {
			o.rec.Name = t
		} else {
			o.party.Name = t
		}
	}
	delete(*sd, name)
	if len(*sd) == 0 {
		*sd = nil
	}
	return nil
}
