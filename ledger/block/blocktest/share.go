package blocktest

import (
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
	"github.com/baybus/baybus/schemas/keys"
)

// Fixtures of rules version 3 (sharing, issue 15).

// Redact returns canonical transaction bytes with the transaction's
// personal fields as digests, salted from a stream seeded by the bytes
// (so the same input redacts the same way), and the disclosures: what a
// gateway of rules version 3 publishes and keeps.
func Redact(raw []byte) ([]byte, []disclose.Item) {
	tx, err := schemas.DecodeTx(raw)
	if err != nil {
		panic(err)
	}
	red, items, err := disclose.Redact(tx, disclose.RandomSalter{R: rand.NewChaCha8(sha256.Sum256(raw))})
	if err != nil {
		panic(err)
	}
	out, err := schemas.EncodeTx(red)
	if err != nil {
		panic(err)
	}
	return out, items
}

// WithReader returns a copy of a trust bundle with a reader added, its
// keys drawn from a stream seeded by seed and valid from height 0.
func WithReader(b *keys.Bundle, name string, seed byte) (*keys.Bundle, *keys.ReaderKeys) {
	rng := rand.NewChaCha8([32]byte{seed, 'r'})
	// A public user NKey's form (keys checks the form, not the checksum).
	nk := make([]byte, 35)
	for i := range nk {
		nk[i] = byte(rng.Uint64())
	}
	pub := "U" + base32Upper(nk)[:55]
	rk, err := keys.NewReaderKeys(name, pub, []string{"CN.*"}, keys.Ed25519, rng)
	if err != nil {
		panic(err)
	}
	nb, err := b.WithReader(rk, 0)
	if err != nil {
		panic(err)
	}
	return nb, rk
}

func base32Upper(b []byte) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	out := make([]byte, 0, len(b)*8/5+1)
	var acc uint
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			out = append(out, alpha[acc>>(bits-5)&31])
			bits -= 5
		}
	}
	return string(out)
}

// Grant returns the canonical bytes of city's grant id.
func Grant(chain, city, id string, g schemas.Grant, from, to string) []byte {
	c, err := schemas.LookupCity(city)
	if err != nil {
		panic(err)
	}
	raw, err := schemas.EncodeTx(schemas.NewGrantTx(chain, c, id, g, from, to, "2026-01-01T09:00:00+08:00"))
	if err != nil {
		panic(err)
	}
	return raw
}

// RevokeGrant returns the canonical bytes of city's revocation of grant id.
func RevokeGrant(chain, city, id string) []byte {
	c, err := schemas.LookupCity(city)
	if err != nil {
		panic(err)
	}
	raw, err := schemas.EncodeTx(schemas.NewRevokeTx(chain, c, id, "ended", "2026-01-01T09:00:00+08:00"))
	if err != nil {
		panic(err)
	}
	return raw
}

// Request returns a request of the reader to city, its nonce from n.
func Request(chain, reader, city, op, license string, kind schemas.Kind, fields []string, purpose string, n byte) schemas.ShareRequest {
	nonce := make([]byte, 16)
	nonce[0] = n
	r := schemas.ShareRequest{Chain: chain, Reader: reader, City: city, Op: op, License: license, Kind: kind, Fields: fields,
		Purpose: purpose, At: "2026-03-02T10:00:00+08:00", Nonce: base64.RawURLEncoding.EncodeToString(nonce)}
	if op == schemas.OpMatch {
		d, _ := disclose.New(nonce, "idNumber", "P1234567")
		r.Subject = d.Digest()
	}
	return r
}

// Access returns the canonical bytes of city's access record of req,
// signed by the reader's key rk: granted under grant (result set for a
// match), or refused for reason when grant is "".
func Access(rk *keys.ReaderKeys, req schemas.ShareRequest, grant string, reason schemas.Refusal, result *bool) []byte {
	msg, err := req.Bytes()
	if err != nil {
		panic(err)
	}
	a := schemas.Access{Request: req, KeyID: rk.Sign.KeyID(),
		Signature: base64.StdEncoding.EncodeToString(rk.Sign.Sign(keys.Domain{Chain: req.Chain, Purpose: keys.PurposeShareRequest}, msg))}
	if grant != "" && reason == "" {
		a.Outcome, a.Grant, a.Result = schemas.OutcomeGranted, grant, result
	} else {
		a.Outcome, a.Grant, a.Reason = schemas.OutcomeRefused, grant, reason
	}
	c, err := schemas.LookupCity(req.City)
	if err != nil {
		panic(err)
	}
	tx, err := schemas.NewAccessTx(req.Chain, c, a, "2026-03-02T10:00:01+08:00")
	if err != nil {
		panic(err)
	}
	raw, err := schemas.EncodeTx(tx)
	if err != nil {
		panic(err)
	}
	return raw
}
