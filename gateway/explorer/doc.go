// Package explorer is what a gateway shows of the chain: the read API
// (blocks, a block's transactions and results, a transaction's content,
// the license catalogue and a license's history, server-sent events of new
// blocks), its OpenAPI 3.1 document at /openapi.json, and the explorer, a
// page at / served from a bundle embedded in the binary (no CDN: it works
// offline) whose verifier checks a proof in the browser with the
// ledger/proof code compiled to WebAssembly.
//
// gateway/server registers it beside the gateway's own routes whenever
// the gateway has a Chain (the orderers' query client, ledger/query).
//
// # Contract
//
//   - Everything the read API relays comes through a Chain that verifies
//     it against the trust bundle (ledger/query.Client: headers by their
//     quorum certificates, transactions by their paths and their city's
//     batch signature). The license catalogue and histories are the
//     orderers' indexes, relayed as answered; each entry names the
//     transaction that RouteTx then returns verified.
//   - Reads are authorised as the gateway's proof route is (Config.Auth):
//     any credential sees blocks, their headers and certificates, and
//     where each transaction went (id, city, result); what a transaction
//     says (its record, kind, license, holder) only a credential that may
//     read it: a city's credential with the read role for its own city's
//     transactions and licenses, a named reader for those its grants in
//     the trust bundle cover (jurisdiction and kind). The rest is
//     redacted, or refused with 403 where nothing would be left.
//   - Personal fields (schemas.PersonalPaths) that a record of a chain of
//     rules version 1 or 2 holds in plaintext reach only the record's own
//     city (and every caller without Config.Auth, the operator's own):
//     anyone else reads them as digests that open to nothing
//     (gateway.WithholdPersonal; TxContent.PersonalWithheld names them),
//     license lists of certificates and approvals without holder and
//     name, and no search by holder. On version 3 they are digests
//     already, disclosed only through the share routes.
//   - The page's access records view (#/accesses) reads the share
//     routes' audit (GET /v1/accesses, gateway/share) with the same
//     token: who read what, when, under which grant, with what outcome,
//     sealed at which height, each with its proof to download or check
//     in the verifier.
//   - The page and the OpenAPI document carry no chain data and are
//     served to anyone; the page asks the user for a read token and sends
//     it as a bearer token (kept in the tab's sessionStorage). The
//     verifier never sends the proof or the trust bundle anywhere.
//   - Bad input (a height, a cursor, a filter) is a 400 with the field
//     named; a thing the chain does not hold is a 404; a ledger that
//     cannot answer is a 503.
//
// # Goroutines
//
// Handlers run on the HTTP server's goroutines. The block feed owns one
// poller goroutine, which runs while at least one client follows
// RouteBlockEvents and stops with the last one or with Close; each
// follower's handler goroutine reads from its own bounded channel, and a
// follower too slow to keep up is cut off (it resumes with Last-Event-ID).
package explorer
