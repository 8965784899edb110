package api

import "net/http"

// Error codes. Every error the gateway answers carries one of them; the
// README's error table lists each with its status (a test keeps the two
// equal).
const (
	CodeInvalidJSON          = "invalid_json"
	CodeInvalid              = "invalid"
	CodeWrongFormat          = "wrong_format"
	CodeBadRequest           = "bad_request"
	CodeInvalidBody          = "invalid_body"
	CodeNativeUnavailable    = "native_unavailable"
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodePermissionDenied     = "permission_denied"
	CodeUnknownCity          = "unknown_city"
	CodeNotFound             = "not_found"
	CodeTooLarge             = "too_large"
	CodeTooManyEvents        = "too_many_events"
	CodeTooManyFailures      = "too_many_failures"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeLedgerRejected       = "ledger_rejected"
	CodeLedgerInvalid        = "ledger_invalid"
	CodeBackpressure         = "backpressure"
	CodeLedgerBacklog        = "ledger_backlog"
	CodeInternal             = "internal"
	CodeCommitUnavailable    = "commit_unavailable"
	CodeBusUnavailable       = "bus_unavailable"
	CodeStoreUnavailable     = "store_unavailable"
	CodeLedgerUnavailable    = "ledger_unavailable"
	CodeNotReady             = "not_ready"
	CodeShuttingDown         = "shutting_down"
	CodeCanceled             = "canceled"
	CodeCommitTimeout        = "commit_timeout"
	// Sharing (gateway/share, issue 15).
	CodeShareRefused     = "share_refused"
	CodeShareUnavailable = "share_unavailable"
	CodeReplayed         = "replayed"
)

// CodeInfo describes an error code: the HTTP status it is answered with
// (for a single event; inside a bulk answer the same error sits in the
// event's result) and when.
type CodeInfo struct {
	Code   string
	Status int
	When   string
}

// Codes returns every error code in use, in the order of the README's
// table.
func Codes() []CodeInfo {
	return []CodeInfo{
		{CodeInvalidJSON, http.StatusBadRequest, "malformed JSON (an event, or the body's array or lines)"},
		{CodeInvalid, http.StatusBadRequest, "a field breaking a schema rule (`field` and `rule` name it)"},
		{CodeWrongFormat, http.StatusBadRequest, "a native record posted as canonical: post it with `?format=native` (`--native`)"},
		{CodeBadRequest, http.StatusBadRequest, "a malformed path or query parameter (`field` names it)"},
		{CodeInvalidBody, http.StatusBadRequest, "the body could not be read"},
		{CodeNativeUnavailable, http.StatusBadRequest, "`?format=native` on a gateway without bridges"},
		{CodeUnauthenticated, http.StatusUnauthorized, "no credential, or one that is unknown, expired or revoked"},
		{CodeForbidden, http.StatusForbidden, "a credential of another city, or without the role the route needs"},
		{CodePermissionDenied, http.StatusForbidden, "the bus refused the city's publish (wrong NATS identity for the subject)"},
		{CodeUnknownCity, http.StatusNotFound, "not one of the eleven city tokens, or a city this gateway does not serve"},
		{CodeNotFound, http.StatusNotFound, "no such transaction or license"},
		{CodeTooLarge, http.StatusRequestEntityTooLarge, "body over the limit (16 MiB), or one event over 64 KiB"},
		{CodeTooManyEvents, http.StatusRequestEntityTooLarge, "more events in one request than the limit (10,000); nothing was stored"},
		{CodeTooManyFailures, http.StatusMultiStatus, "in a bulk answer's `stopped`: 100 events failed, the rest were not processed (nothing of them stored)"},
		{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, "not `application/json` or `application/jsonl`"},
		{CodeLedgerRejected, http.StatusUnprocessableEntity, "with `wait=commit`: sealed without effect, a status change the license does not allow (`rule` gives the ledger's reason)"},
		{CodeLedgerInvalid, http.StatusUnprocessableEntity, "with `wait=commit`: sealed without effect, a record the orderers found invalid"},
		{CodeBackpressure, http.StatusTooManyRequests, "the city's queue, or the gateway's bulk requests, are full (`Retry-After` says when to retry)"},
		{CodeLedgerBacklog, http.StatusTooManyRequests, "the orderers are more than two blocks' worth of batches behind the bus; held up to 10 s first, nothing stored"},
		{CodeInternal, http.StatusInternalServerError, "a fault of the gateway (logged)"},
		{CodeCommitUnavailable, http.StatusNotImplemented, "`wait=commit` on a gateway without a ledger"},
		{CodeBusUnavailable, http.StatusServiceUnavailable, "the bus did not store the batch"},
		{CodeStoreUnavailable, http.StatusServiceUnavailable, "the gateway could not keep the batch in its local store of unsealed batches"},
		{CodeLedgerUnavailable, http.StatusServiceUnavailable, "the ledger could not answer a lookup or a proof now"},
		{CodeNotReady, http.StatusServiceUnavailable, "the gateway is not ready (`/readyz` says why), or has no ledger for proofs"},
		{CodeShuttingDown, http.StatusServiceUnavailable, "the gateway is shutting down"},
		{CodeCanceled, http.StatusServiceUnavailable, "the client went away, or the request's time ran out, before an answer"},
		{CodeCommitTimeout, http.StatusGatewayTimeout, "accepted, but not sealed within 30 s"},
		{CodeShareRefused, http.StatusForbidden, "a reader's request refused by the owner city; the refusal is recorded on the ledger (the answer carries its proof)"},
		{CodeShareUnavailable, http.StatusNotImplemented, "sharing on a chain of rules version 1 or 2, or a gateway without a store of personal data"},
		{CodeReplayed, http.StatusConflict, "a reader's request answered before (its access record is on the ledger)"},
	}
}
