package archive

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas/wire"
)

// A chunk is one archived object: the records of consecutive blocks.
//
//	"GBA1" | from uint64 BE | uvarint n | n x bytes(record) | SHA-256 of all before (32)
//
// Its name is BlocksPrefix + "<from>-<to>-<SHA-256 hex>" (heights zero-padded
// to 20 digits so names sort by height): the name is the hash of the
// content, so a damaged object, or one put in another's place, is refused
// before anything in it is used.
const (
	chunkMagic = "GBA1"
	// BlocksPrefix is where block chunks live in the object store.
	BlocksPrefix = "blocks/"
	// maxChunkRecords bounds a chunk's record count when decoding.
	maxChunkRecords = 1 << 20
)

// encodeChunk returns the object holding records from.., and its name.
func encodeChunk(from uint64, raws [][]byte) (string, []byte) {
	size := len(chunkMagic) + 8 + binary.MaxVarintLen64 + sha256.Size
	for _, r := range raws {
		size += len(r) + binary.MaxVarintLen64
	}
	b := make([]byte, 0, size)
	b = append(b, chunkMagic...)
	b = binary.BigEndian.AppendUint64(b, from)
	b = binary.AppendUvarint(b, uint64(len(raws)))
	for _, r := range raws {
		b = wire.AppendBytes(b, r)
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:]...)
	return chunkName(from, from+uint64(len(raws))-1, sum), b
}

func chunkName(from, to uint64, sum [32]byte) string {
	return fmt.Sprintf("%s%020d-%020d-%x", BlocksPrefix, from, to, sum)
}

// chunkRef is a chunk's name parsed.
type chunkRef struct {
	name     string
	from, to uint64
	sum      [32]byte
}

// parseChunkName parses a name made by chunkName.
func parseChunkName(name string) (chunkRef, error) {
	rest, ok := strings.CutPrefix(name, BlocksPrefix)
	parts := strings.Split(rest, "-")
	if !ok || len(parts) != 3 || len(parts[0]) != 20 || len(parts[1]) != 20 || len(parts[2]) != 64 {
		return chunkRef{}, fmt.Errorf("%w: %q is not a block chunk's name", ErrName, name)
	}
	ref := chunkRef{name: name}
	var err1, err2 error
	ref.from, err1 = strconv.ParseUint(parts[0], 10, 64)
	ref.to, err2 = strconv.ParseUint(parts[1], 10, 64)
	_, err3 := hex.Decode(ref.sum[:], []byte(parts[2]))
	if err1 != nil || err2 != nil || err3 != nil || ref.from == 0 || ref.to < ref.from || parts[2] != strings.ToLower(parts[2]) {
		return chunkRef{}, fmt.Errorf("%w: %q is not a block chunk's name", ErrName, name)
	}
	return ref, nil
}

// decodeChunk checks an object against the name it was fetched by and
// returns its records: the content's hash is the name's, the records are
// the name's heights, each record's header carries its height and links
// to the one before it. Errors wrap ErrDamaged.
func decodeChunk(ref chunkRef, obj []byte) ([][]byte, error) {
	if len(obj) < len(chunkMagic)+8+1+sha256.Size {
		return nil, fmt.Errorf("%w: %s: %d bytes", ErrDamaged, ref.name, len(obj))
	}
	body, tail := obj[:len(obj)-sha256.Size], obj[len(obj)-sha256.Size:]
	if sum := sha256.Sum256(body); sum != ref.sum || string(tail) != string(sum[:]) {
		return nil, fmt.Errorf("%w: %s: content hash %x", ErrDamaged, ref.name, sum[:8])
	}
	raws, from, err := parseChunk(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDamaged, ref.name, err)
	}
	if from != ref.from || from+uint64(len(raws))-1 != ref.to {
		return nil, fmt.Errorf("%w: %s holds blocks %d..%d", ErrDamaged, ref.name, from, from+uint64(len(raws))-1)
	}
	var prev *block.Header
	for i, raw := range raws {
		rec, err := blocklog.DecodeRecord(raw, true)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: block %d: %w", ErrDamaged, ref.name, from+uint64(i), err)
		}
		if rec.Header.Height != from+uint64(i) || (prev != nil && blocklog.Links(prev, &rec.Header) != nil) {
			return nil, fmt.Errorf("%w: %s: block %d does not follow block %d", ErrDamaged, ref.name, rec.Header.Height, from+uint64(i)-1)
		}
		hdr := rec.Header
		prev = &hdr
	}
	return raws, nil
}

// parseChunk parses a chunk's body (without its hash): its first height
// and records.
func parseChunk(body []byte) ([][]byte, uint64, error) {
	r := wire.NewReader(body)
	if string(r.Take(len(chunkMagic))) != chunkMagic {
		return nil, 0, fmt.Errorf("magic")
	}
	from := r.U64()
	n := r.Count(maxChunkRecords)
	if r.Err() == nil && n == 0 {
		return nil, 0, fmt.Errorf("no records")
	}
	if r.Err() == nil && from == 0 || from+uint64(n) < from {
		return nil, 0, fmt.Errorf("heights %d+%d", from, n)
	}
	raws := make([][]byte, 0, min(n, r.Len()))
	for i := 0; i < n && r.Err() == nil; i++ {
		raws = append(raws, r.Bytes(block.MaxBlockBytes+(1<<20)))
	}
	if r.Err() != nil {
		return nil, 0, r.Err()
	}
	if r.Len() != 0 {
		return nil, 0, fmt.Errorf("%d trailing bytes", r.Len())
	}
	return raws, from, nil
}
