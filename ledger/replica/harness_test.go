package replica_test

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

var (
	seedFlag = flag.Uint64("seed", 0, "seed of the replica simulations (0: a new one per run, printed)")
	logLevel = flag.String("log", "", "log level of the replicas and the engine in tests (debug, info, warn, error); empty: none")
)

// testSeed returns the seed a simulation runs with: -seed, or a new one.
// It is printed when the test fails, so the run can be repeated with
// -seed.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: run again with go test ./ledger/replica -run '^%s$' -seed %d", s, t.Name(), s)
		}
	})
	return s
}

func testLogger(t testing.TB) *slog.Logger {
	var lvl slog.Level
	if *logLevel == "" || lvl.UnmarshalText([]byte(*logLevel)) != nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// memState is an in-memory replica.State: blocktest.State with a height.
// A commit is atomic and survives a simulated crash (like a store that
// syncs its commits).
type memState struct {
	*blocktest.State
	mu sync.Mutex
	h  uint64
}

func newMemState() *memState { return &memState{State: blocktest.NewState()} }

func (s *memState) Commit(h uint64, ups []block.StateUpdate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h != s.h+1 {
		return fmt.Errorf("memstate: commit %d at height %d", h, s.h)
	}
	s.Apply(ups)
	s.h = h
	return nil
}

func (s *memState) Height() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.h }

func (s *memState) root(t testing.TB) [32]byte {
	r, err := s.PreviewRoot(s.Height(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// memIndex is an in-memory replica.Index with the orderer index's rules: a
// transaction's entry is the block where it took effect or, while it has
// none, the last block that refused it.
type memIndex struct {
	mu      sync.RWMutex
	h       uint64
	txs     map[schemas.TxID]txEntry
	batches map[string]uint64
	hashes  map[uint64][32]byte
}

type txEntry struct {
	h  uint64
	ok bool
}

func newMemIndex() *memIndex {
	return &memIndex{txs: map[schemas.TxID]txEntry{}, batches: map[string]uint64{}, hashes: map[uint64][32]byte{}}
}

var _ replica.Index = (*memIndex)(nil)

func (ix *memIndex) TxSeen(id schemas.TxID) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.txs[id].ok
}

func (ix *memIndex) BatchSeen(id string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.batches[id]
	return ok
}

func (ix *memIndex) Height() uint64 { ix.mu.RLock(); defer ix.mu.RUnlock(); return ix.h }

func (ix *memIndex) Hash(h uint64) ([32]byte, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	v, ok := ix.hashes[h]
	return v, ok
}

func (ix *memIndex) AsOf(h uint64) block.Chain { return asOf{ix, h} }

type asOf struct {
	ix *memIndex
	h  uint64
}

func (c asOf) TxSeen(id schemas.TxID) bool {
	c.ix.mu.RLock()
	defer c.ix.mu.RUnlock()
	e := c.ix.txs[id]
	return e.ok && e.h < c.h
}

func (c asOf) BatchSeen(id string) bool {
	c.ix.mu.RLock()
	defer c.ix.mu.RUnlock()
	h, ok := c.ix.batches[id]
	return ok && h < c.h
}

func (ix *memIndex) Add(b *block.Block) ([]block.Tx, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	h := b.Header.Height
	if h != ix.h+1 {
		return nil, fmt.Errorf("memindex: at height %d cannot add block %d", ix.h, h)
	}
	txs := b.Txs()
	for _, bt := range b.Batches {
		ix.batches[bt.ID()] = h
	}
	for _, t := range txs {
		if t.Result == block.OK {
			ix.txs[t.ID] = txEntry{h: h, ok: true}
		} else if !ix.txs[t.ID].ok {
			ix.txs[t.ID] = txEntry{h: h}
		}
	}
	ix.hashes[h] = b.Header.Hash()
	ix.h = h
	return txs, nil
}

// heldSet is a replica's batch source: the batches its driver ingested.
type heldSet struct {
	mu sync.Mutex
	m  map[string]*schemas.Batch
}

func newHeldSet() *heldSet { return &heldSet{m: map[string]*schemas.Batch{}} }

func (s *heldSet) Batch(id string) *schemas.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

func (s *heldSet) add(bts ...*schemas.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bts {
		s.m[b.ID()] = b
	}
}

// fixedClock is a replica.Clock that stands still unless moved.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fixedClock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// epoch is the simulations' start of time: fixed, so a seed gives the same
// block timestamps.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// member is one replica with its stores: a real block log (fsynced) in a
// directory of its own, an in-memory state and index.
type member struct {
	t     testing.TB
	name  string
	key   keys.Signer
	cons  *keys.Consortium
	dir   string
	store *blocklog.Store
	log   replica.BlockLog // the store, or a decorator of it
	state *memState
	idx   *memIndex
	held  *heldSet
	clock replica.Clock
	drop  func(types.RequestInfo) // the replica's Config.Drop
	rep   *replica.Replica
}

func newMember(t testing.TB, cons *keys.Consortium, name string, clock replica.Clock) *member {
	t.Helper()
	m := &member{t: t, name: name, key: cons.Orderers[name], cons: cons, dir: filepath.Join(t.TempDir(), name),
		state: newMemState(), idx: newMemIndex(), held: newHeldSet(), clock: clock}
	m.open()
	t.Cleanup(func() { m.close() })
	return m
}

// open opens the block log and builds the replica over the stores.
func (m *member) open() {
	m.t.Helper()
	var err error
	if m.store, err = blocklog.OpenStore(m.dir, wal.Options{SegmentSize: 64 << 10}); err != nil {
		m.t.Fatal(err)
	}
	if m.log == nil {
		m.log = m.store
	}
	m.newReplica()
}

// newReplica builds the replica over the member's stores.
func (m *member) newReplica() {
	m.t.Helper()
	var err error
	m.rep, err = replica.New(replica.Config{Name: m.name, Trust: m.cons.Bundle, Key: m.key, Log: m.log, State: m.state,
		Index: m.idx, Batches: m.held, Clock: m.clock, MaxClockSkew: time.Minute, Drop: m.drop, Logger: testLogger(m.t).With("orderer", m.name)})
	if err != nil {
		m.t.Fatal(err)
	}
}

func (m *member) close() {
	if m.store != nil {
		_ = m.store.Close()
		m.store = nil
	}
}

// testConsortium is a consortium of n orderers whose keys come from seed.
func testConsortium(t testing.TB, n int, seed uint64) *keys.Consortium {
	t.Helper()
	orderers, err := schemas.OrdererNames(n)
	if err != nil {
		t.Fatal(err)
	}
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), orderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.NewChaCha8(seedBytes(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		s := seed + uint64(i)*0x9e3779b97f4a7c15
		for j := range 8 {
			b[i*8+j] = byte(s >> (8 * j))
		}
	}
	return b
}

// batches makes count signed batches of txs license issues each, from
// cities chosen by rng, numbered from *seq.
func batches(cons *keys.Consortium, rng *rand.Rand, seq *uint64, count, txs int) []*schemas.Batch {
	cities := []string{"shenzhen", "guangzhou", "hongkong", "macao", "zhuhai"}
	var out []*schemas.Batch
	for range count {
		*seq++
		city := cities[rng.IntN(len(cities))]
		var raw [][]byte
		for i := range txs {
			raw = append(raw, blocktest.Tx(cons.Bundle.Chain, city, fmt.Sprintf("%s-%d-%d", city, *seq, i), schemas.ActionIssue))
		}
		out = append(out, blocktest.Batch(cons, city, *seq, raw...))
	}
	return out
}

func frames(bts []*schemas.Batch) [][]byte {
	var out [][]byte
	for _, b := range bts {
		out = append(out, b.Encode())
	}
	return out
}

// round runs one block through the replicas without an engine, the way
// SmartBFT would: the leader assembles, every member verifies and votes,
// and every member decides with all the votes and commits. It returns the
// decided proposal.
func round(t testing.TB, members []*member, leader int, height uint64, reqs [][]byte) (types.Proposal, []types.Signature) {
	t.Helper()
	p := members[leader].rep.AssembleProposal(blocklogtest.Metadata(height), reqs)
	if len(p.Payload) == 0 {
		t.Fatalf("height %d: leader %s assembled no proposal", height, members[leader].name)
	}
	var sigs []types.Signature
	for _, m := range members {
		if _, err := m.rep.VerifyProposal(p); err != nil {
			t.Fatalf("height %d: %s refuses the proposal of %s: %v", height, m.name, members[leader].name, err)
		}
		sigs = append(sigs, *m.rep.SignProposal(p, []byte("aux of "+m.name)))
	}
	for _, m := range members {
		for _, s := range sigs {
			if _, err := m.rep.VerifyConsenterSig(s, p); err != nil {
				t.Fatalf("height %d: %s refuses the vote of %d: %v", height, m.name, s.ID, err)
			}
		}
		d, err := m.rep.Decide(p, sigs, m.idx.Hash)
		if err != nil {
			t.Fatalf("height %d: %s: decide: %v", height, m.name, err)
		}
		if _, err := m.rep.Commit(d); err != nil {
			t.Fatalf("height %d: %s: commit: %v", height, m.name, err)
		}
	}
	return p, sigs
}

// sameChains checks that every member holds the same blocks up to the
// lowest height among them, and the same state where heights agree.
func sameChains(t testing.TB, members []*member) {
	t.Helper()
	low := members[0].store.Height()
	for _, m := range members[1:] {
		low = min(low, m.store.Height())
	}
	for h := uint64(1); h <= low; h++ {
		want, _ := members[0].store.Hash(h)
		for _, m := range members[1:] {
			if got, _ := m.store.Hash(h); got != want {
				t.Fatalf("block %d: %s holds %x, %s holds %x", h, m.name, got[:6], members[0].name, want[:6])
			}
		}
	}
}
