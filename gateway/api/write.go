package api

import (
	"encoding/json"
	"net/http"
)

// WriteJSON answers with status and v as JSON (MediaJSON), HTML characters
// left as they are: the gateway's routes, the read API and the share
// routes all answer through it.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", MediaJSON)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError answers with e as an ErrorBody, with Retry-After on the
// answers worth trying again soon (429, 503).
func WriteError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		w.Header().Set(HeaderRetryAfter, "1")
	}
	WriteJSON(w, e.Status, ErrorBody{Error: e})
}
