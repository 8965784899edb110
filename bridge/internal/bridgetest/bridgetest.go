// Package bridgetest holds the tests every jurisdiction bridge must pass:
// golden files, properties over generated records, fuzzing and error tables.
// bridge/cn, bridge/hk and bridge/mo call it from their own tests, so each
// package's tests cover its own formats with one shared definition of
// "correct".
package bridgetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/bridge/script"
	"github.com/baybus/baybus/schemas"
)

// Chain is the chain id the tests bind transactions to.
const Chain = "gba-test"

// GoldenSeed is the seed of the samples the golden files are made from.
const GoldenSeed = 20240102

var formatName = regexp.MustCompile(`^(cn|hk|mo)/[a-z_]+@[0-9]+$`)

// HomeCity is the city whose samples a jurisdiction's golden files use.
func HomeCity(j schemas.Jurisdiction) schemas.City {
	token := map[schemas.Jurisdiction]string{schemas.CN: "shenzhen", schemas.HK: "hongkong", schemas.MO: "macao"}[j]
	c, err := schemas.LookupCity(token)
	if err != nil {
		panic(err)
	}
	return c
}

// Golden is one golden file: a native event, what it normalizes to, and its
// renderings in the three jurisdictions.
type Golden struct {
	City         string                                   `json:"city"`
	NativeFormat string                                   `json:"nativeFormat"`
	NativeHash   string                                   `json:"nativeHash"`
	Native       json.RawMessage                          `json:"native"`
	Canonical    json.RawMessage                          `json:"canonical"`
	Render       map[schemas.Jurisdiction]json.RawMessage `json:"render"`
}

// GoldenCases names the golden files of a jurisdiction and the sample event
// each is made from: the first issue of each kind, and the first event that
// changes a license's status.
func GoldenCases(t testing.TB, j schemas.Jurisdiction) map[string][]byte {
	t.Helper()
	city := HomeCity(j)
	out := map[string][]byte{}
	for _, k := range schemas.Kinds {
		evs, err := bridge.Sample(city, k, 60, GoldenSeed)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range evs {
			ev, _, err := bridge.For(j).Normalize(raw)
			if err != nil {
				t.Fatalf("sample does not normalize: %v\n%s", err, raw)
			}
			name := ""
			switch {
			case ev.Action == schemas.ActionIssue:
				name = string(k)
			case k == schemas.KindBusiness && !ev.Action.FullRecord():
				name = "status_change"
			}
			if _, done := out[name]; name != "" && !done {
				out[name] = raw
			}
		}
	}
	for _, name := range []string{string(schemas.KindBusiness), string(schemas.KindCertificate), string(schemas.KindApproval), "status_change"} {
		if out[name] == nil {
			t.Fatalf("no sample for golden case %s", name)
		}
	}
	return out
}

// MakeGolden computes the golden file of one native event.
func MakeGolden(t testing.TB, j schemas.Jurisdiction, raw []byte) Golden {
	t.Helper()
	city := HomeCity(j)
	tx, err := bridge.ToTx(Chain, city, raw)
	if err != nil {
		t.Fatalf("ToTx: %v\n%s", err, raw)
	}
	ev, _, err := bridge.For(j).Normalize(raw)
	if err != nil {
		t.Fatal(err)
	}
	g := Golden{City: city.Token, NativeFormat: tx.NativeFormat, NativeHash: tx.NativeHash,
		Native: raw, Canonical: mustJSON(t, ev), Render: map[schemas.Jurisdiction]json.RawMessage{}}
	for _, v := range schemas.Jurisdictions {
		r, err := bridge.For(v).Render(tx)
		if err != nil {
			t.Fatalf("render in %s: %v", v, err)
		}
		g.Render[v] = mustJSON(t, r)
	}
	return g
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

func indent(t testing.TB, g Golden) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, mustJSON(t, g), "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// CheckGolden compares a jurisdiction's golden files in dir with what the
// bridge computes from each file's native input, and checks that the native
// input survives native -> canonical -> native byte for byte. With update it
// rewrites the files from fresh samples instead.
func CheckGolden(t *testing.T, j schemas.Jurisdiction, dir string, update bool) {
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, raw := range GoldenCases(t, j) {
			if err := os.WriteFile(filepath.Join(dir, name+".json"), indent(t, MakeGolden(t, j, raw)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 4 {
		t.Fatalf("golden files in %s: %v, %v (run go test -update)", dir, files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want Golden
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			var native bytes.Buffer
			if err := json.Compact(&native, want.Native); err != nil {
				t.Fatal(err)
			}
			got := MakeGolden(t, j, native.Bytes())
			if g, w := indent(t, got), indent(t, want); !bytes.Equal(g, w) {
				t.Errorf("golden %s differs (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", file, g, w)
			}
			var ev schemas.Event
			if err := json.Unmarshal(want.Canonical, &ev); err != nil {
				t.Fatal(err)
			}
			back, err := bridge.For(j).Native(&ev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, native.Bytes()) {
				t.Errorf("native -> canonical -> native changed the input\ngot:  %s\nwant: %s", back, native.Bytes())
			}
		})
	}
}

// Samples returns at least min generated native events of jurisdiction j,
// spread over its cities and mixing kinds and actions.
func Samples(t testing.TB, j schemas.Jurisdiction, min int, seed int64) [][]byte {
	t.Helper()
	cities := schemas.CitiesIn(j)
	per := (min + len(cities) - 1) / len(cities)
	var out [][]byte
	for _, c := range cities {
		evs, err := bridge.Sample(c, "", per, seed)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	return out
}

// CheckProperties checks, over at least n generated events of jurisdiction
// j: each normalizes to a valid transaction; native -> canonical -> native
// returns the input byte for byte and canonical -> native -> canonical
// keeps every canonical field; each renders, deterministically, in all three
// jurisdictions; each is shown in native shape by the other two bridges;
// adding the converted script again changes nothing.
func CheckProperties(t *testing.T, j schemas.Jurisdiction, n int) {
	b := bridge.For(j)
	conv, err := script.Default()
	if err != nil {
		t.Fatal(err)
	}
	evs := Samples(t, j, n, 1)
	if len(evs) < n {
		t.Fatalf("only %d samples", len(evs))
	}
	ids := map[string]bool{}
	kinds := map[schemas.Kind]int{}
	status := map[string]schemas.Status{} // city/kind/license id -> status, to check each stream is a valid history
	for i, raw := range evs {
		ev, format, err := b.Normalize(raw)
		if err != nil {
			t.Fatalf("sample %d does not normalize: %v\n%s", i, err, raw)
		}
		kinds[ev.Kind]++
		if !formatName.MatchString(format) || !strings.HasPrefix(format, strings.ToLower(string(j))+"/") {
			t.Fatalf("native format %q", format)
		}
		if ids[ev.EventID] {
			t.Fatalf("event id %s repeated", ev.EventID)
		}
		ids[ev.EventID] = true
		if err := bridge.ValidateRecordIDs(j, ev.Kind, &ev.Record); err != nil {
			t.Fatalf("ValidateRecordIDs: %v", err)
		}
		CheckSchema(t, ev)

		back, err := b.Native(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, raw) {
			t.Fatalf("native -> canonical -> native changed the input\ngot:  %s\nwant: %s", back, raw)
		}
		again, _, err := b.Normalize(back)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, ev) {
			t.Fatalf("canonical -> native -> canonical lost a field\ngot:  %s\nwant: %s", mustJSON(t, again), mustJSON(t, ev))
		}
		CheckScript(t, conv, &ev.Record)
		key := strings.SplitN(ev.EventID, "-", 2)[0] + "/" + string(ev.Kind) + "/" + ev.Record.ID
		next, ok := schemas.StatusAfter(status[key], ev.Action)
		if !ok {
			t.Fatalf("sample %s: %s after %q is not a valid history", ev.EventID, ev.Action, status[key])
		}
		status[key] = next

		city, err := schemas.LookupCity(strings.SplitN(ev.EventID, "-", 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		tx, err := bridge.ToTx(Chain, city, raw)
		if err != nil {
			t.Fatalf("ToTx: %v", err)
		}
		if want, _ := schemas.NativeHash(raw); tx.NativeHash != want || tx.NativeFormat != format {
			t.Fatalf("tx native %s %s, want %s %s", tx.NativeFormat, tx.NativeHash, format, want)
		}
		enc, err := schemas.EncodeTx(tx)
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := schemas.DecodeTx(enc)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range schemas.Jurisdictions {
			r1, err := bridge.For(v).Render(tx)
			if err != nil {
				t.Fatalf("render in %s: %v", v, err)
			}
			r2, err := bridge.For(v).Render(decoded)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mustJSON(t, r1), mustJSON(t, r2)) {
				t.Fatalf("rendering in %s is not a function of the signed record", v)
			}
			if r1.Jurisdiction != v || r1.Kind != ev.Kind || len(r1.Fields) < 5 {
				t.Fatalf("rendering in %s: %+v", v, r1)
			}
			if v != j {
				if _, err := bridge.For(v).Native(ev); err != nil {
					t.Fatalf("native view in %s: %v", v, err)
				}
			}
		}
	}
	for _, k := range schemas.Kinds {
		if kinds[k] == 0 {
			t.Errorf("no %s among the samples", k)
		}
	}
}

// CheckScript checks that the record's texts are complete (both Chinese
// scripts when either is present) and that adding the converted script
// again changes nothing more. (Running OpenCC's s2hk over its own output is
// not idempotent: 陈杰 becomes 陳杰, which becomes 陳傑. The bridges
// therefore convert only what was written, once, and never convert a
// converted form; Complete leaves a text with both scripts alone.)
func CheckScript(t testing.TB, conv *script.Converter, r *schemas.Record) {
	t.Helper()
	texts := []schemas.Text{r.Name, r.EntityType, r.Address, r.Scope, r.Title, r.Level, r.Decision, r.Authority}
	if r.Holder != nil {
		texts = append(texts, r.Holder.Name, r.Holder.Role)
	}
	for _, p := range r.People {
		texts = append(texts, p.Name, p.Role)
	}
	for _, tx := range texts {
		if len(tx) == 0 {
			continue
		}
		if (tx[schemas.LangHans] == "") != (tx[schemas.LangHant] == "") {
			t.Fatalf("text %v has one Chinese script only", tx)
		}
		if c := conv.Complete(tx); !reflect.DeepEqual(c, tx) {
			t.Fatalf("completing %v again gave %v", tx, c)
		}
	}
}

// CheckSchema checks a normalized event against event.schema.json: the
// codec enforces the schema's rules itself and does not run the schema.
func CheckSchema(t testing.TB, ev *schemas.Event) {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schemas.ValidateEventJSON(raw); err != nil {
		t.Fatalf("normalized event fails the schema: %v\n%s", err, raw)
	}
}

// CheckSampleDeterminism checks that a seed gives the same events and a
// different seed different ones.
func CheckSampleDeterminism(t *testing.T, j schemas.Jurisdiction) {
	city := HomeCity(j)
	a, err := bridge.Sample(city, "", 30, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := bridge.Sample(city, "", 30, 5)
	c, _ := bridge.Sample(city, "", 30, 6)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different samples")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds, same samples")
	}
	for _, k := range schemas.Kinds {
		evs, err := bridge.Sample(city, k, 10, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range evs {
			ev, _, err := bridge.For(j).Normalize(raw)
			if err != nil || ev.Kind != k {
				t.Fatalf("sample of kind %s: %v, %v", k, ev, err)
			}
		}
	}
	if evs, err := bridge.Sample(city, "", 0, 1); err != nil || len(evs) != 0 {
		t.Errorf("Sample(n=0) = %d, %v", len(evs), err)
	}
	if _, err := bridge.Sample(city, "licence", 3, 1); err == nil {
		t.Error("Sample with an unknown kind succeeded")
	}
}

// ErrorCase is one way to break a valid native event: set keys (a nil value
// deletes the key; a dotted key reaches into objects and arrays) and expect
// a FieldError on field with rule.
type ErrorCase struct {
	Name  string
	Base  string         // golden case the mutation starts from
	Set   map[string]any // dotted key -> new value (nil deletes)
	Raw   string         // if set, the whole input instead
	Field string
	Rule  string
}

// CheckErrors runs error cases against the golden inputs in dir.
func CheckErrors(t *testing.T, j schemas.Jurisdiction, dir string, cases []ErrorCase) {
	b := bridge.For(j)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			raw := []byte(tc.Raw)
			if tc.Raw == "" {
				raw = Mutate(t, loadNative(t, dir, tc.Base), tc.Set)
			}
			_, _, err := b.Normalize(raw)
			fe, ok := schemas.AsFieldError(err)
			if !ok {
				t.Fatalf("Normalize = %v, want a FieldError %s/%s\ninput: %s", err, tc.Field, tc.Rule, raw)
			}
			if fe.Field != tc.Field || fe.Rule != tc.Rule {
				t.Errorf("error on %q rule %q (%s), want %q rule %q", fe.Field, fe.Rule, fe.Msg, tc.Field, tc.Rule)
			}
			if !errors.Is(err, schemas.ErrInvalid) {
				t.Error("error does not match schemas.ErrInvalid")
			}
		})
	}
}

func loadNative(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var g Golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g.Native
}

// Mutate applies dotted-key changes to a JSON object.
func Mutate(t testing.TB, raw []byte, set map[string]any) []byte {
	t.Helper()
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for path, v := range set {
		parts := strings.Split(path, ".")
		cur := doc
		for i, p := range parts {
			last := i == len(parts)-1
			switch c := cur.(type) {
			case map[string]any:
				if last {
					if v == nil {
						delete(c, p)
					} else {
						c[p] = v
					}
				} else {
					cur = c[p]
				}
			case []any:
				n, err := strconv.Atoi(p)
				if err != nil || n >= len(c) {
					t.Fatalf("bad path %s", path)
				}
				if last {
					c[n] = v
				} else {
					cur = c[n]
				}
			default:
				t.Fatalf("bad path %s", path)
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzSeeds are inputs for a jurisdiction's FuzzNormalize: the golden inputs,
// a few samples and malformed inputs.
func FuzzSeeds(t testing.TB, j schemas.Jurisdiction, dir string) [][]byte {
	t.Helper()
	var seeds [][]byte
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		var buf bytes.Buffer
		if err := json.Compact(&buf, loadNative(t, dir, strings.TrimSuffix(filepath.Base(f), ".json"))); err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
	}
	seeds = append(seeds, Samples(t, j, 6, 99)...)
	for _, s := range []string{"", "null", "[]", "{}", `{"format":1}`, `{"format":"cn/x@1"}`, `{"a":1,"a":2}`, "\"\xff\"", `{"format":"hk/business_registration@1","eventId":"e"}`} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// WriteCorpus writes seeds as a committed fuzz corpus in dir
// (testdata/fuzz/FuzzNormalize), replacing what is there.
func WriteCorpus(t testing.TB, dir string, seeds [][]byte) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzBody is the body of a jurisdiction's FuzzNormalize: any input is
// either refused with a FieldError or normalized to an event that survives
// a round trip through the native format unchanged; nothing panics.
func FuzzBody(j schemas.Jurisdiction) func(t *testing.T, raw []byte) {
	b := bridge.For(j)
	return func(t *testing.T, raw []byte) {
		ev, format, err := b.Normalize(raw)
		if err != nil {
			if _, ok := schemas.AsFieldError(err); !ok {
				t.Fatalf("Normalize(%q) = %v, not a FieldError", raw, err)
			}
			return
		}
		if !formatName.MatchString(format) {
			t.Fatalf("format %q", format)
		}
		CheckSchema(t, ev)
		back, err := b.Native(ev)
		if err != nil {
			t.Fatalf("Native: %v", err)
		}
		again, _, err := b.Normalize(back)
		if err != nil {
			t.Fatalf("Normalize(Native(ev)): %v\n%s", err, back)
		}
		if !reflect.DeepEqual(again, ev) {
			t.Fatalf("round trip changed the event\ngot:  %s\nwant: %s", mustJSON(t, again), mustJSON(t, ev))
		}
		for _, v := range schemas.Jurisdictions {
			if _, err := bridge.For(v).Render(schemas.NewTx(Chain, HomeCity(j), ev)); err != nil {
				t.Fatalf("render in %s: %v", v, err)
			}
		}
	}
}

// FieldFuzzer fuzzes one field's value at a time: it takes a golden input,
// picks a key by index (nested keys included, as dotted paths) and replaces
// its value with the fuzzed string, so the value parsers (dates, money,
// identifiers, texts, enums) see arbitrary input inside an otherwise valid
// event. Byte-level fuzzing of the whole JSON rarely gets that far.
type FieldFuzzer struct {
	j      schemas.Jurisdiction
	bases  [][]byte
	paths  [][]string
	target func(*testing.T, []byte)
}

// NewFieldFuzzer loads the golden inputs of dir.
func NewFieldFuzzer(t testing.TB, j schemas.Jurisdiction, dir string) *FieldFuzzer {
	t.Helper()
	ff := &FieldFuzzer{j: j, target: FuzzBody(j)}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		raw := loadNative(t, dir, strings.TrimSuffix(filepath.Base(f), ".json"))
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		ff.bases = append(ff.bases, raw)
		ff.paths = append(ff.paths, leafPaths("", doc))
	}
	if len(ff.bases) == 0 {
		t.Fatalf("no golden inputs in %s", dir)
	}
	return ff
}

func leafPaths(prefix string, v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			out = append(out, leafPaths(prefix+k+".", x)...)
		}
	case []any:
		for i, x := range v {
			out = append(out, leafPaths(prefix+strconv.Itoa(i)+".", x)...)
		}
	default:
		out = append(out, strings.TrimSuffix(prefix, "."))
	}
	slices.Sort(out)
	return out
}

// Seeds returns (base, key, value) triples: every leaf of every golden input
// with its own value.
func (ff *FieldFuzzer) Seeds(t testing.TB) [][3]any {
	var out [][3]any
	for b, raw := range ff.bases {
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for k, p := range ff.paths[b] {
			out = append(out, [3]any{uint(b), uint(k), leafValue(doc, p)})
		}
	}
	return out
}

func leafValue(doc any, path string) string {
	cur := doc
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			n, _ := strconv.Atoi(p)
			cur = c[n]
		}
	}
	s, _ := cur.(string)
	return s
}

// Fuzz is the body of a FuzzNativeField test.
func (ff *FieldFuzzer) Fuzz(t *testing.T, base, key uint, value string) {
	b := int(base % uint(len(ff.bases)))
	path := ff.paths[b][int(key%uint(len(ff.paths[b])))]
	ff.target(t, Mutate(t, ff.bases[b], map[string]any{path: value}))
}

// WriteFieldCorpus writes the field fuzzer's seeds as a committed corpus.
func WriteFieldCorpus(t testing.TB, dir string, seeds [][3]any) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\nuint(%d)\nuint(%d)\nstring(%s)\n", s[0], s[1], strconv.Quote(s[2].(string)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
