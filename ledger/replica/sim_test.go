package replica_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/api"
	"github.com/hyperledger-labs/SmartBFT/pkg/consensus"
	"github.com/hyperledger-labs/SmartBFT/pkg/types"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/schemas"
)

// The simulation: n replicas, each under its own SmartBFT engine, joined
// by simNet, an in-memory network whose faults come from the seed. See
// doc.go for what is and is not deterministic.

// simFaults are the network's and the Byzantine member's misdeeds.
type simFaults struct {
	drop, dup  float64 // probability that a message is lost, or delivered twice
	maxDelay   int     // each delivery waits 0..maxDelay ticks: messages overtake each other
	equivocate bool    // member 1 sends one follower per proposal another valid block
}

type envelope struct {
	due      time.Time
	from, to uint64
	m        *protos.Message // or
	req      []byte
}

// simNet moves messages between engines on the fake clock's ticks.
type simNet struct {
	t      testing.TB
	faults simFaults
	tick   time.Duration

	mu    sync.Mutex
	rng   *rand.Rand
	now   time.Time
	queue []envelope
	nodes []*simNode // by id - 1

	sent, dropped, duplicated, equivocations atomic.Uint64
}

func (n *simNet) send(e envelope) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.to == 0 || e.to > uint64(len(n.nodes)) || e.to == e.from {
		return
	}
	n.sent.Add(1)
	if n.rng.Float64() < n.faults.drop {
		n.dropped.Add(1)
		return
	}
	copies := 1
	if n.rng.Float64() < n.faults.dup {
		copies = 2
		n.duplicated.Add(1)
	}
	for range copies {
		c := e
		c.due = n.now.Add(time.Duration(n.rng.IntN(n.faults.maxDelay+1)) * n.tick)
		n.queue = append(n.queue, c)
	}
}

// step advances the clock by a tick, ticks every engine and hands each
// node the messages now due, in the order they fell due.
func (n *simNet) step() {
	n.mu.Lock()
	n.now = n.now.Add(n.tick)
	now := n.now
	var due []envelope
	keep := n.queue[:0]
	for _, e := range n.queue {
		if !e.due.After(now) {
			due = append(due, e)
		} else {
			keep = append(keep, e)
		}
	}
	n.queue = keep
	n.mu.Unlock()
	for _, s := range n.nodes {
		s.tickEngine(now)
	}
	for _, e := range due {
		n.nodes[e.to-1].inbox <- e
	}
}

// idle reports whether every delivered message has been handed to its
// engine: time moves on only then, so a slow machine does not see its
// timeouts fire early.
func (n *simNet) idle() bool {
	for _, s := range n.nodes {
		if len(s.inbox) > 0 || s.handling.Load() {
			return false
		}
	}
	return true
}

func (n *simNet) Now() time.Time { n.mu.Lock(); defer n.mu.Unlock(); return n.now }

// simNode is one member under its engine, with the driver's part: Deliver
// and Sync (from the other members' logs), ticks, an inbox.
type simNode struct {
	*member
	id       uint64
	net      *simNet
	engine   *consensus.Consensus
	sched    chan time.Time
	vcTick   chan time.Time
	inbox    chan envelope
	handling atomic.Bool
	byz      bool
	stop     chan struct{}
	wg       sync.WaitGroup

	commitMu sync.Mutex
	errMu    sync.Mutex
	err      error
	behindAt uint64 // watchLag's note: our height + 1 when last seen behind
	altMu    sync.Mutex
	alts     map[uint64]*protos.Message // the equivocator's other proposal, by sequence
}

func (s *simNode) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *simNode) tickEngine(now time.Time) {
	for _, c := range []chan time.Time{s.sched, s.vcTick} {
		select {
		case c <- now:
		default: // the engine has a tick pending: it reads the newest time anyway
		}
	}
}

func (s *simNode) run() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case e := <-s.inbox:
			s.handling.Store(true)
			if e.m != nil {
				s.engine.HandleMessage(e.from, e.m)
			} else {
				s.engine.HandleRequest(e.from, e.req)
			}
			s.handling.Store(false)
		}
	}
}

// simComm is the engine's api.Comm: every message is a copy, as if
// encoded and sent.
type simComm struct{ s *simNode }

func (c simComm) SendConsensus(target uint64, m *protos.Message) {
	m = proto.Clone(m).(*protos.Message)
	if c.s.byz && c.s.net.faults.equivocate && m.GetPrePrepare() != nil && c.s.victim(m.GetPrePrepare().Seq) == target {
		if alt := c.s.alternative(m); alt != nil {
			c.s.net.equivocations.Add(1)
			m = alt
		}
	}
	c.s.net.send(envelope{from: c.s.id, to: target, m: m})
}

func (c simComm) SendTransaction(target uint64, req []byte) {
	c.s.net.send(envelope{from: c.s.id, to: target, req: append([]byte(nil), req...)})
}

func (c simComm) Nodes() []uint64 {
	var out []uint64
	for i := range c.s.net.nodes {
		out = append(out, uint64(i+1))
	}
	return out
}

// victim is the follower that gets the equivocator's other block for seq.
func (s *simNode) victim(seq uint64) uint64 {
	n := uint64(len(s.net.nodes))
	return 2 + (seq*7+uint64(s.net.faults.maxDelay))%(n-1) // never the equivocator itself
}

// alternative is another valid block for the same sequence: the same
// batches a nanosecond later.
func (s *simNode) alternative(m *protos.Message) *protos.Message {
	pp := m.GetPrePrepare()
	s.altMu.Lock()
	defer s.altMu.Unlock()
	if alt, ok := s.alts[pp.Seq]; ok {
		return proto.Clone(alt).(*protos.Message)
	}
	refs, err := block.DecodeRefs(pp.Proposal.Payload)
	if err != nil {
		return nil
	}
	var bts []*schemas.Batch
	for _, r := range refs.Batches {
		bt := s.held.Batch(r.ID)
		if bt == nil {
			return nil
		}
		bts = append(bts, bt)
	}
	alt, _, err := block.Assemble(s.cons.Bundle, s.rep.Limits(), block.Input{Parent: s.store.Last(), Batches: bts,
		Timestamp: refs.Header.Timestamp + 1, Proposer: s.name, Consensus: pp.Proposal.Metadata}, s.idx, s.state)
	if err != nil {
		return nil
	}
	out := proto.Clone(m).(*protos.Message)
	hb, _ := alt.Header.MarshalBinary()
	out.GetPrePrepare().Proposal.Payload = block.RefsOf(alt).Encode()
	out.GetPrePrepare().Proposal.Header = hb
	s.alts[pp.Seq] = out
	return proto.Clone(out).(*protos.Message)
}

// Deliver implements api.Application: the driver's part around
// replica.Decide, as ledger/orderer does it.
func (s *simNode) Deliver(p types.Proposal, sigs []types.Signature) types.Reconfig {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	for range 100 {
		d, err := s.rep.Decide(p, sigs, s.idx.Hash)
		switch {
		case err == nil && d == nil:
			return types.Reconfig{}
		case err == nil:
			if _, err := s.rep.Commit(d); err != nil {
				s.fail(fmt.Errorf("%s: commit: %w", s.name, err))
			}
			return types.Reconfig{}
		case errors.Is(err, replica.ErrGap):
			s.syncLocked()
		default:
			s.fail(fmt.Errorf("%s: decide: %w", s.name, err))
			return types.Reconfig{}
		}
	}
	s.fail(fmt.Errorf("%s: decision past a gap the peers could not fill", s.name))
	return types.Reconfig{}
}

// Sync implements api.Synchronizer: blocks from the other members' logs,
// checked as ledger/blocksync checks them, then replayed and committed.
func (s *simNode) Sync() types.SyncResponse {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.syncLocked()
	var latest types.Decision
	if h := s.store.Height(); h > 0 {
		rec, err := s.store.Record(h)
		if err == nil {
			latest, err = replica.DecisionOf(s.cons.Bundle, rec)
		}
		if err != nil {
			s.fail(err)
		}
	}
	return types.SyncResponse{Latest: latest}
}

func (s *simNode) syncLocked() {
	for _, peer := range s.net.nodes {
		if peer == s {
			continue
		}
		for s.store.Height() < peer.store.Height() {
			raw, err := peer.store.Raw(s.store.Height() + 1)
			if err != nil {
				break
			}
			rec, blk, err := blocklog.VerifyRecord(s.cons.Bundle, s.store.Last(), raw)
			if err != nil {
				s.fail(fmt.Errorf("%s: sync from %s: %w", s.name, peer.name, err))
				return
			}
			d, err := s.rep.VerifySynced(rec, blk)
			if err == nil {
				_, err = s.rep.Commit(d)
			}
			if err != nil {
				s.fail(fmt.Errorf("%s: sync from %s: %w", s.name, peer.name, err))
				return
			}
			// The engine cleans its pool of the blocks it decides, not of
			// those synced (ledger/orderer's commit path does the same).
			for _, b := range blk.Batches {
				s.dropRequest(types.RequestInfo{ClientID: b.City, ID: b.ID()})
			}
		}
	}
}

func (s *simNode) dropRequest(info types.RequestInfo) {
	if s.engine != nil && s.engine.Pool != nil {
		_ = s.engine.Pool.RemoveRequest(info)
	}
}

// memWAL is the engine's write-ahead log, in memory: the simulation does
// not restart engines.
type memWAL struct {
	mu      sync.Mutex
	entries [][]byte
}

func (w *memWAL) Append(entry []byte, truncateTo bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if truncateTo {
		w.entries = w.entries[:0]
	}
	w.entries = append(w.entries, append([]byte(nil), entry...))
	return nil
}

var _ api.WriteAheadLog = (*memWAL)(nil)

// simOptions are engine timings in ticks of the fake clock (heartbeats,
// view changes) and, for the timers SmartBFT keeps on the real clock
// (request forwarding and complaints), long enough that a simulation
// seldom needs them.
func simOptions() bft.Options {
	return bft.Options{
		BlockMaxBatches:    4,
		PoolSize:           64,
		BlockInterval:      5 * time.Millisecond,
		ForwardTimeout:     time.Second,
		ComplainTimeout:    time.Second,
		AutoRemoveTimeout:  time.Minute,
		HeartbeatTimeout:   2 * time.Second,
		HeartbeatCount:     10,
		ViewChangeResend:   500 * time.Millisecond,
		ViewChangeTimeout:  4 * time.Second,
		CollectTimeout:     200 * time.Millisecond,
		Tick:               20 * time.Millisecond,
		DecisionsPerLeader: 3,
	}
}

// simulate runs n replicas under their engines over a faulty network
// until every honest one has sealed every batch, then checks they hold
// one chain.
func simulate(t *testing.T, n int, faults simFaults, batchCount int) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	cons := testConsortium(t, n, seed)
	opts := simOptions()
	net := &simNet{t: t, faults: faults, tick: opts.Tick, rng: rand.New(rand.NewPCG(seed, 8)), now: epoch}
	for i, name := range cons.Bundle.Orderers {
		m := newMember(t, cons, name, net)
		s := &simNode{member: m, id: uint64(i + 1), net: net, sched: make(chan time.Time, 1), vcTick: make(chan time.Time, 1),
			inbox: make(chan envelope, 1<<14), byz: i == 0 && faults.equivocate, stop: make(chan struct{}), alts: map[uint64]*protos.Message{}}
		// As the orderer does: a request the replica finds sealed or bad
		// leaves the engine's pool, or a leader would propose it forever.
		m.drop = s.dropRequest
		m.newReplica()
		net.nodes = append(net.nodes, s)
	}
	var seq uint64
	bts := batches(cons, rng, &seq, batchCount, 2)
	for _, s := range net.nodes {
		conf := opts.Configuration(s.id)
		conf.SyncOnStart = false
		s.engine = &consensus.Consensus{
			Config: conf, Application: s, Assembler: s.rep, WAL: &memWAL{}, Comm: simComm{s},
			Signer: s.rep, Verifier: s.rep, MembershipNotifier: s.rep, RequestInspector: s.rep, Synchronizer: s,
			Logger:   bft.Logger{L: testLogger(t).With("orderer", s.name, "component", "smartbft")},
			Metadata: &protos.ViewMetadata{}, Scheduler: s.sched, ViewChangerTicker: s.vcTick,
		}
		if err := s.engine.Start(); err != nil {
			t.Fatal(err)
		}
		s.wg.Add(1)
		go s.run()
	}
	defer func() {
		for _, s := range net.nodes {
			close(s.stop)
			s.engine.Stop()
			s.wg.Wait()
		}
	}()
	// Every orderer ingests every batch; they come in waves of two
	// blocks' worth, the next once the last is sealed, so that no request
	// waits in a pool long enough for its real-clock timers to fire.
	submitted := 0
	submit := func() {
		wave := bts[submitted:min(len(bts), submitted+2*int(opts.BlockMaxBatches))]
		submitted += len(wave)
		for _, s := range net.nodes {
			s.held.add(wave...)
			for _, b := range wave {
				if err := s.engine.SubmitRequest(b.Encode()); err != nil {
					t.Fatalf("%s: submit: %v", s.name, err)
				}
			}
		}
	}
	honest := net.nodes
	if faults.equivocate {
		honest = net.nodes[1:]
	}
	sealed := func(bts []*schemas.Batch) bool {
		for _, s := range honest {
			for _, b := range bts {
				if !s.idx.BatchSeen(b.ID()) {
					return false
				}
			}
		}
		return true
	}
	sealedAll := func() bool {
		if submitted < len(bts) && sealed(bts[:submitted]) {
			submit()
		}
		return submitted == len(bts) && sealed(bts)
	}
	budget := time.Now().Add(2 * time.Minute) // a bound for a stuck run, not a timing assertion
	steps := 0
	last := time.Now()
	for !sealedAll() {
		for _, s := range net.nodes {
			s.errMu.Lock()
			err := s.err
			s.errMu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(budget) {
			var hs []string
			for _, s := range net.nodes {
				hs = append(hs, fmt.Sprintf("%s=%d", s.name, s.store.Height()))
			}
			var per []int
			for h := uint64(1); h <= honest[0].store.Height(); h++ {
				blk, _ := honest[0].store.Block(h)
				per = append(per, len(blk.Batches))
			}
			missing := 0
			for _, b := range bts {
				if !honest[0].idx.BatchSeen(b.ID()) {
					missing++
				}
			}
			t.Fatalf("not every batch sealed after %d ticks: heights %v; batches per block of %s %v, %d batches missing", steps, hs, honest[0].name, per, missing)
		}
		// Time moves when every message handed out has been taken in, or
		// at the latest every 20 ms: an engine may hold a message back
		// until a tick.
		if net.idle() || time.Since(last) > 20*time.Millisecond {
			net.step()
			steps++
			last = time.Now()
			if steps%lagCheck == 0 {
				net.watchLag()
			}
		}
		time.Sleep(time.Millisecond)
	}
	var hm []*member
	for _, s := range honest {
		hm = append(hm, s.member)
	}
	sameChains(t, hm)
	t.Logf("%d ticks; %d messages, %d dropped, %d duplicated, %d equivocations; heights %d..%d",
		steps, net.sent.Load(), net.dropped.Load(), net.duplicated.Load(), net.equivocations.Load(), minHeight(honest), honest[0].store.Height())
	if faults.equivocate && net.equivocations.Load() == 0 {
		t.Fatal("the equivocator never led")
	}
	// Every batch once, in the chain every honest member holds.
	seen := map[string]uint64{}
	top := honest[0]
	for h := uint64(1); h <= top.store.Height(); h++ {
		blk, err := top.store.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blk.Batches {
			if at, dup := seen[b.ID()]; dup {
				t.Fatalf("batch %s sealed at %d and again at %d", b.ID(), at, h)
			}
			seen[b.ID()] = h
		}
	}
}

// lagCheck is how many ticks pass between the driver's lag checks.
const lagCheck = 50

// watchLag is ledger/orderer's watchLag: SmartBFT does not notice a
// follower one decision behind once the load stops, so the driver of a
// member below its peers at two checks in a row fetches the blocks
// itself.
func (n *simNet) watchLag() {
	top := uint64(0)
	for _, s := range n.nodes {
		top = max(top, s.store.Height())
	}
	for _, s := range n.nodes {
		h := s.store.Height()
		if h >= top {
			s.behindAt = 0
			continue
		}
		if s.behindAt != h+1 {
			s.behindAt = h + 1
			continue
		}
		s.behindAt = 0
		s.commitMu.Lock()
		s.syncLocked()
		s.commitMu.Unlock()
	}
}

func minHeight(ss []*simNode) uint64 {
	low := ss[0].store.Height()
	for _, s := range ss[1:] {
		low = min(low, s.store.Height())
	}
	return low
}

func TestSimulationLossyReorderingNetwork(t *testing.T) {
	simulate(t, 4, simFaults{drop: 0.03, dup: 0.05, maxDelay: 3}, 40)
}

func TestSimulationEquivocatingLeader(t *testing.T) {
	simulate(t, 4, simFaults{maxDelay: 2, equivocate: true}, 40)
}

func TestSimulationSevenReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	simulate(t, 7, simFaults{drop: 0.03, dup: 0.03, maxDelay: 3, equivocate: true}, 40)
}
