package snapshot

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas/keys"
)

// Errors. Each is a reason to refuse a snapshot; nothing of a refused
// snapshot is kept.
var (
	// ErrFormat: the bytes are not a snapshot (bad magic, lengths, leaf
	// encoding, key order, trailing bytes).
	ErrFormat = errors.New("snapshot: malformed")
	// ErrDigest: the content does not hash to the snapshot's name.
	ErrDigest = errors.New("snapshot: content does not match its name")
	// ErrCertificate: the block the snapshot is taken at is not certified
	// by a quorum of the trust bundle's orderers.
	ErrCertificate = errors.New("snapshot: block not certified")
	// ErrRoot: the leaves do not hash to the certified header's state root.
	ErrRoot = errors.New("snapshot: state root mismatch")
	// ErrConfig: the snapshot names another consortium configuration than
	// the trust bundle it is checked with.
	ErrConfig = errors.New("snapshot: configuration mismatch")
)

const (
	magic = "GSN1"
	// Ext is a snapshot file's extension: its name is the hex SHA-256 of
	// its content (without the trailer) and Ext.
	Ext = ".snap"
	// maxRecordBytes bounds the block record a snapshot carries.
	maxRecordBytes = block.MaxBlockBytes + 4<<20
	// loadBatch is how many leaves go into one state.Store.Load.
	loadBatch = 100_000
)

// Info describes a snapshot.
type Info struct {
	Name      string   // hex SHA-256 of the content: the file is Name + Ext
	Chain     string   // the chain id
	Height    uint64   // the block the state is taken at
	StateRoot [32]byte // that block's state root
	Config    [32]byte // ConfigHash of the consortium configuration in force at Height
	Licenses  uint64   // leaves
	Bytes     int64    // size of the file
}

// ConfigHash names a consortium configuration: the SHA-256 of its trust
// bundle's canonical JSON (keys.Bundle.Marshal). A snapshot records the
// configuration in force at its height, and is checked against it.
func ConfigHash(trust *keys.Bundle) ([32]byte, error) {
	raw, err := trust.Marshal()
	if err != nil {
		return [32]byte{}, fmt.Errorf("snapshot: %w", err)
	}
	return sha256.Sum256(raw), nil
}

// Write writes the snapshot of st as of block rec (st must have reached
// rec's height; it may be running: the leaves are read as of that height
// from pebble snapshots) to w, and returns its Info. The layout:
//
//	"GSN1" | bytes(record) | config (32) | uvarint n | n x bytes(leaf) | SHA-256 of all before (32)
//
// where record is the block's blocklog.Record (its header holds the state
// root, its certificate certifies it, and it is the parent a joining
// orderer's log starts from), config is ConfigHash of the configuration in
// force, each leaf is smt.Leaf's binary encoding, in increasing key order,
// and bytes(x) is uvarint len(x) || x.
//
// The count comes before the leaves, so Write counts them first in one
// pass over the state and writes them in a second, both as of the height.
func Write(ctx context.Context, w io.Writer, st *state.Store, rec *blocklog.Record, config [32]byte) (Info, error) {
	h := rec.Header.Height
	info := Info{Chain: rec.Header.Chain, Height: h, StateRoot: rec.Header.StateRoot, Config: config}
	if st.Height() < h {
		return info, fmt.Errorf("snapshot: the state is at height %d, below block %d", st.Height(), h)
	}
	err := st.IterateAt("", h, func(smt.Leaf) error {
		info.Licenses++
		if info.Licenses%4096 == 0 {
			return ctx.Err()
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	sum := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, sum)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	var scratch []byte
	put := func(p []byte) {
		scratch = binary.AppendUvarint(scratch[:0], uint64(len(p)))
		bw.Write(scratch)
		bw.Write(p)
	}
	bw.WriteString(magic)
	put(rec.Encode())
	bw.Write(config[:])
	bw.Write(binary.AppendUvarint(nil, info.Licenses))
	n := uint64(0)
	err = st.IterateAt("", h, func(l smt.Leaf) error {
		n++
		if n > info.Licenses {
			return fmt.Errorf("snapshot: the state changed below height %d while written", h)
		}
		enc, err := l.MarshalBinary()
		if err != nil {
			return err
		}
		put(enc)
		if n%4096 == 0 {
			return ctx.Err()
		}
		return nil
	})
	if err == nil && n != info.Licenses {
		err = fmt.Errorf("snapshot: the state changed below height %d while written", h)
	}
	if err != nil {
		return info, err
	}
	if err := bw.Flush(); err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	d := sum.Sum(nil)
	if _, err := w.Write(d); err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	info.Name = hex.EncodeToString(d)
	info.Bytes = cw.n + int64(len(d))
	return info, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Create writes the snapshot into dir as Name + Ext (a temporary file,
// fsynced, renamed, the directory fsynced) and returns its Info; the path
// is filepath.Join(dir, info.Name+Ext).
func Create(ctx context.Context, dir string, st *state.Store, rec *blocklog.Record, config [32]byte) (Info, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	f, err := os.CreateTemp(dir, ".snapshot-*.tmp")
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(f.Name())
	info, err := Write(ctx, f, st, rec, config)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, info.Name+Ext)); err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	return info, keys.SyncDir(dir)
}

// NameOf returns the name a snapshot file's name says it has (its hex
// SHA-256), or "" if the file is not named by its content.
func NameOf(path string) string {
	base := filepath.Base(path)
	name, ok := strings.CutSuffix(base, Ext)
	if !ok || len(name) != 2*sha256.Size {
		return ""
	}
	if _, err := hex.DecodeString(name); err != nil || strings.ToLower(name) != name {
		return ""
	}
	return name
}

// Restore reads the snapshot at path, checks it, and leaves the license
// state it holds in stateDir (which must not exist), at the snapshot's
// height, with the block record it was taken at. The checks, all before
// stateDir appears: the content hashes to the name the file is named by
// (a file not named Name+Ext is refused: ErrDigest), the record's
// certificate against trust (ErrCertificate), trust is the configuration
// the snapshot names (ErrConfig), the leaves are well formed and in key
// order (ErrFormat), and they hash to the header's state root (ErrRoot).
// The state is built in stateDir + ".restore" and renamed into place.
func Restore(ctx context.Context, path string, trust *keys.Bundle, stateDir string, opts state.Options) (Info, *blocklog.Record, error) {
	name := NameOf(path)
	if name == "" {
		return Info{}, nil, fmt.Errorf("%w: %s is not named <sha-256>%s", ErrDigest, filepath.Base(path), Ext)
	}
	if _, err := os.Stat(stateDir); err == nil {
		return Info{}, nil, fmt.Errorf("snapshot: %s exists: restore into a new directory", stateDir)
	}
	tmp := stateDir + ".restore"
	if err := os.RemoveAll(tmp); err != nil {
		return Info{}, nil, fmt.Errorf("snapshot: %w", err)
	}
	info, rec, err := restore(ctx, path, name, trust, tmp, opts)
	if err != nil {
		os.RemoveAll(tmp)
		return info, nil, err
	}
	if err := os.Rename(tmp, stateDir); err != nil {
		os.RemoveAll(tmp)
		return info, nil, fmt.Errorf("snapshot: %w", err)
	}
	return info, rec, keys.SyncDir(filepath.Dir(stateDir))
}

// Verify checks the snapshot at path as Restore does, building its state
// in a scratch directory under tmpDir ("" for the system's) that it
// removes.
func Verify(ctx context.Context, path string, trust *keys.Bundle, tmpDir string) (Info, error) {
	dir, err := os.MkdirTemp(tmpDir, "snapshot-verify-")
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	defer os.RemoveAll(dir)
	info, _, err := Restore(ctx, path, trust, filepath.Join(dir, "state"), state.Options{NoSync: true, CacheSize: 16 << 20})
	return info, err
}

func restore(ctx context.Context, path, name string, trust *keys.Bundle, dir string, opts state.Options) (Info, *blocklog.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	var st *state.Store
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	var batch []smt.Leaf
	var height uint64
	info, rec, err := Scan(ctx, f, func(info Info, rec *blocklog.Record) error {
		if _, _, err := blocklog.VerifyRecordAt(trust, info.Height, rec.Encode()); err != nil {
			return fmt.Errorf("%w: block %d: %w", ErrCertificate, info.Height, err)
		}
		want, err := ConfigHash(trust)
		if err != nil {
			return err
		}
		if info.Config != want {
			return fmt.Errorf("%w: the snapshot names configuration %x, the trust bundle is %x", ErrConfig, info.Config[:8], want[:8])
		}
		height = info.Height
		batch = make([]smt.Leaf, 0, min(info.Licenses, loadBatch))
		st, err = state.Open(dir, opts)
		return err
	}, func(l smt.Leaf) error {
		batch = append(batch, l)
		if len(batch) < loadBatch {
			return nil
		}
		_, err := st.Load(height, batch)
		batch = batch[:0]
		return err
	})
	if err != nil {
		return info, nil, err
	}
	if info.Name != name {
		return info, nil, fmt.Errorf("%w: %s hashes to %s", ErrDigest, name, info.Name)
	}
	root, err := st.Load(info.Height, batch) // the last batch, and the height for an empty state
	if err != nil {
		return info, nil, err
	}
	if root != info.StateRoot {
		return info, nil, fmt.Errorf("%w: the leaves hash to %x, block %d's header says %x", ErrRoot, root[:8], info.Height, info.StateRoot[:8])
	}
	return info, rec, nil
}

// Scan reads a snapshot from r without trusting it: it calls head with
// the snapshot's description and block record, then leaf with each leaf
// in turn, and returns the Info, Name being the hash of what it read. It
// checks the layout: lengths, leaf encodings, keys in increasing order,
// leaf heights not above the snapshot's, the count, the trailer matching
// the content (ErrDigest), nothing after it (ErrFormat). It checks no
// signature and no root: Restore does, with what head and leaf are given.
// The first error from head or leaf is returned as it is.
func Scan(ctx context.Context, r io.Reader, head func(Info, *blocklog.Record) error, leaf func(smt.Leaf) error) (Info, *blocklog.Record, error) {
	sum := sha256.New()
	br := &reader{r: bufio.NewReaderSize(r, 1<<20), sum: sum}
	var info Info
	rec, err := br.head(&info)
	if err != nil {
		return info, nil, err
	}
	if err := head(info, rec); err != nil {
		return info, nil, err
	}
	var prev string
	for i := uint64(0); i < info.Licenses; i++ {
		l, err := br.leaf()
		if err != nil {
			return info, nil, fmt.Errorf("%w: leaf %d: %w", ErrFormat, i, err)
		}
		if i > 0 && l.Key <= prev {
			return info, nil, fmt.Errorf("%w: leaf %d: key %q after %q", ErrFormat, i, l.Key, prev)
		}
		if l.Height == 0 || l.Height > info.Height {
			return info, nil, fmt.Errorf("%w: leaf %q of height %d in a snapshot at %d", ErrFormat, l.Key, l.Height, info.Height)
		}
		prev = l.Key
		if i%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return info, nil, err
			}
		}
		if err := leaf(l); err != nil {
			return info, nil, err
		}
	}
	d := sum.Sum(nil)
	var trailer [sha256.Size]byte
	if _, err := io.ReadFull(br.r, trailer[:]); err != nil {
		return info, nil, fmt.Errorf("%w: trailer: %w", ErrFormat, err)
	}
	if _, err := br.r.ReadByte(); err != io.EOF {
		return info, nil, fmt.Errorf("%w: bytes after the trailer", ErrFormat)
	}
	info.Name = hex.EncodeToString(d)
	info.Bytes = br.n + sha256.Size
	if string(trailer[:]) != string(d) {
		return info, nil, fmt.Errorf("%w: the content hashes to %s, its trailer says %x", ErrDigest, info.Name, trailer)
	}
	return info, rec, nil
}

// reader parses a snapshot's body.
type reader struct {
	r   *bufio.Reader
	sum io.Writer // hashes what is read
	n   int64     // bytes read
	buf []byte
}

// read reads len(p) bytes and hashes them.
func (r *reader) read(p []byte) error {
	if _, err := io.ReadFull(r.r, p); err != nil {
		return err
	}
	r.sum.Write(p)
	r.n += int64(len(p))
	return nil
}

func (r *reader) uvarint() (uint64, error) {
	v, err := binary.ReadUvarint(r.r)
	if err != nil {
		return 0, err
	}
	enc := binary.AppendUvarint(nil, v)
	// Only the minimal encoding, so that one snapshot has one name.
	r.sum.Write(enc)
	r.n += int64(len(enc))
	return v, nil
}

func (r *reader) bytes(limit uint64) ([]byte, error) {
	n, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("length %d over %d", n, limit)
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if err := r.read(p); err != nil {
		return nil, err
	}
	return p, nil
}

// head reads the magic, the record, the configuration and the count.
func (r *reader) head(info *Info) (*blocklog.Record, error) {
	var m [len(magic)]byte
	if err := r.read(m[:]); err != nil || string(m[:]) != magic {
		return nil, fmt.Errorf("%w: magic", ErrFormat)
	}
	raw, err := r.bytes(maxRecordBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: record: %w", ErrFormat, err)
	}
	rec, err := blocklog.DecodeRecord(append([]byte(nil), raw...), false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if err := r.read(info.Config[:]); err != nil {
		return nil, fmt.Errorf("%w: configuration: %w", ErrFormat, err)
	}
	if info.Licenses, err = r.uvarint(); err != nil {
		return nil, fmt.Errorf("%w: count: %w", ErrFormat, err)
	}
	info.Chain, info.Height, info.StateRoot = rec.Header.Chain, rec.Header.Height, rec.Header.StateRoot
	if info.Height == 0 {
		return nil, fmt.Errorf("%w: height 0", ErrFormat)
	}
	return rec, nil
}

func (r *reader) leaf() (smt.Leaf, error) {
	var l smt.Leaf
	raw, err := r.bytes(1 << 12)
	if err != nil {
		return l, err
	}
	err = l.UnmarshalBinary(raw)
	return l, err
}
