// Package config is the consortium's configuration as transactions (issue
// 17 §1, §3): a configuration transaction carries the whole next
// configuration (a keys.Bundle: orderers, the keys of cities, orderers and
// readers with their validity heights, readers, the rules version) and the
// signatures that authorise it, and Check decides whether it may follow the
// configuration in force.
//
// # Contract
//
// Everything here is a pure function of its arguments: no clock, no I/O,
// no goroutines, no randomness (keys are made by the caller). Two
// orderers that check the same transaction under the same configuration at
// the same height reach the same verdict, on every platform, because the
// bytes signed and hashed are canonical (Encode, Digest) and the rule
// (Check) reads nothing else.
//
// A configuration transaction is sealed alone in its block, at height H,
// and is checked under the configuration in force at H (the one before
// it); the next configuration is in force from H+1. History keeps the
// genesis bundle and the configuration blocks in height order and answers
// which bundle is in force at any height (At): what an orderer recovers at
// start from its chain, and what a verifier rebuilds from a certified
// configuration chain (ledger/block.FollowConfig). A History is not safe
// for concurrent mutation; Apply is its owner's, and At may be read
// concurrently once the owner has stopped applying.
//
// # What Check requires
//
//   - Base: the Digest of the configuration in force. A proposal drafted
//     against an older configuration is stale (ErrStale), so two proposals
//     never both apply to the same base.
//   - The chain id and the rules version do not change (ErrChange). No
//     rules transition is defined: the state of version 1 does not record
//     who holds a license, the leaves of version 2 do not name their kind,
//     and a proof is judged by the rules its header names, so changing the
//     version of a chain in place would change what its old blocks mean.
//     A new rules version that is the honest continuation of an old chain
//     would add its transition here.
//   - Keys are never removed and never changed, but for the end of their
//     validity (ValidUntil), which may be set or lowered, never below H: a
//     block already sealed keeps its meaning, and every proof verifies
//     under the keys valid at its height, with the genesis trust and the
//     configuration chain. (The newest bundle alone still holds every key,
//     but judges an old certificate by today's orderers and quorum.) A revocation
//     "from height R" ends the key at R-1 (R > H). A new key counts from
//     a height above H. The same holds for readers' HPKE keys.
//   - An orderer in force keeps its consensus id (keys.Bundle.ConsensusID,
//     SmartBFT's name for it); a new orderer takes an id never given
//     before (at least the configuration in force's NextConsensusID), and
//     the next id never goes down, so a removed orderer's id is never
//     given again. The orderers' order in the list means nothing.
//     Every orderer of the next configuration has a key of role orderer
//     valid after H (ErrChange).
//   - Signatures (over ProposalHash, domain keys.PurposeConfig): each by a
//     key valid at H under the configuration in force, or by a key new in
//     the proposal (its proof of possession). A signature that does not
//     verify, by a key that is not valid at H (a revoked key), or by an
//     orderer the configuration in force does not list (a removed
//     orderer's vote) makes the transaction invalid: it is not merely
//     ignored, so a padded transaction is visible.
//   - A quorum (keys.Bundle.Quorum) of the orderers in force
//     (ErrTooFewSignatures).
//   - Every new signing key signed the proposal (ErrNoPossession).
//   - Every member whose keys or entry change (the members concerned)
//     signed with a key in force, or, for a member that cannot (a lost
//     key), a quorum of the others of its kind did (ErrNotAuthorized): for
//     a city or a reader, more than two thirds of the other cities; for an
//     orderer, a quorum of the other orderers. A member that is new signs
//     with its new key; an orderer removed need not sign. A city cannot
//     rotate another's key alone.
//
// # Encodings
//
// A transaction is JSON. Its canonical form (Encode: compact, the
// struct's member order, the next bundle compact) is what a block holds
// and what its id (ID) hashes; a proposal file may be indented (Parse),
// and DecodeCanonical refuses anything but the canonical form.
package config
