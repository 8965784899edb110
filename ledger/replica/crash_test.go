package replica_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/ledger/wal"
)

// errCrash is what a write returns at the simulated crash, and every write
// after it: the process is dead until the test restarts it.
var errCrash = errors.New("test: crashed")

// crasher counts the commit path's writes (block log append, state
// commit, index add) across the stores it decorates and crashes at write
// number at (0-based): before the write reaches its store, or, with after,
// once it has (the store holds it, the caller is told it failed).
type crasher struct {
	at      int // writes to let through before the crash; <0: never crash
	after   bool
	crashed bool
}

func (c *crasher) write(do func() error) error {
	switch {
	case c.crashed:
		return errCrash
	case c.at == 0:
		c.crashed = true
		if c.after {
			if err := do(); err != nil {
				return err
			}
		}
		return errCrash
	}
	if c.at > 0 {
		c.at--
	}
	return do()
}

// crashLog, crashState and crashIndex decorate a member's stores with the
// crasher, like wal.CrashAfter decorates a log.
type crashLog struct {
	*blocklog.Store
	c *crasher
}

func (l crashLog) Append(rec *blocklog.Record) error {
	return l.c.write(func() error { return l.Store.Append(rec) })
}

type crashState struct {
	*memState
	c *crasher
}

func (s crashState) Commit(h uint64, ups []block.StateUpdate) error {
	return s.c.write(func() error { return s.memState.Commit(h, ups) })
}

type crashIndex struct {
	*memIndex
	c *crasher
}

func (ix crashIndex) Add(b *block.Block) ([]block.Tx, error) {
	var txs []block.Tx
	err := ix.c.write(func() error {
		var err error
		txs, err = ix.memIndex.Add(b)
		return err
	})
	return txs, err
}

// decided is a block as the engine delivers it.
type decided struct {
	p    types.Proposal
	sigs []types.Signature
}

// What survives a crash besides the block log, which always does.
type survivors int

const (
	keepStateAndIndex survivors = iota // both durable
	keepState                          // the index is derived and written without fsync: lost
	keepNothing                        // state and index rebuilt from the log
)

func (s survivors) String() string {
	return [...]string{"state+index kept", "index lost", "state+index lost"}[s]
}

// A crash at every write of the commit path (before it reaches its store,
// and after), with a restart: Recover brings state and index to the log's
// height, delivery resumes (a block already in the log is taken as
// delivered), and the chain, state and index end as in a run without a
// crash.
func TestCrashAtEveryCommitStep(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 5))
	members, clock := newMembers(t, 4, seed)
	var seq uint64
	const heights = 4
	var chain []decided
	for h := uint64(1); h <= heights; h++ {
		bts := batches(members[0].cons, rng, &seq, 1+rng.IntN(3), 1+rng.IntN(3))
		holdAll(members, bts)
		p, sigs := round(t, members, int(h)%4, h, frames(bts))
		chain = append(chain, decided{p, sigs})
	}
	ref := members[1]
	wantRoot := ref.state.root(t)
	const writesPerBlock = 3 // append, state, index
	for at := range heights * writesPerBlock {
		for _, after := range []bool{false, true} {
			for _, keep := range []survivors{keepStateAndIndex, keepState, keepNothing} {
				name := fmt.Sprintf("block %d %v %s/%v", at/writesPerBlock+1, replica.Step(at%writesPerBlock), map[bool]string{false: "before", true: "after"}[after], keep)
				t.Run(name, func(t *testing.T) {
					v := newMember(t, ref.cons, ref.name, clock)
					v.held = ref.held
					v.close()
					c := &crasher{at: at, after: after}
					state, idx := v.state, v.idx
					start := func(c *crasher) {
						v.close()
						var err error
						if v.store, err = blocklog.OpenStore(v.dir, wal.Options{SegmentSize: 64 << 10}); err != nil {
							t.Fatal(err)
						}
						if _, _, err := replica.Recover(v.cons.Bundle, block.Limits{}, v.store, idx, state); err != nil {
							t.Fatalf("recover: %v", err)
						}
						h := v.store.Height()
						if state.Height() != h || idx.Height() != h {
							t.Fatalf("recovered: log %d, state %d, index %d", h, state.Height(), idx.Height())
						}
						v.rep, err = replica.New(replica.Config{Name: v.name, Trust: v.cons.Bundle, Key: v.key,
							Log: crashLog{v.store, c}, State: crashState{state, c}, Index: crashIndex{idx, c},
							Batches: v.held, Clock: clock, Logger: testLogger(t)})
						if err != nil {
							t.Fatal(err)
						}
					}
					start(c)
					crashed := false
					for i := 0; i < len(chain); i++ {
						d, err := v.rep.Decide(chain[i].p, chain[i].sigs, idx.Hash)
						if err == nil && d != nil {
							_, err = v.rep.Commit(d)
						}
						if errors.Is(err, errCrash) && !crashed {
							crashed = true
							// Restart: the log as it is on disk; the state
							// and index as they survive.
							switch keep {
							case keepState:
								idx = newMemIndex()
							case keepNothing:
								state, idx = newMemState(), newMemIndex()
							}
							start(&crasher{at: -1})
							i-- // the engine delivers the block again after a restart
							continue
						}
						if err != nil {
							t.Fatalf("block %d: %v", i+1, err)
						}
					}
					if !crashed {
						t.Fatal("no crash: the test's write count is wrong")
					}
					if v.store.Height() != heights || state.Height() != heights || idx.Height() != heights {
						t.Fatalf("log %d, state %d, index %d, want %d", v.store.Height(), state.Height(), idx.Height(), heights)
					}
					for h := uint64(1); h <= heights; h++ {
						want, _ := ref.store.Hash(h)
						if got, _ := v.store.Hash(h); got != want {
							t.Fatalf("block %d: %x, want %x", h, got[:6], want[:6])
						}
					}
					if got := state.root(t); got != wantRoot {
						t.Fatalf("state root %x, want %x", got[:6], wantRoot[:6])
					}
				})
			}
		}
	}
}

// A state ahead of the log (the log lost blocks) is reported for its
// owner to rebuild; an index ahead of it is refused.
func TestRecoverRefusesStoresAheadOfTheLog(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 6))
	members, clock := newMembers(t, 4, seed)
	var seq uint64
	for h := uint64(1); h <= 2; h++ {
		bts := batches(members[0].cons, rng, &seq, 1, 1)
		holdAll(members, bts)
		round(t, members, 0, h, frames(bts))
	}
	empty := newMember(t, members[0].cons, members[0].name, clock)
	_, _, err := replica.Recover(empty.cons.Bundle, block.Limits{}, empty.store, newMemIndex(), members[0].state)
	var ahead *replica.StateAheadError
	if !errors.As(err, &ahead) || ahead.State != 2 || ahead.Log != 0 {
		t.Fatalf("state at 2 over an empty log: %v, want a StateAheadError", err)
	}
	if _, _, err := replica.Recover(empty.cons.Bundle, block.Limits{}, empty.store, members[0].idx, newMemState()); err == nil {
		t.Fatal("index at 2 over an empty log: recovered")
	}
}
