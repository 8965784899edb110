package merkle

import (
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

func leaves(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		out[i] = LeafHash([]byte(fmt.Sprintf("leaf %d", i)))
	}
	return out
}

// refRoot is RFC 6962's recursive definition, kept as the oracle.
func refRoot(l []Hash) Hash {
	if len(l) == 0 {
		return EmptyRoot()
	}
	if len(l) == 1 {
		return l[0]
	}
	k := 1
	for k*2 < len(l) {
		k *= 2
	}
	a, b := refRoot(l[:k]), refRoot(l[k:])
	var h Hash
	copy(h[:], rfc6962.DefaultHasher.HashChildren(a[:], b[:]))
	return h
}

func TestLeafHashMatchesRFC6962(t *testing.T) {
	got := LeafHash([]byte("x"))
	want := rfc6962.DefaultHasher.HashLeaf([]byte("x"))
	if string(got[:]) != string(want) {
		t.Fatalf("leaf hash %x, want %x", got, want)
	}
}

func TestRootAndInclusionAgainstIndependentVerifiers(t *testing.T) {
	for n := 0; n <= 70; n++ {
		l := leaves(n)
		root := Root(l)
		if want := refRoot(l); root != want {
			t.Fatalf("n=%d: root %x, want %x", n, root, want)
		}
		if got := NewTree(l).Root(); got != root {
			t.Fatalf("n=%d: Tree.Root %x, want %x", n, got, root)
		}
		for i := 0; i < n; i++ {
			path, err := Inclusion(l, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(l[i], uint64(i), uint64(n), path, root); err != nil {
				t.Fatalf("n=%d i=%d: transparency-dev rejects: %v", n, i, err)
			}
			tp := make(tlog.RecordProof, len(path))
			for j := range path {
				tp[j] = tlog.Hash(path[j])
			}
			if err := tlog.CheckRecord(tp, int64(n), tlog.Hash(root), int64(i), tlog.Hash(l[i])); err != nil {
				t.Fatalf("n=%d i=%d: tlog rejects: %v", n, i, err)
			}
		}
	}
}

func TestInclusionRejections(t *testing.T) {
	l := leaves(13)
	root := Root(l)
	path, _ := Inclusion(l, 5)
	if err := VerifyInclusion(l[6], 5, 13, path, root); err == nil {
		t.Error("wrong leaf accepted")
	}
	if err := VerifyInclusion(l[5], 5, 13, path[:len(path)-1], root); err == nil {
		t.Error("truncated path accepted")
	}
	bad := append([]Hash(nil), path...)
	bad[0][0] ^= 1
	if err := VerifyInclusion(l[5], 5, 13, bad, root); err == nil {
		t.Error("altered path accepted")
	}
	if _, err := Inclusion(l, 13); err == nil {
		t.Error("index out of range accepted")
	}
}

func BenchmarkRoot1000(b *testing.B) {
	l := leaves(1000)
	b.ReportAllocs()
	for b.Loop() {
		Root(l)
	}
}
