// Package replica is the pure half of a baybus orderer: the SmartBFT
// application callbacks (assemble, verify, sign, the request inspector)
// and the commit path (decision to record, block log, state, index) over
// small interfaces its driver supplies: BlockLog, State, Index, Batches and
// Clock. It starts no goroutine, opens no file or socket, and never waits:
// in the manner of etcd-io/raft, the algorithm is computation and the
// driver (ledger/orderer) owns JetStream ingestion, the NATS transport,
// block sync, batch fetching, timers and goroutines.
//
// # Contract
//
//   - Inputs. The engine calls AssembleProposal, VerifyProposal,
//     VerifyRequest, VerifyConsenterSig, VerifySignature, SignProposal and
//     Sign; they read the log, the index, the state and the batches the
//     driver holds, and return at once. A proposal naming a batch the
//     driver does not hold fails with a *MissingError (ErrBatchMissing):
//     the driver fetches such batches before it hands a proposal to the
//     engine (ledger/orderer's gate), so verification stays fast.
//   - Decide. The driver's Deliver calls Decide with the engine's decision:
//     it returns the block to commit with a quorum certificate of valid
//     votes only (block.ErrQuorum without a quorum), nothing for a block
//     already held (ErrFork if the held one differs), ErrGap for one past
//     the next height (the driver syncs the gap) and a *MissingError for a
//     decided block naming batches not held (the driver fetches them, or
//     the block).
//   - Commit. Persist before you act: Commit appends the record to the
//     block log (fsynced when Append returns), then commits the state, then
//     the index; only then does the driver acknowledge, publish and wake
//     waiters. The log is the truth: a crash between any two steps leaves
//     the state and the index at or below the log's height, and Recover
//     replays them (block.Verify, then commit) on the next start. A state
//     above the log is a *StateAheadError for its owner to rebuild.
//   - Sync. A block fetched from a peer, after blocklog.VerifyRecord's
//     stateless checks, is replayed by VerifySynced and committed by
//     Commit like a decided one.
//   - Configuration (schemas/config, docs/governance.md). Every callback
//     judges by the configuration in force at the next height: the
//     genesis (Config.Trust) followed along the configuration blocks
//     (Config.History, rebuilt from the log by LoadHistory at start; Commit
//     extends it with each configuration block, before the append, so the
//     new height is never judged by the old configuration). A
//     configuration request (ConfigRequest, client ConfigClient) is
//     checked by VerifyRequest and sealed alone by AssembleProposal, ahead
//     of any batches (which stay in the pool); its proposal carries the
//     block whole. RecoverHistory replays each block under its own
//     configuration.
//
// # Signatures inside the engine
//
// A commit signature's Value is the orderer's block vote over the
// domain-separated header hash (the quorum certificate's entry); its Msg is
// a blocklog.VoteMsg holding the key id and the engine's auxiliary data
// with a signature of its own. Sign (view-change data) uses SignPlain.
// Each signed message starts with its own tag, so no signature can be
// replayed as another kind.
//
// # Goroutines
//
// The replica has none. The engine calls the verifier from several of its
// goroutines at once (votes are checked in parallel): the replica reads
// the stores, which must be safe for concurrent reads, and keeps the last
// proposal under its own mutex. Commit and Decide run under the driver's
// commit lock, one block at a time.
//
// # Tests and what is deterministic
//
// The tests drive replicas three ways, each with a seed printed on failure
// and accepted by -seed:
//
//   - Rounds without an engine (replica_test.go): a leader assembles, every
//     member verifies, votes, decides and commits. Fully deterministic: the
//     keys, batches and block timestamps derive from the seed and a fixed
//     clock, so a seed gives the same chain byte for byte.
//   - A crash at every write of the commit path (crash_test.go), before the
//     write reaches its store and after, with the state and index kept,
//     the index lost, or both lost; the restart recovers and the chain,
//     state and index end as without a crash. Fully deterministic.
//   - SmartBFT itself over a simulated network (sim_test.go): an in-memory
//     transport that drops, delays (and so reorders) and duplicates
//     messages, a leader that equivocates (another valid block for the
//     same sequence to one follower per proposal), and a fake clock that
//     drives the engine's scheduler and view-change tickers and the
//     message delays; it moves a tick when every delivered message has
//     been taken in (or every 20 ms). The test's driver does what
//     ledger/orderer's does: Deliver around Decide, Sync and a lag watch
//     from the other members' logs, and stale requests out of the pool. The seed fixes the keys, the batches and each
//     fault decision's random stream; it cannot fix the interleaving,
//     because SmartBFT runs goroutines of its own and its request timers
//     (forward, complain, auto-remove), its batcher's interval and its
//     state collector use the real clock. A seed therefore reproduces the
//     fault pattern and usually the run, not the exact schedule. What the
//     simulation asserts holds on every schedule: honest replicas never
//     hold different blocks at one height, and all of them reach the
//     target height.
package replica
