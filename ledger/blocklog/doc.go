// Package blocklog is the block log: what an orderer keeps of every block
// it seals, one Record per block on ledger/wal (CRC-32C framed, fsynced per
// append), record index = block height; and the one check every reader of
// a record applies, VerifyRecord.
//
// # Contract
//
//   - A Record holds the header, the quorum certificate, each vote's
//     SmartBFT message (VoteMsg: key id, the engine's auxiliary data and its
//     signature, needed to restart the engine) and the block exactly as it
//     was agreed.
//   - Store.Append writes the next height only, linked to the last header
//     by hash; it returns once the record is fsynced. Reads may run
//     alongside one appender. OpenStore cuts a torn last record (ledger/wal)
//     and refuses a corrupt one with wal.ErrCorrupt.
//   - Links is the hash-chain rule every reader applies.
//   - VerifyRecord is the stateless check of one record, received from a
//     peer or read from a log: header, hash link, batch signatures, results
//     hash, transaction root, quorum certificate, vote messages and
//     consensus metadata (ViewMetadata, read with protowire). The orderer's
//     sync, ledger/blocksync's client, ledger/audit and ledger/reconcile all
//     use it; what needs the license state is block.Verify's.
//   - Archiving (OpenStoreCold, Store.Archive): the blocks below a height
//     move to a Cold store (ledger/archive: a directory or an S3-compatible
//     bucket) in pieces, and only then are cut from the live log, which
//     always keeps its last block. Every read of the Store (Raw, Record,
//     Header, Scan) falls back to the archive below the live log's first
//     height. Open checks that the archive's last block is the live log's
//     parent; a gap between them is ErrArchive. OpenReaderCold does the
//     same for the read-only Reader (verify-chain over an archived log).
//     ContinueArchive starts an empty log that continues an archive (an
//     orderer joining from a snapshot): the Store's height is then the
//     archive's.
//   - Reader reads a stopped orderer's log in place and writes nothing
//     (wal.OpenReader): a torn tail is reported, not cut.
//
// # Concurrency
//
// Store's methods are safe for concurrent use; appends are serialised by
// the caller (the orderer's commit path). A Reader keeps no file open and
// is safe for concurrent use. VerifyRecord is a pure function.
//
// Offline readers (verify-chain, reconcile --data, proofs) use this package
// without the orderer: it links neither NATS nor SmartBFT (a test pins
// this).
package blocklog
