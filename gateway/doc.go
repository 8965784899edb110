// Package gateway is a city's door to the bus: it authenticates each
// request (Config.Auth: tokens or client certificates, see gateway/auth),
// validates each event against the schemas and the city's bridge, binds it
// to the chain and the city as a canonical transaction, gathers
// transactions into signed batches and publishes them on gba.tx.<city>
// with Nats-Msg-Id = batch id. gateway/server runs it as a city deploys it
// alone; gateway/api is its protocol, gateway/client its Go client.
//
// # Receipts and durability
//
// A receipt with status "accepted" means the batch holding the transaction
// is stored by the bus (JetStream's file store, which fsyncs on its own
// interval) and, with an Outbox, kept by this gateway on its own disk
// (fsynced before the receipt) until the ledger has sealed it: JetStream
// may lose acknowledged writes in a crash, and the gateway then publishes
// the batch again (see keeper.go), so an accepted receipt survives a crash
// of the bus. With wait=commit the gateway answers only once the
// transaction is sealed in a block that a quorum of orderers fsynced:
// status "committed", with the height and the block hash.
//
// Publishing a kept batch again can put it on the bus after batches the
// city sent later; as for a leader change (see Order below), an event that
// depends on another is certain to follow it only with wait=commit.
//
// # Idempotency
//
// A transaction's id is the hash of its canonical bytes, so the same event
// retried has the same id. The gateway remembers recent ids and answers a
// retry with the first receipt (duplicate: true) without publishing again;
// a retry it no longer remembers is published again and the orderers record
// it once (the later copy gets the result "duplicate").
//
// # Order
//
// A city's batches are published one after another (BatchConfig.MaxInFlight
// 1), so the bus holds them in the order the city's events arrived, and the
// orderers, which read the stream in order and propose first-come first-
// served, seal them in that order. Across a leader change a later batch may
// still be sealed first; an event that depends on another (a suspension
// right after the issue) is certain to follow it only if the city waits for
// the first one's commit (wait=commit) before sending the second.
//
// # Backpressure
//
// Each city has a bounded queue and a bounded number of batches in flight.
// A full queue answers 429 with Retry-After; nothing is queued without bound.
//
// Upstream of the queues, a gateway with a Ledger holds a
// request while more than Config.MaxBacklog of the batches it published wait
// for a block, and answers 429 ledger_backlog if that lasts BacklogWait: a
// load the orderers cannot seal waits at the edge instead of piling up on the
// bus (where it cost memory, and finality grew without bound).
package gateway
