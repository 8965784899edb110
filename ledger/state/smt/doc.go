// Package smt is the license state tree: a sparse Merkle tree over 256-bit
// paths that maps each license key to the hash of its latest state, with
// membership and non-membership proofs.
//
// It is pure: no I/O, no clocks, no dependencies beyond the standard library
// and package schemas. The offline proof verifier imports it for VerifyProof
// alone; ledger/state runs the tree over an embedded store.
//
// # The tree
//
// A key's path is SHA-256(key), read from the most significant bit. The
// tree is the binary trie of the paths, with every subtree that holds a
// single leaf replaced by that leaf (the shortcut leaves of Diem's
// Jellyfish Merkle tree), so a leaf sits just below the deepest prefix it
// shares with another key: about log2(N) levels down, 26 for 50 million keys.
// Hashes are domain-separated, and differ from the RFC 6962 bytes used by
// the block's transaction tree:
//
//	empty subtree  Empty = SHA-256(0x12)
//	leaf           SHA-256(0x10 || path || SHA-256(leaf encoding))
//	node           SHA-256(0x11 || left || right)
//
// The root of the empty tree is Empty; the root of a one-leaf tree is that
// leaf's hash. The leaf commits to its full path, so a leaf high in the tree
// pins one key, and the leaf and node prefixes keep a leaf from passing for a
// node or back. The root is a function of the set of (key, leaf) pairs only:
// neither the order of updates nor how they were grouped into blocks changes
// it. Leaves are replaced, never removed (a revoked license stays, revoked).
//
// A leaf's encoding (Leaf.MarshalBinary) is canonical: version 0x01,
// uvarint key length, key, status byte (1 valid, 2 suspended, 3 revoked,
// 4 expired), record hash, height (8 bytes big-endian), transaction id.
// Leaves written under rules version 2 of ledger/block name the city that
// holds the license and the last day of its validity: version 0x02, the
// same fields, then uvarint length and holder, uvarint length and
// validity end (YYYY-MM-DD, or empty). A leaf without a holder is encoded
// as version 0x01, so the state roots of chains of rules version 1 do not
// change. Leaves written under rules version 3 also name what their key
// holds (a license's kind, a grant, an access record): version 0x03, the
// fields of 0x02, then the kind's byte, a grant's count of answered
// requests (uvarint) and its terms (uvarint length and canonical JSON;
// empty but for grants).
//
// # Proofs
//
// A Proof lists the siblings from the terminal up to the root. The terminal
// is the key's own leaf (membership), an empty subtree, or the leaf of
// another key that shares the path so far and sits alone there (both
// non-membership; the other leaf is given by path and value hash). Since a
// subtree with one leaf is always shortened to the leaf, and a leaf's hash
// can be neither a node's nor Empty, there is one proof for a key and root.
// The JSON form writes hashes as hex; the binary form replaces each Empty
// sibling by a cleared bit in a bitmap: about 4 + d/8 + 32·d bytes for d
// siblings, or about 700 bytes at 1M keys. See testdata/vectors.json for
// worked examples, valid and invalid.
//
// # Storage
//
// Update and Prove work through a Reader of pages: one page per four levels
// of the binary tree, holding the sixteen slots below it (empty, a lone
// leaf's path and value hash, or the hash of the page below), under a key
// made of the level and the path prefix. Pages are addressed by position, not
// by hash, so an update overwrites the pages on its paths in place and the
// store holds only the current tree. Update goes level by level: it reads
// all the pages a level needs in one ReadPages call, in key order, and once
// at the bottom hashes each touched page once, bottom-up, however many sets
// share it (UpdateParallel spreads the reads and hashing of a level over
// goroutines); it returns the pages to write, and the caller writes them in
// one atomic batch. A CachedReader keeps some pages decoded in memory; a store
// may keep only the shape of such pages on disk (ShapeOf) and rebuild their
// hashes from the pages below (FillPage, PageHash). Reading history is the
// caller's business (ledger/state keeps every leaf version under
// (key, height)).
package smt
