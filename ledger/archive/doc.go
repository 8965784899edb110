// Package archive keeps the cold part of an orderer's block log in an
// object store (a local directory, Dir, or an S3-compatible bucket, S3)
// and reads it back on demand: Blocks implements blocklog.Cold, so that
// blocklog.Store.Archive moves the blocks below a height there and every
// read of the store (proofs of old blocks, blocksync serving them, scans)
// falls back to it transparently.
//
// # Contract
//
//   - Blocks are archived in chunks: one object holds the records of
//     consecutive blocks, exactly as the block log held them (see chunk.go
//     for the layout), named BlocksPrefix + "<from>-<to>-<SHA-256 of the
//     content>". The name is the content's hash, so a reader refuses, with
//     ErrDamaged, an object with one byte changed, cut short, or another
//     object put in its place, before using anything in it; and it checks
//     that the records are the heights the name says, linked by hash.
//   - An archived record is still the signed, certified record: proofs of
//     archived blocks verify as before (their quorum certificates are in
//     them), and blocklog.VerifyRecord checks them as any record. Fresh
//     proofs need only the live state and the block a license last
//     changed in; that block is read from the archive if it is there.
//   - The chunks cover blocks 1..Height with no gap (ErrGap on Open); Put
//     only adds the next chunk. A chunk is durable when Put returns (Dir:
//     written, fsynced, renamed, directory fsynced; S3: acknowledged, with
//     the MD5 the store checks). The live log is cut only after that
//     (blocklog.Store.Archive), so a crash in between leaves the blocks in
//     both, and the next Archive finishes the cut.
//   - The archive keeps the blocks only, not the consortium's
//     configuration: each record names its chain and is certified by the
//     orderers of its height, so the configuration in force at an archived
//     height is whatever the chain (its configuration blocks, when there
//     are any) says up to it.
//
// # Memory and I/O
//
// Open lists the store once (a name per chunk: at about 4 MiB per chunk,
// a few thousand names per 10 GiB). A read fetches its whole chunk and
// keeps the last Config.CacheChunks decoded chunks, so a scan in height
// order fetches each chunk once.
//
// # Concurrency
//
// Blocks is safe for concurrent use; Put is called by one archiver at a
// time. Dir and S3 are safe for concurrent use.
package archive
