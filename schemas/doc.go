// Package schemas holds baybus's canonical records: the city registry, the
// event and transaction envelopes, the license, certificate and approval
// records, their versioned JSON Schemas, the canonical byte encoding that is
// hashed and signed, and the binary frame of a signed batch.
//
// Everything here is pure: no I/O beyond the embedded schema files, no clocks,
// no randomness. See README.md in this folder for the encoding rules.
package schemas
