package reconcile

import (
	"fmt"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

// nativeKeys are the native keys reconcile reads itself, without the
// bridge: the event envelope, the action words and, per format, the key of
// the record id. They are learnt from the bridge (its Native rendering of
// probe events), so they cannot drift from its tables.
type nativeKeys struct {
	j                                   schemas.Jurisdiction
	bridge                              bridge.Bridge
	eventID, action, occurredAt, reason string
	words                               map[string]schemas.Action // native word -> action
	actionWord                          map[schemas.Action]string
	formats                             map[string]nativeFormat // format name -> format
}

// nativeFormat is one native format of the jurisdiction.
type nativeFormat struct {
	kind  schemas.Kind
	idKey string // native key of record.id
}

const (
	probeEventID = "reconcile-probe-event"
	probeAt      = "2001-02-03T04:05:06Z"
	probeReason  = "reconcile-probe-reason"
	probeID      = "RECONCILEPROBEID"
)

// learnNativeKeys renders one probe event per kind and action through
// jurisdiction j's bridge and finds its keys by their values.
func learnNativeKeys(j schemas.Jurisdiction) (*nativeKeys, error) {
	br := bridge.For(j)
	if br == nil {
		return nil, fmt.Errorf("reconcile: no bridge for jurisdiction %q", j)
	}
	nk := &nativeKeys{j: j, bridge: br, words: map[string]schemas.Action{}, actionWord: map[schemas.Action]string{}, formats: map[string]nativeFormat{}}
	for _, kind := range schemas.Kinds {
		for _, a := range schemas.Actions {
			ev := &schemas.Event{EventID: probeEventID, Kind: kind, Action: a, OccurredAt: probeAt, Reason: probeReason, Record: schemas.Record{ID: probeID}}
			raw, err := br.Native(ev)
			if err != nil {
				return nil, fmt.Errorf("reconcile: learn %s native keys: %w", j, err)
			}
			canon, err := schemas.CanonicalizeJSON(raw)
			if err != nil {
				return nil, fmt.Errorf("reconcile: learn %s native keys: %w", j, err)
			}
			var format, idKey, eventKey, atKey, reasonKey string
			var others []string
			var otherVals []string
			err = members(canon, func(k, v []byte) error {
				s, _ := jsonString(v)
				switch {
				case string(k) == "format":
					format = s
				case s == probeID:
					idKey = string(k)
				case s == probeEventID:
					eventKey = string(k)
				case s == probeAt:
					atKey = string(k)
				case s == probeReason:
					reasonKey = string(k)
				default:
					others = append(others, string(k))
					otherVals = append(otherVals, s)
				}
				return nil
			})
			if err != nil || format == "" || idKey == "" || eventKey == "" || atKey == "" || reasonKey == "" || len(others) != 1 {
				return nil, fmt.Errorf("reconcile: cannot learn %s's native keys from %s", j, canon)
			}
			if nk.eventID == "" {
				nk.eventID, nk.occurredAt, nk.reason, nk.action = eventKey, atKey, reasonKey, others[0]
			}
			if nk.eventID != eventKey || nk.occurredAt != atKey || nk.reason != reasonKey || nk.action != others[0] {
				return nil, fmt.Errorf("reconcile: %s's native envelope keys differ between formats", j)
			}
			nk.words[otherVals[0]] = a
			nk.actionWord[a] = otherVals[0]
			nk.formats[format] = nativeFormat{kind: kind, idKey: idKey}
		}
	}
	if len(nk.words) != len(schemas.Actions) {
		return nil, fmt.Errorf("reconcile: %s's action words are not one per action", j)
	}
	return nk, nil
}

// isEnvelope reports whether a native key belongs to the event envelope.
func (nk *nativeKeys) isEnvelope(key string) bool {
	return key == nk.eventID || key == nk.action || key == nk.occurredAt || key == nk.reason
}
