package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed json/v1/*.schema.json
var schemaFiles embed.FS

// SchemaBase is the URL prefix of the embedded version 1 schemas.
const SchemaBase = "https://baybus.gba/schemas/v1/"

// SchemaFS returns the embedded JSON Schema files (json/v1/*.schema.json).
func SchemaFS() fs.FS { return schemaFiles }

type compiled struct {
	event, tx, batch *jsonschema.Schema
}

// loadSchemas compiles the embedded schemas once; the result is immutable.
var loadSchemas = sync.OnceValues(func() (*compiled, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	entries, err := fs.Glob(schemaFiles, "json/v1/*.schema.json")
	if err != nil {
		return nil, err
	}
	for _, name := range entries {
		b, err := schemaFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		if err := c.AddResource(SchemaBase+strings.TrimPrefix(name, "json/v1/"), doc); err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
	}
	var out compiled
	for _, s := range []struct {
		dst  **jsonschema.Schema
		name string
	}{{&out.event, "event"}, {&out.tx, "tx"}, {&out.batch, "batch"}} {
		if *s.dst, err = c.Compile(SchemaBase + s.name + ".schema.json"); err != nil {
			return nil, fmt.Errorf("schemas: compile %s: %w", s.name, err)
		}
	}
	return &out, nil
})

// validateEventSchema is ValidateEventJSON by the JSON Schema validator:
// the schema, then the decoding, then CheckEvent. It is the specification
// the compiled checks (compiled.go) are held to, and it gives the error of
// every event they refuse.
func validateEventSchema(raw []byte) (*Event, error) {
	sch, err := loadSchemas()
	if err != nil {
		return nil, err
	}
	if err := validateRaw(sch.event, raw); err != nil {
		return nil, err
	}
	var ev Event
	if err := jsonv2.Unmarshal(raw, &ev); err != nil {
		return nil, &FieldError{Rule: "json", Msg: err.Error()}
	}
	if err := CheckEvent(&ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// ValidateTx checks a transaction against tx.schema.json, the kind-specific
// record requirements of event.schema.json, and CheckTx (the city belongs
// to the jurisdiction, dates, clean text in NFC, a handover's city).
func ValidateTx(tx *Tx) error {
	sch, err := loadSchemas()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(tx)
	if err != nil {
		return &FieldError{Rule: "json", Msg: err.Error()}
	}
	if err := validateRaw(sch.tx, raw); err != nil {
		return err
	}
	city, err := LookupCity(tx.City)
	if err != nil {
		return &FieldError{Field: "city", Rule: "registry", Msg: err.Error()}
	}
	if city.Jurisdiction != tx.Jurisdiction {
		return &FieldError{Field: "jurisdiction", Rule: "city-jurisdiction",
			Msg: fmt.Sprintf("city %s is in %s, not %s", tx.City, city.Jurisdiction, tx.Jurisdiction)}
	}
	// The event schema carries the kind-specific requirements; re-check them
	// on the embedded event so a transaction is never weaker than an event.
	evRaw, err := json.Marshal(tx.Event())
	if err != nil {
		return &FieldError{Rule: "json", Msg: err.Error()}
	}
	if err := validateRaw(sch.event, evRaw); err != nil {
		return err
	}
	return CheckTx(tx)
}

func validateRaw(sch *jsonschema.Schema, raw []byte) error {
	// The instance is decoded with json v2, about twice as fast as the
	// library's encoding/json decoder; numbers become float64, which the
	// library accepts (our schemas hold no number a float64 cannot carry).
	var inst any
	if err := jsonv2.Unmarshal(raw, &inst); err != nil {
		return &FieldError{Rule: "json", Msg: "malformed JSON: " + err.Error()}
	}
	if err := sch.Validate(inst); err != nil {
		return toFieldError(err)
	}
	return nil
}

// toFieldError turns the library's error tree into the most specific leaf:
// the deepest cause, so that "record.id: pattern" is reported rather than
// "allOf failed".
func toFieldError(err error) error {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return &FieldError{Rule: "schema", Msg: err.Error()}
	}
	leaf, loc := deepest(ve)
	field := strings.Join(loc, ".")
	rule := "schema"
	if kp := leaf.ErrorKind.KeywordPath(); len(kp) > 0 {
		rule = kp[len(kp)-1]
	}
	msg := leaf.ErrorKind.LocalizedString(printer)
	// For a missing property the field is the missing one, not its parent.
	if rule == "required" {
		if missing := missingProperty(msg); missing != "" {
			if field != "" {
				field += "."
			}
			field += missing
		}
	}
	return &FieldError{Field: field, Rule: rule, Msg: msg}
}

// deepest returns the most specific leaf of the error tree and the
// instance location it concerns. A leaf about a property name has no
// location of its own; it inherits its parent's.
func deepest(ve *jsonschema.ValidationError) (*jsonschema.ValidationError, []string) {
	best, bestLoc := ve, ve.InstanceLocation
	var walk func(e *jsonschema.ValidationError, loc []string)
	walk = func(e *jsonschema.ValidationError, loc []string) {
		// jsonschema v6.0.3 reports a stale instance location on
		// propertyNames errors; the property's object is the parent's.
		kp := e.ErrorKind.KeywordPath()
		if len(e.InstanceLocation) >= len(loc) && (len(kp) == 0 || kp[len(kp)-1] != "propertyNames") {
			loc = slices.Clone(e.InstanceLocation)
		}
		if len(e.Causes) == 0 && deeper(e, loc, best, bestLoc) {
			best, bestLoc = e, loc
		}
		for _, c := range e.Causes {
			walk(c, loc)
		}
	}
	walk(ve, nil)
	return best, bestLoc
}

// deeper reports whether leaf e at loc is more specific than best at
// bestLoc: deeper in the instance, or as deep and first by location, then
// by keyword path. The library visits an object's properties in map
// order, so without a total order an event with two errors would get
// either, from one call to the next.
func deeper(e *jsonschema.ValidationError, loc []string, best *jsonschema.ValidationError, bestLoc []string) bool {
	if len(loc) != len(bestLoc) {
		return len(loc) > len(bestLoc)
	}
	if c := slices.Compare(loc, bestLoc); c != 0 {
		return c < 0
	}
	if len(best.Causes) > 0 {
		return true // best is still the root, not a leaf
	}
	return slices.Compare(e.ErrorKind.KeywordPath(), best.ErrorKind.KeywordPath()) < 0
}

// missingProperty pulls the first quoted name out of the library's
// "missing property 'x'" message.
func missingProperty(msg string) string {
	i := strings.IndexByte(msg, '\'')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(msg[i+1:], '\'')
	if j < 0 {
		return ""
	}
	return msg[i+1 : i+1+j]
}

var printer = message.NewPrinter(language.English)
