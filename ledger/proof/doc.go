// Package proof is baybus's license proof: a self-contained bundle that shows,
// to anyone holding only the consortium's trust bundle, that a license
// transaction was signed by its city, sealed in a quorum-certified block, and
// what the license's status was at a given height.
//
// A Bundle holds:
//
//   - the transaction's canonical bytes and id, its RFC 6962 path to the
//     root its city signed (the batch header, key id and signature), and its
//     RFC 6962 path to the TxRoot of the block that sealed it (leaf index,
//     tree size);
//   - optionally the same for the transaction that holds the record in force
//     (the last issue or amend), when the first transaction is a status
//     change that carries only the license id;
//   - every header those parts refer to, in binary with a decoded view, each
//     with its own quorum certificate (no header chain is needed);
//   - the state proof (ledger/state/smt) of the license's leaf under the
//     StateRoot of one of those headers: the status as of that height.
//
// A bundle made when a block commits (ForBlock) proves one transaction and
// the status right after that block. A fresh bundle (Latest) proves the
// license's last change and its status at the latest height; when the two
// heights differ it carries both headers, each checked against its own
// certificate.
//
// # Status as of a time
//
// The status a Verdict gives is the license's effective status at the
// state header's timestamp: the status the leaf records, or expired when
// the validity of the record in force ended before that time. Under rules
// version 2 the leaf holds the holder and the validity end (and the
// verifier checks the leaf's validity end against the record in force when
// the bundle carries it); under rules version 1 the validity end is read
// from the record, when the bundle shows it. Verdict.StatusAt tells the
// status at a later time as far as the bundle can (an ended validity), and
// Verdict.Time is the bundle's age: a suspension after it only a fresher
// bundle shows. Every header must be of the rules version the trust bundle
// names.
//
// # Purity and dependencies
//
// Building and verifying are pure functions over values: ForBlock takes a
// header, a certificate, a block and a function that proves a key; Latest
// reads through the small Source interface that the node (ledger/node)
// implements over its block log and state store. A Prover keeps the blocks
// it reads with their Merkle trees in a BlockCache (bounded in bytes), so
// the fresh proofs of many licenses of one block read and hash that block
// once; ForBlock can leave the block it proves there (Builder.Cache).
// The package imports schemas, schemas/keys, schemas/config,
// schemas/merkle, ledger/block and ledger/state/smt only: no NATS, no pebble, no server code (a test
// enforces it), so an offline verifier links little.
//
// # Verification
//
// Verify (cold) and Verifier.Verify (warm: a header and certificate
// already verified are not checked again, and a different header at a
// trusted height is a fork) run every check and return a Verdict or an *Error naming
// the check that failed (ErrRecord, ErrBatchPath, ErrBatchSignature,
// ErrTxPath, ErrHeader, ErrQuorum, ErrStateProof, ErrKeyNotValid, ErrFork,
// ErrFormat); every one matches ErrInvalid.
//
// A chain whose configuration changed (orderers added or removed, keys
// rotated or revoked: schemas/config) is verified under a
// config.History (VerifyChain, NewChainVerifier): the genesis trust and
// the configuration blocks, each certified by the configuration before
// it (block.FollowConfig). Each header's certificate and each batch's
// key are then judged by the bundle in force at its height. See README.md for the encodings
// and the list of checks.
package proof
