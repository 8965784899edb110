package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/baybus/baybus/gateway/api"
)

// isCanonicalMember reports whether a canonical event may have member k.
func isCanonicalMember(k string) bool {
	switch k {
	case "eventId", "kind", "action", "occurredAt", "reason", "record":
		return true
	}
	return false
}

// diagnose turns the validator's refusal of a canonical event into an
// answer that points to the fix: a native record posted as canonical is
// wrong_format naming ?format=native; a missing envelope member is
// reported as that member. Anything else is returned as it was. It runs
// only for refused events, so it costs the accepted ones nothing.
func diagnose(raw []byte, refusal *Error) *Error {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil || members == nil {
		return refusal
	}
	if f, ok := members["format"]; ok {
		var name string
		_ = json.Unmarshal(f, &name)
		return wrongFormat(fmt.Sprintf("this event has a \"format\" member (%.60q), which only native records have", name))
	}
	known := 0
	var foreign []string
	for k := range members {
		if isCanonicalMember(k) {
			known++
		} else {
			foreign = append(foreign, k)
		}
	}
	if known == 0 && len(foreign) > 0 {
		slices.Sort(foreign)
		return wrongFormat(fmt.Sprintf("this event has none of the canonical members (eventId, kind, action, occurredAt, record) but %.80q", foreign))
	}
	// The required members, in the order they are reported missing: the
	// schema's if/then rules would otherwise answer for a member they
	// require once action is known ("missing property 'reason'" for an
	// event without action).
	for _, k := range [...]string{"eventId", "kind", "action", "occurredAt", "record"} {
		if _, ok := members[k]; !ok {
			return &Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Field: k, Rule: "required",
				Message: fmt.Sprintf("missing property '%s'", k)}
		}
	}
	return refusal
}

func wrongFormat(why string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: api.CodeWrongFormat, Field: "format",
		Message: why + ": to publish a record in the city's native format, post it with ?format=native (baybus publish --native, client.Options{Native: true})"}
}
