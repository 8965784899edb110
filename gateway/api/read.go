package api

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// Routes of the chain read API and the explorer (gateway/explorer), as
// net/http patterns. Every answer is verified by the gateway against the
// trust bundle before it is relayed (see ledger/query), except the license
// catalogue and histories, which are the orderers' indexes: each entry
// names the transaction that GET RouteTx returns verified.
const (
	// RouteBlocks lists sealed blocks: ?from=H&limit=N (ascending from H),
	// or without from the newest N.
	RouteBlocks = "/v1/blocks"
	// RouteBlock is one block with a page of its transactions and every
	// result (?from=P&limit=N pages the transactions).
	RouteBlock = "/v1/blocks/{height}"
	// RouteBlockEvents streams new blocks as server-sent events (event
	// "block", id the height, data a BlockSummary). A client resumes with
	// Last-Event-ID or ?from=H.
	RouteBlockEvents = "/v1/blocks/events"
	// RouteLicenses lists the license catalogue:
	// ?city&holder&status&kind&jurisdiction&limit&cursor.
	RouteLicenses = "/v1/licenses"
	// RouteHistory is a license's versions, newest first (?before=H&limit=N).
	RouteHistory = "/v1/licenses/{jurisdiction}/{id}/history"
	// RouteOpenAPI is the OpenAPI 3.1 document of every route.
	RouteOpenAPI = "/openapi.json"
	// RouteExplorer is the explorer, a page served from an embedded bundle
	// at the root path only ("{$}": nothing below it).
	RouteExplorer = "/{$}"
	// RouteExplorerFiles are the page's script, style and verifier.
	RouteExplorerFiles = "/explorer/{file...}"
)

// Query parameters of the read API.
const (
	ParamFrom         = "from"
	ParamLimit        = "limit"
	ParamCursor       = "cursor"
	ParamBefore       = "before"
	ParamCity         = "city"
	ParamHolder       = "holder"
	ParamStatus       = "status"
	ParamKind         = "kind"
	ParamJurisdiction = "jurisdiction"
	// ParamRender on RouteTx: cn, hk or mo renders the record through that
	// jurisdiction's bridge.
	ParamRender = "render"
)

// MediaEventStream is the media type of RouteBlockEvents.
const MediaEventStream = "text/event-stream"

// BlocksPath is the path of RouteBlocks from height from (0: the newest).
func BlocksPath(from uint64, limit int) string {
	q := url.Values{}
	if from > 0 {
		q.Set(ParamFrom, strconv.FormatUint(from, 10))
	}
	if limit > 0 {
		q.Set(ParamLimit, strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return RouteBlocks
	}
	return RouteBlocks + "?" + q.Encode()
}

// BlockPath is the path of RouteBlock.
func BlockPath(height uint64) string { return "/v1/blocks/" + strconv.FormatUint(height, 10) }

// HistoryPath is the path of RouteHistory for a license.
func HistoryPath(jurisdiction, id string) string {
	return "/v1/licenses/" + url.PathEscape(jurisdiction) + "/" + url.PathEscape(id) + "/history"
}

// BlockSummary is a sealed block's header, with the orderers whose votes
// make its quorum certificate. Hashes are 64 hex digits.
type BlockSummary struct {
	Height uint64 `json:"height"`
	Hash   string `json:"hash"`
	Prev   string `json:"prev"`
	// Time is the block's timestamp (its proposer's clock).
	Time     time.Time `json:"time"`
	Proposer string    `json:"proposer"`
	// TxCount is how many of its transactions took effect (result ok).
	TxCount     uint32   `json:"txCount"`
	Rules       int      `json:"rules"`
	TxRoot      string   `json:"txRoot"`
	StateRoot   string   `json:"stateRoot"`
	ResultsHash string   `json:"resultsHash"`
	Signers     []string `json:"signers"`
}

// BlockList is the answer of RouteBlocks: blocks in ascending height.
type BlockList struct {
	// Height is the chain's height as the orderers report it.
	Height uint64         `json:"height"`
	Blocks []BlockSummary `json:"blocks"`
	// Next is the from of the following page; 0 when the list reached
	// the chain's head.
	Next uint64 `json:"next,omitempty"`
}

// Block is the answer of RouteBlock.
type Block struct {
	BlockSummary
	// Total is the number of transactions in the block, whatever their
	// result; Results counts them by result.
	Total   int            `json:"total"`
	Results map[string]int `json:"results"`
	// Transactions is a page of the block's transactions, from the
	// request's from; NextTx is the next page's from (absent after the
	// last page).
	Transactions []BlockTx `json:"transactions"`
	NextTx       int       `json:"nextTx,omitempty"`
}

// BlockTx is one transaction of a block. What it is about (kind, action,
// license, name) is shown only to a credential that may read the
// transaction (Redacted says when it is not).
type BlockTx struct {
	Position int    `json:"position"`
	ID       string `json:"id"`
	City     string `json:"city"`
	// Result is ok, duplicate, invalid or rejected; Reason is the ledger's
	// machine-readable reason for a result other than ok.
	Result   string `json:"result"`
	Reason   string `json:"reason,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Action   string `json:"action,omitempty"`
	License  string `json:"license,omitempty"` // JUR/ID
	Name     string `json:"name,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
}

// TxContent is a sealed transaction's content, added to RouteTx's
// receipt as "content" for a credential that may read it.
type TxContent struct {
	Height    uint64    `json:"height"`
	Position  int       `json:"position"`
	Result    string    `json:"result"`
	Reason    string    `json:"reason,omitempty"`
	BlockHash string    `json:"blockHash"`
	BlockTime time.Time `json:"blockTime"`
	City      string    `json:"city"`
	// BatchSeq and BatchTime are the city's batch: its GBA_TX sequence
	// and when its gateway made it.
	BatchSeq  uint64    `json:"batchSeq"`
	BatchTime time.Time `json:"batchTime"`
	// Tx is the canonical transaction (schemas.Tx), absent when its bytes
	// are not one (result invalid, reason malformed).
	Tx json.RawMessage `json:"tx,omitempty"`
	// Rendering is the record rendered through a jurisdiction's bridge
	// (?render=cn|hk|mo), or RenderError why it could not be.
	Rendering   json.RawMessage `json:"rendering,omitempty"`
	RenderError string          `json:"renderError,omitempty"`
	// Withheld says why Tx and Rendering are absent: the credential may
	// see where the transaction went, not what it says.
	Withheld string `json:"withheld,omitempty"`
	// PersonalWithheld lists the places of personal fields that Tx and
	// Rendering show as digests that open to nothing: a record of a chain
	// of rules version 1 or 2, read by anyone but its city.
	PersonalWithheld []string `json:"personalWithheld,omitempty"`
	// Verified names what the gateway checked before relaying it.
	Verified string `json:"verified"`
}

// TxAnswer is the answer of RouteTx: where the transaction is (a
// receipt: pending, committed or refused) and, once sealed, its content.
type TxAnswer struct {
	Receipt
	Content *TxContent `json:"content,omitempty"`
}

// License is one entry of the license catalogue.
type License struct {
	Key  string `json:"key"` // JUR/ID
	City string `json:"city"`
	Kind string `json:"kind"`
	// Holder is the holder's identifier (the license's own id for a
	// business registration); Name the holder's or company's name.
	Holder string `json:"holder"`
	Name   string `json:"name,omitempty"`
	// Withheld: Holder and Name are left out, since they may be a
	// natural person's (a certificate's or an approval's holder), for
	// anyone but the license's city.
	Withheld bool   `json:"withheld,omitempty"`
	Status   string `json:"status"`
	Height   uint64 `json:"height"` // of the last change
	LastTx   string `json:"lastTx"`
}

// LicenseList is the answer of RouteLicenses. A page may hold fewer
// entries than asked, even none, and still have a Next: the catalogue is
// walked a bounded number of keys at a time, and a reader sees only what
// its grants cover.
type LicenseList struct {
	Licenses []License `json:"licenses"`
	Next     string    `json:"next,omitempty"`
}

// LicenseHistory is the answer of RouteHistory.
type LicenseHistory struct {
	Key string `json:"key"`
	// Status is the status the newest version recorded (the proof route's
	// Baybus-Status gives the effective one, expired once the validity
	// ended).
	Status   string           `json:"status"`
	City     string           `json:"city"` // of the last change
	Versions []LicenseVersion `json:"versions"`
	// Next is the before of the following page (older versions); absent
	// after the oldest.
	Next uint64 `json:"next,omitempty"`
}

// LicenseVersion is one version of a license.
type LicenseVersion struct {
	Height uint64 `json:"height"`
	Status string `json:"status"`
	// Tx made this version; RecordTx holds the record in force then.
	Tx         string `json:"tx"`
	RecordTx   string `json:"recordTx"`
	Action     string `json:"action,omitempty"`
	City       string `json:"city,omitempty"`
	OccurredAt string `json:"occurredAt,omitempty"`
}
