// Package wal is a crash-safe, checksummed record log: the storage under the
// block log (one record per sealed block and its quorum certificate) and
// under SmartBFT's consensus WAL. It is built on github.com/tidwall/wal
// v1.2.1, which supplies segment files, indexing and truncation, and adds
// what tidwall lacks: a CRC-32C on every record, and recovery from a crash
// that tore the last record (tidwall alone refuses to open such a log,
// upstream issue #21).
//
// # Contract
//
// Records are byte slices at consecutive indexes starting at 1. Append
// writes a batch of records and, unless Options.NoSync is set, fsyncs before
// it returns: "persist before you act" means act only after Append returned
// nil. With NoSync, records become durable when Sync or Close returns.
// Truncations are durable when they return, in both modes.
//
// Open and Read never return a damaged record, and never drop one silently:
//
//   - What Open returns is a prefix of what was appended, and every record
//     Read returns passed its CRC-32C and carries the index asked for.
//   - A torn tail of the last segment (what a crash in the middle of a
//     write leaves) is cut back to the last whole record before tidwall
//     opens the log; the cut is logged through Options.Logger and counted in
//     Stats.TornTails and Stats.TornBytes.
//   - Damage that cannot be a torn tail is an error wrapping ErrCorrupt, a
//     *CorruptError naming the record's index, and nothing is cut: a repair
//     (from the peers that hold the same records) is the caller's decision.
//     In the last segment Open finds it; in older segments, which are read
//     only on demand, Read does.
//
// A batch is not atomic: after a crash inside Append, a prefix of its
// records may survive. The caller decides what a surviving record means (the
// block log re-checks its hash chain on start).
//
// CreateAt makes an empty log that starts at a given index, for a log that
// continues records kept elsewhere (an orderer's block log over an
// archive).
//
// # Torn tail or corruption
//
// Each record is stored as one tidwall entry holding a frame: a magic byte,
// the record's index, the durable watermark (the highest index fsynced when
// the record was written), a CRC-32C over all of these and the payload, and
// the payload. See frame.go for the layout.
//
// Open scans the last segment. At the first record that fails (short, bad
// CRC, wrong index) it tells a torn write from corruption as etcd's WAL
// does (scanTail in segment.go):
//
//   - Torn: the entry runs past the end of the segment (a short tail), or a
//     sector-aligned 512-byte chunk of it is all zeros (a sector the disk had
//     not written; a zero-filled tail is the extreme case).
//   - Corrupt: the entry is whole and none of its sectors is unwritten, yet
//     it fails its CRC, magic or index: it was written completely and
//     damaged afterwards (a flipped bit, a stray write).
//
// A torn-looking record is still corruption if the rest of the segment,
// searched byte by byte, holds a valid frame whose watermark reaches the
// failed record's index: such a record was written after the failed one
// had been fsynced, so the damage happened to durable data. Otherwise
// everything from the failed record on belongs to writes that had not been
// acknowledged (a disk may also keep the pages of an interrupted write out
// of order), and it is cut.
//
// What the rule cannot see: damage that makes a record look torn (a flipped
// bit that lengthens the last entry past the end of the segment, or zeros
// written over a whole sector of it) is cut like a torn write, and a torn
// write whose unwritten sector the disk filled with anything but zeros
// would be reported as corruption. A payload holding a copy of a later valid
// frame of the same log could in principle make a torn tail look like
// corruption; the watermark and index checks make that practically
// impossible.
//
// # Reading without writing
//
// OpenReader opens a log for reading only, for tools that inspect a stopped
// process's log (baybus reconcile, baybus verify-chain): nothing in the
// directory is written, created, cut, renamed or fsynced, so it is safe on a
// read-only mount and leaves the evidence as it found it. Open, by contrast,
// cuts a torn tail, finishes an interrupted truncation and fsyncs.
//
//   - The last segment is streamed and judged by Open's rule: a torn tail
//     ends the log at the last whole record and is reported by Reader.Torn
//     (Index is the first record Open would cut), not cut; corruption is a
//     *CorruptError.
//   - Older segments are read, and checked, by Reader.Scan, which streams
//     the records of a range (holding one segment's 1 MiB read-ahead and the
//     record being handed over) and skips, unread and so unchecked, those
//     its want function declines. Damage there is a *CorruptError, and so is
//     a segment that ends before, or runs past, the next segment's first
//     record.
//   - The files of an interrupted truncation (NAME.START, NAME.END) are
//     refused with ErrTruncating; opening the log with Open finishes it.
//
// A Reader is a snapshot: records appended after OpenReader are not seen.
//
// # Concurrency
//
// A Log is safe for concurrent use, and so is a Reader (it keeps no files
// open between calls). One mutex serialises every method,
// reads included (tidwall mutates its segment cache on reads). CrashingLog
// takes its own mutex before the Log's. Only one Log may have a directory
// open at a time; nothing checks that.
//
// After an I/O error from Append, Sync or a truncation, tidwall's memory and
// the disk may disagree, and an fsync that failed cannot be retried safely,
// so the Log refuses every later call but Close. Open the directory again to
// recover.
//
// Calls take no context.Context: each is a bounded local-disk operation that
// cannot be abandoned half-way.
//
// # Testing code built on the log
//
// CrashAfter wraps a *Log so that a chosen Append "crashes": nothing, part
// or all of its records reach the disk, the Append fails with ErrInjected and
// the Log is closed. Reopening the directory then exercises the same recovery
// as a real crash. Appender is the one-method interface both satisfy.
//
// # Costs
//
// tidwall keeps the last segment (Options.SegmentSize, default 20 MiB) in
// memory, with an append's spare capacity (up to about twice SegmentSize when
// records are large), and Open reads the last segment whole. It also keeps
// one older segment whole: the one it closed last, or the last one a read
// of an older record loaded. So an open log holds at most two segments.
// OpenReader streams it instead, and reads whole only what follows the first
// damaged record, if any.
// Each record costs 21 bytes of frame and a few bytes of tidwall length.
package wal
