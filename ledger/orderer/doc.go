// Package orderer is a baybus ordering node: SmartBFT consensus among the
// consortium's orderers over NATS, sealing the cities' signed batches into
// hash-chained, quorum-certified blocks kept in a CRC-framed write-ahead log.
//
// # The loop
//
//  1. Ingestion. Every orderer reads the whole JetStream stream GBA_TX
//     through its own durable consumer "orderer-<name>". A batch that is not
//     a well-formed batch signed by the city of its subject is terminated and
//     counted; one already on the chain is acknowledged; any other is
//     submitted to the engine as a request (request id = batch id, client id
//     = city). Every orderer holds every batch, so a leader that leaves one
//     out is caught by SmartBFT's request timers: followers forward it, then
//     complain, and a view change replaces the leader.
//  2. Proposal. The leader's engine cuts a batch of requests (count, bytes,
//     interval: see bft.Options) and the assembler builds the block on top of
//     the leader's last block with block.Assemble. The proposal carries the
//     block's references (block.Refs: header, results, and each batch's
//     city, id and signature hash), not its batches: every orderer already
//     holds them.
//  3. Verification. The SmartBFT callbacks (assemble, verify, sign) and the
//     commit path are ledger/replica's, pure and fast over this node's
//     stores; everything that waits is here. A proposal that names a batch
//     this orderer does not hold yet is held back by the gate (gate.go)
//     until the batch arrives from its own consumer or, after an eighth of
//     Config.BatchWait, from its peers on gba.sync.<peer> (fetch.go,
//     through ledger/blocksync: only the exact batch referenced, passing
//     the ingestion checks, is taken), up to BatchWait in all; only then
//     does the engine see it. The replica recomputes the block with
//     block.Verify over its own chain index and state, and checks that the
//     engine's sequence is the block's height and the proposal's header
//     and metadata are the block's. A proposal that differs, or still
//     names a batch not held, is refused and the leader complained about.
//  4. Votes. An orderer's commit signature is its block vote over the
//     domain-separated header hash (block.SignVote).
//  5. Delivery. With a quorum of votes the engine delivers (replica.Decide
//     builds the record; the driver first syncs a gap or fetches batches
//     the block names and this orderer lacks): the block and its
//     quorum certificate are appended to the block log and fsynced, the state
//     and the transaction index are updated, the block's JetStream messages
//     are acknowledged, the header and certificate are published on
//     gba.blocks, and local waiters (WaitTx, WaitHeight) wake. A commit
//     receipt therefore means "sealed in a block that this orderer has
//     fsynced and a quorum of orderers signed".
//  6. Sync. A lagging or restarted orderer asks its peers for their heights
//     on gba.sync.<peer> (ledger/blocksync, which also serves this
//     orderer's blocks and unsealed batches to its peers), targets the
//     (f+1)-th highest, fetches the missing records and commits each only
//     after the stateless checks (blocklog.VerifyRecord: certificate, hash
//     link, vote messages, consensus metadata) and a full replay
//     (block.Verify). The engine calls this through its Synchronizer, on
//     start and whenever it finds itself behind.
//  7. Restart. New checks the block log's tail link, catches the index up
//     from the log and replays to the state any blocks it has not committed
//     (so memory and start-up time do not grow with the chain). Start
//     subscribes to its consensus subject first (gate.go holds what arrives
//     until the engine runs), catches up from its peers, then hands the
//     engine its WAL entries and the last block's proposal, signatures and
//     view metadata. A leader whose WAL holds a proposal in flight sends
//     its pre-prepare again (restored.go): after a whole-cluster crash the
//     followers that never received it could not vote otherwise. The
//     GBA_TX consumer is created in the background from the start of Start
//     (bus.Retry, up to 30 s), and pulling begins once the engine runs:
//     after a whole-deployment restart the catch-up from the peers runs
//     while JetStream elects its leaders, not after.
//  8. View changes. The gate between the transport and the engine keeps a
//     copy of every proposal and vote of a view the engine has not started
//     yet and hands it in again once it has (SmartBFT drops them, and with
//     one orderer down every vote is needed), so sealing resumes within
//     about two heartbeat timeouts of a leader's death.
//
// # Configuration
//
// A configuration transaction (schemas/config, docs/governance.md) handed
// to SubmitConfig is checked under the configuration in force and
// submitted to the engine; the replica seals it alone, and from the next
// height everything here judges by the configuration in force at a
// height (n.rep.Trust, TrustAt): ingestion and fetch, sync (blocksync
// follows configuration blocks within a run), the replay at open. Open
// rebuilds the history from the configuration blocks the index names
// (key "c") and the log above the index. A configuration that adds or
// removes orderers reconfigures the engine at its block (members.go: the
// transport, the votes and the quorum follow the configuration in force);
// one that rotates the key of an orderer that stays is refused
// (replica.ErrEngineConfig): a node holds one key.
//
// # Faults
//
//   - Failure (fail.go). An error the orderer cannot continue from (a
//     block log or engine WAL write that fails, a decided block its own
//     state refuses, a disk short of Config.MinFreeDisk) stops this
//     orderer, never its process: from then on nothing the engine sends
//     leaves it, Deliver returns only as the node stops, the files are
//     closed, and Done and Err (wrapping ErrFailed and the cause, e.g.
//     ErrDiskFull) tell its owner (ledger/node's Keeper opens it again).
//   - Removal (members.go). A configuration block that leaves this
//     orderer out stops it once it is decided or synced, with Err
//     wrapping ErrRemoved (not ErrFailed: the Keeper does not open it
//     again). The other orderers' engines reconfigure at the same block.
//   - Disk. Before each block is written, and every DiskCheckEvery, the
//     free space of the data directory's file system is checked against
//     MinFreeDisk (default 256 MiB): below it the orderer fails before any
//     store meets a full disk (pebble cannot survive one).
//   - Repair (repair.go). A block log with a damaged record (found by Open
//     in the last segment, by a replay, or by the scrub) is renamed aside
//     as it is, written anew from the records before the damage, and the
//     rest is fetched from the peers; a state or index ahead of the log is
//     rebuilt (StateAheadError for the state, which the caller owns).
//     Start waits for the peers to bring the log up to the engine WAL's
//     sequence rather than dropping the WAL.
//   - Scrub (scrub.go). At Start and every ScrubEvery the whole log is read
//     for damage through a blocklog.Reader; damage is logged with its
//     height, counted (Stats.ScrubDamage), marked (RepairFile) and repaired
//     by failing the orderer into a restart.
//   - Lag (sync.go, watchLag). Every LagCheck the peers' heights are asked;
//     an orderer left behind while its engine waits (SmartBFT does not see
//     a follower one decision behind) fetches the blocks itself.
//
// # Block height and SmartBFT sequence
//
// Block h is SmartBFT decision sequence h: the first block is height 1, and
// the header's Consensus field is the engine's view metadata for it
// (checked on every proposal and every synced block).
//
// # What is kept where
//
//   - DataDir/blocks: the block log, one blocklog.Record per block (header, quorum
//     certificate, vote messages, block bytes), index = height.
//   - DataDir/engine: the SmartBFT write-ahead log.
//   - DataDir/index: the transaction, batch and header-hash index (pebble,
//     derived from the block log, written without fsync and caught up on
//     open).
//   - DataDir/blocks.damaged-<time>: a damaged block log as it was found,
//     kept by a repair for an operator (never deleted by the orderer);
//     DataDir/blocks.repair: the scrub's marker for the next open.
//   - The license state is the caller's StateMachine.
package orderer
