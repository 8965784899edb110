// Package api is the gateway's public HTTP protocol: its routes and
// parameters, the receipt and error bodies with their stable error codes,
// and the one reader of event input (a JSON object, a JSON array of
// objects, or JSONL) that the gateway's handler, `baybus publish` and the Go
// client (gateway/client) share.
//
// It depends on the standard library only, so a city system or a third
// party can speak the protocol without the gateway, NATS or the ledger.
package api

import (
	"net/url"
	"strconv"
)

// Routes, as net/http patterns.
const (
	RouteEvents  = "/v1/cities/{city}/events"
	RouteTx      = "/v1/tx/{id}"
	RouteProof   = "/v1/licenses/{jurisdiction}/{id}/proof"
	RouteHealth  = "/healthz"
	RouteReady   = "/readyz"
	RouteMetrics = "/metrics"
)

// EventsPath is the path of RouteEvents for a city.
func EventsPath(city string) string { return "/v1/cities/" + url.PathEscape(city) + "/events" }

// TxPath is the path of RouteTx for a transaction id (64 hex digits).
func TxPath(id string) string { return "/v1/tx/" + url.PathEscape(id) }

// ProofPath is the path of RouteProof for a license.
func ProofPath(jurisdiction, id string) string {
	return "/v1/licenses/" + url.PathEscape(jurisdiction) + "/" + url.PathEscape(id) + "/proof"
}

// Query parameters of RouteEvents and RouteProof.
const (
	// ParamFormat on RouteEvents: FormatCanonical (default) or FormatNative;
	// on RouteProof: "json" (default) or "binary".
	ParamFormat     = "format"
	FormatCanonical = "canonical"
	FormatNative    = "native"
	// ParamWait on RouteEvents: WaitCommit answers once every event is
	// sealed in a block; the default answers once the bus stored it.
	ParamWait  = "wait"
	WaitAccept = "accept"
	WaitCommit = "commit"
)

// Media types.
const (
	MediaJSON  = "application/json"
	MediaJSONL = "application/jsonl"
	// MediaProof is the binary form of a proof bundle.
	MediaProof = "application/vnd.baybus.proof"
)

// Headers.
const (
	// HeaderAuthorization carries "Bearer <token>".
	HeaderAuthorization = "Authorization"
	// HeaderRetryAfter says, in seconds, when a refused request may be sent
	// again (429 and 503 answers).
	HeaderRetryAfter = "Retry-After"
	// HeaderHeight and HeaderStatus repeat the height and the license status
	// a proof shows.
	HeaderHeight = "Baybus-Height"
	HeaderStatus = "Baybus-Status"
)

// Receipt statuses.
const (
	// StatusAccepted: the batch holding the event is stored by the bus, and
	// kept by the gateway until it is sealed.
	StatusAccepted = "accepted"
	// StatusCommitted: sealed in a block decided by a quorum of orderers.
	StatusCommitted = "committed"
	// StatusRefused: sealed, but without effect (Result says why).
	StatusRefused = "refused"
	// StatusPending: accepted by this gateway and not sealed yet.
	StatusPending = "pending"
)

// Receipt is the answer for one accepted event.
type Receipt struct {
	TxID      string `json:"txId"`
	BatchID   string `json:"batchId"`
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
	// Status is StatusAccepted, StatusCommitted, StatusRefused or
	// StatusPending.
	Status     string `json:"status"`
	Durability string `json:"durability"`
	Result     string `json:"result,omitempty"`
	// Reason is the ledger's machine-readable reason for a result other
	// than "ok" (for example "not_issuer"), when it gives one.
	Reason    string `json:"reason,omitempty"`
	Height    uint64 `json:"height,omitempty"`
	BlockHash string `json:"blockHash,omitempty"`
	Position  *int   `json:"position,omitempty"`
}

// Error is a failure with its HTTP status and a stable code (see Codes).
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule,omitempty"`
}

func (e *Error) Error() string { return "gateway: " + e.Code + ": " + e.Message }

// ErrorBody is the body of every answer that is an error:
// {"error":{"code","message","field","rule"}}.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Result is the answer for one event of a bulk request: a receipt or an
// error, with the event's index in the request.
type Result struct {
	Index int `json:"index"`
	*Receipt
	Error *Error `json:"error,omitempty"`
}

// Bulk is the answer to a request of several events (a JSON array or
// JSONL): 202 (200 with wait=commit) when every event was accepted, else
// 207.
//
// Results holds one entry per processed event, in order. A request stops
// being processed once MaxFailures of its events failed: the events after
// the last result were not looked at (Skipped of them, from index
// len(Results)), and Stopped says why; nothing of them was stored. This
// keeps an answer's size proportional to what was accepted.
type Bulk struct {
	Accepted int      `json:"accepted"`
	Failed   int      `json:"failed"`
	Skipped  int      `json:"skipped,omitempty"`
	Stopped  *Error   `json:"stopped,omitempty"`
	Results  []Result `json:"results"`
}

// Readiness is the body of RouteReady (200 ready, 503 not ready).
type Readiness struct {
	Status string   `json:"status"` // "ready" or "not_ready"
	Chain  string   `json:"chain"`
	Node   string   `json:"node"`
	Cities []string `json:"cities,omitempty"`
	// Problems name what is not ready (a city's bus connection, failing
	// writes, the ledger), one line each.
	Problems []string `json:"problems,omitempty"`
	// Error repeats the first problem as an error (CodeNotReady), so that
	// every answer that is not 2xx has an error body.
	Error *Error `json:"error,omitempty"`
}

// RetryAfter parses a Retry-After header of whole seconds (0 if absent or
// not a number of seconds).
func RetryAfter(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
