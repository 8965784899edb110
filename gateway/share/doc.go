// Package share is the gateway's half of data sharing under the owner's
// control (issue 15), on chains of rules version 3: the city's store of
// personal data, the redaction of every record it publishes, grants, and
// the answers to readers' requests, each recorded on the ledger before it
// is given; and the reader's half: signing requests, opening answers and
// checking what was read.
//
// # The city's store (Store)
//
// Every record a city publishes commits to its personal fields by salted
// digests (schemas/disclose). The disclosures, that is the salts and the
// plaintext, stay with the city, in its gateway's store: DataDir/share/
// disclosures, a pebble database backed up with the city's data (Backup
// writes a consistent copy while the gateway runs). Its records, all
// values JSON:
//
//	"s" | city                          the city's salt key: {"v":1,"key":"<base64, 32 bytes>"}
//	"d" | record tx id (32 bytes)       a record's disclosures: {"v":1,"city","key","kind",
//	                                    "tx":"<hex id>","items":[{"path","disclosure"}],
//	                                    "nativeFormat","nativeHash"}
//	"i" | identity number | 0x00 | key  a license whose record named the number
//	                                    (for matching): {"v":1,"kind","tx":"<hex id>"}
//
// Salts are derived from the city's salt key (disclose.KeyedSalter), so an
// event retried is the same transaction; the key is made once, at random,
// and kept beside the disclosures. Redact and Keep implement
// gateway.Redactor: Keep writes a request's disclosures in one synced
// batch before the gateway publishes any of it. The store never leaves the
// gateway: nothing of it is logged or served but a field disclosed under a
// grant, sealed to the reader.
//
// # The chain's share index (Index)
//
// Grants and access records are on the ledger; a gateway follows the chain
// through the orderers' query service (every header and transaction
// verified against the trust bundle) and keeps an index of them in
// DataDir/share/index: grants by city and by reader, access records by
// license, by reader and by owner city, in time order. It is derived data,
// rebuilt from the chain if lost; what the share routes answer from it is
// backed by proofs fetched from the ledger.
//
// # Requests and answers (Service)
//
// A reader signs a schemas.ShareRequest with its reader key and posts it
// with its reader credential. The owner's gateway checks the signature
// (the key of the trust bundle valid at the next block), the reader's
// credential, the time, and then the grant: one of the city's grants to
// the reader that covers the request, not revoked, in its window and under
// its limit as the index knows it (the index is caught up first only when
// it finds none: a grant may be younger than it). The index can lag only
// towards allowing; the orderers, who judge a granted access record
// against the grant at its block's time, are the authority: if they
// refuse it (a revocation or another gateway's answer came first) the
// gateway records the refusal they gave. It makes the access record,
// granted or refused with the reason, and waits until the orderers have
// sealed it, then fetches its proof (asking again while the orderer asked
// has not applied the block). Only then does it answer:
//
//   - disclose, granted: the fields asked for, each with its salt
//     (disclose.Item), of the record in force of the license, sealed with
//     HPKE (RFC 9180, X-Wing, keys.HPKEPublicKey) to the reader's HPKE key
//     in the trust bundle, the access record's transaction id as
//     additional data; with the proof of the access record and the fresh
//     proof of the license (public fields and digests);
//   - match, granted: yes or no in the access record itself (signed by the
//     city, sealed by a quorum), with its proof, and nothing else;
//   - refused: the reason, with the proof of the access record.
//
// The reader opens an answer (Open) with its HPKE private key, verifies
// both proofs, checks that each disclosed field is one the access record
// granted and hashes to the digest at its place in the sealed record, and
// renders the record in its jurisdiction. What it read it can prove to
// anyone holding the trust bundle (Opened, Check): the disclosures with
// the two proofs, no key needed.
//
// # The audit
//
// Every answer and every refusal is an access record on the ledger. The
// audit route lists them by license, reader or owner city and time, each
// with its proof: a city sees the reads of its own data, a reader its own
// reads (Service.Accesses; `baybus audit accesses`).
//
// # Contract and goroutines
//
// A Service is safe for concurrent use; requests run on the HTTP server's
// goroutines. The index's follower runs on one goroutine of its own from
// Start until Close, and is the only writer of the index. The store is
// written by Keep (the gateway's request goroutines, serialised by pebble)
// and read by the answers. Time comes from Config.Now, randomness from
// Config.Rand.
package share
