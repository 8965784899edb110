// Package natsserver runs nats-server with JetStream inside a baybus
// process: one server for `baybus up` and the tests, a routed cluster, or
// one member of a supercluster (clusters joined by NATS gateways, with
// JetStream placement tags), as `baybus nats` runs it for the multi-process
// deployment (internal/deploy).
//
// ServerConfig renders one server's configuration text: the GBA account
// with every bus identity and its least-privilege permissions
// (schemas/bus), the system account, JetStream's store, and optionally the
// cluster routes, the gateway to other clusters, placement tags and the
// monitoring port. The same text is what `baybus nats --config` reads
// from a file, so an embedded server and a server process differ only in
// who starts them.
//
// # Contract
//
// StartServer (and Start, for options read from a file) fails fast: every
// listener with a fixed port is opened and closed first (CheckListeners),
// so a busy port is a *ListenError naming the listener before the store
// directory is touched, and any other fatal error the server logs while
// starting is returned at once wrapped in ErrStart, with the server's own
// reason, instead of a wait for readiness that never comes. A clustered
// server is returned once it takes clients, which is before its routes,
// gateways and JetStream meta leader are up: callers that need JetStream
// wait for it (bus.WaitJetStream).
//
// Everything that leaves the host is TLS: a client, cluster, gateway or
// monitoring listener bound beyond loopback needs ServerConfig.TLS
// (ConsortiumTLS issues the certificate from the consortium CA; an
// operator may name its own files) or an explicit Insecure, else Config
// fails with ErrPlaintext. Loopback and in-process servers need neither.
// With TLS the client port requires a client certificate from the CA
// unless TLS.ClientCertsOptional, routes and gateways verify both ways,
// and monitoring is https. In-process connections (Embedded.Connect)
// never use TLS.
//
// Leaderless and RecreateStream are the operator's check and step for a
// stream whose replicas cannot elect a leader (after a kill -9 of its
// whole cluster each replica may wait for a leader to catch it up:
// docs/faults.md): the stream is deleted and created again, losing what it
// held, which the gateways' outboxes publish again.
//
// # Goroutines
//
// The server runs its own goroutines from Start until Shutdown, which waits
// for them. Embedded.Connect's connections are in-process and belong to
// the caller.
package natsserver
