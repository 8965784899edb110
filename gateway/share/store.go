package share

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/cockroachdb/pebble"

	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

// Errors of the store.
var (
	// ErrNoDisclosures: the store holds no disclosures of that record (a
	// record published before sharing, or by another gateway's store).
	ErrNoDisclosures = errors.New("share: no disclosures of that record in this gateway's store")
	// ErrCorrupt: a record of the store does not decode.
	ErrCorrupt = errors.New("share: corrupt store record")
)

// Store is a city gateway's store of personal data: the salt key of each
// city it serves, and the disclosures of every record it published (see
// the package documentation for the format). Safe for concurrent use.
type Store struct {
	db   *pebble.DB
	rand io.Reader
	log  *slog.Logger

	mu    sync.Mutex // guards keys, and the creation of a key
	keys  map[string][]byte
	chain string
}

// StoreConfig configures a Store.
type StoreConfig struct {
	Chain string       // the chain id, bound into every salt
	Rand  io.Reader    // for new salt keys; default crypto/rand
	Log   *slog.Logger // default slog.Default()
	// ReadOnly opens an existing store (a stopped gateway's, or a copy
	// Backup made) only to read it: reconcile with the owner's salts.
	ReadOnly bool
}

// OpenStore opens (or creates) the store in dir.
func OpenStore(dir string, cfg StoreConfig) (*Store, error) {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Chain == "" {
		return nil, errors.New("share: a store needs the chain id")
	}
	if cfg.ReadOnly {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("share: open store %s: %w", dir, err)
		}
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, ReadOnly: cfg.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("share: open store %s: %w", dir, err)
	}
	return &Store{db: db, rand: cfg.Rand, log: cfg.Log, keys: map[string][]byte{}, chain: cfg.Chain}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Backup writes a consistent copy of the store to dir (which must not
// exist), while the store stays open: what a city backs up with its data.
func (s *Store) Backup(dir string) error {
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("share: backup to %s: %w", dir, err)
	}
	return nil
}

type saltKeyRecord struct {
	V   int    `json:"v"`
	Key []byte `json:"key"`
}

// saltKey returns city's salt key, making it (at random, synced) the first
// time.
func (s *Store) saltKey(city string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[city]; ok {
		return k, nil
	}
	kk := append([]byte{'s'}, city...)
	v, closer, err := s.db.Get(kk)
	switch {
	case err == nil:
		var rec saltKeyRecord
		uerr := json.Unmarshal(v, &rec)
		closer.Close()
		if uerr != nil || rec.V != 1 || len(rec.Key) < 32 {
			return nil, fmt.Errorf("%w: salt key of %s", ErrCorrupt, city)
		}
		s.keys[city] = rec.Key
		return rec.Key, nil
	case !errors.Is(err, pebble.ErrNotFound):
		return nil, fmt.Errorf("share: read salt key of %s: %w", city, err)
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, key); err != nil {
		return nil, fmt.Errorf("share: salt key: %w", err)
	}
	raw, _ := json.Marshal(saltKeyRecord{V: 1, Key: key})
	if err := s.db.Set(kk, raw, pebble.Sync); err != nil {
		return nil, fmt.Errorf("share: write salt key of %s: %w", city, err)
	}
	s.keys[city] = key
	return key, nil
}

// Record is what the store keeps of one published record.
type Record struct {
	V            int             `json:"v"`
	City         string          `json:"city"`
	Key          string          `json:"key"` // the license, JUR/ID
	Kind         schemas.Kind    `json:"kind"`
	TxID         string          `json:"tx"` // hex
	Items        []disclose.Item `json:"items"`
	NativeFormat string          `json:"nativeFormat,omitempty"`
	NativeHash   string          `json:"nativeHash,omitempty"`
}

var _ gateway.Redactor = (*Store)(nil)

// Redact implements gateway.Redactor: the transaction with its personal
// fields as digests salted by the city's key, and its disclosures; a
// native input's format and hash move from the transaction to the store.
func (s *Store) Redact(tx *schemas.Tx) (*schemas.Tx, *gateway.Kept, error) {
	key, err := s.saltKey(tx.City)
	if err != nil {
		return nil, nil, err
	}
	salter, err := disclose.NewKeyedSalter(key, s.chain, tx.City, tx.EventID)
	if err != nil {
		return nil, nil, err
	}
	red, items, err := disclose.Redact(tx, salter)
	if err != nil {
		return nil, nil, err
	}
	kept := &gateway.Kept{Items: items, NativeFormat: red.NativeFormat, NativeHash: red.NativeHash}
	red.NativeFormat, red.NativeHash = "", ""
	if err := schemas.CheckTx3(red); err != nil {
		return nil, nil, err
	}
	return red, kept, nil
}

// Keep implements gateway.Redactor: the records of full-record
// transactions (issue and amend; the others carry no personal field), and
// the identity numbers they name, in one synced batch.
func (s *Store) Keep(ctx context.Context, kept []*gateway.Kept) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for _, k := range kept {
		if k.Tx == nil || !k.Tx.Action.FullRecord() {
			continue
		}
		rec := Record{V: 1, City: k.Tx.City, Key: k.Tx.LicenseKey(), Kind: k.Tx.Kind, TxID: schemas.FormatID(k.TxID),
			Items: k.Items, NativeFormat: k.NativeFormat, NativeHash: k.NativeHash}
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := b.Set(append([]byte{'d'}, k.TxID[:]...), raw, nil); err != nil {
			return err
		}
		for _, it := range k.Items {
			if f := it.Field(); f != "holder.idNumber" && f != "people.idNumber" {
				continue
			}
			d, err := disclose.Decode(it.Disclosure)
			if err != nil {
				return err
			}
			var number string
			if err := json.Unmarshal(d.Value, &number); err != nil || number == "" || bytes.IndexByte([]byte(number), 0) >= 0 {
				continue
			}
			v, _ := json.Marshal(matchEntry{V: 1, Kind: k.Tx.Kind, TxID: rec.TxID})
			if err := b.Set(matchKey(number, rec.Key), v, nil); err != nil {
				return err
			}
		}
		n++
	}
	if n == 0 {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("share: keep %d records: %w", n, err)
	}
	return nil
}

type matchEntry struct {
	V    int          `json:"v"`
	Kind schemas.Kind `json:"kind"`
	TxID string       `json:"tx"`
}

func matchKey(number, license string) []byte {
	k := append([]byte{'i'}, number...)
	k = append(k, 0)
	return append(k, license...)
}

// Get returns the record kept of transaction id (ErrNoDisclosures if none).
func (s *Store) Get(id schemas.TxID) (*Record, error) {
	v, closer, err := s.db.Get(append([]byte{'d'}, id[:]...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoDisclosures, schemas.FormatID(id))
	}
	if err != nil {
		return nil, fmt.Errorf("share: read %s: %w", schemas.FormatID(id), err)
	}
	defer closer.Close()
	var rec Record
	if err := json.Unmarshal(v, &rec); err != nil || rec.V != 1 || rec.TxID != schemas.FormatID(id) {
		return nil, fmt.Errorf("%w: disclosures of %s", ErrCorrupt, schemas.FormatID(id))
	}
	return &rec, nil
}

// Holding lists the licenses whose records named identity number number,
// with their kind and the record's transaction: candidates a match checks
// against the ledger (a later record may no longer name the number).
func (s *Store) Holding(number string) ([]Holding, error) {
	lo := matchKey(number, "")
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: append(append([]byte{'i'}, number...), 1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Holding
	for ok := it.First(); ok; ok = it.Next() {
		var e matchEntry
		if err := json.Unmarshal(it.Value(), &e); err != nil || e.V != 1 {
			return nil, fmt.Errorf("%w: match entry %q", ErrCorrupt, it.Key())
		}
		id, err := hex.DecodeString(e.TxID)
		if err != nil || len(id) != 32 {
			return nil, fmt.Errorf("%w: match entry %q", ErrCorrupt, it.Key())
		}
		out = append(out, Holding{License: string(it.Key()[len(lo):]), Kind: e.Kind, TxID: schemas.TxID(id)})
	}
	return out, it.Error()
}

// Holding is a license whose record named an identity number.
type Holding struct {
	License string
	Kind    schemas.Kind
	TxID    schemas.TxID
}

// quietLogger keeps pebble's informational chatter out of the gateway log.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("share: store: "+format, args...))
}

// Disclosures returns the disclosures kept of the record of transaction id
// and its native input's hash, ok false if the store holds none: the
// owner's salts, for reconciling its register (ledger/reconcile).
func (s *Store) Disclosures(id schemas.TxID) ([]disclose.Item, string, bool, error) {
	rec, err := s.Get(id)
	if errors.Is(err, ErrNoDisclosures) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	return rec.Items, rec.NativeHash, true, nil
}
