// Package node is one member of the ordering service, whole: the orderer
// (ledger/orderer: SmartBFT, GBA_TX ingestion, block log, transaction index,
// sync), the license state (ledger/licenses), the license catalogue,
// license-proof publishing with its crash mark and backfill, fresh proofs,
// transaction lookups and commit waits, the ledger query service
// (ledger/query) on gba.query.<name>, operator metrics, and health.
//
// `baybus up` (through internal/system) and `baybus orderer` both build
// their orderers with Open and one Config, so the two deployments run the
// same node with the same defaults (EngineDefaults says why they are what
// they are).
//
// # Contract
//
//   - Open opens the stores in DataDir (blocks/, engine/, index/, state/,
//     catalog/, proofs.mark). The orderer replays into the state the blocks
//     a crash took from it; the catalogue, derived like the index, is
//     caught up from the block log by its follower once the node starts,
//     and rebuilt if it is ahead of the block log. Nothing touches the
//     network but the proof publisher's backfill, which queues what the
//     last run left unpublished (see below) and publishes once started.
//   - Start joins the cluster (the orderer first catches up from its
//     peers), then serves queries. Stop (or the end of Start's context)
//     leaves the cluster and closes the stores; a stopped node is not
//     started again: Open a new one on the same DataDir.
//   - A commit, on the orderer's commit path: block log append and fsync,
//     state, index, then the node's hook (the block's tree kept for the
//     query service; with Config.Proofs.Publish the block's proofs, built
//     synchronously, as the state must be read at exactly that height, and
//     queued), acknowledgements, waiters, and finally Node.committed, which
//     records metrics and hands the block, with its state updates, to the
//     catalogue without blocking.
//   - Fresh proofs (LatestProof, the query service, the backfill) go
//     through one proof.Prover whose proof.BlockCache keeps recent blocks
//     with their Merkle trees (Config.ProofCacheBytes): a license's proof
//     reads its block once while it is cached, not once per license, and a
//     block many ask for at once is read once. The proof hook leaves each
//     block it proves there. Every node also keeps, from its commit path
//     and before the block's waiters wake, the transaction tree and results
//     of its newest blocks (BlockCache.KeepTree), so the query service
//     places a new transaction (a commit wait) without reading its block.
//   - The proof mark (proofs.mark) is the height through which every
//     block's proofs are stored by GBA_PROOFS or counted lost. On Open a
//     publisher resumes from it: for every height above the mark it
//     publishes a fresh proof of each license whose last change up to the
//     height at Open is at that height (so each license once, and nothing
//     remembered across heights), checking for a stop between licenses.
//     Its memory is the block cache, one block's keys and the bounded
//     publish queue.
//   - Faults. A node whose orderer fails (ledger/orderer: a write that
//     fails, a disk short of MinFreeDisk, damage the scrub found) stops by
//     itself: Done is closed and Err says why. Keep runs a node under a
//     Keeper, which opens it again from its data directory after a
//     back-off (for a full disk, once there is room again), so `baybus up`
//     and `baybus orderer` recover by themselves and one orderer's fault
//     never stops another in the same process. Open repairs a damaged block
//     log (ledger/orderer) and rebuilds a license state that is ahead of
//     the log from the log; the catalogue and the index are rebuilt the
//     same way.
//   - Archive (Config.Archive): with an object store, one goroutine
//     moves the blocks more than KeepBlocks below the top to it every
//     Every (blocklog.Store.Archive, ledger/archive), while the orderer
//     appends; every read of the block log (proofs, sync, the catalogue,
//     rebuilding the index or the state) falls back to the archive below
//     the live log. Open lists the archive before the orderer opens its
//     log, which must continue it.
//   - Join prepares a new data directory from a state snapshot and a copy
//     of a peer's archive (issue 17 §5): the node then opens with its
//     state at the snapshot's height and its log continuing the archive,
//     indexes the archive's blocks and replays only those above the
//     snapshot.
//   - Every answer the node gives about its chain comes from its own
//     fsynced block log and the state and index derived from it; a fresh
//     proof is verified against the trust bundle before it leaves
//     (LatestProof).
//
// # Goroutines
//
//   - The orderer's own (engine, ingestion, transport, sync, gba.blocks
//     publishing): see ledger/orderer. Its commit path runs the proof hook
//     and Node.committed.
//   - The proof publisher's goroutines publish from its queue; its
//     backfill runs on one goroutine of its own from Open until done or
//     Stop.
//   - The catalogue's follower (one goroutine) owns every write to the
//     catalogue: it takes blocks from the commit path's feed, or reads them
//     from the block log when the feed dropped them or after a restart.
//   - The query server: a subscription goroutine, a pool of workers, and
//     a goroutine per held commit wait (ledger/query).
//   - A Keeper owns one goroutine, which waits for its node to stop and
//     opens it again; OnStart is called on it.
//   - The archiver (one goroutine, with Config.Archive) owns every
//     archiving of the node's block log.
//   - The observer (one goroutine) samples the GBA_TX consumer's lag, the
//     cluster's height on gba.blocks and the stores' sizes every
//     Config.ObserveEvery; Ready and the metrics read what it keeps.
//
// Stop stops the query server, the backfill, the orderer, then waits for
// the follower and the observer before it closes the stores.
package node
