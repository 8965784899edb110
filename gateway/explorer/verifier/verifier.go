// Package verifier is the explorer's offline proof check: a license proof
// and a trust bundle in, a verdict out, with the same ledger/proof code
// that `baybus verify` runs. The explorer's verifier page runs it in the
// browser, compiled to WebAssembly (verifier/wasm), so neither the proof
// nor the trust bundle leaves the user's machine. It links no NATS, no
// storage and no network code (a test pins its imports).
package verifier

import (
	"encoding/json"
	"time"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Result is what Check found. Either Valid (the proof verifies against the
// trust bundle; the fields after Problem describe it), or not: Check names
// the failed check ("record", "batch-path", "batch-signature", "tx-path",
// "header", "quorum", "state-proof", "key-not-valid", "fork", "format")
// and Error says why; or the inputs could not be used (Problem: an
// unreadable trust bundle, an unknown rendering).
type Result struct {
	Valid   bool   `json:"valid"`
	Check   string `json:"check,omitempty"`
	Error   string `json:"error,omitempty"`
	Problem string `json:"problem,omitempty"`

	// Chain and Orderers describe the trust bundle checked against.
	Chain    string `json:"chain,omitempty"`
	Orderers int    `json:"orderers,omitempty"`

	Key string `json:"key,omitempty"`
	// Status is the license's status as of the proof's height; StatusNow
	// at the time checked (expired if its validity ended since).
	Status     schemas.Status `json:"status,omitempty"`
	StatusNow  schemas.Status `json:"statusNow,omitempty"`
	Height     uint64         `json:"height,omitempty"`
	BlockHash  string         `json:"blockHash,omitempty"`
	Time       *time.Time     `json:"time,omitempty"` // the proof's newest header's timestamp
	AgeSeconds int64          `json:"ageSeconds,omitempty"`
	Owner      string         `json:"owner,omitempty"`
	ValidTo    string         `json:"validTo,omitempty"`
	Rules      int            `json:"rules,omitempty"`
	TxID       string         `json:"txId,omitempty"`
	TxHeight   uint64         `json:"txHeight,omitempty"`
	Action     schemas.Action `json:"action,omitempty"`
	City       string         `json:"city,omitempty"`
	Kind       schemas.Kind   `json:"kind,omitempty"`
	// Rendering is the record in force through a jurisdiction's bridge.
	Rendering   *bridge.Rendering `json:"rendering,omitempty"`
	RenderError string            `json:"renderError,omitempty"`
}

// Check verifies a proof (JSON or binary form) against a trust bundle
// (trust.json), cold: every certificate is checked. render is "" (the
// record's own jurisdiction), "cn", "hk" or "mo"; now judges the
// license's status now and the proof's age.
func Check(proofRaw, trustRaw []byte, render string, now time.Time) Result {
	trust, err := keys.ParseBundle(trustRaw)
	if err != nil {
		return Result{Problem: "trust bundle: " + err.Error()}
	}
	var j schemas.Jurisdiction
	if render != "" {
		if j, err = schemas.ParseJurisdiction(render); err != nil {
			return Result{Problem: "render: " + err.Error()}
		}
	}
	out := Result{Chain: trust.Chain, Orderers: len(trust.Orderers)}
	b, err := proof.Decode(proofRaw)
	var v *proof.Verdict
	if err == nil {
		v, err = proof.Verify(trust, b)
	}
	if err != nil {
		out.Check, out.Error = proof.CheckName(err), err.Error()
		if out.Check == "" {
			out.Check = "format"
		}
		return out
	}
	t := v.Time.UTC()
	out.Valid, out.Key, out.Status, out.StatusNow = true, v.Key, v.Status, v.StatusAt(now)
	out.Height, out.BlockHash, out.Time, out.AgeSeconds = v.Height, hexOf(v.BlockHash), &t, int64(now.Sub(v.Time)/time.Second)
	out.Owner, out.ValidTo, out.Rules = v.Owner, v.ValidTo, v.Rules
	out.TxID, out.TxHeight = hexOf(v.TxID), v.TxHeight
	out.Action, out.City, out.Kind = v.Tx.Action, v.Tx.City, v.Tx.Kind
	shown := v.Shown()
	if j == "" {
		j = shown.Jurisdiction
	}
	if br := bridge.For(j); br == nil {
		out.RenderError = "no bridge for " + string(j)
	} else if r, err := br.Render(shown); err != nil {
		out.RenderError = err.Error()
	} else {
		out.Rendering = &r
	}
	return out
}

func hexOf(h proof.Hash) string { return schemas.FormatID(h) }

// JSON is Check's answer as JSON, what the WebAssembly build returns.
func JSON(proofRaw, trustRaw []byte, render string, now time.Time) string {
	raw, err := json.Marshal(Check(proofRaw, trustRaw, render, now))
	if err != nil {
		return `{"valid":false,"problem":"verifier: cannot encode the result"}`
	}
	return string(raw)
}
