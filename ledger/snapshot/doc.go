// Package snapshot writes and restores state snapshots: the license state
// of an orderer as of a certified block, so that an orderer joins, or
// recovers, from the snapshot plus the blocks above it instead of
// replaying the chain from block 1 (issue 17 §5).
//
// # Contract
//
//   - A snapshot is one file, named by its content: the hex SHA-256 of
//     its bytes (before the trailer, which repeats the hash) and Ext. It
//     holds the block record of its height (header, quorum certificate,
//     vote messages and the block: what the joining orderer's log starts
//     from), the ConfigHash of the consortium configuration in force at
//     that height, and every license's leaf as of that height, in key
//     order (Write documents the layout).
//   - Restore checks before anything is used, and keeps nothing of a
//     snapshot it refuses: the content hashes to the file's name
//     (ErrDigest), the record verifies against the trust bundle as any
//     synced record does but for the link to its parent (ErrCertificate),
//     the trust bundle is the configuration the snapshot names
//     (ErrConfig), the layout and key order hold (ErrFormat), and the
//     leaves, loaded into a new state store (state.Store.Load), hash to
//     the certified header's state root (ErrRoot). The store is built
//     beside the target directory and renamed into place only then. So a
//     snapshot with any byte changed is refused, by its name, or, renamed
//     to its new hash, by the checks of its content.
//   - What a snapshot does not carry: the versions of each license before
//     its last change (a restored state answers GetAt below the snapshot
//     from the latest leaves only, so proofs as of earlier heights come
//     from nodes that hold the history), and the transaction index (which
//     transaction and batch ids the chain holds, for refusing a repeated
//     transaction). The index is derived from the blocks: a joining
//     orderer must rebuild it from the block archive (ledger/archive),
//     which the blocks above the snapshot then extend (ledger/node.Join
//     does: it copies a peer's archive, restores the snapshot and starts a
//     block log that continues the archive; the orderer then indexes the
//     archive's blocks and replays only those above the snapshot).
//     TestSnapshotRestoreThenApplyBlocksAbove shows the blocks above a
//     snapshot verifying with it, and a block that repeats a transaction
//     failing to verify without it.
//   - Write reads the state as of the snapshot's height (pebble snapshots
//     under state.Store.IterateAt), so it runs beside a live orderer.
//
// # Costs
//
// About 118 bytes per license on disk, read and written in one streaming
// pass, with memory bounded by one batch of 100,000 leaves. Measured on
// the 2-core machine while other tests ran (TestMeasureJoin): 100,000
// licenses in an 11.8 MB snapshot, written in 1.7 s, checked and
// restored in 3.9 s; a million in 118 MB, 5.6 s and 21.6 s (46,000
// licenses a second). See docs/storage.md.
//
// # Concurrency
//
// Functions are safe to call concurrently on distinct files and
// directories. Scan runs on the caller's goroutine; the state store's
// hashing uses its own workers.
//
// The package links neither NATS nor SmartBFT.
package snapshot
