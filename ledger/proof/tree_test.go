package proof

import (
	"fmt"
	"slices"
	"testing"

	"github.com/baybus/baybus/internal/merkle"
	"golang.org/x/mod/sumdb/tlog"
)

// TestTreePaths checks the level-by-level tree against internal/merkle's
// Inclusion and Root, and that tlog accepts its paths.
func TestTreePaths(t *testing.T) {
	for n := 1; n <= 70; n++ {
		leaves := make([][32]byte, n)
		for i := range leaves {
			leaves[i] = merkle.LeafHash(fmt.Appendf(nil, "tx %d", i))
		}
		tr := newTree(leaves)
		root := merkle.Root(leaves)
		if got := tr.levels[len(tr.levels)-1][0]; got != root {
			t.Fatalf("n=%d: root %x, want %x", n, got, root)
		}
		for i := range n {
			want, _ := merkle.Inclusion(leaves, i)
			got := hashes(tr.path(i))
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d i=%d: path differs from merkle.Inclusion", n, i)
			}
			rp := make(tlog.RecordProof, len(got))
			for j := range got {
				rp[j] = tlog.Hash(got[j])
			}
			if err := tlog.CheckRecord(rp, int64(n), tlog.Hash(root), int64(i), tlog.Hash(leaves[i])); err != nil {
				t.Fatalf("n=%d i=%d: tlog: %v", n, i, err)
			}
		}
	}
}
