package share

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baybus/baybus/schemas/keys"
)

// goldenFiles loads testdata/answers: the trust bundle, hk-bank's HPKE key
// and the golden answer's bytes.
func goldenFiles(f *testing.F) (*keys.Bundle, *keys.HPKEPrivateKey, []byte) {
	f.Helper()
	dir := filepath.Join("testdata", "answers")
	trust, err := keys.LoadBundle(filepath.Join(dir, "trust.json"))
	if err != nil {
		f.Fatal(err)
	}
	key, err := keys.ReadHPKEFile(filepath.Join(dir, "hk-bank.hpke"))
	if err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "answer.json"))
	if err != nil {
		f.Fatal(err)
	}
	return trust, key, raw
}

// FuzzOpenAnswer: an answer is what a gateway sends a reader; whatever its
// bytes, Open decodes, decrypts and checks without panicking, and what it
// accepts is a reading of fields the access record granted.
func FuzzOpenAnswer(f *testing.F) {
	trust, key, raw := goldenFiles(f)
	f.Add(raw)
	f.Add([]byte(`{"v":1,"outcome":"granted","access":{},"sealed":{"keyId":"x","ciphertext":""}}`))
	f.Add([]byte(`{"v":1,"outcome":"refused","reason":"no_grant","access":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Answer
		if json.Unmarshal(b, &a) != nil {
			return
		}
		_, r, err := Open(trust, key, &a)
		if err != nil {
			return
		}
		for _, p := range r.Places {
			ok := false
			for _, f := range r.Fields {
				ok = ok || f == p.Field
			}
			if !ok {
				t.Fatalf("opened %s, not granted (%v)", p.Path, r.Fields)
			}
		}
	})
}

// FuzzCheck: an opened answer is a file a reader shows anyone; Check
// decodes and verifies it from the trust bundle alone without panicking.
func FuzzCheck(f *testing.F) {
	trust, key, raw := goldenFiles(f)
	var a Answer
	if err := json.Unmarshal(raw, &a); err != nil {
		f.Fatal(err)
	}
	o, _, err := Open(trust, key, &a)
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := json.Marshal(o)
	f.Add(seed)
	f.Add([]byte(`{"v":1,"access":{},"license":{},"items":[{"path":"record.people.0.name","disclosure":"WyJhIiwibmFtZSIsMV0"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o Opened
		if json.Unmarshal(b, &o) != nil {
			return
		}
		r, err := Check(trust, &o)
		if err == nil && (r.Record == nil || r.Access == nil || r.Proof == nil) {
			t.Fatalf("checked without a record or proofs: %+v", r)
		}
	})
}

// FuzzRequestBody: a request body is what any reader posts; checkRequest
// judges every form of it with an answer, never a panic, and accepts only
// a request signed by a reader key of the trust bundle.
func FuzzRequestBody(f *testing.F) {
	trust, _, _ := goldenFiles(f)
	s := &Service{cfg: Config{Trust: trust, Now: func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }, MaxSkew: 5 * time.Minute}}
	f.Add([]byte(`{"request":{"v":1,"chain":"` + trust.Chain + `","reader":"hk-bank","city":"shenzhen","op":"disclose","license":"CN/x","kind":"business_registration","fields":["people.name"],"purpose":"kyc","nonce":"AAAAAAAAAAAAAAAAAAAAAA","at":"2026-06-01T00:00:00Z"},"keyId":"reader/hk-bank/1","signature":"AAAA"}`))
	f.Add([]byte(`{"request":{"op":"match","subject":"x"},"opening":"WyJhIiwiaWROdW1iZXIiLCIxIl0"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var body Body
		if json.Unmarshal(b, &body) != nil {
			return
		}
		if e := s.checkRequest(&body); e == nil {
			t.Fatalf("a request accepted without a valid signature: %s", b)
		}
	})
}
