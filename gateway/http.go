package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/baybus/baybus/schemas"
)

// Body errors.
var (
	ErrMediaType = errors.New("gateway: unsupported content type")
	ErrBody      = errors.New("gateway: malformed body")
)

// Body kinds.
const (
	mediaJSON  = "application/json"
	mediaJSONL = "application/jsonl"
)

// ParseBody splits a request body into events. application/json takes one
// object or an array of objects; application/jsonl (also x-ndjson,
// x-jsonlines) takes one object per line, blank lines ignored. single is
// true for a lone JSON object, whose answer is not wrapped in a list.
func ParseBody(contentType string, body []byte) (events [][]byte, single bool, err error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %q", ErrMediaType, contentType)
	}
	switch mt {
	case mediaJSON:
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) == 0 {
			return nil, false, fmt.Errorf("%w: empty body", ErrBody)
		}
		if trimmed[0] != '[' {
			return [][]byte{trimmed}, true, nil
		}
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, false, fmt.Errorf("%w: %v", ErrBody, err)
		}
		if len(list) == 0 {
			return nil, false, fmt.Errorf("%w: empty array", ErrBody)
		}
		events = make([][]byte, len(list))
		for i, m := range list {
			events[i] = m
		}
		return events, false, nil
	case mediaJSONL, "application/x-ndjson", "application/x-jsonlines", "application/jsonlines":
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 0, 64<<10), len(body)+1)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			events = append(events, bytes.Clone(line))
		}
		if err := sc.Err(); err != nil {
			return nil, false, fmt.Errorf("%w: %v", ErrBody, err)
		}
		if len(events) == 0 {
			return nil, false, fmt.Errorf("%w: no events", ErrBody)
		}
		return events, false, nil
	}
	return nil, false, fmt.Errorf("%w: %q (use application/json or application/jsonl)", ErrMediaType, mt)
}

// Register adds the gateway's routes to mux:
//
//	POST /v1/cities/{city}/events[?format=native][&wait=commit]
//	GET  /v1/tx/{id}
//	GET  /v1/licenses/{jurisdiction}/{id}/proof
//	GET  /healthz, GET /readyz
func (g *Gateway) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/cities/{city}/events", g.handleEvents)
	mux.HandleFunc("GET /v1/tx/{id}", g.handleTx)
	mux.HandleFunc("GET "+ProofRoute, g.handleProof)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", g.handleReady)
}

func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("city")
	if _, err := g.city(token); err != nil {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "unknown_city", Message: err.Error(), Field: "city"})
		return
	}
	q := r.URL.Query()
	native := false
	switch f := q.Get("format"); f {
	case "", "canonical":
	case "native":
		native = true
	default:
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid", Field: "format", Rule: "enum", Message: fmt.Sprintf("format %q: use canonical or native", f)})
		return
	}
	wait := false
	switch v := q.Get("wait"); v {
	case "", "accept":
	case "commit":
		wait = true
	default:
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid", Field: "wait", Rule: "enum", Message: fmt.Sprintf("wait %q: use commit", v)})
		return
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != mediaJSON && !strings.Contains(mt, "json")) {
		writeError(w, &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: fmt.Sprintf("content type %q: use application/json (one event or an array) or application/jsonl", ct)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("body over %d bytes", mbe.Limit)})
			return
		}
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: err.Error()})
		return
	}
	events, single, err := ParseBody(ct, body)
	if err != nil {
		if errors.Is(err, ErrMediaType) {
			writeError(w, &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: err.Error()})
		} else {
			writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: err.Error()})
		}
		return
	}
	inputs := make([]Input, len(events))
	for i, e := range events {
		inputs[i] = Input{Raw: e, Native: native}
	}
	outcomes, gerr := g.Submit(r.Context(), token, inputs, wait)
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
	type item struct {
		Index int `json:"index"`
		*Receipt
		Error *Error `json:"error,omitempty"`
	}
	resp := struct {
		Accepted int    `json:"accepted"`
		Failed   int    `json:"failed"`
		Results  []item `json:"results"`
	}{Results: make([]item, len(outcomes))}
	status := ok
	for i, o := range outcomes {
		resp.Results[i] = item{Index: i, Receipt: o.Receipt, Error: o.Err}
		if o.Err != nil {
			resp.Failed++
			status = http.StatusMultiStatus
			if o.Err.Code == "backpressure" {
				w.Header().Set("Retry-After", "1")
			}
		} else {
			resp.Accepted++
		}
	}
	writeJSON(w, status, resp)
}

func (g *Gateway) handleTx(w http.ResponseWriter, r *http.Request) {
	id, err := schemas.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid", Field: "id", Rule: "hex64", Message: err.Error()})
		return
	}
	rec, ok, err := g.Lookup(r.Context(), id)
	if err != nil {
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "ledger_unavailable", Message: err.Error()})
		return
	}
	if !ok {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Field: "id", Message: "no such transaction on the ledger or pending at this gateway"})
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (g *Gateway) handleReady(w http.ResponseWriter, r *http.Request) {
	if g.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := g.cfg.Ready(ctx); err != nil {
			writeError(w, &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeError(w http.ResponseWriter, e *Error) {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
