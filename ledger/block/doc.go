// Package block is the pure core of the ordering service: the block header
// and its hash, the binary block encoding, the quorum certificate, and the
// deterministic rules that turn a list of signed batches into a block.
//
// Assemble (the proposer) and Verify (every other orderer) run the same
// function, check, over the parent header, the batches, the chain's dedup
// index and the license state, so a follower refuses any proposal whose
// results, roots or counts differ from what it computes itself.
//
// # What a block commits to
//
// A block keeps every batch whole (its frame and city signature), because the
// batch signature is what proves each transaction's authorship. Each
// transaction gets a Result: OK, Duplicate (already on the chain, or earlier in
// this block), Invalid (well signed but not a valid record: not canonical,
// wrong chain, city or jurisdiction, missing license id) or Rejected (a status
// change the license's current status does not allow, such as amending a
// license that was never issued or anything after revocation). The header
// holds:
//
//   - TxRoot: the RFC 6962 root over the leaf hashes (tx ids) of the
//     transactions whose Result is OK, in block order. Inclusion in TxRoot is
//     therefore proof that a transaction took effect, and a transaction is in
//     at most one block's TxRoot: "sealed exactly once" can be checked.
//   - ResultsHash: SHA-256 of the Result of every transaction of every batch.
//   - StateRoot: the authenticated license state after this block.
//
// A batch that is malformed, not signed by its city's key valid at this
// height, for another chain, or already on the chain makes the whole proposal
// invalid: honest proposers never include one.
package block
