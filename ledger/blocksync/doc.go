// Package blocksync is the one client and the one server of the gba.sync.<orderer>
// protocol: core NATS request/reply through which a lagging or restarted
// orderer fetches decided blocks from its peers, an orderer fetches the
// batches a proposal names that it has not received, and services
// (reconcile over the bus) read the chain.
//
// # Protocol
//
// Requests go to gba.sync.<peer> with a reply inbox:
//
//	status   "GSQ1" | 1 | from uint64 (0) | count uint32 (0)
//	blocks   "GSQ1" | 2 | from uint64 | count uint32
//	batches  an envelope (ledger/bft/envelope) of kind KindSyncReq, signed by
//	         the asking orderer and addressed to the peer, whose payload is
//	         "GSQ1" | 3 | uvarint n | n x bytes(batch id)
//
// Status and blocks requests are plain: anyone the bus lets publish there
// may read blocks, which are self-certifying. Batches not yet sealed are for
// the orderers only, so that request must be signed by one.
//
// Every reply message is signed by the orderer asked (envelopes of kind
// KindSyncResp, chunked like the consensus transport's). A status reply is
// one message "GSS1" | height uint64. A blocks reply is the records
// (blocklog.Record encoding) of the blocks the peer holds from `from` on,
// one message each, at most count and MaxReplyBytes of them, then an empty
// message. A batches reply is the frames (schemas.Batch) of the batches the
// peer holds, then an empty message.
//
// # Contract
//
//   - The client trusts nothing but signatures. Every reply must be signed
//     by the orderer asked; Records checks that records come at consecutive
//     heights; Blocks hands its caller only records blocklog.VerifyRecord
//     accepts against the one before; Batches only batches that are exactly
//     the ones referenced (block.RefOf). What needs state (block.Verify, the
//     ingestion checks of a batch) and what to commit stay with the caller.
//   - The client knows nothing of the engine: which peer to ask and when
//     (the orderer's catch-up policy) is the caller's.
//   - The server reads from a Store (a *blocklog.Store) and a Batches
//     lookup; it writes nothing.
//
// # Goroutines
//
// The server's handler runs on the NATS subscription's goroutine, one
// request at a time, and owns the reply message counter; Stop unsubscribes
// and waits for the request in progress, so the caller may close the store
// once Stop returns. Client methods may be called from any goroutine. A
// client has one reply subscription (<inbox>.*, made at its first request,
// ended by Close or by the connection's close); its handler, on the
// subscription's goroutine, files each message under the request whose
// random reply token it carries, in a queue bounded as a request's reply
// is (MaxReplyBytes and 8 MiB, 65,536 messages; past that the request
// fails as a slow consumer), and drops what no request waits for. The
// calling goroutine reads its request's queue. Heights asks peers in
// parallel goroutines and waits for them all.
//
// The package links nats.go, but neither nats-server nor SmartBFT, so that
// offline tools (reconcile) can use it.
package blocksync
