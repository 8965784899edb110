// Package bft adapts SmartBFT (github.com/hyperledger-labs/SmartBFT, the
// engine behind Hyperledger Fabric v3's BFT orderer) to baybus: the NATS
// transport with authenticated envelopes, the engine's write-ahead log on
// ledger/wal, and the engine's configuration. It knows nothing of blocks:
// ledger/replica supplies the application side that computes (assembler,
// verifier, signer, and the signature formats the engine carries), and
// ledger/orderer the side that waits (delivery, sync).
//
// The engine is SmartBFT v1.0.1 with five fixes of ours, built from
// third_party/smartbft through a replace in go.mod
// (third_party/smartbft/BAYBUS.md, docs/faults.md): a decision the
// controller received while it aborted the deciding view wedged it for
// good; and a view waiting for votes now sends its own prepare and commit
// again every ViewChangeResend, since this transport, core NATS, loses a
// message sent while a server dies or before a restarting peer subscribes
// (and a leader its pre-prepare to the peers that have not prepared it;
// Consensus.RequestSync lets the driver have a follower one decision
// behind sync); and a leader whose sync found its view as it was opens its
// batcher again instead of falling silent; and a complaint raised while
// a reconfiguration (an orderer added or removed) stops the controller no
// longer wedges the engine.
//
// # Transport
//
// Each orderer subscribes to core NATS subject gba.bft.<self>. SmartBFT's
// PrePrepare, Prepare, ViewChange and HeartBeat messages are not signed by
// the engine, so every message travels in an Envelope signed by the sending
// orderer's key under keys.Domain{chain, "bft-msg"}, naming sender and
// target. A receiver drops, and counts in Stats, every envelope that does
// not decode, is addressed to another orderer, names an unknown sender, is
// signed with a key that is not the named sender's (forged sender) or whose
// signature does not verify. Only then is the payload handed to the engine,
// with the sender's consensus id (keys.Bundle.ConsensusID).
//
// Messages larger than a NATS message (view changes and forwarded batches
// can be; proposals carry batch references, a few KB) are cut into chunks that are each signed, so the
// receiver buffers only authenticated bytes, one message in progress per
// sender. NATS keeps one connection's messages on one subject in order;
// a lost chunk drops its message, which the engine's retransmissions cover.
//
// Envelopes do not carry a view-independent nonce: a replayed envelope is an
// old, already authenticated engine message, which SmartBFT discards by view
// and sequence.
//
// # Engine WAL
//
// EngineWAL implements api.WriteAheadLog over a ledger/wal log (CRC-framed,
// fsynced appends). The engine persists each message before it acts on it;
// on restart the entries are handed back as consensus.Consensus's
// WALInitialContent, together with the last block's proposal, signatures and
// view metadata from the block log.
//
// # Signatures inside the engine
//
// The block votes and view-change signatures the engine carries are
// ledger/replica's (see its VerifyConsenterSig and SignPlain).
package bft
