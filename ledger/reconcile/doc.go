// Package reconcile compares a city's register of record (millions of rows,
// in the native format of the city's jurisdiction) with the ledger, reports
// every difference, and can repair what the city's own register proves the
// ledger is missing or holds stale, by publishing ordinary transactions
// through the city's gateway. README.md documents the register formats, the
// report and the repair rules; `baybus reconcile` is the command.
//
// # The run
//
// Run goes through five phases, each streaming:
//
//  1. ledger: the block log (a stopped node's, read in place by
//     OpenBlockLog, over its archive by OpenBlockLogCold when its oldest
//     blocks were archived, or a running system's, fetched over the bus by
//     NewBusSource) is read block by block up to the height asked for. Each
//     block is checked (hash link, quorum certificate, batch signatures,
//     results hash, transaction root) on a pool of workers, and its OK
//     transactions of the city's jurisdiction are folded, in chain order,
//     with the orderers' own rule (schemas.StatusAfter) into a scratch
//     pebble index: per license, its status, the city of its last change,
//     and the record in force (the last issue or amend), by hash.
//  2. register: the register is read as a stream; on the workers each row
//     is canonicalised and hashed, and its license id, envelope and
//     registerStatus read (results kept in register order); it is written
//     to the index under (license, line) with its hash and its place in the
//     file. Rows that cannot be read are reported at once.
//  3. compare: both sides of the index are merged in license-key order.
//     On the workers, each row is settled against the ledger's entry: a
//     row whose canonical bytes are exactly those of the transaction that
//     put the record in force (or made the last change) is matched by the
//     transaction's native hash; any other row is read again from the
//     register and normalised through the bridge, which checks it in full.
//     In order again, each license's rows are folded into the register's
//     view of it, which judge compares with the ledger's, producing the
//     differences and the repair events.
//  4. details: the ledger records of the licenses whose fields differ are
//     read back from their blocks (only those blocks) and diffed field by
//     field.
//  5. repair (optional): the repair events are published through the
//     city's gateway, waiting for commit.
//
// # Memory
//
// Peak memory does not depend on the register's or the ledger's size: both
// sides live in the scratch index (pebble's cache and memtables, 32 MiB
// each by default), rows and blocks are in flight a bounded window at a
// time (about two per worker), and each phase holds one license (or one
// block's pending details) at a time. Disk use is about 250 bytes per
// ledger license of the jurisdiction plus 80 bytes per register row (plus
// the record, for rows whose record differs from the ledger's).
//
// # Concurrency
//
// Each phase is one ordered pipeline (pipeline.go): a producer goroutine
// reads (the source, the register, or the index through iterators, which
// are snapshots), workers compute on what they are handed and share
// nothing but the immutable preparer and the register's ReaderAt, and the
// sink, on Run's goroutine, owns the run's state and is the only writer of
// the index. Source implementations are used from one goroutine at a time.
// Meter may be read from any goroutine.
package reconcile
