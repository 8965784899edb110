// Package disclose is the salted-digest commitment of personal fields
// (issue 15 §1): how a record is made to commit to each personal field
// separately, so that the bus, the blocks and every proof carry only
// digests, and the issuing city can later disclose one field to one reader
// with a proof that it is the field the ledger sealed.
//
// It follows SD-JWT (RFC 9901) closely:
//
//   - A disclosure is the JSON array [salt, name, value], written in the
//     canonical form of package schemas (RFC 8785), then base64url without
//     padding. The salt is 16 bytes (128 bits, as RFC 9901 §9.3 asks),
//     base64url without padding.
//   - Its digest is base64url (no padding) of SHA-256 over the ASCII of the
//     encoded disclosure: 43 characters.
//   - The object that held the field holds the digest instead, in its
//     "_sd" member (schemas.Record.SD, schemas.Party.SD).
//
// One difference, on purpose: "_sd" maps the member's name to its digest
// ({"idNumber": "…", "name": "…"}) instead of listing bare digests. Which
// fields are personal is public (schemas/classes.go), so hiding the names
// would hide nothing, and naming them lets the ledger check a record's
// shape (required fields present, every personal field hidden and nothing
// else) and lets a grant name the fields a reader may see. The disclosure
// still carries the name, so a disclosure of "name" never opens as
// "idNumber"; its place (the object whose "_sd" holds its digest) binds it
// to one party of one record.
//
// # Salts
//
// Salts come from a Salter. KeyedSalter derives each salt with HMAC-SHA256
// under a key the issuing city keeps (gateway/share keeps one per city),
// over the chain, the city, the event id, the field's path and its value:
// unpredictable without the key (so a low-entropy value such as an
// identity number cannot be guessed from its digest), and the same for the
// same event, so a retried event is the same transaction (its id is the
// hash of its bytes) and recorded once. Two records never share a salt,
// so the same person's digests do not link their records.
//
// # Contract
//
// Redact takes a transaction whose record is plaintext and returns a copy
// with every personal field (schemas.PersonalPaths) replaced by its digest,
// and the disclosures (Items) the issuer keeps. Open takes a redacted
// record and some Items and returns the record with those fields restored,
// checking each against the digest at its place: a changed value, a
// swapped salt, a disclosure at another place or of another name, or one
// given twice is refused (ErrDigest, ErrPlace, ErrDuplicate). Everything
// here is pure: no I/O, no clock; randomness only through the Salter.
package disclose
