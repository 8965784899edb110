package schemas

import (
	"encoding/json"

	jsonv2 "github.com/go-json-experiment/json"
)

// The compiled form of event.schema.json (and of the record, kind and
// common schemas it refers to) is the Go of check.go: CheckEvent holds
// every rule of those files for a decoded Event, and more. What a decoded
// Event cannot show is how the JSON said it: a member the struct does not
// have, a value of the wrong type, a duplicate name, a null, an empty
// string, object or array (absent and empty decode alike). So the fast
// path is
//
//  1. a scan of the raw bytes for null and for empty strings, objects and
//     arrays (needsSchema): an event with any goes to the JSON Schema
//     validator, since only the JSON tells "reason": "" from no reason;
//  2. a strict decode (unknown members, duplicate names, wrong types and
//     invalid UTF-8 refused);
//  3. CheckEvent.
//
// An event that passes all three is valid by the schemas, so it is
// accepted without them. An event any step
// refuses is validated again by the JSON Schema validator, which keeps
// the last word: its error is the one reported (field and rule, as
// before), and an event it accepts is accepted. The schema files stay the
// specification; FuzzCompiledAgreesWithSchema runs both over mutated
// events and fails on any disagreement.

// ValidateEventJSON checks one event in canonical JSON form against
// event.schema.json, decodes it and checks it by CheckEvent (calendar
// dates, clean text in NFC). Errors are *FieldError naming the first
// failing field and rule.
func ValidateEventJSON(raw []byte) (*Event, error) {
	if ev, ok := compiledEventJSON(raw); ok {
		return ev, nil
	}
	return validateEventSchema(raw)
}

// ValidateEvent checks an event built in memory (a bridge's translation of
// native input) exactly as ValidateEventJSON checks its JSON encoding, and
// returns the event to use: ev itself when the compiled checks accept it,
// without encoding and decoding it; otherwise the JSON Schema validator
// decides on its encoding and the event is the one decoded from it (an
// event in memory can hold what its encoding leaves out, such as an empty
// map). Either way the event returned has passed CheckEvent.
func ValidateEvent(ev *Event) (*Event, error) {
	if compiledEvent(ev) {
		return ev, nil
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, &FieldError{Rule: "json", Msg: err.Error()}
	}
	return validateEventSchema(raw)
}

// CheckNewTx is CheckTx of a transaction that NewTx made from an event
// ValidateEventJSON or ValidateEvent has accepted: the event's rules,
// which they have just applied, are not applied again (a tenth of the
// gateway's work per event); the envelope and what needs the city (a
// handover's city) are. For such a transaction it answers as CheckTx
// does, first error included.
func CheckNewTx(tx *Tx) error {
	c := checker{}
	c.envelope(tx)
	if tx.Grant != nil || tx.Access != nil {
		c.fail("grant", "additionalProperties", "grants and access records are transactions of rules version 3 (CheckTx3)")
	}
	c.handoverTo(tx)
	return c.result()
}

// compiledEventJSON is the fast path: the event and true if the compiled
// checks accept raw, false if the JSON Schema validator must decide.
func compiledEventJSON(raw []byte) (*Event, bool) {
	if needsSchema(raw) {
		return nil, false
	}
	var ev Event
	if err := jsonv2.Unmarshal(raw, &ev, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, false
	}
	if CheckEvent(&ev) != nil {
		return nil, false
	}
	return &ev, true
}

// compiledEvent reports whether the compiled checks accept ev as
// json.Marshal encodes it. That encoding leaves out every empty optional
// member (all are omitempty) and writes no null; what it writes empty
// (the required eventId, kind, action, occurredAt, record.id, a money's
// members, a period's from, an empty party) CheckEvent refuses.
func compiledEvent(ev *Event) bool {
	return CheckEvent(ev) == nil
}

// needsSchema reports whether raw holds a null or an empty string, object
// or array outside strings: what a decoded Event cannot tell from an
// absent member. It does not check that raw is JSON; the strict decode
// does.
func needsSchema(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			if i+1 < len(raw) && raw[i+1] == '"' {
				return true
			}
			// Skip the string: a backslash escapes the byte after it.
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case 'n': // outside strings, only null has an n
			return true
		case '{', '[':
			j := skipSpace(raw, i+1)
			if j < len(raw) && (raw[j] == '}' || raw[j] == ']') {
				return true
			}
		}
	}
	return false
}
