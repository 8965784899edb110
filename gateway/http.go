package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/schemas"
)

// Register adds the gateway's routes to mux:
//
//	POST /v1/cities/{city}/events[?format=native][&wait=commit]
//	GET  /v1/tx/{id}[?render=cn|hk|mo]
//	GET  /v1/licenses/{jurisdiction}/{id}/proof
//	GET  /healthz, GET /readyz
func (g *Gateway) Register(mux Mux) {
	mux.HandleFunc("POST "+api.RouteEvents, g.handleEvents)
	mux.HandleFunc("GET "+api.RouteTx, g.handleTx)
	mux.HandleFunc("GET "+api.RouteProof, g.handleProof)
	mux.HandleFunc("GET "+api.RouteHealth, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET "+api.RouteReady, g.handleReady)
}

// Mux is where routes are registered (*http.ServeMux is one).
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// authenticate answers 401 unless the request carries a credential that
// identifies someone now. With no Authenticator configured, everyone is
// let in (p is nil).
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) (p *auth.Principal, ok bool) {
	if g.cfg.Auth == nil {
		return nil, true
	}
	p, err := g.cfg.Auth.Authenticate(r)
	if err != nil {
		g.metrics.refusedAuth.WithLabelValues("unauthenticated").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="baybus"`)
		writeError(w, &Error{Status: http.StatusUnauthorized, Code: api.CodeUnauthenticated, Message: err.Error()})
		return nil, false
	}
	return p, true
}

// allow answers 403 unless p may act as role on city ("" for no city).
func (g *Gateway) allow(w http.ResponseWriter, p *auth.Principal, city string, role auth.Role) bool {
	if g.cfg.Auth == nil {
		return true
	}
	if err := p.Allow(city, role); err != nil {
		g.metrics.refusedAuth.WithLabelValues("forbidden").Inc()
		writeError(w, &Error{Status: http.StatusForbidden, Code: api.CodeForbidden, Message: err.Error()})
		return false
	}
	return true
}

// Authenticated wraps h (for example /metrics) so that it answers only
// requests with a credential that identifies someone (any role).
func (g *Gateway) Authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := g.authenticate(w, r); ok {
			h.ServeHTTP(w, r)
		}
	})
}

func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("city")
	p, authed := g.authenticate(w, r)
	if !authed {
		return
	}
	if _, err := g.city(token); err != nil {
		writeError(w, &Error{Status: http.StatusNotFound, Code: api.CodeUnknownCity, Message: err.Error(), Field: "city"})
		return
	}
	if !g.allow(w, p, token, auth.RolePublish) {
		return
	}
	q := r.URL.Query()
	native := false
	switch f := q.Get(api.ParamFormat); f {
	case "", api.FormatCanonical:
	case api.FormatNative:
		native = true
	default:
		writeError(w, &Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: api.ParamFormat, Rule: "enum",
			Message: fmt.Sprintf("format %q: use %s or %s", f, api.FormatCanonical, api.FormatNative)})
		return
	}
	wait := false
	switch v := q.Get(api.ParamWait); v {
	case "", api.WaitAccept:
	case api.WaitCommit:
		wait = true
	default:
		writeError(w, &Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: api.ParamWait, Rule: "enum",
			Message: fmt.Sprintf("wait %q: use %s", v, api.WaitCommit)})
		return
	}
	layout, err := api.LayoutOf(r.Header.Get("Content-Type"))
	if err != nil {
		writeError(w, &Error{Status: http.StatusUnsupportedMediaType, Code: api.CodeUnsupportedMediaType, Message: err.Error()})
		return
	}
	inputs, single, release, e := g.readEvents(w, r, layout, native)
	defer release()
	if e != nil {
		writeError(w, e)
		return
	}
	outcomes, gerr := g.Submit(r.Context(), token, inputs, wait)
	release() // what follows waits on the bus and the ledger, not on this request's memory
	if gerr != nil {
		writeError(w, gerr)
		return
	}
	ok := http.StatusAccepted
	if wait {
		ok = http.StatusOK
	}
	if single {
		if o := outcomes[0]; o.Err != nil {
			writeError(w, o.Err)
		} else {
			writeJSON(w, ok, o.Receipt)
		}
		return
	}
	resp := api.Bulk{Results: make([]api.Result, 0, len(outcomes))}
	status := ok
	for i, o := range outcomes {
		if o.Skipped {
			resp.Skipped = len(outcomes) - i
			resp.Stopped = o.Err
			status = http.StatusMultiStatus
			break
		}
		resp.Results = append(resp.Results, api.Result{Index: i, Receipt: o.Receipt, Error: o.Err})
		if o.Err != nil {
			resp.Failed++
			status = http.StatusMultiStatus
			if o.Err.Status == http.StatusTooManyRequests {
				w.Header().Set(api.HeaderRetryAfter, "1")
			}
		} else {
			resp.Accepted++
		}
	}
	writeJSON(w, status, resp)
}

// readEvents reads a request's events with the one event reader, bounded by
// MaxBodyBytes, MaxEventBytes and MaxEvents. A request of several events
// takes one of MaxBulkRequests turns first (waiting up to BulkWait), held
// until release is called. An event too large keeps its place as an input
// that carries its error; anything that ends the input refuses the whole
// request, and nothing of it is submitted.
func (g *Gateway) readEvents(w http.ResponseWriter, r *http.Request, layout api.Layout, native bool) (inputs []Input, single bool, release func(), e *Error) {
	release = func() {}
	body := http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
	rd := api.NewEventReader(body, layout, api.ReaderOptions{MaxEventBytes: g.cfg.MaxEventBytes, MaxEvents: g.cfg.MaxEvents})
	turn := false
	for {
		raw, err := rd.Next()
		if !turn && rd.Bulk() {
			// Known after the first event: take a turn before reading on.
			rel, e := g.bulkTurn(r)
			if e != nil {
				return nil, false, release, e
			}
			release, turn = rel, true
		}
		var ee *api.EventError
		switch {
		case err == nil:
			inputs = append(inputs, Input{Raw: raw, Native: native})
			continue
		case errors.As(err, &ee):
			inputs = append(inputs, Input{Err: &Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge,
				Message: fmt.Sprintf("event is %d bytes, limit %d", ee.Size, ee.Limit)}})
			continue
		case err == io.EOF:
			return inputs, rd.Single(), release, nil
		}
		return nil, false, release, readError(err)
	}
}

// readError is the answer for input that cannot be split into events.
func readError(err error) *Error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge, Message: fmt.Sprintf("body over %d bytes", mbe.Limit)}
	case errors.Is(err, api.ErrTooManyEvents):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooManyEvents, Message: err.Error() + "; nothing was stored: split it into several requests"}
	case errors.Is(err, api.ErrSyntax):
		return &Error{Status: http.StatusBadRequest, Code: api.CodeInvalidJSON, Message: err.Error() + "; nothing was stored"}
	}
	return &Error{Status: http.StatusBadRequest, Code: api.CodeInvalidBody, Message: err.Error()}
}

// bulkTurn waits for one of MaxBulkRequests turns, up to BulkWait or the
// request's end.
func (g *Gateway) bulkTurn(r *http.Request) (release func(), e *Error) {
	select {
	case g.bulk <- struct{}{}:
	default:
		g.metrics.bulkWaits.Inc()
		t := time.NewTimer(g.cfg.BulkWait)
		defer t.Stop()
		select {
		case g.bulk <- struct{}{}:
		case <-t.C:
			return nil, &Error{Status: http.StatusTooManyRequests, Code: api.CodeBackpressure,
				Message: fmt.Sprintf("%d requests of several events are being read at once; retry after the Retry-After delay", g.cfg.MaxBulkRequests)}
		case <-r.Context().Done():
			return nil, &Error{Status: http.StatusServiceUnavailable, Code: api.CodeCanceled, Message: r.Context().Err().Error()}
		}
	}
	var once bool
	return func() {
		if !once {
			once = true
			<-g.bulk
		}
	}, nil
}

func (g *Gateway) handleTx(w http.ResponseWriter, r *http.Request) {
	// Any credential may look up a transaction: the answer is where a
	// content hash was sealed; its content only as Config.TxContent
	// allows the credential.
	p, authed := g.authenticate(w, r)
	if !authed {
		return
	}
	id, err := schemas.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: "id", Rule: "hex64", Message: err.Error()})
		return
	}
	rec, ok, err := g.Lookup(r.Context(), id)
	if err != nil {
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: api.CodeLedgerUnavailable, Message: err.Error()})
		return
	}
	if !ok {
		writeError(w, &Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Field: "id", Message: "no such transaction on the ledger or pending at this gateway"})
		return
	}
	out := api.TxAnswer{Receipt: *rec}
	if g.cfg.TxContent != nil && rec.Status != api.StatusPending {
		c, e := g.cfg.TxContent(r, p, id)
		if e != nil {
			writeError(w, e)
			return
		}
		out.Content = c
	}
	writeJSON(w, http.StatusOK, out)
}

func writeError(w http.ResponseWriter, e *Error) { api.WriteError(w, e) }

func writeJSON(w http.ResponseWriter, status int, v any) { api.WriteJSON(w, status, v) }
