package smt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/schemas"
)

var statuses = []schemas.Status{schemas.StatusValid, schemas.StatusSuspended, schemas.StatusRevoked, schemas.StatusExpired}

func testLeaf(key string, height uint64, rnd *rand.Rand) Leaf {
	l := Leaf{Key: key, Status: statuses[rnd.IntN(len(statuses))], Height: height}
	for i := range l.RecordHash {
		l.RecordHash[i] = byte(rnd.Uint32())
		l.TxID[i] = byte(rnd.Uint32())
	}
	return l
}

func setOf(t testing.TB, l Leaf) Set {
	t.Helper()
	vh, err := l.ValueHash()
	if err != nil {
		t.Fatal(err)
	}
	return Set{Path: PathOf(l.Key), ValueHash: vh}
}

// refRoot is the tree's definition, kept as the oracle: an empty subtree
// hashes to Empty, a subtree with one leaf to that leaf's hash, any other to
// the node hash of its halves.
func refRoot(depth int, sets []Set) Hash {
	switch len(sets) {
	case 0:
		return Empty
	case 1:
		return LeafHash(sets[0].Path, sets[0].ValueHash)
	}
	var l, r []Set
	for _, s := range sets {
		if s.Path.bit(depth) == 0 {
			l = append(l, s)
		} else {
			r = append(r, s)
		}
	}
	return NodeHash(refRoot(depth+1, l), refRoot(depth+1, r))
}

func newRand(t testing.TB) *rand.Rand {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0))
}

func TestEmptyTree(t *testing.T) {
	m := NewMemStore()
	root, err := m.Update(nil)
	if err != nil {
		t.Fatal(err)
	}
	if root != Empty {
		t.Fatalf("empty root %s, want %s", root, Empty)
	}
	if got, _ := Root(m); got != Empty {
		t.Fatalf("Root %s, want Empty", got)
	}
	p, member, _, err := Prove(m, PathOf("CN/x"))
	if err != nil || member || len(p.Siblings) != 0 || p.Other != nil {
		t.Fatalf("Prove on empty tree: %+v %v %v", p, member, err)
	}
	if err := VerifyProof(root, "CN/x", nil, p); err != nil {
		t.Fatal(err)
	}
}

// TestRootMatchesReference applies random updates in random batches and
// checks the root against the recursive definition after each batch.
func TestRootMatchesReference(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 17, 100, 1000, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rnd := newRand(t)
			m := NewMemStore()
			ref := map[Hash]Set{}
			for height := uint64(1); len(ref) < n; height++ {
				batch := map[string]Leaf{}
				for range 1 + rnd.IntN(n) {
					key := fmt.Sprintf("CN/%d", rnd.IntN(n*2))
					batch[key] = testLeaf(key, height, rnd)
				}
				var sets []Set
				added := 0
				for _, l := range batch {
					s := setOf(t, l)
					sets = append(sets, s)
					if _, ok := ref[s.Path]; !ok {
						added++
					}
					ref[s.Path] = s
				}
				res, err := Update(m, sets)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range res.Writes {
					m.pages[string(w.Key)] = w.Page.Encode()
				}
				root := res.Root
				if res.Added != added {
					t.Fatalf("height %d: added %d, want %d", height, res.Added, added)
				}
				if want := refRoot(0, slices.Collect(mapValues(ref))); root != want {
					t.Fatalf("height %d: root %s, want %s", height, root, want)
				}
				if got, _ := Root(m); got != root {
					t.Fatalf("Root() %s, Update %s", got, root)
				}
			}
		})
	}
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// TestOrderIndependent: the root depends on the set of leaves only, not on
// their order within an update nor on how they were split into updates.
func TestOrderIndependent(t *testing.T) {
	rnd := newRand(t)
	var sets []Set
	for i := range 500 {
		sets = append(sets, setOf(t, testLeaf(fmt.Sprintf("HK/%d", i), 1, rnd)))
	}
	want, err := NewMemStore().Update(sets)
	if err != nil {
		t.Fatal(err)
	}
	for trial := range 5 {
		rnd.Shuffle(len(sets), func(i, j int) { sets[i], sets[j] = sets[j], sets[i] })
		m := NewMemStore()
		var root Hash
		for rest := sets; len(rest) > 0; {
			k := 1 + rnd.IntN(len(rest))
			if root, err = m.Update(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		if root != want {
			t.Fatalf("trial %d: root %s, want %s", trial, root, want)
		}
	}
}

func TestUpdateAdded(t *testing.T) {
	rnd := newRand(t)
	m := NewMemStore()
	a, b, c := testLeaf("CN/a", 1, rnd), testLeaf("CN/b", 1, rnd), testLeaf("CN/c", 1, rnd)
	res, err := Update(m, []Set{setOf(t, a), setOf(t, b)})
	if err != nil || res.Added != 2 {
		t.Fatalf("added %d, %v; want 2", res.Added, err)
	}
	for _, w := range res.Writes {
		m.pages[string(w.Key)] = w.Page.Encode()
	}
	a.Status = schemas.StatusRevoked
	res, err = Update(m, []Set{setOf(t, a), setOf(t, c)})
	if err != nil || res.Added != 1 {
		t.Fatalf("added %d, %v; want 1", res.Added, err)
	}
}

func TestDuplicatePath(t *testing.T) {
	rnd := newRand(t)
	l := testLeaf("CN/a", 1, rnd)
	_, err := Update(NewMemStore(), []Set{setOf(t, l), setOf(t, l)})
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("err %v, want ErrDuplicate", err)
	}
}

type fixture struct {
	m      *MemStore
	root   Hash
	leaves map[string]Leaf
}

func newFixture(t testing.TB, n int) *fixture {
	rnd := newRand(t)
	f := &fixture{m: NewMemStore(), leaves: map[string]Leaf{}}
	var sets []Set
	for i := range n {
		key := fmt.Sprintf("MO/%d", i)
		l := testLeaf(key, 1, rnd)
		f.leaves[key] = l
		sets = append(sets, setOf(t, l))
	}
	var err error
	if f.root, err = f.m.Update(sets); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) prove(t testing.TB, key string) (*Leaf, *Proof) {
	t.Helper()
	p, member, vh, err := Prove(f.m, PathOf(key))
	if err != nil {
		t.Fatal(err)
	}
	l, ok := f.leaves[key]
	if member != ok {
		t.Fatalf("%s: member %v, want %v", key, member, ok)
	}
	if !ok {
		return nil, p
	}
	if want := setOf(t, l).ValueHash; vh != want {
		t.Fatalf("%s: value hash %s, want %s", key, vh, want)
	}
	return &l, p
}

func TestProofs(t *testing.T) {
	for _, n := range []int{1, 2, 10, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newFixture(t, n)
			var empties, others int
			for i := range 2 * n {
				key := fmt.Sprintf("MO/%d", i)
				l, p := f.prove(t, key)
				if err := VerifyProof(f.root, key, l, p); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				if l == nil {
					if p.Other != nil {
						others++
					} else {
						empties++
					}
					continue
				}
				// A member's proof must not pass as non-membership.
				if err := VerifyProof(f.root, key, nil, p); !errors.Is(err, ErrInvalidProof) {
					t.Fatalf("%s: member proven absent: %v", key, err)
				}
			}
			t.Logf("non-members: %d at an empty subtree, %d at another leaf", empties, others)
			if n >= 10 && (empties == 0 || others == 0) {
				t.Fatalf("want both kinds of non-membership proofs, got %d and %d", empties, others)
			}
		})
	}
}

func TestProofRejections(t *testing.T) {
	f := newFixture(t, 300)
	member := "MO/7"
	leaf, proof := f.prove(t, member)
	var absent, absentOther string
	var absentProof, absentOtherProof *Proof
	for i := 300; absent == "" || absentOther == ""; i++ {
		key := fmt.Sprintf("MO/%d", i)
		_, p := f.prove(t, key)
		if p.Other == nil && absent == "" {
			absent, absentProof = key, p
		}
		if p.Other != nil && absentOther == "" {
			absentOther, absentOtherProof = key, p
		}
	}
	clone := func(p *Proof) *Proof {
		q := &Proof{Siblings: slices.Clone(p.Siblings)}
		if p.Other != nil {
			o := *p.Other
			q.Other = &o
		}
		return q
	}
	otherRoot := newFixture(t, 301).root
	changed := func(fn func(*Leaf)) *Leaf {
		l := *leaf
		fn(&l)
		return &l
	}
	tests := []struct {
		name  string
		root  Hash
		key   string
		leaf  *Leaf
		proof *Proof
		want  error
	}{
		{"ok member", f.root, member, leaf, proof, nil},
		{"ok absent", f.root, absent, nil, absentProof, nil},
		{"ok absent other", f.root, absentOther, nil, absentOtherProof, nil},
		{"wrong status", f.root, member, changed(func(l *Leaf) { l.Status = schemas.StatusValid + "x" }), proof, ErrBadLeaf},
		{"revoked shown valid", f.root, member, changed(func(l *Leaf) {
			if l.Status == schemas.StatusValid {
				l.Status = schemas.StatusRevoked
			} else {
				l.Status = schemas.StatusValid
			}
		}), proof, ErrRootMismatch},
		{"wrong height", f.root, member, changed(func(l *Leaf) { l.Height++ }), proof, ErrRootMismatch},
		{"wrong record", f.root, member, changed(func(l *Leaf) { l.RecordHash[0] ^= 1 }), proof, ErrRootMismatch},
		{"leaf of another key", f.root, "MO/8", leaf, proof, ErrKeyMismatch},
		{"proof of another key", f.root, "MO/8", changed(func(l *Leaf) { l.Key = "MO/8" }), proof, ErrRootMismatch},
		{"member claimed absent", f.root, member, nil, proof, ErrRootMismatch},
		{"absent claimed member", f.root, absent, changed(func(l *Leaf) { l.Key = absent }), absentProof, ErrRootMismatch},
		{"tampered sibling", f.root, member, leaf, func() *Proof { p := clone(proof); p.Siblings[len(p.Siblings)/2][3] ^= 0x40; return p }(), ErrRootMismatch},
		{"truncated top", f.root, member, leaf, func() *Proof { p := clone(proof); p.Siblings = p.Siblings[:len(p.Siblings)-1]; return p }(), ErrRootMismatch},
		{"truncated bottom", f.root, member, leaf, func() *Proof { p := clone(proof); p.Siblings = p.Siblings[1:]; return p }(), ErrRootMismatch},
		{"extended with empty", f.root, member, leaf, func() *Proof { p := clone(proof); p.Siblings = append([]Hash{Empty}, p.Siblings...); return p }(), ErrRootMismatch},
		{"other root", otherRoot, member, leaf, proof, ErrRootMismatch},
		{"no proof", f.root, member, leaf, nil, ErrMalformed},
		{"too deep", f.root, member, leaf, &Proof{Siblings: make([]Hash, MaxDepth+1)}, ErrMalformed},
		{"other is the key", f.root, absentOther, nil, func() *Proof { p := clone(absentOtherProof); p.Other.Path = PathOf(absentOther); return p }(), ErrMalformed},
		{"other off path", f.root, absentOther, nil, func() *Proof { p := clone(absentOtherProof); p.Other.Path[0] ^= 0x80; return p }(), ErrMalformed},
		{"other tampered value", f.root, absentOther, nil, func() *Proof { p := clone(absentOtherProof); p.Other.ValueHash[0] ^= 1; return p }(), ErrRootMismatch},
		{"other dropped", f.root, absentOther, nil, func() *Proof { p := clone(absentOtherProof); p.Other = nil; return p }(), ErrRootMismatch},
		{"member with other", f.root, member, leaf, func() *Proof { p := clone(proof); p.Other = absentOtherProof.Other; return p }(), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyProof(tt.root, tt.key, tt.leaf, tt.proof)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestProofEncodings(t *testing.T) {
	f := newFixture(t, 200)
	for i := range 400 {
		key := fmt.Sprintf("MO/%d", i)
		l, p := f.prove(t, key)
		bin, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var fromBin Proof
		if err := fromBin.UnmarshalBinary(bin); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON Proof
		if err := json.Unmarshal(js, &fromJSON); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		for _, q := range []*Proof{&fromBin, &fromJSON} {
			if err := VerifyProof(f.root, key, l, q); err != nil {
				t.Fatalf("%s: decoded proof: %v", key, err)
			}
		}
		for cut := range len(bin) {
			var q Proof
			if err := q.UnmarshalBinary(bin[:cut]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: cut at %d: %v", key, cut, err)
			}
		}
		if err := new(Proof).UnmarshalBinary(append(bin, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: trailing byte accepted: %v", key, err)
		}
	}
}

func TestProofBinaryCanonical(t *testing.T) {
	p := &Proof{Siblings: []Hash{Empty, {1}, Empty}}
	b, _ := p.MarshalBinary()
	if want := 4 + 1 + 32; len(b) != want {
		t.Fatalf("len %d, want %d", len(b), want)
	}
	// An explicit Empty sibling is a second encoding of the same proof.
	explicit := append(slices.Clone(b[:4]), 0xa0)
	explicit = append(explicit, Empty[:]...)
	explicit = append(explicit, b[5:]...)
	if err := new(Proof).UnmarshalBinary(explicit); !errors.Is(err, ErrMalformed) {
		t.Fatalf("explicit empty accepted: %v", err)
	}
	padded := slices.Clone(b)
	padded[4] |= 0x01
	if err := new(Proof).UnmarshalBinary(padded); !errors.Is(err, ErrMalformed) {
		t.Fatalf("padding bit accepted: %v", err)
	}
}

func TestLeafEncoding(t *testing.T) {
	rnd := newRand(t)
	l := testLeaf("CN/91440300MA5XXXXXXX", 42, rnd)
	b, err := l.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Leaf
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got != l {
		t.Fatalf("round trip: %+v, want %+v", got, l)
	}
	bad := []struct {
		name string
		leaf Leaf
	}{
		{"empty key", Leaf{Status: schemas.StatusValid}},
		{"NUL in key", Leaf{Key: "CN/a\x00b", Status: schemas.StatusValid}},
		{"long key", Leaf{Key: string(bytes.Repeat([]byte("k"), MaxKeyLen+1)), Status: schemas.StatusValid}},
		{"bad UTF-8", Leaf{Key: "CN/\xff", Status: schemas.StatusValid}},
		{"no status", Leaf{Key: "CN/a"}},
		{"unknown status", Leaf{Key: "CN/a", Status: "lost"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.leaf.MarshalBinary(); !errors.Is(err, ErrBadLeaf) {
				t.Fatalf("got %v, want ErrBadLeaf", err)
			}
		})
	}
	// Non-minimal key length varint.
	nonMin := append([]byte{leafV1, 0x80 | byte(len(l.Key)), 0x00}, b[2:]...)
	if err := new(Leaf).UnmarshalBinary(nonMin); !errors.Is(err, ErrBadLeaf) {
		t.Fatalf("non-minimal varint accepted: %v", err)
	}
}

func TestPageEncoding(t *testing.T) {
	f := newFixture(t, 500)
	for k, v := range f.m.pages {
		p, err := decodePage(v)
		if err != nil {
			t.Fatalf("page %x: %v", k, err)
		}
		if !bytes.Equal(p.encode(), v) {
			t.Fatalf("page %x does not round-trip", k)
		}
	}
	for _, b := range [][]byte{nil, {0, 0, 0, 0}, {0, 1, 0, 2}, {0, 1, 0, 0}} {
		if _, err := decodePage(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("page %x accepted: %v", b, err)
		}
	}
}

func TestComputeRoot(t *testing.T) {
	f := newFixture(t, 50)
	root, err := ComputeRoot(slices.Collect(mapValues(f.leaves)))
	if err != nil {
		t.Fatal(err)
	}
	if root != f.root {
		t.Fatalf("ComputeRoot %s, want %s", root, f.root)
	}
}

func TestHashText(t *testing.T) {
	var h Hash
	if err := h.UnmarshalText([]byte("zz")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
	b, _ := Empty.MarshalText()
	if err := h.UnmarshalText(b); err != nil || h != Empty {
		t.Fatalf("round trip: %v", err)
	}
}

// TestUpdateParallel: spreading the work over goroutines changes nothing.
func TestUpdateParallel(t *testing.T) {
	rnd := newRand(t)
	seq, par := NewMemStore(), NewMemStore()
	for height := uint64(1); height <= 5; height++ {
		var sets []Set
		for i := range 400 {
			sets = append(sets, setOf(t, testLeaf(fmt.Sprintf("CN/%d", rnd.IntN(1500)+i*1500), height, rnd)))
		}
		a, err := Update(seq, sets)
		if err != nil {
			t.Fatal(err)
		}
		b, err := UpdateParallel(par, sets, 3)
		if err != nil {
			t.Fatal(err)
		}
		if a.Root != b.Root || a.Added != b.Added || len(a.Writes) != len(b.Writes) {
			t.Fatalf("height %d: sequential %s/%d/%d, parallel %s/%d/%d", height, a.Root, a.Added, len(a.Writes), b.Root, b.Added, len(b.Writes))
		}
		for i := range a.Writes {
			if !bytes.Equal(a.Writes[i].Key, b.Writes[i].Key) || !bytes.Equal(a.Writes[i].Page.Encode(), b.Writes[i].Page.Encode()) {
				t.Fatalf("height %d: write %d differs", height, i)
			}
		}
		for _, m := range []struct {
			m *MemStore
			r Result
		}{{seq, a}, {par, b}} {
			for _, w := range m.r.Writes {
				m.m.pages[string(w.Key)] = w.Page.Encode()
			}
		}
	}
}

// TestShapes: a page rebuilt from its shape and its children's hashes is the
// page itself.
func TestShapes(t *testing.T) {
	f := newFixture(t, 3000)
	n := 0
	for k, v := range f.m.pages {
		key := []byte(k)
		shape, err := ShapeOf(v)
		if err != nil {
			t.Fatal(err)
		}
		if key[0] > 0 {
			for n := range fanout {
				if got := ParentKey(ChildKey(ParentKey(key), n)); !bytes.Equal(got, ParentKey(key)) {
					t.Fatalf("ParentKey(ChildKey(%x, %d)) = %x", ParentKey(key), n, got)
				}
			}
			if _, ok := f.m.pages[string(ParentKey(key))]; !ok {
				t.Fatalf("page %x has no parent %x", key, ParentKey(key))
			}
		}
		full, err := FillPage(key, shape, func(ck []byte) (Hash, error) {
			child, ok := f.m.pages[string(ck)]
			if !ok {
				return Hash{}, fmt.Errorf("no child page %x under %x", ck, key)
			}
			return PageHash(child)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(full.Encode(), v) {
			t.Fatalf("page %x: rebuilt %x, want %x", key, full.Encode(), v)
		}
		if len(shape) < len(v) {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no page had node hashes to leave out")
	}
	if _, err := decode([]byte{0, 1, 0, 0, 1}, false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad shape accepted: %v", err)
	}
}

// TestLeafVersions: a leaf without a holder keeps the version 1 encoding
// (rules version 1 chains keep their state roots); a leaf with one is
// version 2, carries the holder and the validity end, and every malformed
// version 2 encoding is refused.
func TestLeafVersions(t *testing.T) {
	v1 := Leaf{Key: "HK/RGI-648009", Status: schemas.StatusValid, Height: 3, RecordHash: Hash{1}, TxID: Hash{2}}
	b1, err := v1.MarshalBinary()
	if err != nil || b1[0] != 1 || len(b1) != 1+1+len(v1.Key)+73 {
		t.Fatalf("version 1 leaf: %x %v", b1, err)
	}
	v2 := v1
	v2.Owner, v2.ValidTo = "hongkong", "2018-10-09"
	b2, err := v2.MarshalBinary()
	if err != nil || b2[0] != 2 {
		t.Fatalf("version 2 leaf: %x %v", b2, err)
	}
	if want := append(append(append([]byte{2}, b1[1:]...), 8), append([]byte("hongkong"), append([]byte{10}, "2018-10-09"...)...)...); !bytes.Equal(b2, want) {
		t.Fatalf("version 2 encoding\n got %x\nwant %x", b2, want)
	}
	var back Leaf
	if err := back.UnmarshalBinary(b2); err != nil || back != v2 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	h1, _ := v1.ValueHash()
	h2, _ := v2.ValueHash()
	if h1 == h2 {
		t.Fatal("the holder is not in the value hash")
	}
	noEnd := v2
	noEnd.ValidTo = ""
	if b, err := noEnd.MarshalBinary(); err != nil || b[len(b)-1] != 0 {
		t.Fatalf("leaf without a validity end: %x %v", b, err)
	}
	at := time.Date(2018, 10, 10, 0, 0, 0, 0, schemas.GBATime)
	if v2.Effective(at.Add(-1)) != schemas.StatusValid || v2.Effective(at) != schemas.StatusExpired || v1.Effective(at) != schemas.StatusValid {
		t.Fatal("Effective does not follow the validity end")
	}
	for name, l := range map[string]Leaf{
		"validity without holder": {Key: "CN/a", Status: schemas.StatusValid, ValidTo: "2020-01-01"},
		"holder not a token":      {Key: "CN/a", Status: schemas.StatusValid, Owner: "Shen zhen"},
		"long holder":             {Key: "CN/a", Status: schemas.StatusValid, Owner: strings.Repeat("a", MaxOwnerLen+1)},
		"not a date":              {Key: "CN/a", Status: schemas.StatusValid, Owner: "shenzhen", ValidTo: "2020-02-30"},
		"date in another form":    {Key: "CN/a", Status: schemas.StatusValid, Owner: "shenzhen", ValidTo: "2020-1-1"},
	} {
		if _, err := l.MarshalBinary(); !errors.Is(err, ErrBadLeaf) {
			t.Errorf("%s: %v, want ErrBadLeaf", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"trailing byte":       append(bytes.Clone(b2), 0),
		"truncated":           b2[:len(b2)-1],
		"empty holder":        append(append(append([]byte{2}, b1[1:]...), 0), 0),
		"holder length long":  append(append([]byte{2}, b1[1:]...), 0x7f),
		"version 1 with tail": append(bytes.Clone(b1), 0),
		"version 3":           append([]byte{3}, b2[1:]...),
	} {
		if err := new(Leaf).UnmarshalBinary(b); !errors.Is(err, ErrBadLeaf) {
			t.Errorf("%s: %v, want ErrBadLeaf", name, err)
		}
	}
	if len(b2) > MaxLeafLen {
		t.Fatalf("leaf of %d bytes above MaxLeafLen %d", len(b2), MaxLeafLen)
	}
}

// TestLeafVersion3: a leaf that names its kind (rules version 3) is
// version 3: version 2's fields, the kind, a grant's count of uses and
// terms; only a grant's leaf has uses and terms, and every malformed
// encoding is refused.
func TestLeafVersion3(t *testing.T) {
	grant := Leaf{Key: "grant/shenzhen/g1", Status: schemas.StatusValid, Height: 4, RecordHash: Hash{1}, TxID: Hash{2},
		Owner: "shenzhen", ValidTo: "2026-12-31", Kind: schemas.KindShareGrant, Uses: 300, Terms: `{"reader":"hk-bank"}`}
	b, err := grant.MarshalBinary()
	if err != nil || b[0] != 3 {
		t.Fatalf("version 3 leaf: %x %v", b, err)
	}
	v2 := grant
	v2.Kind, v2.Uses, v2.Terms = "", 0, ""
	b2, _ := v2.MarshalBinary()
	want := append(append([]byte{3}, b2[1:]...), 4, 0xac, 0x02, byte(len(grant.Terms)))
	want = append(want, grant.Terms...)
	if !bytes.Equal(b, want) {
		t.Fatalf("version 3 encoding\n got %x\nwant %x", b, want)
	}
	var back Leaf
	if err := back.UnmarshalBinary(b); err != nil || back != grant {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	license := Leaf{Key: "CN/a", Status: schemas.StatusValid, Owner: "shenzhen", Kind: schemas.KindBusiness}
	if lb, err := license.MarshalBinary(); err != nil || lb[0] != 3 || lb[len(lb)-3] != 1 {
		t.Fatalf("a license's version 3 leaf: %x %v", lb, err)
	}
	for name, l := range map[string]Leaf{
		"kind without holder":  {Key: "CN/a", Status: schemas.StatusValid, Kind: schemas.KindBusiness},
		"unknown kind":         {Key: "CN/a", Status: schemas.StatusValid, Owner: "shenzhen", Kind: "pet_licence"},
		"uses of a license":    {Key: "CN/a", Status: schemas.StatusValid, Owner: "shenzhen", Kind: schemas.KindBusiness, Uses: 1},
		"terms of an access":   {Key: "access/shenzhen/x", Status: schemas.StatusValid, Owner: "shenzhen", Kind: schemas.KindShareAccess, Terms: "{}"},
		"grant without terms":  {Key: "grant/shenzhen/g", Status: schemas.StatusValid, Owner: "shenzhen", Kind: schemas.KindShareGrant},
		"uses without a kind":  {Key: "CN/a", Status: schemas.StatusValid, Owner: "shenzhen", Uses: 1},
		"terms over the limit": {Key: "grant/shenzhen/g", Status: schemas.StatusValid, Owner: "shenzhen", Kind: schemas.KindShareGrant, Terms: strings.Repeat("x", MaxTermsLen+1)},
	} {
		if _, err := l.MarshalBinary(); !errors.Is(err, ErrBadLeaf) {
			t.Errorf("%s: %v, want ErrBadLeaf", name, err)
		}
	}
	for name, bad := range map[string][]byte{
		"kind 0":              append(append([]byte{3}, b2[1:]...), 0, 0, 0),
		"kind 6":              append(append([]byte{3}, b2[1:]...), 6, 0, 0),
		"no kind":             append([]byte{3}, b2[1:]...),
		"uses not minimal":    append(append([]byte{3}, b2[1:]...), 1, 0x80, 0x00, 0),
		"trailing":            append(bytes.Clone(b), 0),
		"truncated terms":     b[:len(b)-1],
		"version 2 with kind": append(bytes.Clone(b2), 1, 0, 0),
	} {
		if err := new(Leaf).UnmarshalBinary(bad); !errors.Is(err, ErrBadLeaf) {
			t.Errorf("%s: %v, want ErrBadLeaf", name, err)
		}
	}
	if len(b) > MaxLeafLen {
		t.Fatalf("leaf of %d bytes above MaxLeafLen %d", len(b), MaxLeafLen)
	}
}
