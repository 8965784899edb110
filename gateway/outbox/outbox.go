// Package outbox keeps a gateway's published batches on local disk until
// the ledger has sealed them, so that a receipt that says "accepted"
// survives a crash of the bus: JetStream's file store fsyncs on an interval
// and may lose acknowledged writes (nats-server issues #6888, #7549), and
// a gateway that kept nothing could not publish them again.
//
// # Contract
//
// Add returns once the batch's frame is fsynced (several Adds share one
// fsync). Done forgets batches; its records need no fsync of their own (a
// Done lost in a crash only makes the gateway publish a sealed batch once
// more, which the ledger records once). Pending lists what is kept, in the
// order it was added. A log that holds no pending batch before some index
// is cut there, and one whose oldest pending batch pins a long tail is
// compacted by appending the pending batches again.
//
// The log is ledger/wal: every record carries its CRC-32C, a torn tail is
// cut on Open, and damage elsewhere is an error (ErrCorrupt) rather than a
// silent loss.
//
// # Goroutines
//
// A Store is safe for concurrent use. One writer goroutine, started by
// Open and stopped by Close, owns the log's appends and truncations, so
// concurrent Adds are written and fsynced together.
package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/wire"
)

// Errors. Check them with errors.Is.
var (
	// ErrFull: the pending batches reached Config.MaxBytes; nothing more
	// is taken until the ledger seals some of them.
	ErrFull = errors.New("outbox: full")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("outbox: closed")
	// ErrRecord: a record that CRC-checks but does not decode (written by
	// another version, or a bug). Open refuses the log.
	ErrRecord = errors.New("outbox: malformed record")
	// ErrInUse: another Store (in this process or another) has the
	// directory open.
	ErrInUse = errors.New("outbox: directory in use")
)

// Config tunes a Store. Zero fields take the defaults.
type Config struct {
	// MaxBytes bounds the frames kept; beyond it Add returns ErrFull.
	// Default 256 MiB.
	MaxBytes int64
	// CompactAfter is how many records the log may hold beyond the
	// pending ones before it is compacted; default 4096.
	CompactAfter int
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger // default slog.Default()
}

func (c Config) withDefaults() Config {
	if c.MaxBytes == 0 {
		c.MaxBytes = 256 << 20
	}
	if c.CompactAfter == 0 {
		c.CompactAfter = 4096
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Entry is one batch kept until it is sealed.
type Entry struct {
	City    string
	BatchID string
	Frame   []byte         // the signed batch frame, as published
	TxIDs   []schemas.TxID // its transactions
	Added   time.Time      // when it was added (or when Open found it)
}

type entry struct {
	Entry
	index uint64 // the log record holding it
}

// segmentSize is the outbox log's segment size.
const segmentSize = 4 << 20

// Store is an open outbox.
type Store struct {
	cfg  Config
	log  *wal.Log
	lock *os.File // flocked while open

	mu      sync.Mutex
	pending map[string]*entry // by batch id
	bytes   int64

	// sendMu guards sending on reqs against Close closing it: senders
	// hold it shared, Close exclusively. The writer never takes it.
	sendMu sync.RWMutex
	closed bool
	reqs   chan request
	done   chan struct{}
}

// request is one write for the writer goroutine: records to append, and
// what to do once they are durable.
type request struct {
	put   *entry   // an Add
	ids   []string // a Done
	reply chan error
}

// Open opens (or creates) the outbox in dir and loads what it keeps.
func Open(dir string, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	// Two gateways writing one log would corrupt it: the second is refused.
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w: %s (another gateway keeps its batches there; give each its own)", ErrInUse, dir)
	}
	// The log's last segment stays in memory (ledger/wal): at the 20 MiB
	// default, eleven gateways in one process (up, bench) held up to
	// ~250 MiB of batches already kept in pending. 4 MiB is a dozen
	// batches of 256 one-KiB events, as the orderers' logs use.
	l, err := wal.Open(filepath.Join(dir, "log"), wal.Options{Logger: cfg.Logger, SegmentSize: segmentSize})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("outbox: %s: %w (move the directory aside to start empty; the batches it kept are then published only if the bus still has them)", dir, err)
	}
	s := &Store{cfg: cfg, log: l, lock: lock, pending: map[string]*entry{}, reqs: make(chan request, 1024), done: make(chan struct{})}
	if err := s.load(); err != nil {
		l.Close()
		lock.Close()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// load replays the log.
func (s *Store) load() error {
	now := s.cfg.Now()
	for i := s.log.FirstIndex(); i <= s.log.LastIndex(); i++ {
		raw, err := s.log.Read(i)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		rec, err := DecodeRecord(raw)
		if err != nil {
			return fmt.Errorf("outbox: record %d: %w", i, err)
		}
		if rec.Put != nil {
			e := &entry{Entry: *rec.Put, index: i}
			e.Added = now
			if old, ok := s.pending[e.BatchID]; ok {
				s.bytes -= int64(len(old.Frame))
			}
			s.pending[e.BatchID] = e
			s.bytes += int64(len(e.Frame))
		}
		for _, id := range rec.Done {
			if e, ok := s.pending[id]; ok {
				s.bytes -= int64(len(e.Frame))
				delete(s.pending, id)
			}
		}
	}
	return nil
}

// Add keeps a batch with its encoded frame (b.Encode(), as published on
// the bus). The channel yields nil once the frame is fsynced, or the
// write's error; ErrFull and ErrClosed are returned at once instead, so
// the caller can refuse the batch before publishing it.
func (s *Store) Add(b *schemas.Batch, frame []byte) (<-chan error, error) {
	e := &entry{Entry: Entry{City: b.City, BatchID: b.ID(), Frame: frame, TxIDs: b.IDs, Added: s.cfg.Now()}}
	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.mu.Lock()
	if s.bytes+int64(len(frame)) > s.cfg.MaxBytes {
		err := fmt.Errorf("%w: %d batches, %d bytes kept (limit %d): the ledger has not sealed them", ErrFull, len(s.pending), s.bytes, s.cfg.MaxBytes)
		s.mu.Unlock()
		return nil, err
	}
	s.bytes += int64(len(frame)) // reserved now, so concurrent Adds respect the bound
	s.mu.Unlock()
	reply := make(chan error, 1)
	s.reqs <- request{put: e, reply: reply}
	return reply, nil
}

// Done forgets the batches with these ids (sealed, or never stored on the
// bus). Unknown ids are ignored.
func (s *Store) Done(ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	reply := make(chan error, 1)
	s.sendMu.RLock()
	if s.closed {
		s.sendMu.RUnlock()
		return ErrClosed
	}
	s.reqs <- request{ids: ids, reply: reply}
	s.sendMu.RUnlock()
	return <-reply
}

// Pending returns the batches kept, oldest first.
func (s *Store) Pending() []Entry {
	s.mu.Lock()
	out := make([]*entry, 0, len(s.pending))
	for _, e := range s.pending {
		out = append(out, e)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *entry) int { return int(a.index) - int(b.index) })
	es := make([]Entry, len(out))
	for i, e := range out {
		es[i] = e.Entry
	}
	return es
}

// Stats are the store's size.
type Stats struct {
	Batches int
	Bytes   int64
	Records uint64 // records in the log
}

// Stats returns the store's size now.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Batches: len(s.pending), Bytes: s.bytes, Records: s.log.LastIndex() + 1 - s.log.FirstIndex()}
}

// Close stops the writer after the writes already asked for, and closes
// the log.
func (s *Store) Close() error {
	s.sendMu.Lock()
	if s.closed {
		s.sendMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.sendMu.Unlock()
	<-s.done
	err := s.log.Close()
	s.lock.Close() // releases the flock
	return err
}

// writer owns the log's writes: it takes every request waiting, appends
// their records in one Append (one fsync), then answers them.
func (s *Store) writer() {
	defer close(s.done)
	for first := range s.reqs {
		batch := []request{first}
	more:
		for len(batch) < 256 {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.write(batch)
	}
}

func (s *Store) write(batch []request) {
	recs := make([][]byte, len(batch))
	for i, r := range batch {
		if r.put != nil {
			recs[i] = EncodeRecord(Record{Put: &r.put.Entry})
		} else {
			recs[i] = EncodeRecord(Record{Done: r.ids})
		}
	}
	first, err := s.log.Append(recs...)
	if err != nil {
		err = fmt.Errorf("outbox: %w", err)
		s.mu.Lock()
		for _, r := range batch {
			if r.put != nil {
				s.bytes -= int64(len(r.put.Frame))
			}
		}
		s.mu.Unlock()
		for _, r := range batch {
			r.reply <- err
		}
		return
	}
	s.mu.Lock()
	for i, r := range batch {
		if r.put != nil {
			r.put.index = first + uint64(i)
			if old, ok := s.pending[r.put.BatchID]; ok { // the same frame added again
				s.bytes -= int64(len(old.Frame))
			}
			s.pending[r.put.BatchID] = r.put
			continue
		}
		for _, id := range r.ids {
			if e, ok := s.pending[id]; ok {
				s.bytes -= int64(len(e.Frame))
				delete(s.pending, id)
			}
		}
	}
	s.mu.Unlock()
	for _, r := range batch {
		r.reply <- nil
	}
	if err := s.trim(); err != nil {
		s.cfg.Logger.Warn("outbox: trim", "err", err)
	}
}

// trim cuts the log before its oldest pending batch, and compacts it when
// that batch pins more than CompactAfter records: the pending batches are
// appended again and everything before them cut. Only the writer calls it.
func (s *Store) trim() error {
	s.mu.Lock()
	oldest := s.log.LastIndex() + 1
	for _, e := range s.pending {
		oldest = min(oldest, e.index)
	}
	n := len(s.pending)
	s.mu.Unlock()
	first := s.log.FirstIndex()
	if oldest > first && (oldest-first >= 64 || n == 0) {
		return s.log.TruncateFront(oldest)
	}
	if s.log.LastIndex()+1-first <= uint64(s.cfg.CompactAfter+n) {
		return nil
	}
	pending := s.Pending()
	recs := make([][]byte, len(pending))
	for i := range pending {
		recs[i] = EncodeRecord(Record{Put: &pending[i]})
	}
	at, err := s.log.Append(recs...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for i, p := range pending {
		if e, ok := s.pending[p.BatchID]; ok {
			e.index = at + uint64(i)
		}
	}
	s.mu.Unlock()
	return s.log.TruncateFront(at)
}

// Record is one log record: a batch kept, or batches forgotten.
type Record struct {
	Put  *Entry
	Done []string
}

// Record kinds, after the version byte.
const (
	recordVersion = 1
	kindPut       = 1
	kindDone      = 2
)

// EncodeRecord encodes a record: version, kind, then for a put the city
// and the frame, for a done the batch ids.
func EncodeRecord(r Record) []byte {
	b := []byte{recordVersion}
	if r.Put != nil {
		b = append(b, kindPut)
		b = wire.AppendString(b, r.Put.City)
		return wire.AppendBytes(b, r.Put.Frame)
	}
	b = append(b, kindDone)
	b = binary.AppendUvarint(b, uint64(len(r.Done)))
	for _, id := range r.Done {
		b = wire.AppendString(b, id)
	}
	return b
}

// DecodeRecord decodes a record; a put's frame must decode as a batch of
// its city.
func DecodeRecord(raw []byte) (Record, error) {
	if len(raw) < 2 || raw[0] != recordVersion {
		return Record{}, fmt.Errorf("%w: version or kind missing", ErrRecord)
	}
	r := wire.NewReader(raw[2:])
	var rec Record
	switch raw[1] {
	case kindPut:
		city := r.String(64)
		frame := r.Bytes(schemas.MaxBatchBytes)
		if err := end(r); err != nil {
			return Record{}, err
		}
		b, err := schemas.DecodeBatch(frame)
		if err != nil {
			return Record{}, fmt.Errorf("%w: %w", ErrRecord, err)
		}
		if b.City != city {
			return Record{}, fmt.Errorf("%w: a batch of %q kept as %q's", ErrRecord, b.City, city)
		}
		rec.Put = &Entry{City: city, BatchID: b.ID(), Frame: frame, TxIDs: b.IDs}
	case kindDone:
		n := r.Count(uint64(r.Len())) // each id takes a byte at least
		for range n {
			rec.Done = append(rec.Done, r.String(64))
		}
		if err := end(r); err != nil {
			return Record{}, err
		}
	default:
		return Record{}, fmt.Errorf("%w: kind %d", ErrRecord, raw[1])
	}
	return rec, nil
}

// end checks that a record was read whole.
func end(r *wire.Reader) error {
	if err := r.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrRecord, err)
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrRecord, r.Len())
	}
	return nil
}
