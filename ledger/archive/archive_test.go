package archive_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/baybus/baybus/ledger/archive"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/ledger/wal"
)

// source is proof.Source over a block log and the chain's license state.
type source struct {
	c      *prooftest.Chain
	blocks *blocklog.Store
}

func (s source) ProveLatest(key string) (*smt.Leaf, *smt.Proof, uint64, [32]byte, error) {
	return s.c.ProveLatest(key)
}
func (s source) LeafAt(key string, h uint64) (*smt.Leaf, error) { return s.c.LeafAt(key, h) }
func (s source) Sealed(h uint64) (*block.Header, *block.QC, error) {
	rec, err := s.blocks.Record(h)
	if err != nil {
		return nil, nil, err
	}
	return &rec.Header, &rec.QC, nil
}
func (s source) Block(h uint64) (*block.Block, *block.QC, error) {
	rec, err := s.blocks.Record(h)
	if err != nil {
		return nil, nil, err
	}
	blk, err := block.Decode(rec.BlockData)
	return blk, &rec.QC, err
}

// smallSegments puts every block in a segment of its own, so archiving
// cuts whole segments as well as part of one.
var smallSegments = wal.Options{NoSync: true, SegmentSize: 1}

func openStore(t *testing.T, dir string, obj archive.Objects) (*blocklog.Store, *archive.Blocks) {
	t.Helper()
	cold, err := archive.Open(context.Background(), obj, archive.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := blocklog.OpenStoreCold(filepath.Join(dir, "blocks"), smallSegments, cold)
	if err != nil {
		t.Fatal(err)
	}
	return s, cold
}

// archiveRestartProve is issue 17's "Archive, restart, then fetch proofs
// across the archive boundary" over obj: blocks 1 and 2 go to the
// archive, the store is closed and opened again, and then every block
// reads back and verifies, and license proofs of blocks on both sides of
// the boundary verify against the trust bundle alone.
func archiveRestartProve(t *testing.T, obj archive.Objects) (*prooftest.Chain, *blocklog.Store, *archive.Blocks) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	c := prooftest.Build(t, filepath.Join(dir, "state"))
	s, _ := openStore(t, dir, obj)
	for _, r := range c.Records {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Archive(ctx, s.Height(), 0); !errors.Is(err, blocklog.ErrArchive) {
		t.Fatalf("archiving the last block: %v, want ErrArchive", err)
	}
	n, err := s.Archive(ctx, 2, 1) // one block per chunk
	if err != nil || n != 2 {
		t.Fatalf("Archive(2) = %d, %v", n, err)
	}
	if s.First() != 3 || s.Archived() != 2 {
		t.Fatalf("after archiving: live from %d, archived %d; want 3, 2", s.First(), s.Archived())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, cold := openStore(t, dir, obj)
	t.Cleanup(func() { s.Close() })
	if s.First() != 3 || s.Height() != 4 || cold.Height() != 2 || cold.Chunks() != 2 {
		t.Fatalf("reopened: live %d..%d, archive 1..%d in %d chunks", s.First(), s.Height(), cold.Height(), cold.Chunks())
	}
	var parent *block.Header
	for h := uint64(1); h <= s.Height(); h++ {
		raw, err := s.Raw(h)
		if err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		rec, _, err := blocklog.VerifyRecord(c.Trust, parent, raw)
		if err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		parent = &rec.Header
	}
	if err := s.Scan(1, nil); err != nil {
		t.Fatalf("Scan across the boundary: %v", err)
	}
	p := proof.NewProver(source{c: c, blocks: s}, proof.NewBlockCache(1<<20))
	for _, tc := range []struct {
		name string
		h    uint64
	}{{"cn-approval", 1}, {"hk-certificate", 1}, {"cn-extra", 2}, {"cn-business", 3}, {"hk-business", 4}} {
		b, err := p.Latest(c.Keys[tc.name])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b.Tx.Height != tc.h {
			t.Fatalf("%s: proof of block %d, want %d", tc.name, b.Tx.Height, tc.h)
		}
		if _, err := proof.Verify(c.Trust, b); err != nil {
			t.Fatalf("%s (block %d): %v", tc.name, tc.h, err)
		}
	}
	return c, s, cold
}

func TestArchiveDirRestartProofs(t *testing.T) {
	archiveRestartProve(t, archive.Dir{Path: t.TempDir()})
}

func TestArchiveS3RestartProofs(t *testing.T) {
	obj, _ := newBucket(t)
	archiveRestartProve(t, obj)
}

// A damaged archived object is detected and refused, whether a bit
// flipped in it or another object was put in its place.
func TestArchiveDamagedObjectRefused(t *testing.T) {
	for _, where := range []string{"dir", "s3"} {
		t.Run(where, func(t *testing.T) {
			var obj archive.Objects
			var files string
			if where == "dir" {
				files = t.TempDir()
				obj = archive.Dir{Path: files}
			} else {
				obj, files = newBucket(t)
				files = filepath.Join(files, "orderer-hk")
			}
			_, s, _ := archiveRestartProve(t, obj)
			s.Close()
			names, err := obj.List(context.Background(), archive.BlocksPrefix)
			if err != nil || len(names) != 2 {
				t.Fatalf("List = %v, %v", names, err)
			}
			first := filepath.Join(files, filepath.FromSlash(names[0]))
			raw, err := os.ReadFile(first)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				data []byte
			}{
				{"one byte changed", flip(raw, len(raw)/2)},
				{"truncated", raw[:len(raw)-1]},
				{"the other chunk in its place", mustRead(t, filepath.Join(files, filepath.FromSlash(names[1])))},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if err := os.WriteFile(first, tc.data, 0o644); err != nil {
						t.Fatal(err)
					}
					// Opened afresh: nothing of the chunk is cached.
					cold, err := archive.Open(context.Background(), obj, archive.Config{})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := cold.Raw(context.Background(), 1); !errors.Is(err, archive.ErrDamaged) {
						t.Fatalf("Raw(1) of a damaged chunk: %v, want ErrDamaged", err)
					}
					if _, err := cold.Raw(context.Background(), 2); err != nil {
						t.Fatalf("Raw(2), in an intact chunk: %v", err)
					}
				})
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An archiving interrupted after the archive took blocks and before the
// live log was cut leaves them in both; the store opens, and Archive
// finishes the cut.
func TestArchiveInterruptedFinishes(t *testing.T) {
	ctx := context.Background()
	dir, obj := t.TempDir(), archive.Dir{Path: t.TempDir()}
	c := prooftest.Build(t, filepath.Join(dir, "state"))
	s, cold := openStore(t, dir, obj)
	for _, r := range c.Records {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	raws := [][]byte{mustRaw(t, s, 1), mustRaw(t, s, 2)}
	if err := cold.Put(ctx, 1, raws); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, cold = openStore(t, dir, obj)
	defer s.Close()
	if s.First() != 1 || cold.Height() != 2 {
		t.Fatalf("live from %d, archive to %d", s.First(), cold.Height())
	}
	n, err := s.Archive(ctx, 2, 0)
	if err != nil || n != 0 || s.First() != 3 {
		t.Fatalf("Archive = %d, %v; live from %d, want 0 new blocks and live from 3", n, err, s.First())
	}
	// Asked to archive less than the archive already holds: nothing to
	// cut, no error.
	s.Close()
	s, cold = openStore(t, dir, obj)
	defer s.Close()
	if err := cold.Put(ctx, 3, [][]byte{mustRaw(t, s, 3)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Archive(ctx, 1, 0); err != nil || n != 0 || s.First() != 3 {
		t.Fatalf("Archive(1) over an archive to 3: %d, %v; live from %d", n, err, s.First())
	}
	if n, err := s.Archive(ctx, 3, 0); err != nil || n != 0 || s.First() != 4 {
		t.Fatalf("Archive(3) over an archive to 3: %d, %v; live from %d", n, err, s.First())
	}
	if err := cold.Put(ctx, 5, raws); !errors.Is(err, archive.ErrGap) {
		t.Fatalf("Put past the archive's end: %v, want ErrGap", err)
	}
}

func mustRaw(t *testing.T, s *blocklog.Store, h uint64) []byte {
	t.Helper()
	raw, err := s.Raw(h)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A live log that starts above the archive's end, an archive with a gap,
// and a store without an archive whose log was cut are refused.
func TestArchiveGapsRefused(t *testing.T) {
	ctx := context.Background()
	dir, files := t.TempDir(), t.TempDir()
	obj := archive.Dir{Path: files}
	c := prooftest.Build(t, filepath.Join(dir, "state"))
	s, _ := openStore(t, dir, obj)
	for _, r := range c.Records {
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Archive(ctx, 3, 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := blocklog.OpenStore(filepath.Join(dir, "blocks"), smallSegments); !errors.Is(err, blocklog.ErrBrokenChain) {
		t.Fatalf("a cut log without its archive: %v, want ErrBrokenChain", err)
	}
	names, _ := obj.List(ctx, archive.BlocksPrefix)
	if err := os.Rename(filepath.Join(files, names[2]), filepath.Join(t.TempDir(), "aside")); err != nil {
		t.Fatal(err)
	}
	cold, err := archive.Open(ctx, obj, archive.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocklog.OpenStoreCold(filepath.Join(dir, "blocks"), smallSegments, cold); !errors.Is(err, blocklog.ErrArchive) {
		t.Fatalf("live log from 4, archive to 2: %v, want ErrArchive", err)
	}
	if err := os.Rename(filepath.Join(files, names[1]), filepath.Join(t.TempDir(), "aside")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, names[2]), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Open(ctx, obj, archive.Config{}); !errors.Is(err, archive.ErrGap) {
		t.Fatalf("chunks 1 and 3 without 2: %v, want ErrGap", err)
	}
	if err := os.WriteFile(filepath.Join(files, "blocks", "stray"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Open(ctx, obj, archive.Config{}); !errors.Is(err, archive.ErrName) {
		t.Fatalf("a stray object: %v, want ErrName", err)
	}
	if !strings.HasPrefix(names[0], archive.BlocksPrefix) {
		t.Fatalf("name %s", names[0])
	}
}

// Archiving runs beside the commit path and readers (the node's archiver
// goroutine): while blocks are appended and read back at random heights,
// rounds of archiving move the older ones out, and every read returns the
// record as appended.
func TestArchiveWhileAppendingAndReading(t *testing.T) {
	ctx := context.Background()
	cons := blocklogtest.Consortium(t)
	recs := blocklogtest.Chain(t, cons, 60, 1, 1)
	dir := t.TempDir()
	s, cold := openStore(t, dir, archive.Dir{Path: t.TempDir()})
	defer s.Close()
	if err := s.Append(recs[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 3)
	go func() { // the commit path
		defer close(done)
		for _, r := range recs[1:] {
			if err := s.Append(r); err != nil {
				errs <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // readers
		defer wg.Done()
		rnd := mrand.New(mrand.NewPCG(1, 2))
		for {
			select {
			case <-done:
				return
			default:
			}
			h := 1 + rnd.Uint64N(s.Height())
			raw, err := s.Raw(h)
			if err != nil {
				errs <- fmt.Errorf("Raw(%d) with the live log from %d: %w", h, s.First(), err)
				return
			}
			if !bytes.Equal(raw, recs[h-1].Encode()) {
				errs <- fmt.Errorf("Raw(%d): not the record appended", h)
				return
			}
		}
	}()
	go func() { // the archiver
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if h := s.Height(); h > 3 {
				if _, err := s.Archive(ctx, h-2, 1); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	<-done
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if cold.Height() == 0 || s.First() != cold.Height()+1 {
		t.Fatalf("archive to %d, live log from %d", cold.Height(), s.First())
	}
	if err := s.Scan(1, nil); err != nil {
		t.Fatal(err)
	}
}

// A block log created empty over an archive continues it: its height is
// the archive's, every block reads back, and the next block appends.
func TestContinueArchive(t *testing.T) {
	ctx := context.Background()
	cons := blocklogtest.Consortium(t)
	recs := blocklogtest.Chain(t, cons, 5, 1, 1)
	obj := archive.Dir{Path: t.TempDir()}
	cold, err := archive.Open(ctx, obj, archive.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, r := range recs[:4] {
		raws = append(raws, r.Encode())
	}
	if err := cold.Put(ctx, 1, raws); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "blocks")
	if err := blocklog.ContinueArchive(dir, cold); err != nil {
		t.Fatal(err)
	}
	s, err := blocklog.OpenStoreCold(dir, smallSegments, cold)
	if err != nil {
		t.Fatal(err)
	}
	if s.Height() != 4 || s.Last().Hash() != recs[3].Header.Hash() || s.First() != 5 {
		t.Fatalf("continued: height %d, live from %d", s.Height(), s.First())
	}
	if err := s.Append(recs[4]); err != nil {
		t.Fatal(err)
	}
	if err := s.Scan(1, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = blocklog.OpenStoreCold(dir, smallSegments, cold); err != nil || s.Height() != 5 {
		t.Fatalf("reopened: %v", err)
	}
	s.Close()
	if err := blocklog.ContinueArchive(dir, cold); err == nil {
		t.Fatal("ContinueArchive over a log: accepted")
	}
	other := filepath.Join(t.TempDir(), "blocks")
	if err := wal.CreateAt(other, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := blocklog.OpenStoreCold(other, smallSegments, cold); !errors.Is(err, blocklog.ErrArchive) {
		t.Fatalf("an empty log from 9 over an archive to 4: %v, want ErrArchive", err)
	}
	if _, err := blocklog.OpenStore(other, smallSegments); !errors.Is(err, blocklog.ErrBrokenChain) {
		t.Fatalf("an empty log from 9 without an archive: %v, want ErrBrokenChain", err)
	}
}
