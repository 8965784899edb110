// Package query is the orderers' ledger query service: request/reply on
// bus.QuerySubject(orderer) ("gba.query.<orderer>"), which cities'
// gateways, the service identity and orderers may ask (schemas/bus grants
// it). Every node serves it (ledger/node); a Client asks the orderers in
// turn and implements gateway.Ledger, so a gateway in its own process, or
// `up`'s in the same one, waits for commits and serves proofs through it.
//
// # Operations
//
//   - Status: the node's name, height, sealed GBA_TX sequence, readiness
//     and head (header with certificate).
//   - Lookup and Wait: where transactions were sealed; Wait holds the
//     request until a block seals any of them (or the wait ends).
//   - Proof: a fresh license proof (proof.Bundle, binary).
//   - Headers: sealed headers in a range. Block: a page of a block's
//     transactions with the block's results. Tx: one transaction's
//     canonical bytes with its batch's signed header and paths.
//   - Config: a configuration transaction (schemas/config) handed to the
//     orderer, which checks it and submits it to consensus (a backend that
//     implements ConfigSubmitter; `baybus consortium submit`).
//   - History: a license's versions, newest first. Licenses: the license
//     catalogue by city, holder, status, kind and jurisdiction, in key
//     order, with a cursor.
//
// The wire format (wire.go) starts every message with its version byte;
// the decoders refuse another version, unknown operations, anything over
// their limits and trailing bytes, and are fuzzed (FuzzRequest,
// FuzzReply). Every reply fits a NATS message under the bus's 1 MiB
// max_payload: pages are cut to fit.
//
// # Contract
//
//   - The client verifies what it relays against the trust bundle, never a
//     node's word: a header by its quorum certificate (block.VerifyQC, once
//     per header hash); a transaction's place by its RFC 6962 path under
//     the header's TxRoot, or, for one sealed without effect, by the
//     block's results under the header's ResultsHash; a transaction's
//     content by its id, its batch path and its city's signature; a range
//     of headers by their links; a proof with proof.Verify. A reply that
//     fails is ErrUnverified, logged, and the next orderer is asked.
//     History and Licenses are the node's indexes, relayed as answered:
//     each entry names what Tx or LatestProof then proves.
//   - An orderer that does not answer, answers that it is unavailable, or
//     answers what does not verify is passed over for the next; a reply
//     that the thing asked for does not exist is an answer (a lagging
//     orderer may not hold it yet).
//   - Commit waits are coalesced: every transaction waited for joins one
//     Wait request (up to MaxIDs) per round, at most ClientConfig.MaxRounds
//     rounds in flight, and a round ends when a block seals any of its
//     transactions. Under load that is a request per block, not per
//     transaction.
//   - SealedSeq never blocks: it returns what a poller (every StatusEvery,
//     only while SealedSeq is being asked for) last read from the orderers,
//     the highest any reports.
//
// # Goroutines
//
// Server: the subscription's goroutine decodes and hands requests to a
// pool of workers through a bounded queue (a request that finds it full,
// or waits in it longer than QueueWait, is answered busy, so its client
// asks another orderer in time), and each held Wait to a goroutine of its own (bounded;
// past the bound a Wait is refused as unavailable, so its client asks
// another orderer). Stop unsubscribes and waits for all of them.
//
// Client: the wait loop (which sends the rounds) and the status poller
// start on first use and stop with Close; the rounds run on goroutines of
// their own. Everything else runs on the caller's goroutine.
package query
