package bft

import (
	"fmt"

	"github.com/hyperledger-labs/SmartBFT/pkg/api"
)

// Log is what the engine WAL needs of an append-only record log; ledger/wal's
// *wal.Log is one. Append must be durable (fsynced) when it returns.
type Log interface {
	Append(data ...[]byte) (first uint64, err error)
	Read(index uint64) ([]byte, error)
	FirstIndex() uint64 // an empty log has FirstIndex() == LastIndex()+1
	LastIndex() uint64
	TruncateFront(index uint64) error
}

// truncateEvery is how many entries the engine WAL keeps at most past a
// truncation point before it really truncates: truncating rewrites a
// segment file, too costly to do on every block, and the engine reads only
// its newest entries on restore, so older ones are harmless.
const truncateEvery = 64

// EngineWAL is SmartBFT's write-ahead log (api.WriteAheadLog) over a Log.
// The engine appends each message it is about to act on (a pre-prepare with
// our prepare, our commit, a view change, a new view) before sending it, and
// marks a new proposal as a truncation point: everything before it is
// covered by the block log and is cut away.
//
// After a crash, ReadAll's entries go to consensus.Consensus as
// WALInitialContent; the engine looks only at the last one or two.
type EngineWAL struct {
	log Log
}

var _ api.WriteAheadLog = (*EngineWAL)(nil)

// NewEngineWAL wraps an open log.
func NewEngineWAL(l Log) *EngineWAL { return &EngineWAL{log: l} }

// Append writes entry durably; with truncateTo it may then drop every
// earlier entry (it does once truncateEvery entries have gathered). Older
// entries left in place, by that rule or by a crash between the append and
// the truncation, are harmless: restore reads only the newest entries.
func (w *EngineWAL) Append(entry []byte, truncateTo bool) error {
	idx, err := w.log.Append(entry)
	if err != nil {
		return fmt.Errorf("bft: engine wal append: %w", err)
	}
	if truncateTo && idx-w.log.FirstIndex() >= truncateEvery {
		if err := w.log.TruncateFront(idx); err != nil {
			return fmt.Errorf("bft: engine wal truncate: %w", err)
		}
	}
	return nil
}

// ReadAll returns the entries the log holds, oldest first: at least those
// since the last truncation point.
func (w *EngineWAL) ReadAll() ([][]byte, error) {
	first, last := w.log.FirstIndex(), w.log.LastIndex()
	if last < first {
		return nil, nil
	}
	out := make([][]byte, 0, last-first+1)
	for i := first; i <= last; i++ {
		b, err := w.log.Read(i)
		if err != nil {
			return nil, fmt.Errorf("bft: engine wal read %d: %w", i, err)
		}
		out = append(out, append([]byte(nil), b...))
	}
	return out, nil
}
