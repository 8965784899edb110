package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/baybus/baybus/ledger/blocklog"
)

// Errors.
var (
	ErrConfig   = errors.New("archive: bad configuration")
	ErrNotFound = errors.New("archive: no such object")
	ErrName     = errors.New("archive: bad object name")
	// ErrDamaged: an object is not what its name says (its content hash,
	// heights or hash links differ). Nothing in it is used.
	ErrDamaged = errors.New("archive: damaged object")
	// ErrGap: the archive's chunks do not cover 1..Height without a gap
	// or an overlap.
	ErrGap = errors.New("archive: chunks do not follow each other")
)

// Config tunes a Blocks archive. The zero value is the default.
type Config struct {
	// CacheChunks is how many decoded chunks are kept in memory, so that
	// reading the blocks of one chunk in turn fetches it once. Default 2.
	CacheChunks int
}

// Blocks is a block-log archive over an object store: blocklog.Cold. It
// lists the store's chunks once on Open and keeps their names (a few dozen
// bytes per chunk), and then only adds the chunks it puts.
//
// Concurrency: safe for concurrent use. Put is called by one archiver at a
// time (blocklog.Store.Archive); reads may run alongside and share the
// cache.
type Blocks struct {
	obj Objects
	cfg Config

	mu     sync.Mutex
	chunks []chunkRef // sorted, contiguous from block 1
	cache  []cached   // most recently used last
}

type cached struct {
	ref  chunkRef
	raws [][]byte
}

var _ blocklog.Cold = (*Blocks)(nil)

// Open lists the chunks in obj. They must cover blocks 1..n exactly
// (ErrGap otherwise); none is read until needed.
func Open(ctx context.Context, obj Objects, cfg Config) (*Blocks, error) {
	if cfg.CacheChunks <= 0 {
		cfg.CacheChunks = 2
	}
	names, err := obj.List(ctx, BlocksPrefix)
	if err != nil {
		return nil, err
	}
	b := &Blocks{obj: obj, cfg: cfg}
	for _, name := range names {
		ref, err := parseChunkName(name)
		if err != nil {
			return nil, err
		}
		b.chunks = append(b.chunks, ref)
	}
	sort.Slice(b.chunks, func(i, j int) bool { return b.chunks[i].from < b.chunks[j].from })
	next := uint64(1)
	for _, c := range b.chunks {
		if c.from != next {
			return nil, fmt.Errorf("%w: %s after block %d", ErrGap, c.name, next-1)
		}
		next = c.to + 1
	}
	return b, nil
}

// Height implements blocklog.Cold.
func (b *Blocks) Height() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.chunks) == 0 {
		return 0
	}
	return b.chunks[len(b.chunks)-1].to
}

// Chunks returns how many chunks the archive holds.
func (b *Blocks) Chunks() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.chunks)
}

// Put implements blocklog.Cold: the records go into one chunk.
func (b *Blocks) Put(ctx context.Context, from uint64, raws [][]byte) error {
	if len(raws) == 0 {
		return nil
	}
	if h := b.Height(); from != h+1 {
		return fmt.Errorf("%w: put from block %d, archive holds 1..%d", ErrGap, from, h)
	}
	name, obj := encodeChunk(from, raws)
	ref, err := parseChunkName(name)
	if err != nil {
		return err
	}
	// Check what goes out as a reader will check it, so that a record
	// that would not link is refused here, not found later.
	if _, err := decodeChunk(ref, obj); err != nil {
		return err
	}
	if err := b.obj.Put(ctx, name, obj); err != nil {
		return err
	}
	b.mu.Lock()
	b.chunks = append(b.chunks, ref)
	b.mu.Unlock()
	return nil
}

// Raw implements blocklog.Cold. A chunk is fetched whole and checked
// (ErrDamaged) before any of its records is returned.
func (b *Blocks) Raw(ctx context.Context, h uint64) ([]byte, error) {
	b.mu.Lock()
	i := sort.Search(len(b.chunks), func(i int) bool { return b.chunks[i].to >= h })
	if h == 0 || i == len(b.chunks) {
		b.mu.Unlock()
		return nil, fmt.Errorf("%w: %d (the archive holds 1..%d)", blocklog.ErrNoBlock, h, b.heightLocked())
	}
	ref := b.chunks[i]
	for j, c := range b.cache {
		if c.ref.name == ref.name {
			b.cache = append(slices.Delete(b.cache, j, j+1), c)
			b.mu.Unlock()
			return bytes.Clone(c.raws[h-ref.from]), nil
		}
	}
	b.mu.Unlock()
	obj, err := b.obj.Get(ctx, ref.name)
	if err != nil {
		return nil, err
	}
	raws, err := decodeChunk(ref, obj)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.cache = append(b.cache, cached{ref: ref, raws: raws})
	if len(b.cache) > b.cfg.CacheChunks {
		b.cache = slices.Delete(b.cache, 0, 1)
	}
	b.mu.Unlock()
	return bytes.Clone(raws[h-ref.from]), nil
}

func (b *Blocks) heightLocked() uint64 {
	if len(b.chunks) == 0 {
		return 0
	}
	return b.chunks[len(b.chunks)-1].to
}

// Copy copies the chunks of the archive in from that to lacks, checking
// each (ErrDamaged) before it is put, and returns how many it copied. It
// is how an orderer that joins from a snapshot takes a peer's archive as
// the start of its own (ledger/node.Join); records carry the votes the
// peer collected, which are as valid for any orderer. to must hold a
// prefix of from's chunks (ErrGap otherwise).
func Copy(ctx context.Context, from, to Objects) (int, error) {
	src, err := Open(ctx, from, Config{})
	if err != nil {
		return 0, err
	}
	dst, err := Open(ctx, to, Config{})
	if err != nil {
		return 0, err
	}
	dst.mu.Lock()
	have := len(dst.chunks)
	dst.mu.Unlock()
	src.mu.Lock()
	chunks := slices.Clone(src.chunks)
	src.mu.Unlock()
	for i := 0; i < have; i++ {
		if i >= len(chunks) || chunks[i].name != dst.chunks[i].name {
			return 0, fmt.Errorf("%w: the destination's chunk %s is not the source's", ErrGap, dst.chunks[i].name)
		}
	}
	n := 0
	for _, ref := range chunks[have:] {
		obj, err := from.Get(ctx, ref.name)
		if err != nil {
			return n, err
		}
		if _, err := decodeChunk(ref, obj); err != nil {
			return n, err
		}
		if err := to.Put(ctx, ref.name, obj); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
