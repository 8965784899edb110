package state

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
)

var statuses = []schemas.Status{schemas.StatusValid, schemas.StatusSuspended, schemas.StatusRevoked, schemas.StatusExpired}

func newRand(t testing.TB) *rand.Rand {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0))
}

func randUpdate(key string, rnd *rand.Rand) Update {
	u := Update{Key: key, Status: statuses[rnd.IntN(len(statuses))]}
	for i := range u.RecordHash {
		u.RecordHash[i] = byte(rnd.Uint32())
		u.TxID[i] = byte(rnd.Uint32())
	}
	// Half the updates name a holder (rules version 2 leaves), some of
	// those a validity end: the store keeps both leaf versions.
	if rnd.IntN(2) == 0 {
		u.Owner = schemas.CityTokens()[rnd.IntN(11)]
		if rnd.IntN(2) == 0 {
			u.ValidTo = fmt.Sprintf("20%02d-%02d-%02d", 10+rnd.IntN(30), 1+rnd.IntN(12), 1+rnd.IntN(28))
		}
		// And half of those name their kind (rules version 3), some a
		// grant with its uses and terms.
		switch rnd.IntN(4) {
		case 0:
			u.Kind = schemas.KindBusiness
		case 1:
			u.Kind = schemas.KindShareAccess
		case 2:
			u.Kind, u.Uses, u.Terms = schemas.KindShareGrant, rnd.Uint64N(1000), fmt.Sprintf(`{"limit":%d}`, rnd.IntN(1000))
		}
	}
	return u
}

func leafOf(u Update, height uint64) Leaf {
	return Leaf{Key: u.Key, Status: u.Status, RecordHash: u.RecordHash, Height: height, TxID: u.TxID, Owner: u.Owner, ValidTo: u.ValidTo,
		Kind: u.Kind, Uses: u.Uses, Terms: u.Terms}
}

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{CacheSize: 8 << 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustApply(t testing.TB, s *Store, height uint64, ups []Update) [32]byte {
	t.Helper()
	root, err := s.Apply(height, ups)
	if err != nil {
		t.Fatalf("apply %d: %v", height, err)
	}
	return root
}

// model is the reference: every version of every leaf, in memory.
type model struct {
	history map[string][]Leaf // oldest first
	heights []uint64
	roots   map[uint64][32]byte
}

func newModel() *model {
	return &model{history: map[string][]Leaf{}, roots: map[uint64][32]byte{0: smt.Empty}}
}

func (m *model) apply(height uint64, ups []Update) {
	for _, u := range ups {
		m.history[u.Key] = append(m.history[u.Key], leafOf(u, height))
	}
	m.heights = append(m.heights, height)
}

// at returns the leaves in force at height, sorted by key.
func (m *model) at(height uint64, prefix string) []Leaf {
	var out []Leaf
	for k, vs := range m.history {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].Height <= height {
				out = append(out, vs[i])
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b Leaf) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (m *model) root(t testing.TB, height uint64) [32]byte {
	r, err := smt.ComputeRoot(m.at(height, ""))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var jurisdictions = []string{"CN", "HK", "MO"}

func randomBlock(rnd *rand.Rand, universe, size int) []Update {
	seen := map[string]bool{}
	var ups []Update
	for range size {
		key := fmt.Sprintf("%s/%06d", jurisdictions[rnd.IntN(3)], rnd.IntN(universe))
		if !seen[key] {
			seen[key] = true
			ups = append(ups, randUpdate(key, rnd))
		}
	}
	return ups
}

func TestEmptyStore(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	if s.Height() != 0 || s.Root() != smt.Empty || s.Len() != 0 {
		t.Fatalf("new store: height %d root %x len %d", s.Height(), s.Root(), s.Len())
	}
	if _, err := s.Get("CN/1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	l, p, err := s.Prove("CN/1")
	if err != nil || l != nil {
		t.Fatalf("Prove: %v %v", l, err)
	}
	if err := smt.VerifyProof(s.Root(), "CN/1", nil, p); err != nil {
		t.Fatal(err)
	}
	// An empty block still moves the height.
	if root := mustApply(t, s, 1, nil); root != smt.Empty || s.Height() != 1 {
		t.Fatalf("empty block: root %x height %d", root, s.Height())
	}
}

// TestModel applies random blocks and checks roots, reads, history,
// iteration and proofs against the in-memory model.
func TestModel(t *testing.T) {
	rnd := newRand(t)
	s := open(t, t.TempDir())
	defer s.Close()
	m := newModel()
	const universe = 600
	for h := uint64(1); h <= 40; h++ {
		ups := randomBlock(rnd, universe, rnd.IntN(60))
		root := mustApply(t, s, h, ups)
		m.apply(h, ups)
		want := m.root(t, h)
		if root != want || s.Root() != want || s.Height() != h {
			t.Fatalf("height %d: root %x (Root %x), want %x", h, root, s.Root(), want)
		}
		m.roots[h] = root
		if got := s.Len(); got != uint64(len(m.at(h, ""))) {
			t.Fatalf("height %d: Len %d, want %d", h, got, len(m.at(h, "")))
		}
	}
	t.Run("GetAt", func(t *testing.T) {
		for range 2000 {
			key := fmt.Sprintf("%s/%06d", jurisdictions[rnd.IntN(3)], rnd.IntN(universe))
			h := uint64(rnd.IntN(41))
			var want *Leaf
			for _, l := range m.at(h, key) {
				if l.Key == key {
					want = &l
				}
			}
			got, err := s.GetAt(key, h)
			switch {
			case want == nil && !errors.Is(err, ErrNotFound):
				t.Fatalf("GetAt(%s, %d) = %v, %v; want ErrNotFound", key, h, got, err)
			case want != nil && (err != nil || *got != *want):
				t.Fatalf("GetAt(%s, %d) = %v, %v; want %v", key, h, got, err, *want)
			}
		}
	})
	t.Run("Iterate", func(t *testing.T) {
		for _, prefix := range []string{"", "CN/", "HK/0001", "MO/", "XX/"} {
			for _, h := range []uint64{0, 1, 7, 20, 39, 40, ^uint64(0)} {
				var got []Leaf
				err := s.IterateAt(prefix, h, func(l Leaf) error { got = append(got, l); return nil })
				if err != nil {
					t.Fatal(err)
				}
				if want := m.at(min(h, 40), prefix); !slices.Equal(got, want) {
					t.Fatalf("IterateAt(%q, %d): %d leaves, want %d", prefix, h, len(got), len(want))
				}
			}
		}
		stop := errors.New("stop")
		n := 0
		if err := s.Iterate("", func(Leaf) error { n++; return stop }); err != stop || n != 1 {
			t.Fatalf("Iterate stop: %v after %d", err, n)
		}
	})
	t.Run("Prove", func(t *testing.T) {
		latest := map[string]Leaf{}
		for _, l := range m.at(40, "") {
			latest[l.Key] = l
		}
		for i := range universe {
			for _, j := range jurisdictions {
				key := fmt.Sprintf("%s/%06d", j, i)
				leaf, proof, err := s.Prove(key)
				if err != nil {
					t.Fatal(err)
				}
				want, ok := latest[key]
				if ok != (leaf != nil) || ok && *leaf != want {
					t.Fatalf("Prove(%s) leaf %v, want %v", key, leaf, want)
				}
				if err := smt.VerifyProof(s.Root(), key, leaf, proof); err != nil {
					t.Fatalf("Prove(%s): %v", key, err)
				}
				if err := smt.VerifyProof(m.roots[39], key, leaf, proof); m.roots[39] != m.roots[40] && err == nil {
					t.Fatalf("Prove(%s) verifies against an older root", key)
				}
			}
		}
	})
}

// TestOrderWithinBlock: the root depends on the block's updates, not their order.
func TestOrderWithinBlock(t *testing.T) {
	rnd := newRand(t)
	b1, b2 := randomBlock(rnd, 1000, 100), randomBlock(rnd, 1000, 200)
	var roots [][32]byte
	for range 3 {
		rnd.Shuffle(len(b1), func(i, j int) { b1[i], b1[j] = b1[j], b1[i] })
		rnd.Shuffle(len(b2), func(i, j int) { b2[i], b2[j] = b2[j], b2[i] })
		s := open(t, t.TempDir())
		mustApply(t, s, 1, b1)
		roots = append(roots, mustApply(t, s, 2, b2))
		s.Close()
	}
	if roots[0] != roots[1] || roots[1] != roots[2] {
		t.Fatalf("roots differ: %x", roots)
	}
}

func TestApplyErrors(t *testing.T) {
	rnd := newRand(t)
	s := open(t, t.TempDir())
	defer s.Close()
	good := randUpdate("CN/1", rnd)
	root := mustApply(t, s, 5, []Update{good})
	tests := []struct {
		name   string
		height uint64
		ups    []Update
		want   error
	}{
		{"same height", 5, nil, ErrHeight},
		{"lower height", 4, []Update{randUpdate("CN/2", rnd)}, ErrHeight},
		{"duplicate key", 6, []Update{good, good}, ErrUpdate},
		{"empty key", 6, []Update{{Status: schemas.StatusValid}}, ErrUpdate},
		{"NUL in key", 6, []Update{{Key: "CN/\x00", Status: schemas.StatusValid}}, ErrUpdate},
		{"unknown status", 6, []Update{{Key: "CN/3", Status: "lost"}}, ErrUpdate},
		{"holder not a token", 6, []Update{{Key: "CN/3", Status: schemas.StatusValid, Owner: "Shenzhen"}}, ErrUpdate},
		{"validity end without holder", 6, []Update{{Key: "CN/3", Status: schemas.StatusValid, ValidTo: "2030-01-01"}}, ErrUpdate},
		{"validity end not a date", 6, []Update{{Key: "CN/3", Status: schemas.StatusValid, Owner: "shenzhen", ValidTo: "2030-02-31"}}, ErrUpdate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Apply(tt.height, tt.ups); !errors.Is(err, tt.want) {
				t.Fatalf("Apply: %v, want %v", err, tt.want)
			}
			if _, err := s.Preview(tt.height, tt.ups); !errors.Is(err, tt.want) {
				t.Fatalf("Preview: %v, want %v", err, tt.want)
			}
			if s.Height() != 5 || s.Root() != root {
				t.Fatalf("store changed by a refused block")
			}
		})
	}
	if _, err := s.GetAt("CN/1", 6); !errors.Is(err, ErrHeight) {
		t.Fatalf("GetAt above height: %v", err)
	}
	if err := s.IterateAt("", 6, func(Leaf) error { return nil }); !errors.Is(err, ErrHeight) {
		t.Fatalf("IterateAt above height: %v", err)
	}
	// Heights may skip: blocks that change nothing need not be applied.
	mustApply(t, s, 9, []Update{randUpdate("CN/2", rnd)})
	if l, err := s.GetAt("CN/2", 8); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetAt before it existed: %v %v", l, err)
	}
}

func TestPreview(t *testing.T) {
	rnd := newRand(t)
	s := open(t, t.TempDir())
	defer s.Close()
	mustApply(t, s, 1, randomBlock(rnd, 500, 100))
	before := s.Root()
	ups := randomBlock(rnd, 500, 100)
	preview, err := s.Preview(2, ups)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != before || s.Height() != 1 {
		t.Fatal("Preview changed the store")
	}
	// Same block, other order: the preview is reused and must agree.
	slices.Reverse(ups)
	if root := mustApply(t, s, 2, ups); root != preview {
		t.Fatalf("Apply %x, Preview %x", root, preview)
	}
	// A preview of another block must not leak into Apply.
	other := randomBlock(rnd, 500, 50)
	if _, err := s.Preview(3, other[:10]); err != nil {
		t.Fatal(err)
	}
	root := mustApply(t, s, 3, other)
	fresh := open(t, t.TempDir())
	defer fresh.Close()
	var all []Leaf
	s.Iterate("", func(l Leaf) error { all = append(all, l); return nil })
	if want, _ := smt.ComputeRoot(all); root != want {
		t.Fatalf("Apply after another preview: root %x, want %x", root, want)
	}
}

func TestReopen(t *testing.T) {
	rnd := newRand(t)
	dir := t.TempDir()
	s := open(t, dir)
	for h := uint64(1); h <= 5; h++ {
		mustApply(t, s, h, randomBlock(rnd, 300, 80))
	}
	root, height, n := s.Root(), s.Height(), s.Len()
	want, _ := s.Get("CN/000001")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	if s.Root() != root || s.Height() != height || s.Len() != n {
		t.Fatalf("reopened: height %d root %x len %d, want %d %x %d", s.Height(), s.Root(), s.Len(), height, root, n)
	}
	got, _ := s.Get("CN/000001")
	if (got == nil) != (want == nil) || got != nil && *got != *want {
		t.Fatalf("Get after reopen: %v, want %v", got, want)
	}
	for i := range 50 {
		key := fmt.Sprintf("HK/%06d", i)
		l, p, err := s.Prove(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := smt.VerifyProof(root, key, l, p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrash stops the machine (drops everything not fsynced) while a block
// is being written: the store comes back at the previous block, whole.
func TestCrash(t *testing.T) {
	rnd := newRand(t)
	fs := vfs.NewStrictMem()
	opts := Options{fs: fs}
	s, err := Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	b1 := randomBlock(rnd, 1000, 300)
	root1 := mustApply(t, s, 1, b1)
	fs.SetIgnoreSyncs(true) // from here on, nothing reaches the disk
	mustApply(t, s, 2, randomBlock(rnd, 1000, 300))
	s.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)

	s, err = Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	if s.Height() != 1 || s.Root() != root1 {
		t.Fatalf("after crash: height %d root %x, want 1 %x", s.Height(), s.Root(), root1)
	}
	var all []Leaf
	s.Iterate("", func(l Leaf) error { all = append(all, l); return nil })
	if got, _ := smt.ComputeRoot(all); got != root1 || len(all) != len(b1) {
		t.Fatalf("after crash: %d leaves with root %x, want %d %x", len(all), got, len(b1), root1)
	}
	// The store goes on from block 1, and block 2 can be applied again.
	mustApply(t, s, 2, randomBlock(rnd, 1000, 300))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent proves and iterates while blocks are applied: every proof
// holds against the root it names. Run with -race.
func TestConcurrent(t *testing.T) {
	rnd := newRand(t)
	s := open(t, t.TempDir())
	defer s.Close()
	blocks := make([][]Update, 30)
	for i := range blocks {
		blocks[i] = randomBlock(rnd, 400, 40)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 3)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				key := fmt.Sprintf("%s/%06d", jurisdictions[(i+w)%3], i%400)
				l, p, _, root, err := s.ProveRoot(key)
				if err == nil {
					err = smt.VerifyProof(root, key, l, p)
				}
				if err == nil && w == 1 {
					err = s.Iterate("MO/", func(Leaf) error { return nil })
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i, b := range blocks {
		mustApply(t, s, uint64(i+1), b)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestCachedLevels: whatever the number of cached levels, the root is the
// same, survives a reopen (which rebuilds the cached levels from their
// shapes), and the store goes on from there. The number is fixed at creation.
func TestCachedLevels(t *testing.T) {
	rnd := newRand(t)
	var blocks [][]Update
	for range 6 {
		blocks = append(blocks, randomBlock(rnd, 3000, 800))
	}
	var want [32]byte
	for _, levels := range []int{-1, 1, 2, 3, 4, 6} {
		t.Run(fmt.Sprint(levels), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{CachedLevels: levels, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			for h, b := range blocks[:4] {
				mustApply(t, s, uint64(h+1), b)
			}
			root := s.Root()
			s.Close()
			// Reopened with other options, it keeps its own levels.
			if s, err = Open(dir, Options{CachedLevels: 5 - levels, NoSync: true}); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Root() != root || s.Height() != 4 {
				t.Fatalf("reopened at %d %x, want 4 %x", s.Height(), s.Root(), root)
			}
			if got := s.pages.cache.levels; got != max(levels, 0) {
				t.Fatalf("cached levels %d, want %d", got, max(levels, 0))
			}
			for h, b := range blocks[4:] {
				mustApply(t, s, uint64(h+5), b)
			}
			if want == ([32]byte{}) {
				want = s.Root()
			}
			if s.Root() != want {
				t.Fatalf("root %x, want %x (as with other levels)", s.Root(), want)
			}
			for i := range 200 {
				key := fmt.Sprintf("%s/%06d", jurisdictions[i%3], i)
				l, p, err := s.Prove(key)
				if err == nil {
					err = smt.VerifyProof(want, key, l, p)
				}
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
			}
		})
	}
}

// TestCorruptTree: a page missing under the cached levels is found at Open.
func TestCorruptTree(t *testing.T) {
	rnd := newRand(t)
	dir := t.TempDir()
	s, err := Open(dir, Options{CachedLevels: 2, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, 1, randomBlock(rnd, 5000, 3000))
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	var victim []byte
	for ok := it.SeekGE([]byte{pagePrefix, 2}); ok && victim == nil; ok = it.Next() {
		victim = bytes.Clone(it.Key())
	}
	it.Close()
	if err := s.db.Delete(victim, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir, Options{NoSync: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with page %x missing: %v, want ErrCorrupt", victim, err)
	}
}

// filled opens a store in a new directory and applies blocks random
// blocks of size updates over universe keys, mirrored in the model.
func filled(t *testing.T, blocks uint64, universe, size int) (*Store, string, *model) {
	t.Helper()
	rnd := newRand(t)
	dir := t.TempDir()
	s := open(t, dir)
	m := newModel()
	for h := uint64(1); h <= blocks; h++ {
		ups := randomBlock(rnd, universe, size)
		mustApply(t, s, h, ups)
		m.apply(h, ups)
	}
	return s, dir, m
}

// TestUpgradeAddsLatestRecords: a version 1 store (history only, no latest
// records) opens as version 2 with every key's latest record written from
// its newest history record, and reads as it did.
func TestUpgradeAddsLatestRecords(t *testing.T) {
	s, dir, m := filled(t, 6, 40, 15)
	// Make it a version 1 store: drop the latest records, mark the meta.
	b := s.db.NewBatch()
	if err := b.DeleteRange([]byte{latestPrefix}, []byte{latestPrefix + 1}, nil); err != nil {
		t.Fatal(err)
	}
	meta, closer, err := s.db.Get(metaKey)
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.Clone(meta)
	closer.Close()
	old[0] = 1
	if err := b.Set(metaKey, old, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(m.at(6, "")[0].Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("without latest records a key reads as %v, want ErrNotFound (the test's premise)", err)
	}
	s.Close()

	s = open(t, dir)
	defer s.Close()
	for _, want := range m.at(6, "") {
		got, err := s.Get(want.Key)
		if err != nil || *got != want {
			t.Fatalf("Get(%s) = %+v, %v; want %+v", want.Key, got, err, want)
		}
	}
	if _, err := s.Get("CN/999999"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown key: %v", err)
	}
	v, closer, err := s.db.Get(metaKey)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if v[0] != metaVersion {
		t.Fatalf("meta version %d after the upgrade, want %d", v[0], metaVersion)
	}
}

// TestKnownKeysFilter: the in-memory filter of held keys (internal/keyfilter,
// which tests its growth) never hides a committed key, also after
// reopening, and answers absent keys.
func TestKnownKeysFilter(t *testing.T) {
	s, dir, m := filled(t, 5, 1000, 30)
	check := func(s *Store) {
		t.Helper()
		for _, want := range m.at(5, "") {
			if got, err := s.Get(want.Key); err != nil || *got != want {
				t.Fatalf("Get(%s) = %+v, %v; want %+v", want.Key, got, err, want)
			}
		}
		if _, err := s.Get("MO/absent"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an absent key: %v", err)
		}
	}
	check(s)
	s.Close()
	s = open(t, dir)
	defer s.Close()
	check(s)
}

// Load writes leaves with their own heights, as a snapshot holds them, and
// refuses what would make the store lie.
func TestLoad(t *testing.T) {
	src, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	leaf := func(key string, h uint64) Leaf {
		return Leaf{Key: key, Status: schemas.StatusValid, Height: h, RecordHash: [32]byte{byte(h)}, TxID: [32]byte{1, byte(h)}}
	}
	ups := func(ls ...Leaf) []Update {
		var out []Update
		for _, l := range ls {
			out = append(out, Update{Key: l.Key, Status: l.Status, RecordHash: l.RecordHash, TxID: l.TxID})
		}
		return out
	}
	a, b, c := leaf("CN/A", 1), leaf("HK/B", 2), leaf("MO/C", 2)
	if _, err := src.Apply(1, ups(a)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Apply(2, ups(b, c)); err != nil {
		t.Fatal(err)
	}
	dst, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.Load(2, []Leaf{c}); err != nil {
		t.Fatal(err)
	}
	root, err := dst.Load(2, []Leaf{b, a}) // a second call at the same height, any order
	if err != nil {
		t.Fatal(err)
	}
	if root != src.Root() || dst.Height() != 2 || dst.Len() != 3 {
		t.Fatalf("loaded: root %x height %d len %d; source root %x", root, dst.Height(), dst.Len(), src.Root())
	}
	for _, l := range []Leaf{a, b, c} {
		got, err := dst.Get(l.Key)
		if err != nil || *got != l {
			t.Fatalf("Get(%s) = %+v, %v", l.Key, got, err)
		}
	}
	if _, err := dst.Load(3, []Leaf{leaf("CN/D", 3)}); !errors.Is(err, ErrHeight) {
		t.Fatalf("Load at another height: %v, want ErrHeight", err)
	}
	if _, err := src.Load(2, []Leaf{leaf("CN/D", 2)}); err != nil {
		// The same height as the store's: allowed (a restore in pieces).
		t.Fatalf("Load at the store's height: %v", err)
	}
	if _, err := src.Load(5, []Leaf{leaf("CN/E", 5)}); !errors.Is(err, ErrHeight) {
		t.Fatalf("Load over applied blocks at another height: %v, want ErrHeight", err)
	}
	fresh, _ := Open(t.TempDir(), Options{NoSync: true})
	defer fresh.Close()
	if _, err := fresh.Load(2, []Leaf{a, a}); !errors.Is(err, ErrUpdate) {
		t.Fatalf("a key twice: %v, want ErrUpdate", err)
	}
	if _, err := fresh.Load(1, []Leaf{b}); !errors.Is(err, ErrUpdate) {
		t.Fatalf("a leaf above the height: %v, want ErrUpdate", err)
	}
	if fresh.Height() != 0 || fresh.Len() != 0 {
		t.Fatalf("refused loads left height %d, %d leaves", fresh.Height(), fresh.Len())
	}
}
