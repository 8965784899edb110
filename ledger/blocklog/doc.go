// Package blocklog is the block log: what an orderer keeps of every block
// it seals, one Record per block on ledger/wal (CRC-32C framed, fsynced per
// append), record index = block height.
//
// # Contract
//
//   - A Record holds the header, the quorum certificate, each vote's
//     SmartBFT message (VoteMsg: key id, the engine's auxiliary data and its
//     signature, needed to restart the engine) and the block exactly as it
//     was agreed.
//   - Store.Append writes the next height only, linked to the last header
//     by hash; it returns once the record is fsynced. Reads may run
//     alongside one appender.
//   - Links is the hash-chain rule every reader applies.
//
// Offline readers (verify-chain, reconcile --data, proofs) use this package
// without the orderer: it links neither NATS nor SmartBFT's engine.
package blocklog
