package gateway

import (
	"encoding/json"
	"testing"
)

func FuzzParseBody(f *testing.F) {
	f.Add("application/json", []byte(`{"eventId":"a"}`))
	f.Add("application/json", []byte(`[{"a":1},{"b":2}]`))
	f.Add("application/jsonl", []byte("{\"a\":1}\n\n{\"b\":2}\n"))
	f.Add("application/json; charset=utf-8", []byte(`[]`))
	f.Add("text/plain", []byte(`{}`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		events, single, err := ParseBody(ctype, body)
		if err != nil {
			return
		}
		if len(events) == 0 {
			t.Fatal("no events and no error")
		}
		if single && len(events) != 1 {
			t.Fatal("single with several events")
		}
		for _, e := range events {
			if len(e) == 0 {
				t.Fatal("empty event")
			}
			if !single && len(events) > 0 && ctype == "application/json" && !json.Valid(e) {
				t.Fatalf("array element is not JSON: %q", e)
			}
		}
	})
}
