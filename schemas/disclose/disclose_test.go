package disclose_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// records are the cases of the vectors: every kind, parties that are
// persons and organisations, names with and without identity numbers.
func records() []struct {
	Name string
	Kind schemas.Kind
	Rec  schemas.Record
} {
	legalRep := schemas.Text{schemas.LangEN: "Legal representative", schemas.LangHans: "法定代表人"}
	return []struct {
		Name string
		Kind schemas.Kind
		Rec  schemas.Record
	}{
		{"cn-business", schemas.KindBusiness, schemas.Record{ID: "91440304MAEP50P95F",
			Name:    schemas.Text{schemas.LangHans: "深圳市卓越物流有限公司"},
			People:  []schemas.Party{{Name: schemas.Text{schemas.LangHans: "王秀英"}, Role: legalRep}},
			Address: schemas.Text{schemas.LangHans: "广东省深圳市龙岗区人民路275号"}, IssuedOn: "2002-03-23"}},
		{"mo-business", schemas.KindBusiness, schemas.Record{ID: "53573",
			Name: schemas.Text{schemas.LangPT: "Companhia de Administração de Propriedades Praia Grande, Limitada"},
			People: []schemas.Party{
				{Name: schemas.Text{schemas.LangPT: "Chan Tai Man", schemas.LangHant: "陳大文"}, IDKind: "mo-bir", IDNumber: "57748383"},
				{Name: schemas.Text{schemas.LangPT: "Companhia Hou Kong, Limitada"}, IDKind: "mo-reg", IDNumber: "19850"},
				{Name: schemas.Text{schemas.LangPT: "Maria da Silva Fernandes"}, IDKind: "mo-bir", IDNumber: "79676855"},
			}}},
		{"hk-certificate", schemas.KindCertificate, schemas.Record{ID: "RSW-558131",
			Holder: &schemas.Party{Name: schemas.Text{schemas.LangEN: "HO Mei Ling", schemas.LangHant: "何美玲"}, IDKind: "hkid", IDNumber: "C368758(7)"},
			Title:  schemas.Text{schemas.LangEN: "Registered Social Worker"}}},
		{"cn-approval-person", schemas.KindApproval, schemas.Record{ID: "440300-XK-2022-430498",
			Name:   schemas.Text{schemas.LangHans: "李超"},
			Holder: &schemas.Party{Name: schemas.Text{schemas.LangHans: "李超"}, IDKind: "cn-rid", IDNumber: "44030619751107078X"}}},
		{"hk-approval-company", schemas.KindApproval, schemas.Record{ID: "LLB-2022-55813",
			Name:   schemas.Text{schemas.LangEN: "Victoria Trading Limited"},
			Holder: &schemas.Party{Name: schemas.Text{schemas.LangEN: "Victoria Trading Limited"}, IDKind: "hk-brn", IDNumber: "93687580"}}},
	}
}

// vector is one case of testdata/vectors.json.
type vector struct {
	Name     string            `json:"name"`
	Kind     schemas.Kind      `json:"kind"`
	Record   json.RawMessage   `json:"record"`   // plaintext, canonical
	Redacted json.RawMessage   `json:"redacted"` // canonical
	Items    []disclose.Item   `json:"items"`
	Digests  map[string]string `json:"digests"` // path -> digest
	// Negative are disclosures Open must refuse, with the error's name.
	Negative []negative `json:"negative,omitempty"`
}

type negative struct {
	Name  string          `json:"name"`
	Items []disclose.Item `json:"items"`
	Error string          `json:"error"` // digest, place, duplicate, decode
}

func errName(err error) string {
	switch {
	case errors.Is(err, disclose.ErrDigest):
		return "digest"
	case errors.Is(err, disclose.ErrPlace):
		return "place"
	case errors.Is(err, disclose.ErrDuplicate):
		return "duplicate"
	case errors.Is(err, disclose.ErrDecode):
		return "decode"
	case err == nil:
		return ""
	}
	return "other: " + err.Error()
}

// makeVectors redacts every case with salts from a seeded stream and
// derives the negative cases from the first disclosures.
func makeVectors(t *testing.T) []vector {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{'b', 'a', 'y', 'b', 'u', 's'})
	var out []vector
	for _, c := range records() {
		plain, err := schemas.Canonical(c.Rec)
		if err != nil {
			t.Fatal(err)
		}
		red, items, err := disclose.RedactRecord(c.Kind, &c.Rec, disclose.RandomSalter{R: rng})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		rb, err := schemas.Canonical(red)
		if err != nil {
			t.Fatal(err)
		}
		v := vector{Name: c.Name, Kind: c.Kind, Record: plain, Redacted: rb, Items: items, Digests: map[string]string{}}
		for _, it := range items {
			v.Digests[it.Path] = disclose.Digest(it.Disclosure)
		}
		if len(items) >= 2 {
			v.Negative = negatives(t, items)
		}
		out = append(out, v)
	}
	return out
}

// negatives are the refusals of issue 15's tests: a disclosed field
// changed, a salt swapped, a disclosure at another place, one given twice,
// one not decodable.
func negatives(t *testing.T, items []disclose.Item) []negative {
	t.Helper()
	d0, err := disclose.Decode(items[0].Disclosure)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := disclose.Decode(items[1].Disclosure)
	if err != nil {
		t.Fatal(err)
	}
	changed := d0
	if d0.Name == "idNumber" {
		changed.Value = json.RawMessage(`"X0000000"`)
	} else {
		changed.Value = json.RawMessage(`{"en":"Someone Else"}`)
	}
	swapped := d0
	swapped.Salt = d1.Salt
	return []negative{
		{"value changed", []disclose.Item{{Path: items[0].Path, Disclosure: changed.Encode()}}, "digest"},
		{"salt swapped", []disclose.Item{{Path: items[0].Path, Disclosure: swapped.Encode()}}, "digest"},
		{"another place", []disclose.Item{{Path: items[1].Path, Disclosure: items[0].Disclosure}}, placeOrDigest(items)},
		{"twice", []disclose.Item{items[0], items[0]}, "duplicate"},
		{"not a personal field", []disclose.Item{{Path: "record.address", Disclosure: items[0].Disclosure}}, "place"},
		{"padded base64", []disclose.Item{{Path: items[0].Path, Disclosure: items[0].Disclosure + "="}}, "decode"},
	}
}

// placeOrDigest: a disclosure moved to a place of another member name is
// refused for its name (place), to one of the same name for its digest.
func placeOrDigest(items []disclose.Item) string {
	a, b := items[0].Path, items[1].Path
	if a[strings.LastIndex(a, ".")+1:] != b[strings.LastIndex(b, ".")+1:] {
		return "place"
	}
	return "digest"
}

func TestGoldenVectors(t *testing.T) {
	got := makeVectors(t)
	path := filepath.Join("testdata", "vectors.json")
	raw, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, '\n')
	if *update {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./schemas/disclose -run Golden -update)", err)
	}
	if !bytes.Equal(raw, want) {
		t.Fatal("the vectors made now differ from testdata/vectors.json: the commitment's bytes changed (a new format needs a new rules version)")
	}
	// The stored vectors, checked as a verifier with only the file would.
	var vs []vector
	if err := json.Unmarshal(want, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) { checkVector(t, v) })
	}
}

func checkVector(t *testing.T, v vector) {
	var red schemas.Record
	if err := json.Unmarshal(v.Redacted, &red); err != nil {
		t.Fatal(err)
	}
	redBytes, err := schemas.CanonicalizeJSON(v.Redacted)
	if err != nil {
		t.Fatal(err)
	}
	for _, fp := range schemas.PersonalPaths(v.Kind, &red) {
		if _, ok := v.Digests[fp.Path]; !ok {
			t.Errorf("personal field %s has no digest", fp.Path)
		}
	}
	// Every disclosure verifies, and opening them all gives the plaintext
	// record back, byte for byte.
	opened, places, err := disclose.Open(v.Kind, &red, v.Items)
	if err != nil {
		t.Fatal(err)
	}
	if len(places) != len(v.Items) {
		t.Fatalf("%d places opened for %d items", len(places), len(v.Items))
	}
	ob, err := schemas.Canonical(opened)
	if err != nil {
		t.Fatal(err)
	}
	want, err := schemas.CanonicalizeJSON(v.Record)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ob, want) {
		t.Fatalf("opened record\n%s\nwant\n%s", ob, v.Record)
	}
	// No personal value is in the redacted bytes.
	for _, it := range v.Items {
		d, err := disclose.Decode(it.Disclosure)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(redBytes, d.Value) {
			t.Errorf("the redacted record holds the value of %s", it.Path)
		}
		// Each disclosure alone opens its field and leaves the others hidden.
		one, _, err := disclose.Open(v.Kind, &red, []disclose.Item{it})
		if err != nil {
			t.Fatalf("%s alone: %v", it.Path, err)
		}
		if n := len(schemas.PersonalPaths(v.Kind, one)); n != len(v.Items) {
			t.Fatalf("%d personal places after opening one, want %d", n, len(v.Items))
		}
	}
	for _, n := range v.Negative {
		_, _, err := disclose.Open(v.Kind, &red, n.Items)
		if got := errName(err); got != n.Error {
			t.Errorf("%s: Open error %q (%v), want %q", n.Name, got, err, n.Error)
		}
	}
}

func TestRedactLeavesPublicFields(t *testing.T) {
	for _, c := range records() {
		red, items, err := disclose.RedactRecord(c.Kind, &c.Rec, disclose.RandomSalter{R: rand.NewChaCha8([32]byte{1})})
		if err != nil {
			t.Fatal(err)
		}
		if c.Rec.HasDigests() {
			t.Fatal("Redact changed its input")
		}
		switch c.Name {
		case "hk-approval-company":
			if len(items) != 0 || red.HasDigests() {
				t.Errorf("an organisation's name and number are public: %d items", len(items))
			}
		case "mo-business":
			if red.People[1].SD != nil || red.People[1].IDNumber != "19850" {
				t.Errorf("the company among the administrators was hidden: %+v", red.People[1])
			}
			if red.People[0].IDNumber != "" || red.People[0].Name != nil || len(red.People[0].SD) != 2 {
				t.Errorf("a person among the administrators is not hidden: %+v", red.People[0])
			}
		case "cn-business":
			if red.Name == nil || red.People[0].Role == nil {
				t.Error("the business's name and the person's role are public")
			}
		}
		if _, _, err := disclose.RedactRecord(c.Kind, red, disclose.RandomSalter{R: rand.NewChaCha8([32]byte{1})}); c.Name != "hk-approval-company" && !errors.Is(err, disclose.ErrRedacted) {
			t.Errorf("a record redacted twice: %v", err)
		}
	}
}

func TestKeyedSalterIsStable(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c := records()[2]
	a, _ := disclose.NewKeyedSalter(key, "gba", "hongkong", "ev-1")
	b, _ := disclose.NewKeyedSalter(key, "gba", "hongkong", "ev-1")
	other, _ := disclose.NewKeyedSalter(key, "gba", "hongkong", "ev-2")
	ra, ia, err := disclose.RedactRecord(c.Kind, &c.Rec, a)
	if err != nil {
		t.Fatal(err)
	}
	rb, _, _ := disclose.RedactRecord(c.Kind, &c.Rec, b)
	ro, _, _ := disclose.RedactRecord(c.Kind, &c.Rec, other)
	ba, _ := schemas.Canonical(ra)
	bb, _ := schemas.Canonical(rb)
	bo, _ := schemas.Canonical(ro)
	if !bytes.Equal(ba, bb) {
		t.Fatal("the same event redacts to different bytes: a retry would be a second transaction")
	}
	if bytes.Equal(ba, bo) {
		t.Fatal("two events share digests: the same person's records would link")
	}
	if _, _, err := disclose.Open(c.Kind, ra, ia); err != nil {
		t.Fatal(err)
	}
	if _, err := disclose.NewKeyedSalter(key[:31], "gba", "hongkong", "ev"); err == nil {
		t.Fatal("a short salt key was taken")
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := disclose.New(bytes.Repeat([]byte{1}, 16), "name", schemas.Text{"en": "A"})
	for name, s := range map[string]string{
		"empty":         "",
		"not base64":    "!!!",
		"padded":        good.Encode() + "==",
		"not an array":  b64(`{"a":1}`),
		"two members":   b64(`["` + good.Salt + `","name"]`),
		"short salt":    b64(`["AAAA","name","x"]`),
		"numeric name":  b64(`["` + good.Salt + `",1,"x"]`),
		"not canonical": b64(`[ "` + good.Salt + `","name","x"]`),
	} {
		if _, err := disclose.Decode(s); !errors.Is(err, disclose.ErrDecode) {
			t.Errorf("%s: %v", name, err)
		}
	}
	d, err := disclose.Decode(good.Encode())
	if err != nil || d.Encode() != good.Encode() {
		t.Fatalf("round trip: %v", err)
	}
	if !disclose.ValidDigest(good.Digest()) || disclose.ValidDigest(good.Digest()[:42]+"!") {
		t.Fatal("ValidDigest")
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func FuzzDecode(f *testing.F) {
	good, _ := disclose.New(bytes.Repeat([]byte{1}, 16), "idNumber", "C368758(7)")
	f.Add(good.Encode())
	f.Add("")
	f.Add(b64(`["AAAAAAAAAAAAAAAAAAAAAA","name",{"en":"x"}]`))
	f.Fuzz(func(t *testing.T, s string) {
		d, err := disclose.Decode(s)
		if err != nil {
			if !errors.Is(err, disclose.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if d.Encode() != s {
			t.Fatalf("a decoded disclosure encodes to %q, not %q", d.Encode(), s)
		}
	})
}

// FuzzOpen opens fuzzed items against a redacted record: never a panic,
// and whatever opens restores values whose digests were in the record.
func FuzzOpen(f *testing.F) {
	c := records()[1]
	red, items, err := disclose.RedactRecord(c.Kind, &c.Rec, disclose.RandomSalter{R: rand.NewChaCha8([32]byte{2})})
	if err != nil {
		f.Fatal(err)
	}
	for _, it := range items {
		f.Add(it.Path, it.Disclosure)
	}
	f.Add("record.people.9.name", items[0].Disclosure)
	f.Fuzz(func(t *testing.T, path, disc string) {
		out, places, err := disclose.Open(c.Kind, red, []disclose.Item{{Path: path, Disclosure: disc}})
		if err != nil {
			if !errors.Is(err, disclose.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if len(places) != 1 || out == nil || disclose.Digest(disc) != digestAt(red, path) {
			t.Fatalf("opened %s with a disclosure whose digest is not there", path)
		}
	})
}

func digestAt(r *schemas.Record, path string) string {
	for _, fp := range schemas.PersonalPaths(schemas.KindBusiness, r) {
		if fp.Path == path {
			parts := strings.Split(path, ".")
			var i int
			for _, ch := range parts[2] {
				i = i*10 + int(ch-'0')
			}
			return r.People[i].SD[fp.Name]
		}
	}
	return ""
}
