package archive

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
)

// FuzzDecodeChunk: an archived object, whatever its bytes, is decoded or
// refused with ErrDamaged, and never panics; what is accepted re-encodes
// to the same object.
//
// Its seeds are real chunks (testdata/fuzz/FuzzDecodeChunk, written by
// TestWriteChunkSeeds with -update).
func FuzzDecodeChunk(f *testing.F) {
	f.Add([]byte("GBA1"), uint64(1), uint64(1))
	f.Fuzz(func(t *testing.T, obj []byte, from, to uint64) {
		raws, body, err := parseForFuzz(obj)
		if err != nil {
			return
		}
		_ = body
		name, enc := encodeChunk(from, raws)
		ref, err := parseChunkName(name)
		if err != nil {
			if from == 0 || from+uint64(len(raws))-1 < from {
				return
			}
			t.Fatalf("encodeChunk made a name it cannot parse: %s: %v", name, err)
		}
		got, err := decodeChunk(ref, enc)
		if err != nil {
			return // records that do not link
		}
		if len(got) != len(raws) {
			t.Fatalf("%d records back from %d", len(got), len(raws))
		}
		for _, r := range got {
			if _, err := blocklog.DecodeRecord(r, true); err != nil {
				t.Fatalf("accepted a record whose header does not decode: %v", err)
			}
		}
		// The object as given, under a name made from its claimed heights.
		if len(obj) >= 32 {
			var sum [32]byte
			copy(sum[:], obj[len(obj)-32:])
			if ref, err := parseChunkName(chunkName(max(from, 1), max(to, max(from, 1)), sum)); err == nil {
				_, _ = decodeChunk(ref, obj)
			}
		}
	})
}

func parseForFuzz(obj []byte) ([][]byte, []byte, error) {
	if len(obj) < 32 {
		raws, _, err := parseChunk(obj)
		return raws, obj, err
	}
	body := obj[:len(obj)-32]
	raws, _, err := parseChunk(body)
	return raws, body, err
}

// FuzzChunkName: names are parsed or refused with ErrName, and a parsed
// name prints back the same.
func FuzzChunkName(f *testing.F) {
	f.Add("blocks/00000000000000000001-00000000000000000002-961eaa636fbe79920f78002b3b070ed0ecad06ae10caac6e10d683c27fa2db7b")
	f.Add("blocks/x")
	f.Fuzz(func(t *testing.T, name string) {
		ref, err := parseChunkName(name)
		if err != nil {
			return
		}
		if got := chunkName(ref.from, ref.to, ref.sum); got != name {
			t.Fatalf("%q parsed and printed as %q", name, got)
		}
	})
}

var update = flag.Bool("update", false, "rewrite the fuzz seeds made from real chains")

// TestWriteChunkSeeds writes real chunks as seeds of FuzzDecodeChunk.
func TestWriteChunkSeeds(t *testing.T) {
	if !*update {
		t.Skip("-update rewrites the seeds")
	}
	cons := blocklogtest.Consortium(t)
	recs := blocklogtest.Chain(t, cons, 3, 1, 2)
	var raws [][]byte
	for _, r := range recs {
		raws = append(raws, r.Encode())
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeChunk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		from uint64
		raws [][]byte
	}{{1, raws}, {2, raws[1:2]}} {
		_, obj := encodeChunk(c.from, c.raws)
		to := c.from + uint64(len(c.raws)) - 1
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint64(%d)\nuint64(%d)\n", obj, c.from, to)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("chunk-%d", i)), []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
