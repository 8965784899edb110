package schemas

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "write FuzzCompiledAgreesWithSchema's corpus in testdata/fuzz")

// eventSeeds are the valid events of checkSeeds (every kind and action),
// in canonical JSON.
func eventSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, raw := range checkSeeds(tb) {
		tx, err := DecodeTx(raw)
		if err != nil {
			tb.Fatal(err)
		}
		ev, err := Canonical(tx.Event())
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// sameError reports whether two validation results are the same: both
// accept, or both refuse on the same field by the same rule.
func sameError(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	fa, okA := AsFieldError(a)
	fb, okB := AsFieldError(b)
	return okA && okB && fa.Field == fb.Field && fa.Rule == fb.Rule
}

// compiledAgrees holds the compiled checks to the JSON Schema validator on
// one input, as JSON and as an event built in memory, and reports whether
// the compiled checks accepted it on their own.
func compiledAgrees(t *testing.T, raw []byte) (fast bool) {
	t.Helper()
	ev, fast := compiledEventJSON(raw)
	want, wantErr := validateEventSchema(raw)
	switch {
	case fast && wantErr != nil:
		t.Fatalf("the compiled checks accept what the schemas refuse (%v):\n%s", wantErr, raw)
	case fast && !reflect.DeepEqual(ev, want):
		t.Fatalf("the compiled checks decode another event:\n%+v\n%+v\n%s", ev, want, raw)
	case !fast && wantErr == nil && !needsSchema(raw):
		t.Fatalf("the compiled checks refuse what the schemas accept, with nothing the JSON only shows:\n%s", raw)
	}
	if fast {
		// Bound to cities of every jurisdiction (a handover's city is
		// checked against them), CheckNewTx answers as CheckTx does.
		for _, city := range []string{"shenzhen", "guangzhou", "hongkong", "macao"} {
			c, err := LookupCity(city)
			if err != nil {
				t.Fatal(err)
			}
			tx := NewTx("gba", c, ev)
			if got, want := CheckNewTx(tx), CheckTx(tx); !sameError(got, want) {
				t.Fatalf("CheckNewTx in %s: %v, CheckTx: %v\n%s", city, got, want, raw)
			}
		}
	}
	got, gotErr := ValidateEventJSON(raw)
	if !sameError(gotErr, wantErr) || (gotErr == nil && !reflect.DeepEqual(got, want)) {
		t.Fatalf("ValidateEventJSON: %v, the schemas: %v\n%s", gotErr, wantErr, raw)
	}
	// The same event built in memory, as a bridge builds one: checked
	// without its JSON, it must fare as its JSON encoding does.
	var mem Event
	if json.Unmarshal(raw, &mem) != nil {
		return fast
	}
	enc, err := json.Marshal(&mem)
	if err != nil {
		t.Fatal(err)
	}
	_, encErr := validateEventSchema(enc)
	// An event in memory can hold what its encoding leaves out (an empty
	// map where omitempty drops it); CheckEvent may refuse it, and the
	// schemas then decide. It must never accept what they refuse.
	if compiledEvent(&mem) && encErr != nil {
		t.Fatalf("in memory: the compiled checks accept what the schemas refuse on its encoding (%v)\n%s", encErr, enc)
	}
	checked, err := ValidateEvent(&mem)
	if !sameError(err, encErr) {
		t.Fatalf("ValidateEvent: %v, the schemas on its encoding: %v\n%s", err, encErr, enc)
	}
	if err == nil && CheckEvent(checked) != nil {
		t.Fatalf("ValidateEvent returned an event CheckEvent refuses: %v\n%s", CheckEvent(checked), enc)
	}
	return fast
}

// TestCompiledAgreesWithSchema: over thousands of random mutations of
// valid events (members set to values of every type, deleted, added), the
// compiled checks never accept what the JSON Schemas refuse, never refuse
// what they accept unless the JSON holds what a decoded event cannot
// show, and ValidateEventJSON answers exactly as the schemas do (the
// field and the rule of a refusal included).
func TestCompiledAgreesWithSchema(t *testing.T) {
	seeds := eventSeeds(t)
	for _, s := range seeds {
		if !compiledAgrees(t, s) {
			t.Fatalf("a valid seed took the slow path:\n%s", s)
		}
	}
	rng := rand.New(rand.NewPCG(18, 1))
	n := 4000
	if testing.Short() {
		n = 500
	}
	fast, refused := 0, 0
	for range n {
		raw := mutateTx(rng, seeds[rng.IntN(len(seeds))])
		if compiledAgrees(t, raw) {
			fast++
		}
		if _, err := validateEventSchema(raw); err != nil {
			refused++
		}
	}
	t.Logf("%d mutations: %d accepted on the fast path, %d refused by the schemas", n, fast, refused)
	// Both answers must be common, or the test checks too little.
	if fast < n/20 || refused < n/4 {
		t.Fatalf("of %d mutations, %d accepted on the fast path and %d refused", n, fast, refused)
	}
}

// TestNeedsSchema: what a decoded event cannot tell from an absent member
// sends an event to the JSON Schema validator; the same bytes inside
// strings do not.
func TestNeedsSchema(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want bool
	}{
		{`{"a":"x"}`, false},
		{`{"a":""}`, true},
		{`{"a":null}`, true},
		{`{"a":{}}`, true},
		{`{"a":[ ]}`, true},
		{`{"a": { } }`, true},
		{`{"a":"null {} [] \"\""}`, false},
		{`{"a":"\\"}`, false},
		{`{"a":"\\","b":""}`, true},
		{`{"a":"x\"","b":true}`, false},
		{`{"a":[1]}`, false},
	} {
		if got := needsSchema([]byte(c.raw)); got != c.want {
			t.Errorf("needsSchema(%s) = %v, want %v", c.raw, got, c.want)
		}
	}
}

func FuzzCompiledAgreesWithSchema(f *testing.F) {
	for _, s := range eventSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { compiledAgrees(t, raw) })
}

// TestWriteCompiledCorpus writes mutated events to the fuzz test's corpus
// with -update-corpus (go test ./schemas -run WriteCompiledCorpus
// -update-corpus): inputs of every outcome, committed so `go test` runs
// them.
func TestWriteCompiledCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("-update-corpus not set")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzCompiledAgreesWithSchema")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := eventSeeds(t)
	rng := rand.New(rand.NewPCG(18, 2))
	for i := range 40 {
		raw := mutateTx(rng, seeds[rng.IntN(len(seeds))])
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("mutation-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
