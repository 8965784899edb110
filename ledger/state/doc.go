// Package state keeps the authenticated license state: for every license
// key (jurisdiction + license id, "CN/91440300MA5xxxxxxx") its latest leaf
// (status, record hash, height of the last change, transaction), in the
// sparse Merkle tree of package smt, whose root goes in every block header.
//
// # Contract
//
// The orderer calls Preview(h, updates) while assembling or verifying block
// h, and Apply(h, updates) once the block is sealed and its log record
// fsynced; Apply reuses the preview's work. Heights only go up: Apply at or
// below Height() fails with ErrHeight, so replaying the block log over a
// store that already holds a block is refused rather than applied twice. A
// block with no license changes need not be applied (the root carries over);
// the state's height is the last block applied. Apply writes the tree's
// pages, the new leaf versions and the new height and root in one synced
// pebble batch: after a crash the store is at the block before or at this
// one, never in between, and the caller re-applies from the block log.
// Status transitions are not checked here (see schemas.StatusAfter): the
// store records what the block decided.
//
// Load restores a state snapshot (ledger/snapshot) into an empty store:
// the leaves as they are, each with its own height, and the snapshot's
// height; the caller checks the root against the certified header. A
// restored store holds each license's latest leaf only, not the versions
// before it.
//
// verify-chain rebuilds the state by opening a scratch store (Options.NoSync
// in a temporary directory) and applying every block, comparing Root after
// each with the header's state root; smt.ComputeRoot does the same in memory
// for small sets.
//
// # Reads
//
// Get and GetAt read a license's leaf now or as of a height; Iterate and
// IterateAt stream the leaves under a key prefix ("HK/") in key order, from a
// snapshot, with memory that does not grow with the count. Prove returns the
// leaf and a membership proof, or a non-membership proof for a license the
// ledger never held; smt.VerifyProof checks it offline against a header's
// state root.
//
// # Layout on disk
//
//	"m"                                  meta: version, height, root, license count, cached levels
//	"n" | level | path prefix            tree page (see smt): 16 slots, current tree only
//	"h" | key | 0x00 | ^height (8 BE)    every version of every leaf, newest first:
//	                                     status code | record hash | transaction id
//	                                     [| holder | validity end], for the leaves that
//	                                     name their holder (rules version 2)
//	                                     [| kind | uses | terms], for the leaves that
//	                                     name their kind (rules version 3: licenses,
//	                                     grants with their uses and terms, access records)
//	"l" | key                            the newest version again, with its height:
//	                                     Get is a point read, and bloom filters
//	                                     answer most lookups of a key not held
//
// Version 1 stores lacked the "l" records; Open writes them (one batch) and
// marks the store version 2.
//
// Pages are addressed by position and overwritten in place: the tree keeps no
// old versions, so proofs are for the current root only. The top
// Options.CachedLevels levels of pages (5 by default) live in memory, decoded,
// and on disk keep only their shape (smt.ShapeOf: which slots are empty,
// leaves or pages, and the leaves), not the hashes of the pages below. A
// block rewrites every top page on its paths, but their shapes seldom
// change, so this roughly halves the bytes a block writes; Open rebuilds the
// hashes bottom-up from one sweep over the first uncached level. Below, a
// block's pages are read with point reads (bloom filters skip LSM levels)
// and hashed level by level on Options.Workers goroutines.
//
// # Memory and disk
//
// Memory is pebble's block cache (Options.CacheSize, 64 MiB), at most two
// memtables (2 × Options.MemTableSize, 2 × 32 MiB) and the cached levels (at
// most 69,905 decoded pages, about 75 MiB; 81 MiB of heap measured after
// Open at a million licenses): about 210 MiB, whatever the number of
// licenses. Measured on the 2-core machine with 1M licenses
// (go test ./ledger/state/ -run '^$' -bench Store -benchtime 300x -v):
// about 232 bytes of disk per license once compacted (tree 73, history 92
// for one version; each further version adds about 80; measured before
// the "l" records, which add about 80 more per license), proofs of 21 hashes
// in 660 bytes, about 50 ms of CPU (pebble's compactions included) per block
// of 1,000 updates; Open takes 4 s.
//
// # Concurrency
//
// A Store is safe for concurrent use. Apply and Preview run one at a time;
// Prove holds a read lock so that the pages it reads belong to one root,
// which ProveRoot returns with the proof; Get, GetAt and the iterators read
// pebble snapshots and take no lock beyond reading the height.
package state
