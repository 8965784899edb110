package orderer

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/bft"
)

// dropPrePrepares is the leader's transport with its pre-prepares to some
// peers lost, as when every process is killed while they are on the wire.
type dropPrePrepares struct {
	bft.Comm
	to      map[uint64]bool
	mu      sync.Mutex
	armed   bool
	dropped chan uint64 // the sequence of the first pre-prepare dropped
}

func (d *dropPrePrepares) SendConsensus(target uint64, m *protos.Message) {
	if pp := m.GetPrePrepare(); pp != nil && d.to[target] {
		d.mu.Lock()
		armed := d.armed
		d.mu.Unlock()
		if armed {
			select {
			case d.dropped <- pp.GetSeq():
			default:
			}
			return
		}
	}
	d.Comm.SendConsensus(target, m)
}

func (d *dropPrePrepares) arm() { d.mu.Lock(); d.armed = true; d.mu.Unlock() }

// TestRestartedLeaderResendsItsProposal: the leader's proposal reaches
// only two of its four followers, too few to prepare it, and then every
// orderer stops. After the restart the leader restores the proposal from
// its engine WAL; the two followers that never saw it can vote only if
// the leader sends its pre-prepare again. With request timers of up's
// length (a view change would take 25 s), the block is sealed in the
// view it was proposed in, which only that re-send allows.
func TestRestartedLeaderResendsItsProposal(t *testing.T) {
	c := newCluster(t, 5)
	c.engine.ForwardTimeout = 5 * time.Second * timeScale
	c.engine.ComplainTimeout = 20 * time.Second * timeScale
	c.engine.HeartbeatTimeout = 10 * time.Second * timeScale
	c.engine.DecisionsPerLeader = 0 // one leader throughout
	leader := c.names[0]            // leads view 0
	drop := &dropPrePrepares{to: map[uint64]bool{4: true, 5: true}, dropped: make(chan uint64, 1)}
	c.wrap[leader] = func(comm bft.Comm) bft.Comm { drop.Comm = comm; return drop }
	c.startAll()
	c.load(5, 4, 0, nil)
	c.waitSealed(60 * time.Second * timeScale)
	base := c.node(leader).Height()

	drop.arm()
	c.load(1, 4, 0, nil)
	var seq uint64
	select {
	case seq = <-drop.dropped:
	case <-time.After(30 * time.Second * timeScale):
		t.Fatal("the leader proposed nothing")
	}
	if seq != base+1 {
		t.Fatalf("pre-prepare of sequence %d dropped, want %d", seq, base+1)
	}
	// Let the two followers that got it record it, then stop everyone
	// long before a request timer fires.
	time.Sleep(200 * time.Millisecond)
	before := c.running()
	for _, name := range c.names {
		c.stop(name)
	}
	for _, n := range before {
		if h := n.Height(); h >= seq {
			t.Fatalf("%s sealed block %d before the restart: the proposal was not stuck", n.Name(), h)
		}
	}

	delete(c.wrap, leader)
	c.startAll()
	c.waitHeight(seq, 60*time.Second*timeScale)
	for _, n := range c.running() {
		rec, err := n.Store().Record(seq)
		if err != nil {
			t.Fatal(err)
		}
		md := &protos.ViewMetadata{}
		if err := proto.Unmarshal(rec.Header.Consensus, md); err != nil {
			t.Fatal(err)
		}
		if md.ViewId != 0 {
			t.Fatalf("%s: block %d sealed in view %d: the restored proposal was given up for a view change", n.Name(), seq, md.ViewId)
		}
	}
	c.waitSealed(60 * time.Second * timeScale)
	c.checkChains()
}

func TestRestoredPrePrepare(t *testing.T) {
	pp := &protos.PrePrepare{View: 2, Seq: 7, Proposal: &protos.Proposal{Payload: []byte("p")}}
	rec := func(pp *protos.PrePrepare) []byte {
		b, _ := proto.Marshal(&protos.SavedMessage{Content: &protos.SavedMessage_ProposedRecord{ProposedRecord: &protos.ProposedRecord{PrePrepare: pp}}})
		return b
	}
	commit, _ := proto.Marshal(&protos.SavedMessage{Content: &protos.SavedMessage_Commit{Commit: &protos.Message{
		Content: &protos.Message_Commit{Commit: &protos.Commit{View: 2, Seq: 7}}}}})
	viewChange, _ := proto.Marshal(&protos.SavedMessage{Content: &protos.SavedMessage_NewView{NewView: &protos.ViewMetadata{ViewId: 3}}})
	for _, tc := range []struct {
		name    string
		entries [][]byte
		next    uint64
		want    bool
	}{
		{"proposed", [][]byte{rec(pp)}, 7, true},
		{"prepared (commit last)", [][]byte{rec(pp), commit}, 7, true},
		{"already sealed", [][]byte{rec(pp), commit}, 8, false},
		{"older proposal", [][]byte{rec(&protos.PrePrepare{Seq: 6, Proposal: &protos.Proposal{}})}, 7, false},
		{"view change last", [][]byte{rec(pp), viewChange}, 7, false},
		{"no proposal", [][]byte{rec(&protos.PrePrepare{Seq: 7})}, 7, false},
		{"garbage", [][]byte{{0xff, 0xff}}, 7, false},
		{"empty", nil, 7, false},
	} {
		got := restoredPrePrepare(tc.entries, tc.next)
		if (got != nil) != tc.want {
			t.Errorf("%s: got %v, want found=%v", tc.name, got, tc.want)
		}
	}
}

// dropPrepares is an orderer's transport that, while armed, loses every
// prepare it sends, recording who sent one.
type dropPrepares struct {
	bft.Comm
	armed   *atomic.Bool
	self    uint64
	dropped *sync.Map // sender -> true
}

func (d *dropPrepares) SendConsensus(target uint64, m *protos.Message) {
	if m.GetPrepare() != nil && d.armed.Load() {
		d.dropped.Store(d.self, true)
		return
	}
	d.Comm.SendConsensus(target, m)
}

// TestStaggeredRestartResendsLostVotes is the soak's stall after a
// whole-deployment kill -9 (docs/faults.md): every orderer holds the
// proposal in flight in its engine WAL, none holds the others' prepares,
// and the orderers come back one after another, as processes do. Each
// view sends its restored vote once, as it starts, so only the orderers
// already up receive it: without sending it again, the later ones never
// get a quorum and the sequence waits for the request timers (25 s at
// up's defaults, set here) to force a view change. With votes sent again
// while a view waits for them, the block is sealed in the view it was
// proposed in.
func TestStaggeredRestartResendsLostVotes(t *testing.T) {
	c := newCluster(t, 5)
	c.engine.ForwardTimeout = 5 * time.Second * timeScale
	c.engine.ComplainTimeout = 20 * time.Second * timeScale
	c.engine.DecisionsPerLeader = 0
	var armed atomic.Bool
	var dropped sync.Map
	for i, name := range c.names {
		c.wrap[name] = func(comm bft.Comm) bft.Comm {
			return &dropPrepares{Comm: comm, armed: &armed, self: uint64(i + 1), dropped: &dropped}
		}
	}
	c.startAll()
	c.load(5, 4, 0, nil)
	c.waitSealed(60 * time.Second)
	base := c.node(c.names[0]).Height()

	armed.Store(true)
	c.load(1, 4, 0, nil)
	deadline := time.Now().Add(30 * time.Second * timeScale)
	for {
		n := 0
		dropped.Range(func(any, any) bool { n++; return true })
		if n == len(c.names) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d orderers sent a prepare", n, len(c.names))
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // every prepare is in its WAL before it is sent
	for _, name := range c.names {
		c.stop(name)
	}
	armed.Store(false)
	for _, name := range c.names {
		c.start(name)
	}
	c.waitHeight(base+1, 10*time.Second)
	for _, n := range c.running() {
		rec, err := n.Store().Record(base + 1)
		if err != nil {
			t.Fatal(err)
		}
		md := &protos.ViewMetadata{}
		if err := proto.Unmarshal(rec.Header.Consensus, md); err != nil {
			t.Fatal(err)
		}
		if md.ViewId != 0 {
			t.Fatalf("%s: block %d sealed in view %d: the restored proposal was given up for a view change", n.Name(), base+1, md.ViewId)
		}
	}
	c.load(3, 4, 0, nil)
	c.waitSealed(30 * time.Second)
	c.checkChains()
}
