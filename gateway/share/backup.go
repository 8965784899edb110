package share

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/baybus/baybus/schemas"
)

// A backup of one city's part of the store, taken while the gateway runs
// (Export, GET RouteBackup, `baybus gateway backup`) and written back into
// a stopped gateway's store (Import, `baybus gateway restore`). It is
// JSON lines:
//
//	{"v":1,"format":"baybus-share-backup","chain":C,"city":X,"taken":"<RFC 3339>"}
//	{"k":"<base64 of the store key>","v":<the store value, JSON>}   one per record
//	{"end":true,"records":N,"sha256":"<hex of every byte before this line>"}
//
// The records are the city's salt key ("s"), the disclosures of every
// record the city published through this gateway ("d"), and the identity
// numbers they name ("i"), all as the package documentation describes
// them. The last line makes a truncated or altered backup refuse to
// restore. The backup holds the city's personal data in plaintext and its
// salt key: keep it as the city keeps its register.
const BackupFormat = "baybus-share-backup"

// Limits of a backup's lines.
const (
	maxBackupLine    = 1 << 20
	maxBackupRecords = 1 << 26
)

// Errors of backups.
var (
	// ErrBackup: a backup that does not decode, is cut short, or fails its
	// checksum.
	ErrBackup = errors.New("share: bad backup")
	// ErrBackupConflict: the store already holds another salt key for the
	// backup's city; restoring would orphan the disclosures made under it.
	ErrBackupConflict = errors.New("share: backup conflicts with the store")
)

type backupHeader struct {
	V      int       `json:"v"`
	Format string    `json:"format"`
	Chain  string    `json:"chain"`
	City   string    `json:"city"`
	Taken  time.Time `json:"taken"`
}

type backupRecord struct {
	K []byte          `json:"k"`
	V json.RawMessage `json:"v"`
}

type backupEnd struct {
	End     bool   `json:"end"`
	Records int    `json:"records"`
	SHA256  string `json:"sha256"`
}

// Export writes a backup of city's part of the store to w, from one
// consistent snapshot, while the store goes on serving; now is the time it
// names. It returns the number of records written.
func (s *Store) Export(ctx context.Context, w io.Writer, city string, now time.Time) (int, error) {
	if _, err := schemas.LookupCity(city); err != nil {
		return 0, fmt.Errorf("share: backup: %w", err)
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(w, h))
	line := func(v any) error {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = bw.Write(append(raw, '\n'))
		return err
	}
	if err := line(backupHeader{V: 1, Format: BackupFormat, Chain: s.chain, City: city, Taken: now.UTC()}); err != nil {
		return 0, err
	}
	n := 0
	// The salt key first: without it nothing made later under it opens.
	sk := append([]byte{'s'}, city...)
	switch v, closer, err := snap.Get(sk); {
	case err == nil:
		rec := backupRecord{K: sk, V: bytes.Clone(v)}
		closer.Close()
		if err := line(rec); err != nil {
			return 0, err
		}
		n++
	case !errors.Is(err, pebble.ErrNotFound):
		return 0, fmt.Errorf("share: backup: %w", err)
	}
	// Then the city's disclosures, remembering their transactions for the
	// identity numbers, whose keys do not name the city.
	txs := map[string]bool{}
	err := scan(ctx, snap, 'd', func(k, v []byte) error {
		var rec Record
		if err := json.Unmarshal(v, &rec); err != nil || rec.V != 1 {
			return fmt.Errorf("%w: disclosures %x", ErrCorrupt, k[1:])
		}
		if rec.City != city {
			return nil
		}
		txs[rec.TxID] = true
		n++
		return line(backupRecord{K: k, V: v})
	})
	if err != nil {
		return 0, err
	}
	err = scan(ctx, snap, 'i', func(k, v []byte) error {
		var e matchEntry
		if err := json.Unmarshal(v, &e); err != nil || e.V != 1 {
			return fmt.Errorf("%w: match entry %q", ErrCorrupt, k)
		}
		if !txs[e.TxID] {
			return nil
		}
		n++
		return line(backupRecord{K: k, V: v})
	})
	if err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	raw, _ := json.Marshal(backupEnd{End: true, Records: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	if _, err := w.Write(append(raw, '\n')); err != nil {
		return 0, err
	}
	return n, nil
}

// scan calls fn with a copy of every key and value under prefix.
func scan(ctx context.Context, r pebble.Reader, prefix byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(bytes.Clone(it.Key()), bytes.Clone(it.Value())); err != nil {
			return err
		}
	}
	return it.Error()
}

// Backup is what a backup holds, as ReadBackup checked it.
type Backup struct {
	Chain, City string
	Taken       time.Time
	Records     []BackupRecord
}

// BackupRecord is one record of a backup: a store key and its value.
type BackupRecord struct {
	Key, Value []byte
}

// ReadBackup reads and checks a whole backup: its header, every record
// (a key of the city's part of the store, with a value of the right
// shape), and its last line (the count and the checksum). Nothing of a
// backup that fails is used.
func ReadBackup(r io.Reader) (*Backup, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxBackupLine)
	h := sha256.New()
	var out *Backup
	lineNo := 0
	for sc.Scan() {
		lineNo++
		raw := sc.Bytes()
		if out == nil {
			var hd backupHeader
			if err := strictJSON(raw, &hd); err != nil || hd.V != 1 || hd.Format != BackupFormat {
				return nil, fmt.Errorf("%w: line 1 is not the header of a %s version 1", ErrBackup, BackupFormat)
			}
			if hd.Chain == "" {
				return nil, fmt.Errorf("%w: the header names no chain", ErrBackup)
			}
			if _, err := schemas.LookupCity(hd.City); err != nil {
				return nil, fmt.Errorf("%w: header: %w", ErrBackup, err)
			}
			out = &Backup{Chain: hd.Chain, City: hd.City, Taken: hd.Taken}
			h.Write(raw)
			h.Write([]byte{'\n'})
			continue
		}
		if bytes.HasPrefix(raw, []byte(`{"end"`)) {
			var end backupEnd
			if err := strictJSON(raw, &end); err != nil || !end.End {
				return nil, fmt.Errorf("%w: line %d: a bad last line", ErrBackup, lineNo)
			}
			if end.Records != len(out.Records) {
				return nil, fmt.Errorf("%w: the last line counts %d records, the backup holds %d", ErrBackup, end.Records, len(out.Records))
			}
			if got := hex.EncodeToString(h.Sum(nil)); end.SHA256 != got {
				return nil, fmt.Errorf("%w: checksum %s, the bytes hash to %s", ErrBackup, end.SHA256, got)
			}
			if sc.Scan() {
				return nil, fmt.Errorf("%w: line %d: something after the last line", ErrBackup, lineNo+1)
			}
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBackup, err)
			}
			return out, nil
		}
		var rec backupRecord
		if err := strictJSON(raw, &rec); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrBackup, lineNo, err)
		}
		if err := checkBackupRecord(out.City, rec.K, rec.V); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrBackup, lineNo, err)
		}
		if len(out.Records) >= maxBackupRecords {
			return nil, fmt.Errorf("%w: more than %d records", ErrBackup, maxBackupRecords)
		}
		out.Records = append(out.Records, BackupRecord{Key: rec.K, Value: rec.V})
		h.Write(raw)
		h.Write([]byte{'\n'})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackup, err)
	}
	if out == nil {
		return nil, fmt.Errorf("%w: empty", ErrBackup)
	}
	return nil, fmt.Errorf("%w: cut short after line %d (no last line)", ErrBackup, lineNo)
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// checkBackupRecord checks that key is of city's part of the store and
// value a record of its kind.
func checkBackupRecord(city string, key []byte, value json.RawMessage) error {
	if len(key) == 0 {
		return errors.New("empty key")
	}
	switch key[0] {
	case 's':
		var rec saltKeyRecord
		if string(key[1:]) != city {
			return fmt.Errorf("the salt key of %q in a backup of %s", key[1:], city)
		}
		if err := strictJSON(value, &rec); err != nil || rec.V != 1 || len(rec.Key) < 32 {
			return errors.New("a bad salt key record")
		}
	case 'd':
		var rec Record
		if len(key) != 33 {
			return fmt.Errorf("a disclosures key of %d bytes", len(key))
		}
		if err := json.Unmarshal(value, &rec); err != nil || rec.V != 1 || rec.TxID != hex.EncodeToString(key[1:]) {
			return fmt.Errorf("bad disclosures of %x", key[1:])
		}
		if rec.City != city {
			return fmt.Errorf("disclosures of %s in a backup of %s", rec.City, city)
		}
	case 'i':
		var e matchEntry
		number, license, ok := bytes.Cut(key[1:], []byte{0})
		if !ok || len(number) == 0 || len(license) == 0 {
			return errors.New("a bad identity number key")
		}
		if err := json.Unmarshal(value, &e); err != nil || e.V != 1 || len(e.TxID) != 64 {
			return errors.New("a bad identity number entry")
		}
		if _, err := hex.DecodeString(e.TxID); err != nil {
			return errors.New("a bad identity number entry")
		}
	default:
		return fmt.Errorf("a key of prefix %q", key[0])
	}
	return nil
}

// Import writes a checked backup into the store, in one synced batch: a
// restore into a stopped gateway's store, or into an empty one. The
// backup must be of the store's chain. A salt key of the backup's city
// already in the store must be the backup's (ErrBackupConflict otherwise:
// what was disclosed under the store's would no longer open); the other
// records are keyed by their transaction and written over.
func (s *Store) Import(ctx context.Context, b *Backup) error {
	if b.Chain != s.chain {
		return fmt.Errorf("%w: a backup of chain %s into a store of chain %s", ErrBackupConflict, b.Chain, s.chain)
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	for _, rec := range b.Records {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := checkBackupRecord(b.City, rec.Key, rec.Value); err != nil {
			return fmt.Errorf("%w: %w", ErrBackup, err)
		}
		if rec.Key[0] == 's' {
			switch v, closer, err := s.db.Get(rec.Key); {
			case err == nil:
				same := bytes.Equal(normalJSON(v), normalJSON(rec.Value))
				closer.Close()
				if !same {
					return fmt.Errorf("%w: the store holds another salt key for %s", ErrBackupConflict, b.City)
				}
			case !errors.Is(err, pebble.ErrNotFound):
				return fmt.Errorf("share: restore: %w", err)
			}
		}
		if err := batch.Set(rec.Key, rec.Value, nil); err != nil {
			return err
		}
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("share: restore %d records: %w", len(b.Records), err)
	}
	s.mu.Lock()
	delete(s.keys, b.City) // read again from the store
	s.mu.Unlock()
	return nil
}

// normalJSON is raw re-encoded, so equal values compare equal whatever
// their spacing.
func normalJSON(raw []byte) []byte {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	out, _ := json.Marshal(v)
	return out
}
