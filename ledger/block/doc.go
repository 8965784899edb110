// Package block is the pure core of the ordering service: the block header
// and its hash, the binary block encoding, the quorum certificate, and the
// deterministic rules that turn a list of signed batches into a block.
//
// Assemble (the proposer) and Verify (every other orderer) run the same
// function, check, over the parent header, the batches, the chain's dedup
// index and the license state, so a follower refuses any proposal whose
// results, roots or counts differ from what it computes itself.
//
// # Contract
//
// Everything here is a function of its arguments: no clock, no I/O, no
// goroutines. Assemble and Verify read the chain index and the license
// state as of the parent block (Chain, State) and return the state
// updates; the caller commits them (and the block) only after the block is
// sealed. Two orderers with the same parent, batches, index and state
// compute the same block bit for bit, on every platform: a rule that
// depended on anything else (a clock, a map's order, a library version
// that judges differently) would split the chain. Checks is the one
// shared, mutable thing: a cache that is safe for concurrent use and never
// changes an answer.
//
// # What a block commits to
//
// A block keeps every batch whole (its frame and city signature), because the
// batch signature is what proves each transaction's authorship. Each
// transaction gets a Result: OK, Duplicate (already on the chain, or earlier in
// this block), Invalid (well signed but not a valid transaction) or Rejected
// (a valid transaction the license does not allow). Under rules version 2 an
// Invalid or Rejected result carries its Reason in the result byte's high
// bits (Result.Reason), so the reason is in the results the header hashes,
// in the block, and in whatever keeps a transaction's result (the node's
// index, Lookup, the gateway's wait=commit answer). The header holds:
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
//
// # Rules versions
//
// The rules a chain is sealed under are fixed when it is created: its trust
// bundle's "rules" (keys.Bundle.Rules, RulesOf; absent means 1), and every
// header says them (Header.Rules: version 1 headers are encoded "GBH1" as
// they always were, later ones "GBH2" with the version). Assemble writes the
// chain's version, and Verify and VerifyStored refuse a header of another,
// so a block is always checked, replayed and proved by the rules it was
// sealed under: chains made before versions existed keep verifying, and
// keep their rules. A chain does not change version in place (the state of
// version 1 does not record who holds a license).
//
// Rules version 1 (RulesOf of a bundle without "rules"): a structural
// record check (checkTx1: canonical bytes, envelope against the batch and
// the city registry, a record id, a known kind and action); the status by
// schemas.StatusAfter; any city may act on any license of its jurisdiction,
// and an issue of a license that exists replaces it.
//
// Rules version 2 (new consortia):
//
//   - Every check the gateway makes is a ledger rule (checkTx2): canonical
//     bytes holding no empty value (schemas.HasEmptyValue: so they are the
//     encoding of the fields they decode to); schemas.CheckTx (every
//     JSON Schema rule, calendar dates, clean text in NFC, a handover's
//     city); the identifiers' check characters (bridge/ids, for issue and
//     amend, as the gateway checks them). A batch published straight to
//     the bus gets the same verdicts: Invalid with ReasonMalformed,
//     ReasonEnvelope, ReasonSchema, ReasonIdentifier, ReasonText,
//     ReasonNotNFC or ReasonHandoverTarget.
//   - Only the city that holds a license changes it (apply2): its issuer,
//     or the city it was last handed over to. Anything else by another
//     city is Rejected, ReasonNotIssuer. A city of another jurisdiction
//     cannot even name the license (its transactions are keyed in its own
//     jurisdiction).
//   - A handover (schemas.ActionHandover) is signed by the holder and names
//     the next holder, a city of the same jurisdiction; it changes neither
//     status nor record. The receiving city's consent is its
//     administration's business, off the ledger; it can hand the license
//     back.
//   - Issue only of a license the ledger does not hold (else ReasonExists:
//     amend it); any other action on one it does not hold is
//     ReasonNotFound; nothing after revocation (ReasonRevoked); otherwise
//     the status moves as under version 1 (schemas.StatusAfter; a suspend
//     of a license that is not valid is ReasonStatus).
//   - Status as of a time: the state keeps each license's holder and the
//     last day of its record's validity (License.Owner, ValidTo; the state
//     leaf's version 2), so a license whose validity ended before a
//     block's timestamp is expired as of that block (schemas.EffectiveStatus,
//     GBA time) with no event: in the state as readers see it, and in
//     proofs. Expiry is a reading of the status at a time, not a
//     transition: an amend with a new validity renews the license.
//
// Rules version 3 (new consortia made by `baybus keys init` and `up`;
// sharing under the owner's control, issue 15):
//
//   - Personal fields travel only as salted digests (schemas/disclose):
//     the record check is schemas.CheckTx3, which refuses a personal
//     field in plaintext, a digest where no personal field is, and
//     judges the rest as version 2 does, each hidden field counted as
//     present (Invalid, ReasonPersonal). Identifiers are checked where
//     they are visible; a hidden identity number was checked by the
//     gateway that committed to it.
//   - Every leaf names what its key holds (License.Kind, the state
//     leaf's version 3): a license's kind, a grant, an access record.
//   - A grant (schemas.KindShareGrant) is a license of its own, keyed
//     "grant/<city>/<id>": issued once by the owner city, revoked by it,
//     expired after its window (the record's validity), its terms in its
//     leaf (License.Terms), with a count of the requests answered under
//     it (License.Uses). A grant to a reader the trust bundle does not
//     name is Invalid (ReasonReader).
//   - An access record (schemas.KindShareAccess), keyed
//     "access/<city>/<id>" with the id of the reader's request, carries
//     the reader's signed request. The signature must verify with a key
//     of that reader valid at the block's height (ReasonSignature; the
//     signature is checked once per batch, the key's validity at each
//     height), and only the city asked records it. A refusal always takes
//     effect; an answer only if the grant it names, at the block's time,
//     is the reader's, in force (not revoked, within its window), covers
//     the request's purpose, kind, fields or matching, the license asked
//     for is held by the city and of the kind asked, and the limit is not
//     reached: then it counts one use of the grant (a second key it
//     changes: schemas.Tx.StateKeys). Otherwise Rejected with the reason
//     the gateway records the refusal under (ReasonNoGrant ...
//     ReasonWrongKind, named as schemas.Refusal). A request replayed is
//     the same access record: Rejected, ReasonExists.
//
// The grant and reader checks read the trust bundle's readers and their
// keys: every orderer must hold the same readers before a block uses
// them (a reader added or rotated is given a validFrom height ahead of
// the chain).
//
// # Configuration blocks
//
// A configuration transaction (schemas/config: the whole next trust
// bundle and the signatures that authorise it) is sealed alone in its
// block (Input.Config, Block.Config; encoded "GBC1"): no batches, no
// results, its id (config.ID) the one leaf under TxRoot, TxCount 1, the
// state unchanged. The header is an ordinary header, so everything that
// reads headers, certificates and hash links reads a configuration block
// as it reads any other. The block at height H is assembled, verified
// and certified under the configuration in force at H, and its
// transaction must pass config.Check there; the configuration it makes is
// in force from H+1 (NextTrust). Configuration blocks are not a new rules
// version: a chain of any version may hold them, since none held one
// before (an older build refuses the "GBC1" block as malformed rather
// than misreading it), and config.Check keeps the chain's rules version.
//
// FollowConfig is the verifier's side: from the genesis trust and the
// configuration blocks (ConfigLink: header, certificate, transaction;
// EncodeConfigChain is its file), each certified by the configuration
// before it, it rebuilds the bundle in force at any height.
//
// The timestamp is the proposer's clock, never below the parent's. Under
// rules version 2 it decides what proofs of the block show as expired, so
// a follower should also refuse a proposal stamped too far ahead of its
// own clock (CheckTimestamp).
//
// What the version 2 rules accept depends on schemas.CheckTx, the embedded
// JSON Schemas and bridge/ids (its check algorithms and its USCC
// allow-list): a change there that judges a transaction differently needs
// a new rules version, or replay of old blocks would disagree with them.
package block
