package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// ProofRoute is the route of fresh license proofs.
const ProofRoute = api.RouteProof

// ProofMediaType is the content type of a binary bundle.
const ProofMediaType = api.MediaProof

// handleProof serves GET ProofRoute: a fresh proof (Ledger.LatestProof) of
// the license's current status. JSON by default; the binary form with
// ?format=binary or Accept: application/vnd.baybus.proof. Headers
// Baybus-Height and Baybus-Status repeat the height and status the proof
// shows. Errors: 400 bad_request, 403 forbidden (see mayRead), 404
// not_found, 503 not_ready (no ledger) or ledger_unavailable, 500 internal.
func (g *Gateway) handleProof(w http.ResponseWriter, r *http.Request) {
	p, ok := g.authenticate(w, r)
	if !ok || !g.allow(w, p, "", auth.RoleRead) {
		return
	}
	jur, err := schemas.ParseJurisdiction(r.PathValue("jurisdiction"))
	if err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: "jurisdiction", Message: err.Error()})
		return
	}
	if e := g.mayRead(p, jur, ""); e != nil { // a reader without any grant in this jurisdiction learns nothing
		writeError(w, e)
		return
	}
	id := r.PathValue("id")
	binary := r.URL.Query().Get("format") == "binary" || strings.Contains(r.Header.Get("Accept"), ProofMediaType)
	if f := r.URL.Query().Get("format"); f != "" && f != "binary" && f != "json" {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: "format", Message: fmt.Sprintf("format %q: want json or binary", f)})
		return
	}
	if g.cfg.Ledger == nil {
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: api.CodeNotReady, Message: "this gateway has no ledger to read proofs from"})
		return
	}
	key := schemas.LicenseKey(jur, id)
	b, err := g.cfg.Ledger.LatestProof(r.Context(), key)
	switch {
	case errors.Is(err, proof.ErrNotFound):
		writeError(w, &Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: fmt.Sprintf("the ledger holds no license %s", key)})
		return
	case err != nil:
		g.cfg.Logger.Error("fresh proof", "key", key, "err", err)
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: api.CodeLedgerUnavailable, Message: err.Error()})
		return
	}
	if g.cfg.Auth != nil {
		tx, err := b.Transaction()
		if err != nil {
			writeError(w, &Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
			return
		}
		if p.City != "" && tx.City != p.City {
			writeError(w, &Error{Status: http.StatusForbidden, Code: api.CodeForbidden,
				Message: fmt.Sprintf("auth: forbidden: %s was last changed by %s; a credential of %s reads its own city's licenses (others need a named reader with a grant)", key, tx.City, p.City)})
			return
		}
		if e := g.mayRead(p, jur, tx.Kind.Short()); e != nil {
			writeError(w, e)
			return
		}
	}
	if g.cfg.Auth != nil { // without authentication (--no-auth, loopback) every caller is the operator's
		if e := g.withholdProof(p, b); e != nil {
			writeError(w, e)
			return
		}
	}
	var body []byte
	if binary {
		body, err = b.MarshalBinary()
		w.Header().Set("Content-Type", ProofMediaType)
	} else {
		body, err = proof.EncodeJSON(b)
		w.Header().Set("Content-Type", "application/json")
	}
	if err != nil {
		writeError(w, &Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()})
		return
	}
	w.Header().Set(api.HeaderHeight, strconv.FormatUint(b.State.Height, 10))
	w.Header().Set(api.HeaderStatus, string(b.Status())) // effective: expired once the validity ended
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// withholdProof refuses a proof that would give a caller personal fields
// it holds no grant of: on a chain of rules version 1 or 2 a record holds
// its persons' names and identity numbers in plaintext, and a proof
// cannot leave them out (the transaction's bytes are what it proves). Only
// the city whose record it is, or a named reader with a personal grant of
// its jurisdiction and kind ("CN.certificate.personal", the same grant
// that reads such proofs on the bus), may have such a proof; any other
// reader asks the city, or reads a chain of rules version 3, whose proofs
// hold digests (issue 14 §4, docs/sharing.md).
func (g *Gateway) withholdProof(p *auth.Principal, b *proof.Bundle) *Error {
	proved := []*proof.TxProof{&b.Tx}
	if b.Record != nil {
		proved = append(proved, b.Record)
	}
	for _, tp := range proved {
		tx, err := schemas.DecodeTx(tp.Bytes)
		if err != nil {
			return &Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()}
		}
		if p != nil && p.Reader == "" && p.City == tx.City {
			continue
		}
		if p != nil && p.Reader != "" && g.cfg.Readers != nil {
			if rd, ok := g.cfg.Readers(p.Reader); ok && rd.AllowsPersonal(string(tx.Jurisdiction), tx.Kind.Short()) {
				continue
			}
		}
		if !tx.Record.HasDigests() && len(schemas.PersonalPaths(tx.Kind, &tx.Record)) > 0 {
			return &Error{Status: http.StatusForbidden, Code: api.CodeForbidden,
				Message: fmt.Sprintf("auth: forbidden: the record of %s holds personal fields in plaintext (a chain of rules version 1 or 2), which a proof cannot leave out: only %s's own credential, or a reader with a personal grant (%s.%s%s), may have it", b.Key, tx.City, tx.Jurisdiction, tx.Kind.Short(), keys.GrantPersonal)}
		}
	}
	return nil
}

// mayRead checks a named reader's grants in the trust bundle
// (Config.Readers) for proofs of jurisdiction and kind ("" checks only
// that some grant covers the jurisdiction). A city's credential passes
// here (handleProof checks its city); a reader the bundle does not name is
// refused.
func (g *Gateway) mayRead(p *auth.Principal, jur schemas.Jurisdiction, kind string) *Error {
	if p == nil || p.Reader == "" {
		return nil
	}
	var rd *keys.Reader
	ok := false
	if g.cfg.Readers != nil {
		rd, ok = g.cfg.Readers(p.Reader)
	}
	if !ok {
		return &Error{Status: http.StatusForbidden, Code: api.CodeForbidden,
			Message: fmt.Sprintf("auth: forbidden: reader %s is not in this gateway's trust bundle", p.Reader)}
	}
	if kind == "" {
		for _, gr := range rd.Grants {
			if j, _, err := keys.ParseGrant(gr); err == nil && j == string(jur) {
				return nil
			}
		}
	} else if rd.Allows(string(jur), kind) {
		return nil
	}
	what := string(jur)
	if kind != "" {
		what += "." + kind
	}
	return &Error{Status: http.StatusForbidden, Code: api.CodeForbidden,
		Message: fmt.Sprintf("auth: forbidden: reader %s's grants %v do not cover %s", p.Reader, rd.Grants, what)}
}
