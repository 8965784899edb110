package share

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
	"github.com/baybus/baybus/schemas/keys"
)

// Errors of the reader's side.
var (
	// ErrAnswer: an answer or an opened file that is not what it says
	// (a proof that does not verify, parts that do not belong together, a
	// disclosure that does not hash to the sealed record's digest).
	ErrAnswer = errors.New("share: answer does not verify")
	// ErrNotGranted: a disclosure of a field the access record did not
	// grant.
	ErrNotGranted = fmt.Errorf("%w: a field the access record did not grant", ErrAnswer)
	// ErrRefused: the answer is a refusal (its reason in the error).
	ErrRefused = errors.New("share: request refused")
)

// AnswerVersion is the version of Answer, Sealed's plaintext and Opened.
const AnswerVersion = 1

// Body is what a reader posts to RouteRequests.
type Body struct {
	Request schemas.ShareRequest `json:"request"`
	KeyID   string               `json:"keyId"`
	// Signature is base64 of the reader's signature over Request.Bytes
	// (domain purpose keys.PurposeShareRequest).
	Signature string `json:"signature"`
	// Opening, for a match, is the disclosure [salt, "idNumber", number]
	// whose digest is the request's Subject: the number, given to the
	// owner's gateway beside the request, never signed into the record.
	Opening string `json:"opening,omitempty"`
}

// Sign makes the body of req signed with the reader's key.
func Sign(req schemas.ShareRequest, key keys.Signer) (*Body, error) {
	msg, err := req.Bytes()
	if err != nil {
		return nil, err
	}
	sig := key.Sign(keys.Domain{Chain: req.Chain, Purpose: keys.PurposeShareRequest}, msg)
	return &Body{Request: req, KeyID: key.KeyID(), Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// Answer is the owner's gateway's answer to a request: the outcome, the
// proof of the access record (a proof.Bundle, JSON), and for a disclosure
// answered the proof of the license and the fields sealed to the reader.
type Answer struct {
	V       int             `json:"v"`
	Outcome string          `json:"outcome"`
	Reason  schemas.Refusal `json:"reason,omitempty"`
	// Result is a match's answer (also in the access record).
	Result  *bool           `json:"result,omitempty"`
	Access  json.RawMessage `json:"access"`
	License json.RawMessage `json:"license,omitempty"`
	Sealed  *Sealed         `json:"sealed,omitempty"`
	// Error is set on a refusal (HTTP 403), in the gateway's error form.
	Error *api.Error `json:"error,omitempty"`
}

// Sealed is the disclosures of an answer, HPKE-sealed to one of the
// reader's keys (keys.HPKEPublicKey.Seal, domain purpose keys.PurposeSealed,
// additional data SealedAAD of the access record).
type Sealed struct {
	KeyID      string `json:"keyId"`
	Ciphertext []byte `json:"ciphertext"`
}

// Disclosed is the plaintext of Sealed: the license, the record in force
// the items disclose fields of, and the access record they were answered
// under.
type Disclosed struct {
	V       int             `json:"v"`
	License string          `json:"license"`
	Record  string          `json:"record"` // the record's transaction id, hex
	Access  string          `json:"access"` // the access record's transaction id, hex
	Items   []disclose.Item `json:"items"`
}

// SealedAAD is the HPKE additional data of the answer under access record
// id: a sealed answer opens only with the access record it was made for.
func SealedAAD(id schemas.TxID) []byte {
	return append([]byte("baybus/v1 share-answer\x00"), id[:]...)
}

// seal seals d to the reader's HPKE key.
func seal(trust *keys.Bundle, reader string, d *Disclosed, access schemas.TxID, rand io.Reader) (*Sealed, error) {
	id, ok := trust.CurrentHPKEKey(reader)
	if !ok {
		return nil, fmt.Errorf("share: reader %s has no HPKE key in the trust bundle", reader)
	}
	pk, err := trust.HPKEKeyAt(id, reader, ^uint64(0)>>1)
	if err != nil {
		// A key valid from a height ahead: the one in force before it.
		if pk, err = hpkeInForce(trust, reader); err != nil {
			return nil, err
		}
		id = pk.ID
	}
	pt, err := schemas.Canonical(d)
	if err != nil {
		return nil, err
	}
	ct, err := pk.Seal(keys.Domain{Chain: trust.Chain, Purpose: keys.PurposeSealed}, SealedAAD(access), pt, rand)
	if err != nil {
		return nil, err
	}
	return &Sealed{KeyID: id, Ciphertext: ct}, nil
}

// hpkeInForce returns the reader's HPKE key that has no end, whatever its
// start.
func hpkeInForce(trust *keys.Bundle, reader string) (*keys.HPKEPublicKey, error) {
	for _, k := range slices.Backward(trust.HPKEKeys) {
		if k.Member == reader && k.ValidUntil == nil {
			return trust.HPKEKeyAt(k.ID, reader, k.ValidFrom)
		}
	}
	return nil, fmt.Errorf("share: reader %s has no HPKE key in force", reader)
}

// Opened is what a reader keeps of a disclosure it was answered, and can
// show anyone with the trust bundle to prove what it read (Check): the
// proofs of the access record and of the license, and the disclosures.
type Opened struct {
	V       int             `json:"v"`
	Access  json.RawMessage `json:"access"`
	License json.RawMessage `json:"license"`
	Items   []disclose.Item `json:"items"`
}

// Reading is what an opened answer shows, verified.
type Reading struct {
	Reader  string
	License string
	Fields  []string    // granted by the access record
	Purpose string      // as asked
	Record  *schemas.Tx // the record in force, with the disclosed fields in plaintext
	// RecordTx is the id of the transaction that holds the record.
	RecordTx schemas.TxID
	// Places are the places disclosed, in the order of the items.
	Places []schemas.FieldPath
	Access *proof.Verdict // the access record's
	Proof  *proof.Verdict // the license's
	// Time is when the access record was sealed (its block's time).
	Time time.Time
}

// Open decrypts an answer with the reader's HPKE key and checks it
// (Check): the Opened evidence and what it shows. A refusal is ErrRefused
// with its reason.
func Open(trust *keys.Bundle, key *keys.HPKEPrivateKey, a *Answer) (*Opened, *Reading, error) {
	if a.V != AnswerVersion {
		return nil, nil, fmt.Errorf("%w: answer version %d", ErrAnswer, a.V)
	}
	if a.Outcome != schemas.OutcomeGranted {
		return nil, nil, fmt.Errorf("%w: %s", ErrRefused, a.Reason)
	}
	if a.Sealed == nil {
		return nil, nil, fmt.Errorf("%w: a granted disclosure with nothing sealed", ErrAnswer)
	}
	ab, err := proof.DecodeJSON(a.Access)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: access record proof: %w", ErrAnswer, err)
	}
	if a.Sealed.KeyID != key.KeyID() {
		return nil, nil, fmt.Errorf("%w: sealed to %s, not to the key given (%s)", ErrAnswer, a.Sealed.KeyID, key.KeyID())
	}
	pt, err := key.Open(keys.Domain{Chain: trust.Chain, Purpose: keys.PurposeSealed}, SealedAAD(ab.Tx.ID), a.Sealed.Ciphertext)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrAnswer, err)
	}
	var d Disclosed
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, nil, fmt.Errorf("%w: sealed part: %w", ErrAnswer, err)
	}
	if d.V != AnswerVersion {
		return nil, nil, fmt.Errorf("%w: sealed part of version %d", ErrAnswer, d.V)
	}
	if d.Access != schemas.FormatID(ab.Tx.ID) {
		return nil, nil, fmt.Errorf("%w: sealed for access record %s, the answer proves %s", ErrAnswer, d.Access, schemas.FormatID(ab.Tx.ID))
	}
	o := &Opened{V: AnswerVersion, Access: a.Access, License: a.License, Items: d.Items}
	r, err := Check(trust, o)
	if err != nil {
		return nil, nil, err
	}
	if d.License != r.License || d.Record != schemas.FormatID(r.RecordTx) {
		return nil, nil, fmt.Errorf("%w: sealed for %s record %s, the proof shows record %s", ErrAnswer, d.License, d.Record, schemas.FormatID(r.RecordTx))
	}
	return o, r, nil
}

// Check verifies an opened answer against the trust bundle alone: the
// access record's proof (a granted disclosure), the license's proof (the
// license the access record names), and each disclosure against the
// digest at its place in the record in force, of a field the access
// record granted. It returns what was read.
func Check(trust *keys.Bundle, o *Opened) (*Reading, error) {
	if o.V != AnswerVersion {
		return nil, fmt.Errorf("%w: version %d", ErrAnswer, o.V)
	}
	ab, err := proof.DecodeJSON(o.Access)
	if err != nil {
		return nil, fmt.Errorf("%w: access record proof: %w", ErrAnswer, err)
	}
	av, err := proof.Verify(trust, ab)
	if err != nil {
		return nil, fmt.Errorf("%w: access record: %w", ErrAnswer, err)
	}
	acc := av.Tx.Access
	if av.Tx.Kind != schemas.KindShareAccess || acc == nil || ab.Key != av.Tx.LicenseKey() {
		return nil, fmt.Errorf("%w: the first proof is not of an access record", ErrAnswer)
	}
	rq := &acc.Request
	if acc.Outcome != schemas.OutcomeGranted || rq.Op != schemas.OpDisclose {
		return nil, fmt.Errorf("%w: the access record is a %s %s, not a disclosure granted", ErrAnswer, acc.Outcome, rq.Op)
	}
	lb, err := proof.DecodeJSON(o.License)
	if err != nil {
		return nil, fmt.Errorf("%w: license proof: %w", ErrAnswer, err)
	}
	if lb.Key != rq.License {
		return nil, fmt.Errorf("%w: the access record is of %s, the license proof of %s", ErrAnswer, rq.License, lb.Key)
	}
	lv, err := proof.Verify(trust, lb)
	if err != nil {
		return nil, fmt.Errorf("%w: license: %w", ErrAnswer, err)
	}
	rec := lv.Record
	if rec == nil {
		return nil, fmt.Errorf("%w: the license proof does not show the record in force", ErrAnswer)
	}
	recPart := &lb.Tx
	if lb.Record != nil {
		recPart = lb.Record
	}
	// The record disclosed was sealed before the access record that
	// granted it.
	if recPart.Height > av.TxHeight {
		return nil, fmt.Errorf("%w: the license proof shows a record sealed at %d, after the access record at %d", ErrAnswer, recPart.Height, av.TxHeight)
	}
	opened, places, err := disclose.Open(rec.Kind, &rec.Record, o.Items)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAnswer, err)
	}
	for _, p := range places {
		if !slices.Contains(rq.Fields, p.Field) {
			return nil, fmt.Errorf("%w: %s (granted %v)", ErrNotGranted, p.Path, rq.Fields)
		}
	}
	shown := *rec
	shown.Record = *opened
	return &Reading{Reader: rq.Reader, License: rq.License, Fields: rq.Fields, Purpose: rq.Purpose, Record: &shown, RecordTx: recPart.ID,
		Places: places, Access: av, Proof: lv, Time: time.Unix(0, accessTime(ab, av)).UTC()}, nil
}

// accessTime is the timestamp of the block that sealed the access record.
func accessTime(b *proof.Bundle, v *proof.Verdict) int64 {
	for i := range b.Headers {
		if h, err := b.Headers[i].Header(); err == nil && h.Height == v.TxHeight {
			return h.Timestamp
		}
	}
	return v.Time.UnixNano()
}
