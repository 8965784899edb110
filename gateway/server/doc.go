// Package server runs a gateway as a city deploys it alone: each city it
// serves connected to an external bus (a NATS server or cluster) with its
// own credentials and signing key, the orderers reached through their
// query service (ledger/query: wait=commit, /v1/tx, proofs, the backlog
// limit) with an outbox of unsealed batches (gateway/outbox), an HTTP
// listener bounded in time and connections, TLS beyond loopback, every
// request authenticated (tokens from the token file, or client
// certificates from the consortium CA), metrics, and readiness that names
// the chain and the node.
//
// `baybus gateway` is flags around Start; `baybus up` can build its HTTP
// side from the same pieces (NewHTTPServer, IsLoopback, Config.Connect for
// in-process connections).
//
// # Contract
//
// Start opens the listener before anything else, so a busy port is a
// *ListenError at once, and refuses an insecure set-up (plaintext, or no
// authentication, beyond loopback) with ErrInsecure unless told
// explicitly. Once Start returns, the gateway serves until Shutdown, which
// stops taking requests, waits for those in flight, flushes every city's
// queued batches and closes the bus connections.
//
// /readyz fails while a city's bus connection is down or its server does
// not answer a round trip (no JetStream API call is made: a city's
// identity needs none), or while a city's publishes fail (see gateway).
//
// # Goroutines
//
// Start runs the HTTP server in one goroutine, which Shutdown waits for;
// the gateway owns its batchers' and its keeper's goroutines, the query
// client its wait loop and status poller, NATS its connections'. Shutdown
// closes them in reverse order of Start: HTTP, gateway, outbox, query
// client, connections.
package server
