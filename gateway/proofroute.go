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
)

// ProofRoute is the route of fresh license proofs.
const ProofRoute = api.RouteProof

// ProofMediaType is the content type of a binary bundle.
const ProofMediaType = api.MediaProof

// handleProof serves GET ProofRoute: a fresh proof (Ledger.LatestProof) of
// the license's current status. JSON by default; the binary form with
// ?format=binary or Accept: application/vnd.baybus.proof. Headers
// Baybus-Height and Baybus-Status repeat the height and status the proof
// shows. Errors: 400 bad_request, 404 not_found, 503 not_ready (no ledger)
// or ledger_unavailable, 500 internal.
func (g *Gateway) handleProof(w http.ResponseWriter, r *http.Request) {
	if p, ok := g.authenticate(w, r); !ok || !g.allow(w, p, "", auth.RoleRead) {
		return
	}
	jur, err := schemas.ParseJurisdiction(r.PathValue("jurisdiction"))
	if err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: "jurisdiction", Message: err.Error()})
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
